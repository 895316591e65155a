package quality

import (
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// Country returns the ISO 3166-1 alpha-2 code ("US", "GB") for s, which may
// be an alpha-2 or alpha-3 code, or a country's English name, in any case,
// with or without dots ("U.S.A.") and accents. Common other names are known
// too: "UK", "Great Britain", "England", "Holland", "Deutschland",
// "España", ... The error wraps [ErrInvalid] when s names no country.
func Country(s string) (string, error) {
	key := countryKey(s)
	if key == "" {
		return "", invalidf("empty country")
	}
	names := countryNames()
	if c, ok := names[key]; ok {
		return c, nil
	}
	if len(key) == 3 {
		if r, err := language.ParseRegion(key); err == nil && r.IsCountry() && names[strings.ToLower(r.String())] != "" {
			return r.String(), nil
		}
	}
	return "", invalidf("%q is not a country name or ISO 3166 code", strings.TrimFunc(s, isSpace))
}

// countryKey lowercases s and keeps only its letters, with common accents
// removed, so that "U.S.A.", "usa" and "U S A" are one key.
func countryKey(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == 'ä' || r == 'á' || r == 'à' || r == 'â' || r == 'ã' || r == 'å':
			b.WriteByte('a')
		case r == 'é' || r == 'è' || r == 'ê' || r == 'ë':
			b.WriteByte('e')
		case r == 'í' || r == 'ì' || r == 'î' || r == 'ï':
			b.WriteByte('i')
		case r == 'ö' || r == 'ó' || r == 'ò' || r == 'ô' || r == 'õ' || r == 'ø':
			b.WriteByte('o')
		case r == 'ü' || r == 'ú' || r == 'ù' || r == 'û':
			b.WriteByte('u')
		case r == 'ñ':
			b.WriteByte('n')
		case r == 'ç':
			b.WriteByte('c')
		case r == '&':
			b.WriteString("and")
		}
	}
	return b.String()
}

// countryAliases are names people write that are not the English display
// names x/text knows, keyed by countryKey.
var countryAliases = map[string]string{
	"uk": "GB", "greatbritain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
	"wales": "GB", "northernireland": "GB", "unitedkingdomofgreatbritainandnorthernireland": "GB",
	"usa": "US", "us": "US", "america": "US", "unitedstatesofamerica": "US", "theunitedstates": "US",
	"holland": "NL", "thenetherlands": "NL", "nederland": "NL",
	"deutschland": "DE", "frankreich": "FR", "espana": "ES", "italia": "IT", "brasil": "BR",
	"osterreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH", "nippon": "JP", "nihon": "JP",
	"bharat": "IN", "mexique": "MX", "polska": "PL", "sverige": "SE", "norge": "NO", "danmark": "DK",
	"suomi": "FI", "belgie": "BE", "belgique": "BE", "eire": "IE", "southkorea": "KR", "korea": "KR",
	"republicofkorea": "KR", "russianfederation": "RU", "czechrepublic": "CZ", "uae": "AE",
	"prc": "CN", "peoplesrepublicofchina": "CN", "hongkongsar": "HK", "turkey": "TR", "turkiye": "TR",
}

var countryNames = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, 600)
	regions := display.English.Regions()
	for code := range phonenumbers.GetSupportedRegions() {
		m[strings.ToLower(code)] = code
		r, err := language.ParseRegion(code)
		if err != nil {
			continue
		}
		if name := regions.Name(r); name != "" {
			m[countryKey(name)] = code
		}
	}
	for k, v := range countryAliases {
		m[k] = v
	}
	return m
})

package quality

import (
	"regexp"
	"strconv"
	"strings"
)

// postalFormat is one country's postal code format. match is applied to the
// compact form (letters uppercased, spaces, hyphens and dots removed);
// format writes the canonical form of a compact code that matched.
type postalFormat struct {
	example string
	match   *regexp.Regexp
	format  func(string) string
	// digits is the length of an all-digit format, used to restore leading
	// zeros of codes that arrived as numbers; 0 when not all digits.
	digits int
}

func same(s string) string { return s }

// split returns a formatter that inserts sep after the first n characters.
func split(n int, sep string) func(string) string {
	return func(s string) string { return s[:n] + sep + s[n:] }
}

func digitsFormat(n int, example string, format func(string) string) postalFormat {
	return postalFormat{example: example, match: regexp.MustCompile(`^\d{` + strconv.Itoa(n) + `}$`), format: format, digits: n}
}

// postalFormats holds the formats known, by ISO 3166-1 alpha-2 code.
var postalFormats = map[string]postalFormat{
	"US": {example: "12345 or 12345-6789", match: regexp.MustCompile(`^\d{5}(\d{4})?$`), digits: 5,
		format: func(s string) string {
			if len(s) == 9 {
				return s[:5] + "-" + s[5:]
			}
			return s
		}},
	"CA": {example: "A1A 1A1", format: split(3, " "),
		match: regexp.MustCompile(`^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\d[ABCEGHJ-NPRSTV-Z]\d$`)},
	"GB": {example: "SW1A 1AA", format: func(s string) string { return s[:len(s)-3] + " " + s[len(s)-3:] },
		match: regexp.MustCompile(`^(?:[A-PR-UWYZ](?:\d{1,2}|[A-HK-Y]\d(?:\d|[ABEHMNPRV-Y])?|\d[A-HJKPS-UW])|GIR)\d[ABD-HJLNP-UW-Z]{2}$`)},
	"IE": {example: "A65 F4E2", format: split(3, " "),
		match: regexp.MustCompile(`^(?:[AC-FHKNPRTV-Y]\d{2}|D6W)[0-9AC-FHKNPRTV-Y]{4}$`)},
	"NL": {example: "1234 AB", format: split(4, " "),
		match: regexp.MustCompile(`^[1-9]\d{3}(?:[A-RT-Z][A-Z]|S[BCE-RT-Z])$`)},
	"DE": digitsFormat(5, "12345", same),
	"FR": digitsFormat(5, "75001", same),
	"IT": digitsFormat(5, "00184", same),
	"ES": {example: "28013", match: regexp.MustCompile(`^(?:0[1-9]|[1-4]\d|5[0-2])\d{3}$`), format: same, digits: 5},
	"MX": digitsFormat(5, "06600", same),
	"FI": digitsFormat(5, "00100", same),
	"KR": digitsFormat(5, "03187", same),
	"SE": digitsFormat(5, "114 55", split(3, " ")),
	"CZ": digitsFormat(5, "110 00", split(3, " ")),
	"SK": digitsFormat(5, "811 01", split(3, " ")),
	"GR": digitsFormat(5, "105 57", split(3, " ")),
	"PL": digitsFormat(5, "00-950", split(2, "-")),
	"AU": digitsFormat(4, "2000", same),
	"NZ": digitsFormat(4, "6011", same),
	"AT": digitsFormat(4, "1010", same),
	"BE": digitsFormat(4, "1000", same),
	"CH": digitsFormat(4, "8001", same),
	"DK": digitsFormat(4, "1050", same),
	"NO": digitsFormat(4, "0150", same),
	"ZA": digitsFormat(4, "8001", same),
	"HU": digitsFormat(4, "1051", same),
	"JP": digitsFormat(7, "100-0001", split(3, "-")),
	"PT": digitsFormat(7, "1000-001", split(4, "-")),
	"IL": digitsFormat(7, "6100000", same),
	"BR": digitsFormat(8, "01310-100", split(5, "-")),
	"IN": {example: "110001", match: regexp.MustCompile(`^[1-9]\d{5}$`), format: same, digits: 6},
	"CN": digitsFormat(6, "100000", same),
	"RU": digitsFormat(6, "101000", same),
	"SG": digitsFormat(6, "018956", same),
}

// PostalCode returns code in the canonical form of country's postal codes
// (an ISO 3166-1 alpha-2 code, see [Country]): "12345-6789" for US
// ZIP+4, "K1A 0B1" for Canada, "SW1A 1AA" for the UK, "1234 AB" for the
// Netherlands, "100-0001" for Japan, "01310-100" for Brazil, and so on; the
// README lists every country known. Spaces, hyphens and dots in the input
// and letter case do not matter. For a country whose format is not known
// (or country ""), the code is only trimmed, uppercased and its spaces
// collapsed. The error wraps [ErrInvalid] when the code does not fit the
// country's format.
func PostalCode(code, country string) (string, error) {
	code = strings.TrimFunc(code, isSpace)
	if code == "" {
		return "", invalidf("empty postal code")
	}
	f, ok := postalFormats[strings.ToUpper(country)]
	if !ok {
		return strings.ToUpper(collapseSpaces(code)), nil
	}
	compact := compactPostal(code)
	if !f.match.MatchString(compact) {
		return "", invalidf("postal code %q is not in the %s format (%s)", code, strings.ToUpper(country), f.example)
	}
	return f.format(compact), nil
}

func compactPostal(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case isSpace(r) || r == '-' || r == '.' || r == '\u2013' || r == '\u2014':
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// postalDigits is the length of country's all-digit postal codes, 0 when
// they are not all digits or the country is not known.
func postalDigits(country string) int {
	return postalFormats[strings.ToUpper(country)].digits
}

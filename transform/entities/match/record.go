package match

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"syncline/transform/quality"
)

// Record is one source record of a person, as the matcher sees it. Values
// may be raw (as the source wrote them); the matcher normalizes them
// itself with the transform/quality normalizers, so "(555) 123-4567" and
// "+1 555 123 4567" are the same phone. Empty fields are missing, and so
// are values a normalizer rejects (an email without "@", a phone that is
// too short): a missing field is never counted as a disagreement.
type Record struct {
	// ID identifies the record, unique within an Index, such as
	// "crm/0031x00001". Required.
	ID string
	// ExternalIDs are cross references to the same entity in other systems
	// ("billing/cus_123"), as a source system asserts them. Two records
	// sharing one are the same entity, whatever their other fields say.
	ExternalIDs []string
	// FirstName and LastName are the given name and surname. When both are
	// empty, Name is split instead ("Smith, John" or "John Smith").
	FirstName, LastName string
	Name                string
	Email               string
	Phone               string
	Company             string
	City                string
	PostalCode          string
	// Country is an ISO 3166-1 alpha-2 code used to read postal codes and
	// phone numbers without a country code; empty means
	// Config.DefaultRegion.
	Country string
}

// prepared is a Record normalized once, at Add, for keys and scoring.
type prepared struct {
	id          string
	extIDs      []string
	first       string // folded, letters only: "robert"
	last        string // folded, letters only: "vanderberg"
	emailKey    string // deterministic key ("" for none or a role address)
	emailLocal  string // local part without separators and +tag: "jsmith"
	emailRaw    string // local part without +tag, as written: "j.smith"
	emailDomain string
	freeMail    bool
	roleEmail   bool
	phone       string // E.164
	company     string // folded, legal suffix stripped, no spaces: "acmewidgets"
	companyTok  string // first word of company
	postal      string
	city        string
	removed     bool // taken out by Index.Remove
}

// fold lowercases s, strips accents and keeps letters and digits only:
// "O'Brien-Núñez" becomes "obriennunez".
func fold(s string) string {
	if s == "" {
		return ""
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
				b.WriteByte(c)
			case c >= 'A' && c <= 'Z':
				b.WriteByte(c + 'a' - 'A')
			}
		}
		return b.String()
	}
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// splitName splits a full name into given name and surname: "Smith, John"
// and "John Smith" both give ("John", "Smith"); a middle name is dropped.
func splitName(name string) (first, last string) {
	name = strings.TrimSpace(name)
	if i := strings.IndexByte(name, ','); i >= 0 {
		last = strings.TrimSpace(name[:i])
		rest := strings.Fields(name[i+1:])
		if len(rest) > 0 {
			first = rest[0]
		}
		return first, last
	}
	f := strings.Fields(name)
	switch len(f) {
	case 0:
		return "", ""
	case 1:
		return "", f[0]
	}
	return f[0], f[len(f)-1]
}

// firstToken returns the first word of a given name ("Mary Ann" gives
// "Mary"), folded.
func foldFirst(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return fold(f[0])
}

// emailRules are the parts of Config that shape email keys, as sets.
type emailRules struct {
	plus      bool
	dotless   map[string]bool
	freeMail  map[string]bool
	roleLocal map[string]bool
}

func newEmailRules(c Config) emailRules {
	set := func(vs []string) map[string]bool {
		m := make(map[string]bool, len(vs))
		for _, v := range vs {
			m[strings.ToLower(strings.TrimSpace(v))] = true
		}
		return m
	}
	return emailRules{
		plus:      c.PlusAddressing,
		dotless:   set(c.DotInsensitiveDomains),
		freeMail:  set(c.FreeMailDomains),
		roleLocal: set(c.RoleLocalParts),
	}
}

// isRole reports whether local is a role mailbox: "info", "sales2",
// "info.us" all are.
func (r emailRules) isRole(local string) bool {
	if r.roleLocal[local] {
		return true
	}
	base := strings.TrimRightFunc(local, func(c rune) bool { return c >= '0' && c <= '9' })
	if i := strings.IndexAny(base, ".-_"); i > 0 {
		base = base[:i]
	}
	return r.roleLocal[base]
}

// prepare normalizes rec. region is the default phone/postal region.
func prepare(rec Record, rules emailRules, region string) prepared {
	p := prepared{id: rec.ID}
	if len(rec.ExternalIDs) > 0 {
		for _, x := range rec.ExternalIDs {
			if x = strings.TrimSpace(x); x != "" {
				p.extIDs = append(p.extIDs, x)
			}
		}
	}
	first, last := rec.FirstName, rec.LastName
	if strings.TrimSpace(first) == "" && strings.TrimSpace(last) == "" && rec.Name != "" {
		first, last = splitName(rec.Name)
	}
	p.first, p.last = foldFirst(first), fold(last)

	if e, err := quality.Email(rec.Email); err == nil {
		at := strings.LastIndexByte(e, '@')
		local, domain := e[:at], e[at+1:]
		p.emailDomain = domain
		p.freeMail = rules.freeMail[domain]
		p.roleEmail = rules.isRole(local)
		key := local
		if rules.plus {
			if i := strings.IndexByte(key, '+'); i > 0 {
				key = key[:i]
			}
		}
		if rules.dotless[domain] {
			key = strings.ReplaceAll(key, ".", "")
		}
		if !p.roleEmail {
			p.emailKey = key + "@" + domain
		}
		if i := strings.IndexByte(local, '+'); i > 0 {
			local = local[:i]
		}
		p.emailRaw = local
		p.emailLocal = fold(local)
	}

	country := strings.ToUpper(strings.TrimSpace(rec.Country))
	if country == "" {
		country = region
	}
	if strings.TrimSpace(rec.Phone) != "" {
		if n, err := quality.Phone(rec.Phone, country, false); err == nil {
			p.phone = n.E164
		}
	}
	if strings.TrimSpace(rec.Company) != "" {
		if c, err := quality.CompanyName(rec.Company, quality.SuffixStrip); err == nil {
			words := strings.Fields(c)
			p.company = fold(c)
			for _, w := range words {
				if t := fold(w); t != "" && t != "the" {
					p.companyTok = t
					break
				}
			}
		}
	}
	if strings.TrimSpace(rec.PostalCode) != "" {
		if pc, err := quality.PostalCode(rec.PostalCode, country); err == nil {
			p.postal = fold(pc)
		}
	}
	p.city = fold(rec.City)
	return p
}

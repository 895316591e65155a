package synth

import (
	"strings"

	"syncline/transform/entities/match"
)

// render writes p as one source system would hold it. The first record of
// a person is written plainly; a duplicate (dup) gets the variations of
// data entered elsewhere by someone else.
func (g *gen) render(p *person, dup bool) match.Record {
	var rec match.Record
	first, last := p.first, p.last
	if dup {
		if g.chance(0.25) {
			first = g.nickname(first)
		}
		if g.chance(0.12) {
			first = g.typo(first)
		}
		if g.chance(0.12) {
			last = g.typo(last)
		}
		if g.chance(0.03) {
			first = first[:1] + "."
		}
	}
	first, last = g.caseAndSpace(first, dup), g.caseAndSpace(last, dup)
	if g.chance(0.1) {
		if g.chance(0.5) {
			rec.Name = first + " " + last
		} else {
			rec.Name = last + ", " + first
		}
	} else {
		rec.FirstName, rec.LastName = first, last
	}

	// Email: work or personal, sometimes a role mailbox, sometimes none.
	if g.chance(0.88) {
		e := p.personalEmail
		if p.workEmail != "" && (e == "" || g.chance(0.55)) {
			e = p.workEmail
			if g.chance(0.07) {
				e = roleLocals[g.r.IntN(len(roleLocals))] + "@" + p.domain
			}
		}
		if dup {
			e = g.emailVariant(e)
		}
		rec.Email = e
	}
	// Phone: mobile, home line or the office main line.
	if g.chance(0.65) {
		ph := p.mobile
		switch u := g.r.Float64(); {
		case p.homeLine != "" && u < 0.35:
			ph = p.homeLine
		case p.officeLine != "" && u < 0.55:
			ph = p.officeLine
		}
		if dup && g.chance(0.03) {
			ph = g.phoneTypo(ph)
		}
		rec.Phone = g.phoneFormat(ph)
	}
	if p.company != "" && g.chance(0.6) {
		rec.Company = g.companyVariant(p.company, p.suffix, dup)
	}
	c, postal := p.city, p.postal
	if dup && g.chance(0.04) { // moved
		c = cities[g.r.IntN(len(cities))]
		postal = g.postalIn(c)
	}
	if g.chance(0.6) {
		rec.City = g.caseAndSpace(c.name, dup)
	}
	if g.chance(0.5) {
		rec.PostalCode = postal
		if c.country == "US" && g.chance(0.2) {
			rec.PostalCode += "-" + g.digits(4)
		}
	}
	if c.country != "US" {
		rec.Country = c.country
	}
	return rec
}

// nickname swaps a given name for a nickname, or a nickname for its
// canonical form.
func (g *gen) nickname(name string) string {
	l := strings.ToLower(name)
	if vs := g.nickOf[l]; len(vs) > 0 {
		return title(vs[g.r.IntN(len(vs))])
	}
	if c, ok := g.canonOf[l]; ok {
		return title(c)
	}
	return name
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// typo inserts, deletes, transposes or substitutes one letter (rarely the
// first).
func (g *gen) typo(s string) string {
	b := []byte(s)
	if len(b) < 3 {
		return s
	}
	i := 1 + g.r.IntN(len(b)-1)
	if g.chance(0.1) {
		i = 0
	}
	letter := byte('a' + g.r.IntN(26))
	switch g.r.IntN(4) {
	case 0: // insert
		b = append(b[:i], append([]byte{letter}, b[i:]...)...)
	case 1: // delete
		b = append(b[:i], b[i+1:]...)
	case 2: // transpose
		if i == len(b)-1 {
			i--
		}
		b[i], b[i+1] = b[i+1], b[i]
	default:
		b[i] = letter
	}
	return string(b)
}

// caseAndSpace changes letter case and white space the way other systems
// and hand entry do.
func (g *gen) caseAndSpace(s string, dup bool) string {
	if !dup {
		return s
	}
	switch u := g.r.Float64(); {
	case u < 0.15:
		s = strings.ToUpper(s)
	case u < 0.30:
		s = strings.ToLower(s)
	}
	if g.chance(0.15) {
		s = "  " + s + " "
	}
	if g.chance(0.05) {
		s = strings.ReplaceAll(s, " ", "   ")
	}
	return s
}

func (g *gen) emailVariant(e string) string {
	at := strings.IndexByte(e, '@')
	local, dom := e[:at], e[at+1:]
	switch u := g.r.Float64(); {
	case u < 0.10:
		return strings.ToUpper(e)
	case u < 0.18:
		return " " + title(local) + "@" + dom + " "
	case u < 0.22:
		return g.typo(local) + "@" + dom
	case u < 0.25:
		if t, ok := domainTypos[dom]; ok {
			return local + "@" + t
		}
	case u < 0.29:
		return local + "+" + []string{"crm", "news", "shop"}[g.r.IntN(3)] + "@" + dom
	case u < 0.32:
		if strings.Contains(local, ".") {
			return strings.ReplaceAll(local, ".", "") + "@" + dom
		}
	}
	return e
}

// phoneFormat writes "+1 212 555 0101" in one of the ways people do.
func (g *gen) phoneFormat(ph string) string {
	parts := strings.Fields(ph)
	cc, rest := parts[0], parts[1:]
	if cc == "+44" {
		switch g.r.IntN(3) {
		case 0:
			return ph
		case 1:
			return "0" + strings.Join(rest, " ")
		}
		return "0044" + strings.Join(rest, "")
	}
	a, x, n := rest[0], rest[1], rest[2]
	switch g.r.IntN(7) {
	case 0:
		return "(" + a + ") " + x + "-" + n
	case 1:
		return a + "-" + x + "-" + n
	case 2:
		return a + "." + x + "." + n
	case 3:
		return "+1 " + a + " " + x + " " + n
	case 4:
		return "1-" + a + "-" + x + "-" + n
	case 5:
		return a + x + n
	}
	return "+1 (" + a + ") " + x + "-" + n + " ext. " + g.digits(2)
}

func (g *gen) phoneTypo(ph string) string {
	b := []byte(ph)
	i := len(b) - 1 - g.r.IntN(4)
	if b[i] >= '0' && b[i] <= '9' {
		b[i] = byte('0' + (int(b[i]-'0')+1+g.r.IntN(8))%10)
	}
	return string(b)
}

func (g *gen) companyVariant(name, suffix string, dup bool) string {
	if !dup {
		if suffix == "" {
			return name
		}
		if suffix[0] == ',' {
			return name + suffix
		}
		return name + " " + suffix
	}
	vs := suffixVariants[suffix]
	s := vs[g.r.IntN(len(vs))]
	if g.chance(0.15) {
		s = "" // suffix dropped
	}
	if suffix == "Inc." && g.chance(0.1) {
		s = "LLC" // written with the wrong legal form
	}
	switch u := g.r.Float64(); {
	case u < 0.15:
		name = strings.ToUpper(name)
	case u < 0.25:
		name = strings.ToLower(name)
	case u < 0.30:
		name = g.typo(name)
	}
	switch {
	case s == "":
		return name
	case s[0] == ',':
		return name + s
	}
	return name + " " + s
}

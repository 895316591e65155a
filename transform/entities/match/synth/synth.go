// Package synth generates labeled synthetic person records for measuring
// duplicate detection: base people, their duplicates as other source
// systems would hold them (typos, nicknames, case and white space,
// phone formats, company suffix variants, email variants, missing fields),
// and hard negatives, distinct people who look alike (family members
// sharing an address and phone, colleagues sharing a company's role
// mailbox and main line, namesakes in other cities). The output is
// deterministic for a seed.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"syncline/transform/entities/match"
)

// Dataset is a generated set of records with ground truth.
type Dataset struct {
	// Records in arrival order (shuffled: duplicates are interleaved).
	Records []match.Record
	// Entity[i] is the true entity of Records[i]; records with the same
	// value are duplicates of each other.
	Entity []int
	// Composition counts what was generated, by kind (see README).
	Composition map[string]int
}

// person is one true entity.
type person struct {
	id                 int
	first, last        string
	female             bool
	company, suffix    string // company base name and legal form
	domain             string // company mail domain
	workEmail          string
	personalEmail      string
	mobile, officeLine string // phone digits as "+1 212 555 0101"-ish parts
	homeLine           string
	city               city
	postal             string
	crmID              string
}

type gen struct {
	r        *rand.Rand
	people   []*person
	comps    []company
	comp     map[string]int
	nickOf   map[string][]string // lower canonical -> variants
	canonOf  map[string]string   // lower variant -> canonical (first group)
	usedMail map[string]bool
}

type company struct {
	name, suffix, domain string
	city                 city
	mainLine             string
}

// Generate returns n records (n ≥ 1) generated from seed.
func Generate(seed uint64, n int) Dataset {
	g := &gen{
		r:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		comp:     map[string]int{},
		nickOf:   map[string][]string{},
		canonOf:  map[string]string{},
		usedMail: map[string]bool{},
	}
	for _, grp := range match.NicknameGroups() {
		g.nickOf[grp[0]] = append(g.nickOf[grp[0]], grp[1:]...)
		for _, v := range grp[1:] {
			if _, ok := g.canonOf[v]; !ok {
				g.canonOf[v] = grp[0]
			}
		}
	}
	for i := 0; i < max(20, n/25); i++ {
		g.comps = append(g.comps, g.newCompany())
	}
	var recs []match.Record
	var ents []int
	emit := func(p *person, k int, kind string) {
		for j := 0; j < k; j++ {
			recs = append(recs, g.render(p, j > 0))
			ents = append(ents, p.id)
		}
		g.comp[kind]++
		if k > 1 {
			g.comp["duplicate records"] += k - 1
		}
	}
	for len(recs) < n {
		p := g.newPerson()
		emit(p, g.clusterSize(), "people")
		switch u := g.r.Float64(); {
		case u < 0.08:
			emit(g.familyMember(p), g.clusterSize(), "hard negative: family member (same surname, address, home phone)")
		case u < 0.14 && p.company != "":
			emit(g.colleague(p), g.clusterSize(), "hard negative: colleague (same company, role mailbox, main line)")
		case u < 0.20:
			// Namesakes of common names: a person named like the top
			// of the lists, and another one of that name elsewhere.
			c := g.newPerson()
			g.rename(c, pickTop(g.r, maleFirst, femaleFirst, c.female), commonLast[g.r.IntN(20)])
			emit(c, g.clusterSize(), "people")
			emit(g.namesake(c), g.clusterSize(), "hard negative: namesake (common name) in another city")
		}
	}
	recs, ents = recs[:n], ents[:n]
	g.r.Shuffle(len(recs), func(i, j int) {
		recs[i], recs[j] = recs[j], recs[i]
		ents[i], ents[j] = ents[j], ents[i]
	})
	for i := range recs {
		src := []string{"app", "crm", "mail", "billing"}[g.r.IntN(4)]
		recs[i].ID = fmt.Sprintf("%s/%08d", src, i)
		if src == "crm" || (src == "billing" && g.r.Float64() < 0.3) {
			recs[i].ExternalIDs = []string{g.people[ents[i]].crmID}
		}
	}
	g.comp["records"] = len(recs)
	return Dataset{Records: recs, Entity: ents, Composition: g.comp}
}

// clusterSize is how many records one person has: 1 (45%), 2 (30%),
// 3 (15%), 4 (7%), 5 (3%).
func (g *gen) clusterSize() int {
	u := g.r.Float64()
	switch {
	case u < 0.45:
		return 1
	case u < 0.75:
		return 2
	case u < 0.90:
		return 3
	case u < 0.97:
		return 4
	}
	return 5
}

// pick returns an element of xs, skewed towards the front (Zipf-like):
// index ⌊u^1.5·len⌋, so the first of 120 names is drawn 4% of the time
// (James is about 3% of US men, Smith about 1% of US surnames; the
// generator is more collision-prone than a census, on purpose).
func pick[T any](r *rand.Rand, xs []T) T {
	u := r.Float64()
	return xs[int(u*math.Sqrt(u)*float64(len(xs)))]
}

// rename gives p another name, with mailboxes to match.
func (g *gen) rename(p *person, first, last string) {
	p.first, p.last = first, last
	if p.workEmail != "" {
		p.workEmail = g.mailbox(first, last, p.domain, false)
	}
	if p.personalEmail != "" {
		p.personalEmail = g.mailbox(first, last, p.personalEmail[strings.IndexByte(p.personalEmail, '@')+1:], true)
	}
}

// pickTop returns one of the 20 most common given names.
func pickTop(r *rand.Rand, male, female []string, isFemale bool) string {
	if isFemale {
		return female[r.IntN(20)]
	}
	return male[r.IntN(20)]
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *gen) digits(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(byte('0' + g.r.IntN(10)))
	}
	return b.String()
}

// phoneIn returns a number in c as "+CC area subscriber" with single
// spaces; render reformats it.
func (g *gen) phoneIn(c city) string {
	area := c.area[g.r.IntN(len(c.area))]
	if c.country == "GB" {
		return "+44 " + area + " " + g.digits(10-len(strings.ReplaceAll(area, " ", "")))
	}
	return "+1 " + area + " " + string(byte('2'+g.r.IntN(8))) + g.digits(2) + " " + g.digits(4)
}

func (g *gen) postalIn(c city) string {
	if c.country == "GB" {
		return c.zip + " " + string(byte('1'+g.r.IntN(9))) + string(byte('A'+g.r.IntN(26))) + string(byte('A'+g.r.IntN(26)))
	}
	return c.zip + g.digits(2)
}

func (g *gen) surname() string {
	if g.chance(0.5) {
		return pick(g.r, commonLast)
	}
	n := 2 + g.r.IntN(2)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(syllables[g.r.IntN(len(syllables))])
	}
	b.WriteString(lastEndings[g.r.IntN(len(lastEndings))])
	s := b.String()
	return strings.ToUpper(s[:1]) + s[1:]
}

func (g *gen) newCompany() company {
	w1 := companyWords1[g.r.IntN(len(companyWords1))]
	w2 := companyWords2[g.r.IntN(len(companyWords2))]
	name := w1 + " " + w2
	if g.chance(0.3) {
		name = w1 + " " + strings.Title(syllables[g.r.IntN(len(syllables))]+syllables[g.r.IntN(len(syllables))]) + " " + w2 //nolint:staticcheck // ASCII only
	}
	suffix := []string{"Inc.", "Inc.", "LLC", "Corp.", "Ltd.", ""}[g.r.IntN(6)]
	c := cities[g.r.IntN(len(cities))]
	dom := strings.ToLower(strings.ReplaceAll(name, " ", "")) + []string{".com", ".com", ".io", ".co"}[g.r.IntN(4)]
	return company{name: name, suffix: suffix, domain: dom, city: c, mainLine: g.phoneIn(c)}
}

func (g *gen) firstName(female bool) string {
	if female {
		return pick(g.r, femaleFirst)
	}
	return pick(g.r, maleFirst)
}

// mailbox returns an address at domain for first/last in one of the
// common patterns, unique within the dataset.
func (g *gen) mailbox(first, last, domain string, personal bool) string {
	f, l := asciiLower(first), asciiLower(last)
	var local string
	switch g.r.IntN(5) {
	case 0:
		local = f + "." + l
	case 1:
		local = f[:1] + l
	case 2:
		local = f + l[:1]
	case 3:
		local = f + "_" + l
	default:
		local = f + l
	}
	if personal && g.chance(0.5) {
		local += g.digits(1 + g.r.IntN(3))
	}
	// Mailboxes are unique up to dots, as at gmail: a namesake gets a
	// numbered handle rather than the dotted form of a taken one.
	for g.usedMail[strings.ReplaceAll(local, ".", "")+"@"+domain] {
		local += g.digits(1)
	}
	g.usedMail[strings.ReplaceAll(local, ".", "")+"@"+domain] = true
	return local + "@" + domain
}

func asciiLower(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == 'ü':
			b.WriteString("u")
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

func (g *gen) newPerson() *person {
	p := &person{id: len(g.people), female: g.chance(0.5)}
	p.first = g.firstName(p.female)
	p.last = g.surname()
	p.city = cities[g.r.IntN(len(cities))]
	if g.chance(0.75) {
		c := g.comps[g.r.IntN(len(g.comps))]
		p.company, p.suffix, p.domain = c.name, c.suffix, c.domain
		p.officeLine = c.mainLine
		p.workEmail = g.mailbox(p.first, p.last, c.domain, false)
		if g.chance(0.6) {
			p.city = c.city
		}
	}
	if p.workEmail == "" || g.chance(0.6) {
		p.personalEmail = g.mailbox(p.first, p.last, pick(g.r, freeMail), true)
	}
	p.postal = g.postalIn(p.city)
	p.mobile = g.phoneIn(p.city)
	if g.chance(0.3) {
		p.homeLine = g.phoneIn(p.city)
	}
	p.crmID = fmt.Sprintf("crm:%07d", p.id)
	g.people = append(g.people, p)
	return p
}

// familyMember shares p's surname, address and home line, and often the
// mail provider; the given name differs (and is not a nickname of p's).
func (g *gen) familyMember(p *person) *person {
	q := g.newPerson()
	q.last, q.city, q.postal = p.last, p.city, p.postal
	for q.first == p.first || g.sameNick(q.first, p.first) {
		q.female = !q.female
		q.first = g.firstName(q.female)
	}
	if p.homeLine == "" {
		p.homeLine = g.phoneIn(p.city)
	}
	q.homeLine = p.homeLine
	q.mobile = p.homeLine // records of both mostly show the shared line
	if p.personalEmail != "" {
		dom := p.personalEmail[strings.IndexByte(p.personalEmail, '@')+1:]
		q.personalEmail = g.mailbox(q.first, q.last, dom, true)
	}
	return q
}

// colleague works at p's company: same company, domain, main line, city.
func (g *gen) colleague(p *person) *person {
	q := g.newPerson()
	q.company, q.suffix, q.domain, q.officeLine = p.company, p.suffix, p.domain, p.officeLine
	q.city, q.postal = p.city, p.postal
	for q.first == p.first {
		q.first = g.firstName(q.female)
	}
	q.workEmail = g.mailbox(q.first, q.last, q.domain, false)
	return q
}

// namesake has p's exact name but lives elsewhere, with other numbers and
// addresses (often the same handle at another provider).
func (g *gen) namesake(p *person) *person {
	q := g.newPerson()
	q.first, q.last, q.female = p.first, p.last, p.female
	for q.city.name == p.city.name {
		q.city = cities[g.r.IntN(len(cities))]
	}
	q.postal = g.postalIn(q.city)
	q.mobile = g.phoneIn(q.city)
	q.homeLine = ""
	q.personalEmail = g.mailbox(q.first, q.last, pick(g.r, freeMail), true)
	if q.workEmail != "" {
		q.workEmail = g.mailbox(q.first, q.last, q.domain, false)
	}
	return q
}

func (g *gen) sameNick(a, b string) bool {
	la, lb := strings.ToLower(a), strings.ToLower(b)
	ca, cb := la, lb
	if c, ok := g.canonOf[la]; ok {
		ca = c
	}
	if c, ok := g.canonOf[lb]; ok {
		cb = c
	}
	return ca == cb
}

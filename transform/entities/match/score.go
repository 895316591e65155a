package match

import (
	"fmt"
	"strings"
)

// Field names used in [Contribution].
const (
	FieldFirstName = "first_name"
	FieldLastName  = "last_name"
	FieldEmail     = "email"
	FieldPhone     = "phone"
	FieldCompany   = "company"
	FieldLocation  = "location"
)

// Disagreement factors: the share of a field's weight that counts when
// the field disagrees completely. The effective weight of a field with
// similarity s is weight × (d + (1−d)·s), so agreement always counts in
// full while a mismatch on a field people legitimately have several of
// (emails, phones, employers, addresses) counts only partly. Names count
// in full both ways. A d of at least 0.5 keeps the score monotone in every
// field's similarity.
const (
	disagreeName     = 1.0
	disagreeEmail    = 0.5
	disagreePhone    = 0.5
	disagreeCompany  = 0.6
	disagreeLocation = 0.6
)

// Contribution is one field's part in a pair's score, for the review
// queue: what was compared, how similar it was, and how much it counted.
type Contribution struct {
	// Field is one of the Field* constants.
	Field string
	// Similarity of the two normalized values, in [0,1].
	Similarity float64
	// Weight is the field's effective weight in the mean (its configured
	// weight, reduced for a disagreement on a field with d < 1).
	Weight float64
	// Note says how the similarity was reached when that is not a plain
	// string comparison ("nickname", "initial", "domain typo", ...).
	Note string
}

func (c Contribution) String() string {
	s := fmt.Sprintf("%s=%.2f×%.3f", c.Field, c.Similarity, c.Weight)
	if c.Note != "" {
		s += " (" + c.Note + ")"
	}
	return s
}

// fieldScore is the similarity of one field of a pair.
type fieldScore struct {
	present bool
	sim     float64
	note    string
	d       float64 // disagreement factor for this pair, 0 for the field's default
}

// scorer computes pair scores with one Config.
type scorer struct {
	cfg Config
}

// pairScore is the outcome of comparing two prepared records.
type pairScore struct {
	score         float64
	corroboration float64 // agreement outside the names (see Config.MinCorroboration)
	firstConflict bool
	firstSim      float64 // -1 when either given name is missing
	lastSim       float64 // -1 when either surname is missing
	notes         []string
}

// firstNameScore compares two folded given names.
func firstNameScore(a, b string) (fs fieldScore, conflict bool) {
	if a == "" || b == "" {
		return fieldScore{}, false
	}
	fs.present = true
	switch {
	case a == b:
		fs.sim = 1
		return fs, false
	case nicknameEqual(a, b):
		fs.sim, fs.note = 0.95, "nickname"
		return fs, false
	case (len(a) == 1 && b[0] == a[0]) || (len(b) == 1 && a[0] == b[0]):
		fs.sim, fs.note = 0.8, "initial"
		return fs, false
	}
	jw := jaroWinkler(a, b)
	fs.sim = ramp(jw, 0.75, 0.95)
	return fs, jw <= 0.75
}

// lastNameScore compares two folded surnames; one being the start or end
// of the other ("smith" in "smithjones") counts as 0.8: a double-barrelled
// name written in full in one system only.
func lastNameScore(a, b string) fieldScore {
	if a == "" || b == "" {
		return fieldScore{}
	}
	fs := fieldScore{present: true}
	if a == b {
		fs.sim = 1
		return fs
	}
	fs.sim = ramp(jaroWinkler(a, b), 0.75, 0.95)
	if fs.sim < 0.8 && min(len(a), len(b)) >= 4 {
		short, long := a, b
		if len(short) > len(long) {
			short, long = long, short
		}
		if strings.HasPrefix(long, short) || strings.HasSuffix(long, short) {
			fs.sim, fs.note = 0.8, "part of a compound surname"
		}
	}
	return fs
}

// emailScore compares two addresses. A role address (info@, sales@) on
// either side is no evidence: several people share it. Otherwise the local
// parts are compared (see localSimilarity). The domains decide how much a
// local-part agreement is worth: the same domain fully, a domain that is a
// typo of the other (gmial.com) 0.9, unrelated domains 0.3 (a handle built
// from the name says little beyond the name).
//
// They also decide what a disagreement costs (the d override): two
// mailboxes at one company domain are most likely two people (d = 1), a
// work address against a free-mail one is what one person typically has
// (d = 0.2).
func emailScore(a, b *prepared) fieldScore {
	if a.emailDomain == "" || b.emailDomain == "" {
		return fieldScore{}
	}
	if a.roleEmail || b.roleEmail {
		return fieldScore{note: "role address ignored"}
	}
	fs := fieldScore{present: true}
	if a.emailKey == b.emailKey {
		fs.sim = 1
		return fs
	}
	ls, lnote := localSimilarity(a.emailLocal, b.emailLocal, a.emailRaw, b.emailRaw)
	switch {
	case a.emailDomain == b.emailDomain:
		fs.sim, fs.note = ls, lnote
		if !a.freeMail {
			fs.d = 1
		}
	case ls > 0 && !(a.freeMail && b.freeMail) && jaroWinkler(a.emailDomain, b.emailDomain) >= 0.92:
		fs.sim, fs.note = 0.9*ls, "domain typo"
	default:
		fs.sim = 0.3 * ls
		if a.freeMail != b.freeMail {
			fs.d, fs.note = 0.2, "work and personal address"
		}
	}
	return fs
}

// localSimilarity compares two local parts. Handles are mostly built from
// the person's name, so closeness in the Jaro-Winkler sense ("alexanderw"
// against "alexander.white") mostly repeats the name evidence; what counts
// is being the same mailbox written differently:
//
//	only a +tag differs ("jo+crm" / "jo")           1
//	only dots differ ("mary.wilson" / "marywilson")  0.75: one mailbox
//	    at gmail, maybe two elsewhere
//	other separators differ ("mary_wilson" / "marywilson")  0.5
//	one edit apart (insert, delete, substitute or swap; a typo)  0.8
//	two edits apart, 8+ characters                  0.5
//	numbered handles with different numbers ("gloriamiller3" / "gloriamiller41"):
//	    0, providers number the handles of namesakes
//	otherwise                                       0
//
// fa and fb are the folded local parts (separators and +tags removed),
// ka and kb the local parts as written without their +tags; edits are
// counted on the latter, so a separator change plus a typo is two.
func localSimilarity(fa, fb, ka, kb string) (float64, string) {
	if fa == fb {
		switch {
		case ka == kb:
			return 1, "same mailbox, +tag aside"
		case strings.ReplaceAll(ka, ".", "") == strings.ReplaceAll(kb, ".", ""):
			return 0.75, "same letters, other dots"
		}
		return 0.5, "same letters, other separators"
	}
	la, da := splitDigits(fa)
	lb, db := splitDigits(fb)
	if la == lb && da != db {
		return 0, "numbered handles differ"
	}
	switch d := osaDistance(ka, kb, 3); {
	case d == 1:
		return 0.8, "one edit apart"
	case d == 2 && min(len(fa), len(fb)) >= 8:
		return 0.5, "two edits apart"
	}
	return 0, ""
}

// splitDigits returns the letters and the digits of a folded local part.
func splitDigits(s string) (letters, digits string) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	return s[:i], s[i:]
}

// phoneScore compares two E.164 numbers.
func phoneScore(a, b string) fieldScore {
	if a == "" || b == "" {
		return fieldScore{}
	}
	return fieldScore{present: true, sim: digitsSimilarity(a, b)}
}

// companyScore compares two company names with legal suffixes stripped;
// "Acme" against "Acme Widgets" counts 0.85.
func companyScore(a, b *prepared) fieldScore {
	if a.company == "" || b.company == "" {
		return fieldScore{}
	}
	fs := fieldScore{present: true}
	if a.company == b.company {
		fs.sim = 1
		return fs
	}
	fs.sim = ramp(jaroWinkler(a.company, b.company), 0.8, 0.97)
	short, long := a.company, b.company
	if len(short) > len(long) {
		short, long = long, short
	}
	if fs.sim < 0.85 && len(short) >= 4 && strings.HasPrefix(long, short) {
		fs.sim, fs.note = 0.85, "one name starts the other"
	}
	return fs
}

// locationScore compares postal codes when both have one (a ZIP+4 and its
// ZIP agree) and cities otherwise; a different postal code in the same
// city counts 0.8.
func locationScore(a, b *prepared) fieldScore {
	city := -1.0
	if a.city != "" && b.city != "" {
		city = 0
		if a.city == b.city {
			city = 1
		} else {
			city = ramp(jaroWinkler(a.city, b.city), 0.8, 0.97)
		}
	}
	if a.postal != "" && b.postal != "" {
		fs := fieldScore{present: true}
		switch {
		case a.postal == b.postal, strings.HasPrefix(a.postal, b.postal) && len(b.postal) >= 5,
			strings.HasPrefix(b.postal, a.postal) && len(a.postal) >= 5:
			fs.sim = 1
		case city > 0:
			fs.sim, fs.note = 0.8*city, "same city, other postal code"
		}
		return fs
	}
	if city >= 0 {
		return fieldScore{present: true, sim: city}
	}
	return fieldScore{}
}

// score compares a and b. With reasons, it also returns each field's
// contribution (fields missing on either side are left out).
//
// namesakes, when not nil, returns the number of people expected to share
// the pair's name by chance (see Index.expectedNamesakes). A negative
// value, or nil, means unknown, treated as a common name.
func (s *scorer) score(a, b *prepared, namesakes func(a, b *prepared) float64, reasons *[]Contribution) pairScore {
	w := s.cfg.Weights
	first, conflict := firstNameScore(a.first, b.first)
	last := lastNameScore(a.last, b.last)
	fields := [...]struct {
		name string
		w, d float64
		fs   fieldScore
	}{
		{FieldFirstName, w.FirstName, disagreeName, first},
		{FieldLastName, w.LastName, disagreeName, last},
		{FieldEmail, w.Email, disagreeEmail, emailScore(a, b)},
		{FieldPhone, w.Phone, disagreePhone, phoneScore(a.phone, b.phone)},
		{FieldCompany, w.Company, disagreeCompany, companyScore(a, b)},
		{FieldLocation, w.Location, disagreeLocation, locationScore(a, b)},
	}
	var num, den, corroboration float64
	for _, f := range fields {
		if !f.fs.present || f.w == 0 {
			if reasons != nil && f.fs.note != "" {
				*reasons = append(*reasons, Contribution{Field: f.name, Note: f.fs.note})
			}
			continue
		}
		d := f.d
		if f.fs.d > 0 {
			d = f.fs.d
		}
		we := f.w * (d + (1-d)*f.fs.sim)
		num += we * f.fs.sim
		den += we
		switch {
		case f.name == FieldFirstName || f.name == FieldLastName || f.fs.sim < 0.7:
		case f.name == FieldLocation:
			corroboration += 0.5 * f.w * f.fs.sim
		default:
			corroboration += f.w * f.fs.sim
		}
		if reasons != nil {
			*reasons = append(*reasons, Contribution{Field: f.name, Similarity: f.fs.sim, Weight: we, Note: f.fs.note})
		}
	}
	ps := pairScore{corroboration: corroboration, firstConflict: conflict, firstSim: -1, lastSim: -1}
	if first.present {
		ps.firstSim = first.sim
	}
	if last.present {
		ps.lastSim = last.sim
	}
	if den > 0 {
		ps.score = num / den
	}
	if conflict && ps.score > s.cfg.FirstNameConflictCap {
		ps.score = s.cfg.FirstNameConflictCap
		if reasons != nil {
			ps.notes = append(ps.notes, fmt.Sprintf("given names differ: score capped at %.2f", s.cfg.FirstNameConflictCap))
		}
	}
	if corroboration < s.cfg.MinCorroboration && ps.score >= s.cfg.AutoMerge && namesakes != nil &&
		ps.firstSim >= 0.8 && ps.lastSim >= 0.9 {
		if n := namesakes(a, b); n >= 0 && n <= s.cfg.RareName {
			corroboration = s.cfg.MinCorroboration
			if reasons != nil {
				ps.notes = append(ps.notes, fmt.Sprintf("rare name (%.3f namesakes expected): the name corroborates itself", n))
			}
		}
	}
	if corroboration < s.cfg.MinCorroboration && s.cfg.CommonName > 0 && namesakes != nil &&
		ps.score >= s.cfg.ReviewFrom && ps.score < s.cfg.AutoMerge {
		if n := namesakes(a, b); n >= s.cfg.CommonName {
			ps.score = nextBelow(s.cfg.ReviewFrom)
			if reasons != nil {
				ps.notes = append(ps.notes, fmt.Sprintf("common name (%.2f namesakes expected) and nothing else agrees: distinct", n))
			}
		}
	}
	ps.corroboration = corroboration
	if corroboration < s.cfg.MinCorroboration && ps.score >= s.cfg.AutoMerge {
		ps.score = nextBelow(s.cfg.AutoMerge)
		if reasons != nil {
			ps.notes = append(ps.notes, fmt.Sprintf("agreement beyond the name %.3f < min_corroboration %.2f: review at most", corroboration, s.cfg.MinCorroboration))
		}
	}
	return ps
}

// nextBelow returns a score just under t, so that a capped pair lands in
// the review band (or below it) and prints as less than t.
func nextBelow(t float64) float64 { return t - 0.0001 }

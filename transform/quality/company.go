package quality

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// SuffixStyle says what [CompanyName] does with a legal-form suffix.
type SuffixStyle string

// Suffix styles.
const (
	// SuffixShort writes the suffix in its standard short form:
	// "incorporated", "inc", "INC." become "Inc."; "L.L.C." becomes "LLC".
	SuffixShort SuffixStyle = "short"
	// SuffixStrip removes the suffix ("Acme Inc." becomes "Acme"), for match
	// keys.
	SuffixStrip SuffixStyle = "strip"
	// SuffixKeep keeps the suffix as written; spacing and the name's
	// capitalization are still fixed.
	SuffixKeep SuffixStyle = "keep"
)

// SuffixStyles lists the suffix styles.
var SuffixStyles = []SuffixStyle{SuffixShort, SuffixStrip, SuffixKeep}

// legalSuffixes maps a suffix key (its words lowercased, dots and commas
// removed, joined by one space) to its standard form.
var legalSuffixes = map[string]string{
	"inc": "Inc.", "incorporated": "Inc.",
	"corp": "Corp.", "corporation": "Corp.",
	"llc": "LLC", "limited liability company": "LLC", "ltd liability co": "LLC",
	"ltd": "Ltd.", "limited": "Ltd.",
	"co": "Co.", "company": "Co.",
	"co ltd": "Co., Ltd.", "company limited": "Co., Ltd.", "co limited": "Co., Ltd.",
	"llp": "LLP", "limited liability partnership": "LLP",
	"lp": "LP", "limited partnership": "LP",
	"plc": "PLC", "public limited company": "PLC",
	"pty ltd": "Pty Ltd", "pty limited": "Pty Ltd", "proprietary limited": "Pty Ltd",
	"pvt ltd": "Pvt. Ltd.", "pvt limited": "Pvt. Ltd.", "private limited": "Pvt. Ltd.",
	"pte ltd": "Pte. Ltd.", "pte limited": "Pte. Ltd.",
	"sdn bhd": "Sdn. Bhd.",
	"gmbh":    "GmbH", "gmbh & co kg": "GmbH & Co. KG", "gmbh and co kg": "GmbH & Co. KG",
	"ag": "AG", "kg": "KG", "se": "SE",
	"sa": "S.A.", "sas": "S.A.S.", "sarl": "SARL", "sl": "S.L.", "sa de cv": "S.A. de C.V.",
	"spa": "S.p.A.", "srl": "S.r.l.", "ltda": "Ltda.",
	"bv": "B.V.", "nv": "N.V.",
	"ab": "AB", "oy": "Oy", "oyj": "Oyj", "a/s": "A/S", "as": "AS", "aps": "ApS",
	"kk": "K.K.",
}

// maxSuffixWords is the most words a legal suffix has.
const maxSuffixWords = 4

// smallWords stay lowercase inside a name whose case is being fixed.
var smallWords = map[string]bool{
	"a": true, "an": true, "and": true, "at": true, "by": true, "for": true, "in": true,
	"of": true, "on": true, "or": true, "the": true, "to": true, "de": true, "du": true,
	"la": true, "le": true, "von": true, "van": true, "der": true, "und": true, "et": true, "y": true,
}

var companyReplacer = strings.NewReplacer(
	"\u2019", "'", "\u2018", "'", "\u201c", `"`, "\u201d", `"`, "\u2013", "-", "\u2014", "-",
	" ,", ",", " .", ".",
)

// CompanyName tidies a company name: white space trimmed and collapsed,
// typographic quotes and dashes made plain, surrounding quotes removed, a
// legal-form suffix standardized according to style (see [SuffixStyle];
// "ACME, inc" becomes "Acme Inc." with [SuffixShort]). A name written all
// in capitals or all in lowercase is put in title case, keeping short
// all-capital words such as "IBM" and small words such as "of" as they
// are; a name in mixed case ("eBay", "McDonald's") is kept as written. The
// error wraps [ErrInvalid] when nothing but punctuation is left.
func CompanyName(s string, style SuffixStyle) (string, error) {
	s = norm.NFC.String(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = collapseSpaces(s)
	s = companyReplacer.Replace(s)
	s = strings.Trim(s, ` ,;"`)
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
		return "", invalidf("company name %q has no letters or digits", s)
	}
	words := strings.Fields(s)
	name, suffix := words, ""
suffixes:
	for n := min(maxSuffixWords, len(words)-1); n >= 1; n-- {
		if std, ok := legalSuffixes[suffixKey(words[len(words)-n:])]; ok {
			name = words[:len(words)-n]
			switch style {
			case SuffixKeep:
				suffix = strings.TrimLeft(strings.Join(words[len(words)-n:], " "), ",")
			case SuffixStrip:
			default:
				suffix = std
			}
			break suffixes
		}
	}
	name = fixCase(name)
	out := strings.TrimRight(strings.Join(name, " "), ",; ")
	if style == SuffixStrip {
		out = strings.TrimRight(out, "&+ ")
	}
	if out == "" {
		out = strings.Join(name, " ")
	}
	if suffix != "" {
		out += " " + suffix
	}
	return out, nil
}

func suffixKey(words []string) string {
	var b strings.Builder
	for i, w := range words {
		w = strings.ToLower(suffixPunct.Replace(w))
		if w == "" {
			continue
		}
		if i > 0 && b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	return b.String()
}

// fixCase title-cases words when all their letters share one case.
func fixCase(words []string) []string {
	upper, lower := false, false
	for _, w := range words {
		for _, r := range w {
			if unicode.IsUpper(r) {
				upper = true
			} else if unicode.IsLower(r) {
				lower = true
			}
		}
	}
	if upper == lower { // mixed case, or no cased letters at all
		return words
	}
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = titleWord(w, upper, i == 0)
	}
	return out
}

func titleWord(w string, allCaps, first bool) string {
	lw := strings.ToLower(w)
	if !first && smallWords[lw] {
		return lw
	}
	letters := 0
	for _, r := range w {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	if allCaps && letters <= 3 {
		return w // an acronym: IBM, AT&T, BMW
	}
	rs := []rune(lw)
	start := true // at the start of a segment
	segLen := 0
	for i, r := range rs {
		switch {
		case r == '-' || r == '/' || r == '(' || r == '&':
			start, segLen = true, 0
		case r == '\'':
			// O'Reilly: capitalize after an apostrophe that follows one letter.
			start = segLen == 1
			segLen = 0
		case unicode.IsLetter(r):
			if start {
				rs[i] = unicode.ToTitle(r)
			}
			start = false
			segLen++
		default:
			start = false
			segLen++
		}
	}
	return string(rs)
}

var suffixPunct = strings.NewReplacer(".", "", ",", "")

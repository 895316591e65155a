package quality

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ErrInvalid is wrapped by every error the exported normalizers return for
// a value they cannot clean.
var ErrInvalid = errors.New("invalid value")

// invalidf formats an ErrInvalid error; long text arguments (the offending
// values) are clipped so that a huge value does not make a huge message.
func invalidf(format string, args ...any) error {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clip(s)
		}
	}
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// maxQuoted is how much of a value messages show.
const maxQuoted = 80

// clip shortens s to about maxQuoted bytes, on a rune boundary, marking the
// cut with "...".
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Email returns s trimmed, in Unicode NFC and lowercased, or an error
// wrapping [ErrInvalid] when it is not an address of the form
// local@domain.tld.
//
// The local part is a dot-atom (letters of any script, digits and
// !#$%&'*+/=?^_`{|}~- , with single dots between them, at most 64 bytes);
// quoted local parts and IP-literal domains are rejected, as are domains
// without a dot. Domain labels are letters, digits and inner hyphens, at
// most 63 bytes each; the last label is not all digits. A leading
// "mailto:" is removed.
func Email(s string) (string, error) {
	s = strings.TrimFunc(s, isSpace)
	if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = strings.TrimFunc(s[7:], isSpace)
	}
	if s == "" {
		return "", invalidf("empty email address")
	}
	if !utf8.ValidString(s) {
		return "", invalidf("email address is not valid UTF-8")
	}
	s = strings.ToLower(norm.NFC.String(s))
	if len(s) > 254 {
		return "", invalidf("email address is longer than 254 bytes")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", invalidf("email address %q has no @", s)
	}
	local, domain := s[:at], s[at+1:]
	if err := checkLocal(local); err != nil {
		return "", invalidf("email address %q: %s", s, err.Error())
	}
	if err := checkDomain(domain); err != nil {
		return "", invalidf("email address %q: %s", s, err.Error())
	}
	return s, nil
}

type plainError string

func (e plainError) Error() string { return string(e) }

func checkLocal(local string) error {
	switch {
	case local == "":
		return plainError("empty local part")
	case len(local) > 64:
		return plainError("local part is longer than 64 bytes")
	case local[0] == '.' || local[len(local)-1] == '.':
		return plainError("local part starts or ends with a dot")
	case strings.Contains(local, ".."):
		return plainError("local part has two dots in a row")
	}
	for _, r := range local {
		if r == '.' || isAtext(r) {
			continue
		}
		if r == '@' {
			return plainError("more than one @")
		}
		return fmt.Errorf("character %q is not allowed in the local part", r)
	}
	return nil
}

func isAtext(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("!#$%&'*+/=?^_`{|}~-", r)
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

func checkDomain(domain string) error {
	switch {
	case domain == "":
		return plainError("empty domain")
	case len(domain) > 253:
		return plainError("domain is longer than 253 bytes")
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return plainError("domain has no dot")
	}
	for _, l := range labels {
		if l == "" {
			return plainError("domain has an empty label")
		}
		if len(l) > 63 {
			return plainError("domain label longer than 63 bytes")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return plainError("domain label starts or ends with a hyphen")
		}
		for _, r := range l {
			if r == '-' || r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') ||
				r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) {
				continue
			}
			return fmt.Errorf("character %q is not allowed in the domain", r)
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return plainError("top-level domain is all digits")
	}
	if utf8.RuneCountInString(tld) < 2 {
		return plainError("top-level domain is shorter than 2 characters")
	}
	return nil
}

// isSpace reports Unicode white space, including no-break and zero-width
// spaces that pasted values often carry.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff' || r == '\u2060'
}

// collapseSpaces trims s and replaces each run of white space inside it by
// one ASCII space.
func collapseSpaces(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if isSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

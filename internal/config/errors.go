package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// FieldError is one problem in a configuration. [Load], [Parse] and
// [Config.Validate] return these joined with errors.Join; use errors.As or
// the Unwrap() []error method to get at them individually.
type FieldError struct {
	// File is the configuration file name, "" when unknown.
	File string
	// Line is the 1-based line in File, 0 when unknown.
	Line int
	// Path is the key path the problem is about, such as
	// "sources[0].dsn"; "" for problems with the document as a whole.
	Path string
	// Msg describes the problem and what to do about it.
	Msg string

	// msgNamesKey is set when Msg already names the key, so Error does not
	// repeat Path.
	msgNamesKey bool
}

// Error formats the problem as "file:line: path: message".
func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" && !e.msgNamesKey {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// joinErrors orders problems by line (problems without a line last) and
// joins them. It returns nil for no problems.
func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	line := func(err error) int {
		var fe *FieldError
		if errors.As(err, &fe) && fe.Line > 0 {
			return fe.Line
		}
		return int(^uint(0) >> 1)
	}
	slices.SortStableFunc(errs, func(a, b error) int { return line(a) - line(b) })
	return errors.Join(errs...)
}

// didYouMean returns ` (did you mean "x"?)` for the candidate closest to s, or
// "" when none is close.
func didYouMean(s string, candidates []string) string {
	if best := closest(s, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// closest returns the candidate closest to s by edit distance (ignoring
// case), or "" when none is within a third of its length (at least 1, at
// most 3 edits).
func closest(s string, candidates []string) string {
	ls := strings.ToLower(s)
	// A unique candidate that s starts with, or that starts with s, is the
	// likely intent ("warning" for "warn").
	prefix := ""
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if c != s && len(ls) >= 2 && (strings.HasPrefix(ls, lc) || strings.HasPrefix(lc, ls)) {
			if prefix != "" {
				prefix = ""
				break
			}
			prefix = c
		}
	}
	if prefix != "" {
		return prefix
	}
	best, bestDist := "", 0
	for _, c := range candidates {
		if c == s {
			continue
		}
		d := editDistance(ls, strings.ToLower(c))
		limit := min(max(len(c)/3, 1), 3)
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes. It
// gives up (returning a large number) on long inputs.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

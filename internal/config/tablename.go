package config

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// TableName is a schema-qualified PostgreSQL table name. Schema and Name
// hold the identifiers themselves, without quotes.
type TableName struct {
	Schema, Name string
}

// String returns "schema.name", double-quoting each part only when needed
// (upper case, special characters, reserved words), so that
// ParseTableName(t.String()) == t.
func (t TableName) String() string {
	return quoteIdent(t.Schema) + "." + quoteIdent(t.Name)
}

// ParseTableName parses "schema.table" or "table" (meaning "public.table")
// following PostgreSQL's identifier rules: unquoted identifiers are letters,
// digits, '_' and '$' not starting with a digit or '$', and are folded to
// lower case; double-quoted identifiers are taken as written, with "" for a
// literal quote. Identifiers are at most 63 bytes.
func ParseTableName(s string) (TableName, error) {
	parts, err := splitQualified(s)
	if err != nil {
		return TableName{}, err
	}
	for _, p := range parts {
		if p.star() {
			return TableName{}, errors.New(`"*" is not a table name`)
		}
	}
	switch len(parts) {
	case 1:
		return TableName{Schema: "public", Name: parts[0].val}, nil
	case 2:
		return TableName{Schema: parts[0].val, Name: parts[1].val}, nil
	default:
		return TableName{}, fmt.Errorf("expected schema.table or table, got %d dot-separated parts", len(parts))
	}
}

// parseIdent parses a single identifier, such as a schema name.
func parseIdent(s string) (string, error) {
	parts, err := splitQualified(s)
	if err != nil {
		return "", err
	}
	if len(parts) != 1 || parts[0].star() {
		return "", errors.New(`expected a single identifier (quote it as "a.b" if it contains a dot)`)
	}
	return parts[0].val, nil
}

// identPart is one dot-separated part of a qualified name.
type identPart struct {
	val    string
	quoted bool
}

func (p identPart) star() bool { return !p.quoted && p.val == "*" }

// maxIdentLen is PostgreSQL's NAMEDATALEN-1; longer identifiers are
// truncated by the server, which we refuse to guess about.
const maxIdentLen = 63

// splitQualified splits a dot-separated, possibly quoted, qualified name.
// An unquoted "*" part is returned as is (see identPart.star).
func splitQualified(s string) ([]identPart, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("name is not valid UTF-8")
	}
	var parts []identPart
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for {
		skipSpace()
		if i >= len(s) {
			if len(parts) == 0 {
				return nil, errors.New("name is empty")
			}
			return nil, errors.New("name ends with '.'")
		}
		var p identPart
		if s[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, errors.New(`unterminated quoted identifier (missing closing "; write "" for a quote inside quotes)`)
			}
			if b.Len() == 0 {
				return nil, errors.New(`zero-length quoted identifier ""`)
			}
			if strings.IndexByte(b.String(), 0) >= 0 {
				return nil, errors.New("identifier contains a NUL byte")
			}
			p = identPart{val: b.String(), quoted: true}
		} else {
			start := i
			for i < len(s) && s[i] != '.' && s[i] != ' ' && s[i] != '\t' && s[i] != '"' {
				i++
			}
			raw := s[start:i]
			switch {
			case raw == "":
				return nil, errors.New("empty name part (two dots in a row or a leading '.')")
			case raw == "*":
			case !validUnquoted(raw):
				return nil, fmt.Errorf("invalid identifier %q: unquoted identifiers are letters, digits, '_' and '$', not starting with a digit or '$'; double-quote it (\"%s\") to use other characters", raw, strings.ReplaceAll(raw, `"`, `""`))
			}
			p = identPart{val: foldLower(raw)}
		}
		if len(p.val) > maxIdentLen {
			return nil, fmt.Errorf("identifier %q is longer than %d bytes", p.val, maxIdentLen)
		}
		parts = append(parts, p)
		skipSpace()
		if i == len(s) {
			return parts, nil
		}
		if s[i] != '.' {
			return nil, fmt.Errorf("unexpected %q after identifier %q; separate parts with '.'", s[i], p.val)
		}
		i++
	}
}

// validUnquoted reports whether s is a valid unquoted PostgreSQL identifier
// (before case folding). Bytes >= 0x80 count as letters, as in PostgreSQL's
// scanner.
func validUnquoted(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '$'):
		default:
			return false
		}
	}
	return true
}

// foldLower lower-cases ASCII letters, as PostgreSQL does for unquoted
// identifiers.
func foldLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// quoteIdent returns s as an SQL identifier, quoted only when it would not
// read back as itself unquoted.
func quoteIdent(s string) string {
	if needsQuote(s) {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func needsQuote(s string) bool {
	if s == "" || reservedWords[s] {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= c && c <= '9' || c == '$'):
		default:
			return true
		}
	}
	return false
}

// reservedWords are PostgreSQL's keywords that cannot be used as unquoted
// table or schema names (reserved, and reserved-but-allowed-as-function or
// type names).
var reservedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		all analyse analyze and any array as asc asymmetric authorization binary
		both case cast check collate collation column concurrently constraint
		create cross current_catalog current_date current_role current_schema
		current_time current_timestamp current_user default deferrable desc
		distinct do else end except false fetch for foreign freeze from full
		grant group having ilike in initially inner intersect into is isnull
		join lateral leading left like limit localtime localtimestamp natural
		not notnull null offset on only or order outer overlaps placing primary
		references returning right select session_user similar some symmetric
		system_user table tablesample then to trailing true union unique user
		using variadic verbose when where window with`) {
		m[w] = true
	}
	return m
}()

// fromRef is a parsed sink "from" entry.
type fromRef struct {
	source string
	all    bool      // "<source>.*"
	table  TableName // when !all
}

// parseFromEntry parses "<source>.<schema>.<table>" or "<source>.*".
func parseFromEntry(s string) (fromRef, error) {
	parts, err := splitQualified(s)
	if err != nil {
		return fromRef{}, err
	}
	const want = `expected "<source>.<schema>.<table>" or "<source>.*"`
	if parts[0].quoted || parts[0].star() || !sourceNameRE.MatchString(parts[0].val) {
		return fromRef{}, fmt.Errorf("%s; the source part must be a source name", want)
	}
	ref := fromRef{source: parts[0].val}
	switch {
	case len(parts) == 2 && parts[1].star():
		ref.all = true
		return ref, nil
	case len(parts) == 3 && !parts[1].star() && !parts[2].star():
		ref.table = TableName{Schema: parts[1].val, Name: parts[2].val}
		return ref, nil
	case len(parts) == 2:
		return fromRef{}, fmt.Errorf("%s; did you mean %s?", want,
			SourceTable{Source: ref.source, Table: TableName{Schema: "public", Name: parts[1].val}})
	default:
		return fromRef{}, errors.New(want)
	}
}

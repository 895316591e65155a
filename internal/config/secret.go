package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// redacted is what a non-empty Secret prints as.
const redacted = "[redacted]"

// Secret is a string that must not be printed: passwords, tokens and DSNs.
//
// Its String, GoString, MarshalText, MarshalJSON and LogValue methods all
// produce "[redacted]" for a non-empty secret and "" for an empty one, so
// the value does not leak through fmt (%v, %+v, %#v, %s, %q), encoding/json,
// YAML encoding or log/slog. Use [Secret.Value] to get the actual value.
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) display() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "[redacted]", or "" when the secret is empty.
func (s Secret) String() string { return s.display() }

// GoString returns "[redacted]", or "" when the secret is empty, so that
// %#v does not print the value either.
func (s Secret) GoString() string { return s.display() }

// Format implements fmt.Formatter so that every verb, including ones that
// are invalid for strings such as %d, prints the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprintf(f, fmt.FormatString(f, 's'), s.display())
	case 's', 'q', 'x', 'X':
		fmt.Fprintf(f, fmt.FormatString(f, verb), s.display())
	default:
		fmt.Fprintf(f, fmt.FormatString(f, 's'), s.display())
	}
}

// MarshalText returns "[redacted]", or "" when the secret is empty.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.display()), nil }

// MarshalJSON returns the JSON string "[redacted]", or "" when the secret is
// empty.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.display()) }

// LogValue returns "[redacted]", or "" when the secret is empty.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.display()) }

var (
	_ slog.LogValuer = Secret("")
	_ json.Marshaler = Secret("")
	_ fmt.Formatter  = Secret("")
)

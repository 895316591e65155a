package saas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/template"
	"time"
)

var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	// rfc3339ms formats epoch milliseconds (.SinceMs) as an RFC 3339
	// time with exactly three fractional digits, for query languages
	// that take no more (SOQL).
	"rfc3339ms": func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") },
	// seconds turns epoch milliseconds into whole epoch seconds, rounding
	// down (a start_time that takes seconds while the cursor format is
	// rfc3339).
	"seconds": func(ms int64) int64 { return time.UnixMilli(ms).Unix() },
}

// vars are what request templates see.
type vars struct {
	Since, Until     string // the window, formatted as the cursor's format
	SinceMs, UntilMs int64
	CursorID         string // id of the last record seen at the cursor; in a tie drain, of the last record read
	PageToken        string
	Offset, Page     int
	Limit            int
	// Tie is set for a tie drain (pagination.tie_break): the request must
	// return the records updated exactly at Since with an id above
	// CursorID (all of them when it is empty), in id order.
	Tie bool
	// ID is the key a reconciliation verifies (deletes.reconcile.verify).
	ID string
}

func render(t *template.Template, v vars) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// lookup returns the value at a dot path ("paging.next.after",
// "results.0.id"); ok is false when a step is missing.
func lookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for part := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// scalar returns a JSON scalar as a string ("" for null or missing).
func scalar(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("got a JSON %s, want a scalar", jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// parseTime reads a timestamp in format (rfc3339, unix_ms, unix).
func parseTime(v any, format string) (time.Time, error) {
	s, err := scalar(v)
	if err != nil {
		return time.Time{}, err
	}
	if s == "" {
		return time.Time{}, fmt.Errorf("missing")
	}
	switch format {
	case "unix_ms", "unix":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return time.Time{}, fmt.Errorf("%q is not a number", s)
		}
		if format == "unix" {
			return time.UnixMicro(int64(f * 1e6)).UTC(), nil
		}
		return time.UnixMicro(int64(f * 1e3)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// Salesforce writes its offsets without the colon (+0000).
		if t, err = time.Parse("2006-01-02T15:04:05.999999999Z0700", s); err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
		}
	}
	return t.UTC(), nil
}

func formatTime(t time.Time, format string) string {
	switch format {
	case "unix_ms":
		return strconv.FormatInt(t.UnixMilli(), 10)
	case "unix":
		return strconv.FormatInt(t.Unix(), 10)
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// decodeJSON decodes a response body with numbers kept exact. A body that
// is not one JSON value is an error naming the offset.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("response body is not JSON (at byte %d of %d: %v): %s", dec.InputOffset(), len(b), err, snippet(b))
	}
	if dec.More() {
		return nil, fmt.Errorf("response body has data after its JSON value (at byte %d of %d): %s", dec.InputOffset(), len(b), snippet(b))
	}
	return v, nil
}

func snippet(b []byte) string {
	const n = 120
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "…"
	}
	return strconv.Quote(string(b))
}

// propertyValue converts a JSON value to a column value of type typ.
func propertyValue(v any, typ, format string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "json":
		b, err := json.Marshal(v)
		return string(b), err
	case "timestamp":
		if s, _ := scalar(v); s == "" {
			return nil, nil
		}
		return parseTime(v, format)
	}
	s, err := scalar(v)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "int64":
		if s == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", s)
		}
		return n, nil
	case "float64":
		if s == "" {
			return nil, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case "bool":
		if s == "" {
			return nil, nil
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean", s)
		}
		return b, nil
	}
	return s, nil
}

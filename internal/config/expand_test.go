package config

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{
		"HOST":     "db.internal",
		"EMPTY":    "",
		"YAMLISH":  "a: b # not a comment\n- c\n  d: [e, {f: g}]",
		"DOLLAR":   "pa$$word",
		"BRACES":   "${HOST}",
		"DIR":      "/run/secrets",
		"QUOTE":    `it's "quoted"`,
		"LONG_VAR": "long",
	}
	files := map[string]string{
		"/run/secrets/pg":       "s3cret\n",
		"/run/secrets/crlf":     "s3cret\r\n",
		"/run/secrets/twolines": "line1\nline2\n\n",
		"/etc/syncline/rel":     "relative",
	}
	d := &decoder{
		file: "pipeline.yaml",
		dir:  "/etc/syncline",
		opts: parseOptions{
			lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			readFile: func(p string) ([]byte, error) {
				if v, ok := files[p]; ok {
					return []byte(v), nil
				}
				return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
			},
		},
		lines:  map[string]int{},
		failed: map[string]bool{},
	}
	tests := []struct {
		name, in, want, wantErr string
	}{
		{name: "a value without references is unchanged", in: "plain text: # here", want: "plain text: # here"},
		{name: "a set variable is substituted", in: "host=${HOST} port=5432", want: "host=db.internal port=5432"},
		{name: "an empty variable is substituted as empty", in: "[${EMPTY}]", want: "[]"},
		{name: "a default is used when the variable is unset", in: "${NOPE:-fallback}", want: "fallback"},
		{name: "a colon default is used when the variable is empty", in: "${EMPTY:-fallback}", want: "fallback"},
		{name: "a dash default is not used when the variable is empty", in: "[${EMPTY-fallback}]", want: "[]"},
		{name: "a dash default is used when the variable is unset", in: "${NOPE-fallback}", want: "fallback"},
		{name: "a default may be empty", in: "[${NOPE:-}]", want: "[]"},
		{name: "a default may contain spaces, colons and hashes", in: "${NOPE:-a: b # c}", want: "a: b # c"},
		{name: "a default may reference another variable", in: "${NOPE:-${HOST}}", want: "db.internal"},
		{name: "a set variable's value containing YAML syntax stays literal", in: "${YAMLISH}", want: env["YAMLISH"]},
		{name: "a variable's value is not expanded again", in: "${BRACES} ${DOLLAR}", want: "${HOST} pa$$word"},
		{name: "a double dollar is a literal dollar", in: "pa$$word", want: "pa$word"},
		{name: "a double dollar before a brace is not a reference", in: "$${HOST}", want: "${HOST}"},
		{name: "a lone dollar is literal", in: "cost $5 or $HOST", want: "cost $5 or $HOST"},
		{name: "a trailing dollar is literal", in: "abc$", want: "abc$"},
		{name: "a file reference reads the file without its trailing newline", in: "${file:/run/secrets/pg}", want: "s3cret"},
		{name: "a file reference strips a CRLF", in: "${file:/run/secrets/crlf}", want: "s3cret"},
		{name: "a file reference strips only one newline", in: "${file:/run/secrets/twolines}", want: "line1\nline2\n"},
		{name: "a file path may use a variable", in: "${file:${DIR}/pg}", want: "s3cret"},
		{name: "a relative file path is resolved against the config's directory", in: "${file:rel}", want: "relative"},
		{name: "variable names may contain digits and underscores", in: "${LONG_VAR}", want: "long"},
		{name: "an unset variable without default is an error naming it", in: "${MISSING_VAR}", wantErr: "environment variable MISSING_VAR is not set"},
		{name: "an unset variable inside a default is an error", in: "${NOPE:-${MISSING_VAR}}", wantErr: "MISSING_VAR is not set"},
		{name: "an unterminated reference is an error", in: "${HOST", wantErr: `unterminated "${"`},
		{name: "an empty reference is an error", in: "${}", wantErr: "invalid reference"},
		{name: "a reference starting with a digit is an error", in: "${1X}", wantErr: "invalid reference"},
		{name: "an unknown operator is an error", in: "${HOST:?oops}", wantErr: "invalid reference to HOST"},
		{name: "a missing file is an error naming the file", in: "${file:/run/secrets/none}", wantErr: "reading secret file: open /run/secrets/none"},
		{name: "an empty file path is an error", in: "${file:}", wantErr: "empty path"},
		{name: "deep nesting is refused", in: strings.Repeat("${N:-", 20) + "x" + strings.Repeat("}", 20), wantErr: "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.expandString(tt.in, 0)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("expand(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseExpandsValuesNotStructure(t *testing.T) {
	t.Setenv("SYNCLINE_TEST_NAME", "injected\nkafka: {partitions: 99}")
	t.Setenv("SYNCLINE_TEST_DSN", "host=h password=a#b: c")
	t.Setenv("SYNCLINE_TEST_TABLE", "public.customers, public.orders")
	t.Setenv("SYNCLINE_TEST_PARTITIONS", "16")
	t.Setenv("SYNCLINE_TEST_SECRET_VAR", "x")
	doc := `
name: ${SYNCLINE_TEST_NAME}
kafka:
  partitions: ${SYNCLINE_TEST_PARTITIONS}
sources:
  - name: app
    type: postgres
    dsn: ${SYNCLINE_TEST_DSN}  # a comment after a reference
    tables: ["${SYNCLINE_TEST_TABLE}"]
`
	_, err := Parse([]byte(doc), "pipeline.yaml")
	if err == nil {
		t.Fatal("Parse succeeded with a name containing a newline")
	}

	t.Run("a value containing YAML syntax is one literal string", func(t *testing.T) {
		if !strings.Contains(err.Error(), `pipeline.yaml:2: name: "injected\nkafka: {partitions: 99}" is not a valid pipeline name`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a value containing YAML syntax cannot add keys", func(t *testing.T) {
		if strings.Contains(err.Error(), "partitions: must") || strings.Contains(err.Error(), "unknown key") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a value containing a comma stays one table", func(t *testing.T) {
		if !strings.Contains(err.Error(), `sources[0].tables[0]: invalid table name "public.customers, public.orders"`) {
			t.Errorf("err = %v", err)
		}
	})

	t.Setenv("SYNCLINE_TEST_NAME", "ok")
	t.Setenv("SYNCLINE_TEST_TABLE", "public.customers")
	c, err := Parse([]byte(doc), "pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a value with a hash and colon is kept whole", func(t *testing.T) {
		if got := c.Sources[0].DSN.Value(); got != "host=h password=a#b: c" {
			t.Errorf("DSN = %q", got)
		}
	})
	t.Run("a number may come from a variable", func(t *testing.T) {
		if c.Kafka.Partitions != 16 {
			t.Errorf("Partitions = %d", c.Kafka.Partitions)
		}
	})
	t.Run("keys are never expanded", func(t *testing.T) {
		_, err := Parse([]byte("name: x\n${SYNCLINE_TEST_SECRET_VAR}: y\n"), "pipeline.yaml")
		if err == nil || !strings.Contains(err.Error(), `unknown key "${SYNCLINE_TEST_SECRET_VAR}"`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("values of unknown keys are not expanded", func(t *testing.T) {
		_, err := Parse([]byte("name: x\nextra: ${SYNCLINE_TEST_UNSET_VAR}\n"), "pipeline.yaml")
		if err == nil || strings.Contains(err.Error(), "SYNCLINE_TEST_UNSET_VAR") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestReadSecretFile(t *testing.T) {
	t.Run("a huge file is refused", func(t *testing.T) {
		_, err := readSecretFile("/dev/zero")
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a missing file is a not-exist error", func(t *testing.T) {
		_, err := readSecretFile("/nonexistent/secret")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v", err)
		}
	})
}

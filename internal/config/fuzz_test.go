package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that parsing arbitrary input never panics, and that a
// configuration that parses is valid and its helpers work. The environment
// and secret files are stubbed so runs are deterministic and never touch
// the file system.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte("name: x\nsources: [{name: app, type: postgres, dsn: 'host=h', tables: [t]}]\n"))
	f.Add([]byte("a: &a\n  b: *a\n<<: *a\n"))
	f.Add([]byte("name: ${X:-${Y:-$$}}\nkafka: {brokers: ['${B:-}']}\n"))

	env := map[string]string{"X": "x", "EMPTY": "", "B": "k:9092,k2:9092"}
	opts := parseOptions{
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		readFile: func(p string) ([]byte, error) {
			if p == "/secret" {
				return []byte("s3cret\n"), nil
			}
			return nil, errors.New("no files while fuzzing")
		},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, "pipeline.yaml", opts)
		if err != nil {
			if c != nil {
				t.Fatal("Parse returned both a config and an error")
			}
			_ = err.Error()
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse succeeded but Validate failed: %v", err)
		}
		for _, s := range c.Sources {
			if len(s.QualifiedTables()) != len(s.Tables) {
				t.Fatalf("QualifiedTables dropped tables of a valid source: %q", s.Tables)
			}
		}
		for _, s := range c.Sinks {
			if len(c.SinkTables(s)) == 0 {
				t.Fatalf("sink %q resolves to no tables", s.Name)
			}
		}
	})
}

// FuzzParseTableName checks that every name that parses prints back to a
// string that parses to the same name.
func FuzzParseTableName(f *testing.F) {
	for _, s := range []string{"public.customers", `"My Schema"."Odd.Name"`, `s."a""b"`, "Café.x", "public.user"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tn, err := ParseTableName(s)
		if err != nil {
			return
		}
		back, err := ParseTableName(tn.String())
		if err != nil || back != tn {
			t.Fatalf("ParseTableName(%q) = %#v; String() = %q parses to %#v, %v", s, tn, tn.String(), back, err)
		}
	})
}

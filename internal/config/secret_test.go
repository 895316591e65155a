package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecret(t *testing.T) {
	const value = "hunter2-postgres://u:pw@h/db"
	s := Secret(value)

	t.Run("Value returns the secret", func(t *testing.T) {
		if s.Value() != value || !s.IsSet() {
			t.Errorf("Value() = %q", s.Value())
		}
	})

	formats := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-12v", "%.3s", "%T=%v", "%c", "%U"}
	for _, f := range formats {
		t.Run("fmt "+f+" does not print the value", func(t *testing.T) {
			got := fmt.Sprintf(f, s)
			if strings.Contains(got, "hunter2") || strings.Contains(got, fmt.Sprintf("%x", value)) {
				t.Errorf("Sprintf(%q) = %q", f, got)
			}
		})
	}
	for _, f := range []string{"%v", "%+v", "%#v"} {
		t.Run("fmt "+f+" of a whole config does not print secrets", func(t *testing.T) {
			c := Default()
			c.Sources = []Source{{Name: "a", DSN: s}}
			c.Kafka.SASL.Password = s
			c.HTTP.Token = s
			got := fmt.Sprintf(f, c)
			if strings.Contains(got, "hunter2") || !strings.Contains(got, "[redacted]") {
				t.Errorf("Sprintf(%q) = %s", f, got)
			}
		})
	}

	t.Run("String, GoString, MarshalText and fmt say [redacted]", func(t *testing.T) {
		text, _ := s.MarshalText()
		for _, got := range []string{s.String(), s.GoString(), string(text), fmt.Sprint(s), fmt.Sprintf("%v|%+v|%#v|%d", s, s, s, s)} {
			if got == "[redacted]|[redacted]|[redacted]|[redacted]" {
				continue
			}
			if got != "[redacted]" {
				t.Errorf("got %q, want [redacted]", got)
			}
		}
	})

	t.Run("an empty secret prints as empty", func(t *testing.T) {
		var e Secret
		text, _ := e.MarshalText()
		j, _ := json.Marshal(e)
		if e.String() != "" || e.GoString() != "" || string(text) != "" || string(j) != `""` || e.LogValue().String() != "" || e.IsSet() {
			t.Errorf("empty secret: %q %q %q %s %q", e.String(), e.GoString(), text, j, e.LogValue())
		}
	})

	t.Run("json.Marshal of a config does not print secrets", func(t *testing.T) {
		c := Default()
		c.Sources = []Source{{Name: "a", DSN: s}}
		c.Registry.Password = s
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("hunter2")) || !bytes.Contains(b, []byte(`"DSN":"[redacted]"`)) {
			t.Errorf("json = %s", b)
		}
	})

	t.Run("yaml.Marshal of a config does not print secrets", func(t *testing.T) {
		c := Default()
		c.Sources = []Source{{Name: "a", DSN: s}}
		b, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("hunter2")) || !bytes.Contains(b, []byte("[redacted]")) {
			t.Errorf("yaml = %s", b)
		}
	})

	handlers := []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"JSON", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	}
	for _, h := range handlers {
		t.Run("the slog "+h.name+" handler does not print the value", func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(h.new(&buf))
			c := Default()
			c.Sources = []Source{{Name: "a", DSN: s}}
			log.Info("connecting", "dsn", s, slog.Any("secret", s), "source", c.Sources[0], "config", c)
			out := buf.String()
			if strings.Contains(out, "hunter2") || !strings.Contains(out, "[redacted]") {
				t.Errorf("log = %s", out)
			}
		})
	}

	t.Run("the slog JSON handler writes the attribute as the string [redacted]", func(t *testing.T) {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "dsn", s)
		var rec map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["dsn"] != "[redacted]" {
			t.Errorf("dsn = %v", rec["dsn"])
		}
	})
}

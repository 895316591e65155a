package quality

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEmail(t *testing.T) {
	tests := []struct {
		name, in, want string
		invalid        bool
	}{
		{"the seeds' example is kept", "user@domain.com", "user@domain.com", false},
		{"spaces are trimmed and case lowered", "  John.Doe@Example.COM \t", "john.doe@example.com", false},
		{"no-break and zero-width spaces are trimmed", "\u00a0\u200bjane@example.org\ufeff", "jane@example.org", false},
		{"plus addressing is kept", "Jane+News@Example.co.uk", "jane+news@example.co.uk", false},
		{"unicode local part and domain are lowercased", "JÖRG@Bücher.DE", "jörg@bücher.de", false},
		{"decomposed accents are composed (NFC)", "jo\u0301se@example.es", "j\u00f3se@example.es", false},
		{"mailto prefix is removed", "mailto:Sales@Acme.io", "sales@acme.io", false},
		{"cyrillic address", "Иван@пример.рф", "иван@пример.рф", false},
		{"no at sign", "john.example.com", "", true},
		{"two at signs", "john@doe@example.com", "", true},
		{"empty local part", "@example.com", "", true},
		{"no domain dot", "john@localhost", "", true},
		{"space inside", "john doe@example.com", "", true},
		{"double dot", "john..doe@example.com", "", true},
		{"leading dot", ".john@example.com", "", true},
		{"trailing domain dot", "john@example.com.", "", true},
		{"hyphen at label edge", "john@-example.com", "", true},
		{"numeric top-level domain", "john@10.0.0.1", "", true},
		{"one-letter top-level domain", "john@example.c", "", true},
		{"display name form", "John <john@example.com>", "", true},
		{"comma instead of dot", "john@example,com", "", true},
		{"only spaces", "   ", "", true},
		{"underscore in domain", "a@ex_ample.com", "", true},
		{"local part too long", string(make([]byte, 0)) + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.com", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Email(tt.in)
			if tt.invalid {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Email(%q) = %q, %v; want an ErrInvalid error", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Email(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestPhone(t *testing.T) {
	tests := []struct {
		name, in, region string
		strict           bool
		want, ext        string
		invalid          bool
	}{
		{"the seeds' international format", "+1-555-123-4567", "", false, "+15551234567", "", false},
		{"US national with the default region", "(555) 123-4567", "US", false, "+15551234567", "", false},
		{"an extension is split off", "(555) 123-4567 ext. 89", "US", false, "+15551234567", "89", false},
		{"x extension", "555.123.4567 x12", "US", false, "+15551234567", "12", false},
		{"UK international", "+44 20 7946 0958", "US", false, "+442079460958", "", false},
		{"UK national with region GB", "020 7946 0958", "GB", false, "+442079460958", "", false},
		{"00 international prefix", "0044 20 7946 0958", "DE", false, "+442079460958", "", false},
		{"German mobile", "0151 23456789", "DE", false, "+4915123456789", "", false},
		{"country code missing: added from the region", "5551234567", "US", false, "+15551234567", "", false},
		{"leading 1 with the region", "1 (212) 555-0100", "US", false, "+12125550100", "", false},
		{"Indian mobile", "+91 98765 43210", "", false, "+919876543210", "", false},
		{"French with dots", "01.42.68.53.00", "FR", false, "+33142685300", "", false},
		{"no country code and no region", "(555) 123-4567", "", false, "", "", true},
		{"letters", "call me", "US", false, "", "", true},
		{"too short", "12", "US", false, "", "", true},
		{"too long", "+1 555 123 4567 8901 2345", "", false, "", "", true},
		{"local number without area code", "123-4567", "US", false, "", "", true},
		{"strict rejects US 555 numbers", "(555) 123-4567", "US", true, "", "", true},
		{"strict accepts an assignable number", "+1 212-555-0100", "", true, "+12125550100", "", false},
		{"unknown country code", "+999 1234 5678", "", false, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Phone(tt.in, tt.region, tt.strict)
			if tt.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Phone(%q, %q) = %+v, %v; want an ErrInvalid error", tt.in, tt.region, got, err)
				}
				return
			}
			if err != nil || got.E164 != tt.want || got.Extension != tt.ext {
				t.Fatalf("Phone(%q, %q) = %+v, %v; want %q ext %q", tt.in, tt.region, got, err, tt.want, tt.ext)
			}
		})
	}
}

func TestPostalCode(t *testing.T) {
	tests := []struct {
		name, code, country, want string
		invalid                   bool
	}{
		{"US ZIP", "12345", "US", "12345", false},
		{"US ZIP+4", "12345-6789", "US", "12345-6789", false},
		{"US ZIP+4 without hyphen", "123456789", "US", "12345-6789", false},
		{"US ZIP+4 with a space", " 12345 6789 ", "US", "12345-6789", false},
		{"US four digits", "2134", "US", "", true},
		{"US letters", "1234A", "US", "", true},
		{"Canada lowercase without space", "k1a0b1", "CA", "K1A 0B1", false},
		{"Canada the seeds' format", "A1A 1A1", "CA", "A1A 1A1", false},
		{"Canada hyphenated", "m5v-3l9", "CA", "M5V 3L9", false},
		{"Canada forbidden letter D", "D1A 1A1", "CA", "", true},
		{"Canada forbidden first letter W", "W1A 1A1", "CA", "", true},
		{"UK the seeds' example", "SW1A 1AA", "GB", "SW1A 1AA", false},
		{"UK lowercase without space", "sw1a1aa", "GB", "SW1A 1AA", false},
		{"UK short outward code", "m1 1ae", "GB", "M1 1AE", false},
		{"UK two-digit district", "dn551pt", "GB", "DN55 1PT", false},
		{"UK letter after digit", "w1a 0ax", "GB", "W1A 0AX", false},
		{"UK Girobank", "GIR 0AA", "GB", "GIR 0AA", false},
		{"UK with extra spaces", "  EC1A   1BB ", "GB", "EC1A 1BB", false},
		{"UK invalid inward letters", "SW1A 1CI", "GB", "", true},
		{"UK ZIP code is not a postcode", "12345", "GB", "", true},
		{"Germany", "10115", "DE", "10115", false},
		{"Germany four digits", "1011", "DE", "", true},
		{"France", "75001", "FR", "75001", false},
		{"Netherlands without space", "1234ab", "NL", "1234 AB", false},
		{"Netherlands SA is not issued", "1234 SA", "NL", "", true},
		{"Netherlands leading zero", "0123 AB", "NL", "", true},
		{"Australia", "2000", "AU", "2000", false},
		{"Japan without hyphen", "1000001", "JP", "100-0001", false},
		{"Japan with hyphen", "100-0001", "JP", "100-0001", false},
		{"India with a space", "110 001", "IN", "110001", false},
		{"India leading zero", "010001", "IN", "", true},
		{"Brazil without hyphen", "01310100", "BR", "01310-100", false},
		{"Brazil", "01310-100", "BR", "01310-100", false},
		{"Ireland Eircode", "a65f4e2", "IE", "A65 F4E2", false},
		{"Sweden", "11455", "SE", "114 55", false},
		{"Poland", "00950", "PL", "00-950", false},
		{"Portugal", "1000001", "PT", "1000-001", false},
		{"Spain province out of range", "53001", "ES", "", true},
		{"country in lowercase", "k1a 0b1", "ca", "K1A 0B1", false},
		{"unknown country: tidied only", "  ab  12 ", "ZZ", "AB 12", false},
		{"no country: tidied only", "sw1a 1aa", "", "SW1A 1AA", false},
		{"empty", "  ", "US", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PostalCode(tt.code, tt.country)
			if tt.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("PostalCode(%q, %q) = %q, %v; want an ErrInvalid error", tt.code, tt.country, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("PostalCode(%q, %q) = %q, %v; want %q", tt.code, tt.country, got, err, tt.want)
			}
			again, err := PostalCode(got, tt.country)
			if err != nil || again != got {
				t.Fatalf("not idempotent: PostalCode(%q) = %q, %v", got, again, err)
			}
		})
	}
}

func TestCountry(t *testing.T) {
	tests := []struct{ in, want string }{
		{"US", "US"}, {"us", "US"}, {"USA", "US"}, {"U.S.A.", "US"}, {"United States", "US"},
		{"United States of America", "US"}, {"UK", "GB"}, {"United Kingdom", "GB"}, {"England", "GB"},
		{"GBR", "GB"}, {"Canada", "CA"}, {"CAN", "CA"}, {"Deutschland", "DE"}, {"Germany", "DE"},
		{"DEU", "DE"}, {"france", "FR"}, {"The Netherlands", "NL"}, {"Netherlands", "NL"}, {"Holland", "NL"},
		{"Japan", "JP"}, {"India", "IN"}, {"Brazil", "BR"}, {"Brasil", "BR"}, {"España", "ES"},
		{"Côte d’Ivoire", "CI"}, {"South Korea", "KR"}, {" australia ", "AU"},
	}
	for _, tt := range tests {
		got, err := Country(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Country(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "Narnia", "XX", "ZZZ", "123"} {
		if got, err := Country(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Country(%q) = %q, %v; want an ErrInvalid error", in, got, err)
		}
	}
}

func TestCompanyName(t *testing.T) {
	tests := []struct {
		name, in string
		style    SuffixStyle
		want     string
	}{
		{"comma and lowercase suffix", "ACME, inc", SuffixShort, "Acme Inc."},
		{"extra spaces and long suffix", "  acme   CORPORATION ", SuffixShort, "Acme Corp."},
		{"incorporated", "Globex Incorporated", SuffixShort, "Globex Inc."},
		{"already standard", "Acme Inc.", SuffixShort, "Acme Inc."},
		{"LLC with dots", "Initech l.l.c.", SuffixShort, "Initech LLC"},
		{"limited", "Wayne Enterprises Limited", SuffixShort, "Wayne Enterprises Ltd."},
		{"Ltd without dot", "Cyberdyne Systems LTD", SuffixShort, "Cyberdyne Systems Ltd."},
		{"GmbH any case", "müller maschinenbau gmbh", SuffixShort, "Müller Maschinenbau GmbH"},
		{"GmbH & Co. KG", "Schmidt GmbH & Co KG", SuffixShort, "Schmidt GmbH & Co. KG"},
		{"Co., Ltd.", "SAMSUNG ELECTRONICS CO LTD", SuffixShort, "Samsung Electronics Co., Ltd."},
		{"Pty Ltd", "Bluescope Pty. Ltd.", SuffixShort, "Bluescope Pty Ltd"},
		{"S.A.", "Telefonica sa", SuffixShort, "Telefonica S.A."},
		{"B.V.", "Philips bv", SuffixShort, "Philips B.V."},
		{"PLC", "Tesco plc", SuffixShort, "Tesco PLC"},
		{"acronyms in capitals are kept", "IBM CORP", SuffixShort, "IBM Corp."},
		{"small words stay lowercase", "BANK OF AMERICA CORPORATION", SuffixShort, "Bank of America Corp."},
		{"mixed case is kept", "eBay Inc", SuffixShort, "eBay Inc."},
		{"McDonald's is kept", "McDonald's Corporation", SuffixShort, "McDonald's Corp."},
		{"hyphenated words", "coca-cola company", SuffixShort, "Coca-Cola Co."},
		{"apostrophe after one letter", "o'reilly media, inc.", SuffixShort, "O'Reilly Media Inc."},
		{"typographic apostrophe", "O’Reilly Media", SuffixShort, "O'Reilly Media"},
		{"ampersand name", "AT&T INC.", SuffixShort, "AT&T Inc."},
		{"surrounding quotes", `"Acme Widgets"`, SuffixShort, "Acme Widgets"},
		{"a suffix alone is a name", "Inc", SuffixShort, "Inc"},
		{"strip removes the suffix", "ACME, inc", SuffixStrip, "Acme"},
		{"strip with ampersand", "Smith & Co.", SuffixStrip, "Smith"},
		{"keep keeps the suffix", "  ACME,   INC ", SuffixKeep, "Acme INC"},
		{"tabs and newlines", "Acme\tWidgets\nInc", SuffixShort, "Acme Widgets Inc."},
		{"digits", "3M COMPANY", SuffixShort, "3M Co."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CompanyName(tt.in, tt.style)
			if err != nil || got != tt.want {
				t.Fatalf("CompanyName(%q, %s) = %q, %v; want %q", tt.in, tt.style, got, err, tt.want)
			}
			again, err := CompanyName(got, tt.style)
			if err != nil || again != got {
				t.Fatalf("not idempotent: CompanyName(%q) = %q, %v", got, again, err)
			}
		})
	}
	for _, in := range []string{"", "   ", ", . ;", `""`} {
		if got, err := CompanyName(in, SuffixShort); !errors.Is(err, ErrInvalid) {
			t.Errorf("CompanyName(%q) = %q, %v; want an ErrInvalid error", in, got, err)
		}
	}
}

func TestLeadScore(t *testing.T) {
	tests := []struct {
		name      string
		in        any
		want      int64
		corrected bool
		invalid   bool
	}{
		{"whole number in range", 42, 42, false, false},
		{"zero", int64(0), 0, false, false},
		{"hundred", 100, 100, false, false},
		{"decimal text is rounded", "85.6", 86, true, false},
		{"half rounds up", 85.5, 86, true, false},
		{"below half rounds down", 85.4, 85, true, false},
		{"above range is clamped", 150, 100, true, false},
		{"below range is clamped", -5, 0, true, false},
		{"text with spaces", " 90 ", 90, false, false},
		{"percent", "72%", 72, false, false},
		{"decimal comma", "85,5", 86, true, false},
		{"exponent", "1e2", 100, false, false},
		{"rounded then clamped", "100.7", 100, true, false},
		{"float32", float32(33.3), 33, true, false},
		{"big rational", big.NewRat(171, 2), 86, true, false},
		{"whole big rational", big.NewRat(80, 1), 80, false, false},
		{"words", "high", 0, false, true},
		{"bool", true, 0, false, true},
		{"NaN text", "NaN", 0, false, true},
		{"infinity", "inf", 0, false, true},
		{"hex", "0x10", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, corrected, err := LeadScore(tt.in)
			if tt.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("LeadScore(%v) = %d, %v; want an ErrInvalid error", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want || (corrected != "") != tt.corrected {
				t.Fatalf("LeadScore(%v) = %d, %q, %v; want %d (corrected %v)", tt.in, got, corrected, err, tt.want, tt.corrected)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	l, err := NewLifecycle(DefaultLifecycleStages, map[string]string{"closed won": "customer", "hot": "sales_qualified_lead"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"lead", "lead"}, {"LEAD", "lead"}, {"Sales Qualified Lead", "sales_qualified_lead"},
		{"sales-qualified-lead", "sales_qualified_lead"}, {"SQL", "sales_qualified_lead"},
		{"mql", "marketing_qualified_lead"}, {"Marketing Qualified", "marketing_qualified_lead"},
		{"Opportunities", "opportunity"}, {"oppty", "opportunity"}, {"Client", "customer"},
		{"Customers", "customer"}, {"Closed Won", "customer"}, {"hot", "sales_qualified_lead"},
		{" Subscriber ", "subscriber"}, {"Evangelists", "evangelist"},
	}
	for _, tt := range tests {
		if got, err := l.Stage(tt.in); err != nil || got != tt.want {
			t.Errorf("Stage(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "churned", "vip", "leader"} {
		if got, err := l.Stage(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Stage(%q) = %q, %v; want an ErrInvalid error", in, got, err)
		}
	}

	custom, err := NewLifecycle([]string{"New", "Working", "MQL", "Won"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{"new": "New", "marketing qualified lead": "MQL", "customer": "Won", "WORKING": "Working"} {
		if got, err := custom.Stage(in); err != nil || got != want {
			t.Errorf("custom Stage(%q) = %q, %v; want %q", in, got, err, want)
		}
	}

	for _, bad := range []struct {
		stages  []string
		aliases map[string]string
	}{
		{[]string{"lead", "Lead"}, nil},
		{[]string{"lead", "--"}, nil},
		{[]string{"lead"}, map[string]string{"x": "customer"}},
	} {
		if _, err := NewLifecycle(bad.stages, bad.aliases); err == nil {
			t.Errorf("NewLifecycle(%q, %v) succeeded; want an error", bad.stages, bad.aliases)
		}
	}
}

func TestCompanySize(t *testing.T) {
	c, err := NewCompanySizes(DefaultCompanySizes, map[string]string{"startup": "1-10"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"a standard range", "11-50", "11-50"},
		{"a near range with a word", "50-200 employees", "51-200"},
		{"an en dash", "11–50", "11-50"},
		{"to", "201 to 500", "201-500"},
		{"a count", 42, "11-50"},
		{"a count as text", "350", "201-500"},
		{"a count with a comma", "2,500 employees", "1001-5000"},
		{"k suffix range", "1k-5k", "1001-5000"},
		{"open range", "10,000+", "10001+"},
		{"more than", "over 10000 employees", "10001+"},
		{"less than", "less than 10", "1-10"},
		{"small", "Small", "11-50"},
		{"small business", "small business", "11-50"},
		{"medium", "mid-size", "51-200"},
		{"enterprise", "Enterprise", "10001+"},
		{"a configured description", "Startup", "1-10"},
		{"a float count", 7.0, "1-10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Size(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("Size(%v) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	for _, in := range []any{"10-100", "1000+", "lots", "smb", "", 0, -3, "50-10", true} {
		if got, err := c.Size(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Size(%v) = %q, %v; want an unclear (ErrInvalid) error", in, got, err)
		}
	}
	for _, bad := range [][]string{{"1-10", "5-20"}, {"10+", "11-50"}, {"ten"}, {}, {"0-10"}} {
		if _, err := NewCompanySizes(bad, nil); err == nil {
			t.Errorf("NewCompanySizes(%q) succeeded; want an error", bad)
		}
	}
	if _, err := NewCompanySizes(DefaultCompanySizes, map[string]string{"huge": "50000+"}); err == nil {
		t.Error("a description mapped to an unknown range was accepted")
	}
}

func TestMessagesClipLongValues(t *testing.T) {
	long := strings.Repeat("é", 5000)
	for name, err := range map[string]error{
		"email":   func() error { _, err := Email(long); return err }(),
		"stage":   func() error { _, err := (&Lifecycle{}).Stage(long); return err }(),
		"country": func() error { _, err := Country(long); return err }(),
		"postal":  func() error { _, err := PostalCode(long, "US"); return err }(),
	} {
		if err == nil || len(err.Error()) > 200 || !utf8.ValidString(err.Error()) {
			t.Errorf("%s: error %.300q is missing, too long or not UTF-8", name, err)
		}
	}
}

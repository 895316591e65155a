package config

import (
	"strings"
	"testing"
)

func TestParseTableName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    TableName
		str     string // want String(); "" means in
		wantErr string
	}{
		{name: "a schema-qualified name is split", in: "public.customers", want: TableName{"public", "customers"}},
		{name: "a bare table is in public", in: "customers", want: TableName{"public", "customers"}, str: "public.customers"},
		{name: "unquoted names are folded to lower case", in: "Sales.Orders", want: TableName{"sales", "orders"}, str: "sales.orders"},
		{name: "quoted names keep their case and dots", in: `"My Schema"."Odd.Name"`, want: TableName{"My Schema", "Odd.Name"}},
		{name: "a doubled quote is a literal quote", in: `s."say ""hi"""`, want: TableName{"s", `say "hi"`}},
		{name: "unneeded quotes are dropped", in: `"public"."customers"`, want: TableName{"public", "customers"}, str: "public.customers"},
		{name: "reserved words are quoted when printed", in: `public."order"`, want: TableName{"public", "order"}},
		{name: "an unquoted reserved word is accepted as written", in: "public.user", want: TableName{"public", "user"}, str: `public."user"`},
		{name: "dollars and digits are allowed after the first character", in: "s1.t$2", want: TableName{"s1", "t$2"}},
		{name: "spaces around dots are ignored", in: " public . customers ", want: TableName{"public", "customers"}, str: "public.customers"},
		{name: "non-ASCII letters are allowed unquoted and quoted when printed", in: "public.café", want: TableName{"public", "café"}, str: `public."café"`},
		{name: "an empty name is an error", in: "", wantErr: "empty"},
		{name: "a trailing dot is an error", in: "public.", wantErr: "ends with '.'"},
		{name: "two dots in a row are an error", in: "public..t", wantErr: "empty name part"},
		{name: "three parts are an error", in: "db.public.t", wantErr: "expected schema.table"},
		{name: "a dash needs quotes", in: "public.my-table", wantErr: "double-quote it"},
		{name: "a leading digit needs quotes", in: "1table", wantErr: "invalid identifier"},
		{name: "an unterminated quote is an error", in: `"public.t`, wantErr: "unterminated"},
		{name: "an empty quoted identifier is an error", in: `"".t`, wantErr: "zero-length"},
		{name: "text after a quoted identifier is an error", in: `"a"b.t`, wantErr: "unexpected"},
		{name: "a wildcard is not a table", in: "public.*", wantErr: `"*" is not a table name`},
		{name: "a 64-byte identifier is too long", in: strings.Repeat("a", 64), wantErr: "longer than 63"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTableName(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTableName(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseTableName(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			}
			str := tt.str
			if str == "" {
				str = tt.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
			if back, err := ParseTableName(got.String()); err != nil || back != got {
				t.Errorf("ParseTableName(String()) = %#v, %v; want %#v", back, err, got)
			}
		})
	}
}

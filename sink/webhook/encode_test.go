package webhook

import (
	"encoding/json"
	"math"
	"math/big"
	"testing"
	"time"

	"syncline/schemas"
)

// Each kind renders as the package documentation says, and the event is
// valid JSON.
func TestEventRendering(t *testing.T) {
	cols := []schemas.Column{
		{Name: "id", Kind: schemas.KindInt64, Key: true},
		{Name: "ok", Kind: schemas.KindBool},
		{Name: "f", Kind: schemas.KindFloat64},
		{Name: "nan", Kind: schemas.KindFloat64},
		{Name: "inf", Kind: schemas.KindFloat32},
		{Name: "amount", Kind: schemas.KindDecimal},
		{Name: "num", Kind: schemas.KindNumeric},
		{Name: "doc", Kind: schemas.KindJSON},
		{Name: "bad_doc", Kind: schemas.KindJSON},
		{Name: "raw", Kind: schemas.KindBytes},
		{Name: "at", Kind: schemas.KindTimestampTZ},
		{Name: "local", Kind: schemas.KindTimestamp},
		{Name: "day", Kind: schemas.KindDate},
		{Name: "never", Kind: schemas.KindDate},
		{Name: "tod", Kind: schemas.KindTime},
		{Name: "tags", Kind: schemas.KindArray, ElemKind: schemas.KindString},
		{Name: "Mixed Case", Kind: schemas.KindString},
	}
	schemas.SanitizeFields(cols)
	tbl := &schemas.Table{Source: "app", Schema: "public", Name: "t", Columns: cols}
	at := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	vals := []any{int64(1 << 60), true, 1.5, math.NaN(), float32(math.Inf(-1)), big.NewRat(12345, 100), "1e400",
		`{"a": [1, 2]}`, `{not json`, []byte{0, 1, 2, 255}, at, at, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), schemas.PlusInfinity,
		5*time.Hour + 6*time.Minute + 7*time.Second + 500*time.Microsecond, []any{"x", nil}, "v"}
	row := schemas.Row{}
	for i, c := range cols {
		row[c.Field] = vals[i]
	}
	ch := &schemas.Change{Table: tbl, Op: schemas.OpUpdate, Key: schemas.Row{cols[0].Field: int64(1 << 60)}, After: row,
		Source: schemas.Source{Position: "0/1", CommitMs: at.UnixMilli()}}
	b := appendEvent(nil, "t/0/7", ch)
	var got map[string]json.RawMessage
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var after map[string]json.RawMessage
	if err := json.Unmarshal(got["after"], &after); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"id": `1152921504606846976`, "ok": `true`, "f": `1.5`, "nan": `"NaN"`, "inf": `"-Infinity"`, "amount": `"123.45"`,
		"num": `"1e400"`, "doc": `{"a":[1,2]}`, "bad_doc": `"{not json"`, "raw": `"AAEC/w=="`, "at": `"2026-03-04T05:06:07.89Z"`,
		"local": `"2026-03-04T05:06:07.89"`, "day": `"2026-03-04"`, "never": `"infinity"`, "tod": `"05:06:07.0005"`,
		"tags": `["x",null]`, "Mixed Case": `"v"`,
	}
	for k, w := range want {
		if string(after[k]) != w {
			t.Errorf("%s rendered %s, want %s", k, after[k], w)
		}
	}
	if string(got["before"]) != "null" || string(got["key"]) != `{"id":1152921504606846976}` ||
		string(got["committed_at"]) != `"2026-03-04T05:06:07.89Z"` || string(got["table"]) != `"app.public.t"` || string(got["id"]) != `"t/0/7"` {
		t.Errorf("event %s", b)
	}
}

func TestSignature(t *testing.T) {
	body := []byte(`{"sink":"x","events":[]}`)
	// The HMAC-SHA256 of "1700000000.<body>" keyed by "k", computed
	// independently with openssl.
	const want = "sha256=f2154363017d13214bf97e475729d2b3e248dd6fab689781057a06bff8e1032f"
	got := Sign("k", "1700000000", body)
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if !Verify("k", "1700000000", body, got) || Verify("k", "1700000001", body, got) || Verify("k2", "1700000000", body, got) {
		t.Error("Verify does not check the timestamp, body and secret")
	}
}

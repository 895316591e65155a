package postgres

import (
	"strings"
	"testing"

	"github.com/jackc/pglogrepl"

	"syncline/schemas"
)

// FuzzDecodeMessage feeds arbitrary pgoutput messages through the decoding
// path (pgoutput parsing, tuple conversion): it must never panic, and a
// tuple it cannot convert gets an error that names the table or column.
func FuzzDecodeMessage(f *testing.F) {
	rs := &relState{table: &schemas.Table{Source: "app", Schema: "public", Name: "t", Columns: []schemas.Column{
		{Name: "id", Kind: schemas.KindInt32, Key: true}, {Name: "n", Kind: schemas.KindDecimal, Precision: 10, Scale: 2},
		{Name: "ts", Kind: schemas.KindTimestampTZ}, {Name: "b", Kind: schemas.KindBytes}, {Name: "s", Kind: schemas.KindString},
	}}}
	schemas.SanitizeFields(rs.table.Columns)
	tuple := func(vals ...string) []byte {
		b := []byte{0, byte(len(vals))}
		for _, v := range vals {
			switch v {
			case "<null>":
				b = append(b, 'n')
			case "<toast>":
				b = append(b, 'u')
			default:
				b = append(b, 't', 0, 0, byte(len(v)>>8), byte(len(v)))
				b = append(b, v...)
			}
		}
		return b
	}
	ins := func(vals ...string) []byte { return append([]byte{'I', 0, 0, 0, 1, 'N'}, tuple(vals...)...) }
	f.Add(ins("1", "12.50", "2024-01-02 03:04:05+00", `\x00ff`, "text"))
	f.Add(ins("1", "NaN", "infinity", "<null>", "<toast>"))
	f.Add(ins("x", "1e400", "not a time", `\xzz`, ""))
	f.Add([]byte{'U', 0, 0, 0, 1, 'K', 0, 1, 't', 0, 0, 0, 1, '1', 'N', 0, 0})
	f.Add([]byte{'D', 0, 0, 0, 1, 'O', 0, 5, 'n', 'n', 'n', 'n', 'n'})
	f.Add([]byte{'B', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7})
	f.Add([]byte{'M', 1, 0, 0, 0, 0, 0, 0, 0, 1, 'p', 0, 0, 0, 0, 1, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := parseMessage(data)
		if err != nil {
			if err.Error() == "" {
				t.Error("empty error")
			}
			return
		}
		var tuples []*pglogrepl.TupleData
		switch m := msg.(type) {
		case *pglogrepl.InsertMessage:
			tuples = append(tuples, m.Tuple)
		case *pglogrepl.UpdateMessage:
			tuples = append(tuples, m.OldTuple, m.NewTuple)
		case *pglogrepl.DeleteMessage:
			tuples = append(tuples, m.OldTuple)
		}
		for _, td := range tuples {
			row, _, err := rowOf(rs, td)
			if err != nil {
				if !strings.Contains(err.Error(), "public.t") && !strings.Contains(err.Error(), "column") {
					t.Errorf("error does not name the table or column: %v", err)
				}
				continue
			}
			if td != nil && row == nil {
				t.Errorf("no row and no error for %v", td)
			}
		}
	})
}

package changes

import "syncline/schemas"

// adaptRow converts row, stored under table from (an older schema version
// of the key's table), to table to: values of columns whose type changed
// (integer → bigint, numeric scale, ...) are converted through their text
// form, columns that no longer exist are left out, and so are new columns
// and values that do not convert, so the row encodes with the new schema.
// A column present in the result had a value (possibly NULL) under both.
func adaptRow(from, to *schemas.Table, row schemas.Row) schemas.Row {
	if row == nil || from == nil || sameColumns(from, to) {
		return row
	}
	out := make(schemas.Row, len(to.Columns))
	for _, c := range to.Columns {
		old, ok := from.Column(c.Field)
		if !ok {
			continue
		}
		v, ok := row[c.Field]
		if !ok {
			continue
		}
		if v == nil || (old.Kind == c.Kind && old.Precision == c.Precision && old.Scale == c.Scale) {
			out[c.Field] = v
			continue
		}
		s, err := schemas.FormatText(old, v)
		if err != nil {
			continue
		}
		if nv, err := schemas.ParseText(c, s); err == nil {
			out[c.Field] = nv
		}
	}
	return out
}

func sameColumns(a, b *schemas.Table) bool {
	if a == b {
		return true
	}
	if len(a.Columns) != len(b.Columns) {
		return false
	}
	for i, c := range a.Columns {
		d := b.Columns[i]
		if c.Field != d.Field || c.Kind != d.Kind || c.Precision != d.Precision || c.Scale != d.Scale {
			return false
		}
	}
	return true
}

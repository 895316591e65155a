package salesforce

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// soql is a parsed query of the dialect the emulator understands.
type soql struct {
	fields []string
	from   string
	where  []cond
	order  []orderBy
	limit  int // -1: none
}

type cond struct {
	field, op string
	value     any // time.Time, string, bool, float64 or nil
}

type orderBy struct {
	field string
	desc  bool
}

func (q *soql) fieldsUsed() []string {
	var out []string
	for _, c := range q.where {
		out = append(out, c.field)
	}
	for _, o := range q.order {
		out = append(out, o.field)
	}
	return out
}

// tokens splits a query into words, quoted strings and operators.
func tokens(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ',':
			out = append(out, ",")
			i++
		case c == '\'':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && s[j] != '\''; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string literal at %d", i)
			}
			out = append(out, "'"+b.String())
			i = j + 1
		case strings.ContainsRune("<>=!", rune(c)):
			j := i + 1
			if j < len(s) && s[j] == '=' || (c == '<' && j < len(s) && s[j] == '>') {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r,'<>=!", rune(s[j])) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

func parseSOQL(s string) (*soql, error) {
	t, err := tokens(s)
	if err != nil {
		return nil, err
	}
	q := &soql{limit: -1}
	i := 0
	peek := func() string {
		if i < len(t) {
			return t[i]
		}
		return ""
	}
	kw := func(w string) bool {
		if strings.EqualFold(peek(), w) {
			i++
			return true
		}
		return false
	}
	if !kw("SELECT") {
		return nil, fmt.Errorf("unexpected token: '%s' (a query starts with SELECT)", peek())
	}
	for {
		f := peek()
		if f == "" || f == "," || strings.EqualFold(f, "FROM") {
			return nil, fmt.Errorf("unexpected token: '%s' in the field list", f)
		}
		q.fields = append(q.fields, f)
		i++
		if peek() != "," {
			break
		}
		i++
	}
	if !kw("FROM") {
		return nil, fmt.Errorf("unexpected token: '%s', expecting FROM", peek())
	}
	if q.from = peek(); q.from == "" {
		return nil, fmt.Errorf("no sObject type after FROM")
	}
	i++
	if kw("WHERE") {
		for {
			if i+2 >= len(t) {
				return nil, fmt.Errorf("incomplete condition at the end of the query")
			}
			c := cond{field: t[i], op: t[i+1]}
			if !slices.Contains([]string{"=", "!=", "<>", "<", "<=", ">", ">="}, c.op) {
				return nil, fmt.Errorf("unexpected token: '%s', expecting an operator after %s", c.op, c.field)
			}
			if c.value, err = literal(t[i+2]); err != nil {
				return nil, err
			}
			q.where = append(q.where, c)
			i += 3
			if !kw("AND") {
				break
			}
		}
	}
	if kw("ORDER") {
		if !kw("BY") {
			return nil, fmt.Errorf("ORDER without BY")
		}
		for {
			o := orderBy{field: peek()}
			if o.field == "" {
				return nil, fmt.Errorf("ORDER BY without a field")
			}
			i++
			if kw("DESC") {
				o.desc = true
			} else {
				kw("ASC")
			}
			q.order = append(q.order, o)
			if peek() != "," {
				break
			}
			i++
		}
	}
	if kw("LIMIT") {
		n, err := strconv.Atoi(peek())
		if err != nil || n < 0 {
			return nil, fmt.Errorf("LIMIT %q is not a number", peek())
		}
		q.limit = n
		i++
	}
	if i < len(t) {
		return nil, fmt.Errorf("unexpected token: '%s'", t[i])
	}
	return q, nil
}

func literal(s string) (any, error) {
	if v, ok := strings.CutPrefix(s, "'"); ok {
		return v, nil
	}
	switch strings.ToLower(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if t, err := parseDateTime(s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, nil
	}
	return nil, fmt.Errorf("value of filter criterion '%s' is not a datetime, number, boolean, null or quoted string", s)
}

// compare orders a record's field against a literal (-2: incomparable).
func compare(v, lit any) int {
	switch l := lit.(type) {
	case time.Time:
		s, _ := v.(string)
		t, err := parseDateTime(s)
		if err != nil {
			return -2
		}
		return t.Compare(l)
	case string:
		s, ok := v.(string)
		if !ok {
			return -2
		}
		return strings.Compare(s, l)
	case bool:
		b, ok := v.(bool)
		if !ok {
			return -2
		}
		if b == l {
			return 0
		}
		return 1
	case float64:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		default:
			return -2
		}
		return cmp.Compare(f, l)
	case nil:
		if v == nil {
			return 0
		}
		return 1
	}
	return -2
}

func (q *soql) matches(r *Record) bool {
	for _, c := range q.where {
		cmp := compare(fieldValue(r, c.field), c.value)
		var ok bool
		switch c.op {
		case "=":
			ok = cmp == 0
		case "!=", "<>":
			ok = cmp != 0 && cmp != -2
		case "<":
			ok = cmp == -1
		case "<=":
			ok = cmp == -1 || cmp == 0
		case ">":
			ok = cmp == 1
		case ">=":
			ok = cmp >= 0
		}
		if !ok {
			return false
		}
	}
	return true
}

func (q *soql) sort(rows []*Record) {
	slices.SortFunc(rows, func(a, b *Record) int { return strings.Compare(a.ID, b.ID) })
	slices.SortStableFunc(rows, func(a, b *Record) int {
		for _, o := range q.order {
			c := compareValues(fieldValue(a, o.field), fieldValue(b, o.field))
			if o.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

func compareValues(a, b any) int {
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		if tx, err := parseDateTime(x); err == nil {
			if ty, err := parseDateTime(y); err == nil {
				return tx.Compare(ty)
			}
		}
		return strings.Compare(x, y)
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

package warehouse

import (
	"bytes"
	"context"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"syncline/schemas"
)

func TestTypeChangeDecisions(t *testing.T) {
	str := schemas.Column{Kind: schemas.KindString}
	num := schemas.Column{Kind: schemas.KindInt64}
	for _, tc := range []struct {
		col               schemas.Column
		warehouse, source string
		want              typeChange
	}{
		{num, "integer", "integer", typeSame},
		{num, "smallint", "integer", typeWiden},
		{num, "integer", "bigint", typeWiden},
		{num, "smallint", "bigint", typeWiden},
		{num, "bigint", "integer", typeKeep}, // narrowed, or a late record of the older version
		{num, "real", "double precision", typeWiden},
		{num, "integer", "double precision", typeWiden},
		{num, "bigint", "double precision", typeBroken}, // not exact
		{num, "integer", "numeric", typeWiden},
		{num, "integer", "numeric(12,2)", typeWiden},
		{num, "integer", "numeric(10,2)", typeBroken}, // 2147483647 needs 10 integer digits
		{num, "numeric(8,2)", "numeric(12,4)", typeWiden},
		{num, "numeric(8,2)", "numeric(9,4)", typeBroken}, // fewer integer digits
		{num, "numeric(8,2)", "numeric", typeWiden},
		{num, "numeric(12,4)", "numeric(8,2)", typeKeep},
		{str, "character varying(10)", "character varying(50)", typeWiden},
		{str, "character varying(50)", "character varying(10)", typeKeep},
		{str, "character varying(10)", "text", typeWiden},
		{str, "character varying(10)", "character varying", typeWiden},
		{str, "text", "character varying(10)", typeKeep},
		{str, "character(3)", "character(8)", typeWiden},
		{str, "character(3)", "character varying(3)", typeWiden},
		{str, "character", "character varying(2)", typeWiden},
		{str, "character varying(8)", "character(3)", typeKeep},
		{str, "text", "inet", typeKeep},   // string-like values: the text column takes them
		{str, "inet", "text", typeWiden},  // every inet has a text form
		{str, "inet", "cidr", typeBroken}, // neither holds the other
		{num, "text", "integer", typeBroken},
		{num, "timestamp(3) without time zone", "timestamp without time zone", typeWiden},
		{num, "timestamp without time zone", "timestamp(3) without time zone", typeKeep},
		{num, "timestamp without time zone", "timestamp with time zone", typeBroken},
		{num, "time(0) without time zone", "time(6) without time zone", typeWiden},
		{num, "date", "timestamp without time zone", typeWiden},
		{num, "integer[]", "bigint[]", typeWiden},
		{str, "character varying(5)[]", "character varying(9)[]", typeWiden},
		{str, "integer[]", "text", typeWiden},
		{num, "integer[]", "integer", typeBroken},
		{str, "bit(3)", "bit varying(5)", typeWiden},
		{str, "bit varying(5)", "bit varying", typeWiden},
		{str, "bytea", "text", typeBroken},
		{str, `"Mood"`, `"Mood"`, typeSame},
		{str, "public.mood", "text", typeWiden},
	} {
		if got := compareTypes(tc.col, tc.warehouse, tc.source); got != tc.want {
			t.Errorf("warehouse %s, source now %s: %v, want %v", tc.warehouse, tc.source, got, tc.want)
		}
	}
}

// startStopping runs a sink that checks stopped tables every 200ms.
func (e *env) startStopping(cfg Config, log *slog.Logger) *runningSink {
	e.t.Helper()
	s, err := New(cfg, e.kafkaOpts(), e.serde, e.dlq, e.m, log)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	s.recheckEvery = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run returned %v, want nil after cancel", err)
				}
			case <-time.After(time.Minute):
				e.t.Errorf("Run did not return within a minute of cancel")
			}
		})
	}
	e.t.Cleanup(stop)
	return &runningSink{s, stop}
}

func (e *env) columnTypes(table string) []string {
	e.t.Helper()
	return e.query(`SELECT attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_syncline%' ORDER BY attnum`, "analytics."+table)
}

func TestWidenedSourceTypesWidenTheWarehouseColumns(t *testing.T) {
	e := newEnv(t)
	col := func(name, typ string, kind schemas.Kind) schemas.Column {
		return schemas.Column{Name: name, PGType: typ, Kind: kind}
	}
	v1 := newTable("m",
		schemas.Column{Name: "id", PGType: "smallint", Kind: schemas.KindInt32, Key: true},
		col("n", "integer", schemas.KindInt32),
		col("f", "real", schemas.KindFloat32),
		col("v", "character varying(10)", schemas.KindString),
		schemas.Column{Name: "d", PGType: "numeric(8,2)", Kind: schemas.KindDecimal, Precision: 8, Scale: 2},
		col("ts", "timestamp(0) without time zone", schemas.KindTimestamp),
		col("c", "character(3)", schemas.KindString),
		col("arr", "integer[]", schemas.KindString),
	)
	v2 := newTable("m",
		schemas.Column{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true},
		col("n", "bigint", schemas.KindInt64),
		col("f", "double precision", schemas.KindFloat64),
		col("v", "character varying(50)", schemas.KindString),
		schemas.Column{Name: "d", PGType: "numeric(14,4)", Kind: schemas.KindDecimal, Precision: 14, Scale: 4},
		col("ts", "timestamp(6) without time zone", schemas.KindTimestamp),
		col("c", "character varying(12)", schemas.KindString),
		col("arr", "bigint[]", schemas.KindString),
	)
	e.createTopic(topicOf(v1), 1)
	e.start(e.config("wh", v1))
	ts0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	e.produce(ins(v1, 1, schemas.Row{"id": int32(1), "n": int32(2147483647), "f": float32(1.5), "v": "ten chars!",
		"d": big.NewRat(-99999999, 100), "ts": ts0, "c": "abc", "arr": "{1,2}"}))
	e.waitCaughtUp("wh", v1)
	if got := e.columnTypes("m"); !slices.Equal(got, []string{"id smallint", "n integer", "f real", "v character varying(10)",
		"d numeric(8,2)", "ts timestamp(0) without time zone", "c character(3)", "arr integer[]"}) {
		t.Fatalf("v1 columns: %q", got)
	}

	e.produce(
		ins(v2, 2, schemas.Row{"id": int32(40000), "n": int64(5000000000), "f": 1e300, "v": strings.Repeat("y", 50),
			"d": big.NewRat(12345678901234, 10000), "ts": ts0.Add(123456 * time.Microsecond), "c": "twelve chars", "arr": "{5000000000}"}),
		upd(v2, 3, nil, schemas.Row{"id": int32(1), "n": int64(-5000000000), "f": 2.5, "v": "short", "d": big.NewRat(1, 10000),
			"ts": ts0, "c": "abc", "arr": "{1,2,3}"}),
	)
	e.waitCaughtUp("wh", v1)

	t.Run("the columns take the wider types", func(t *testing.T) {
		if got := e.columnTypes("m"); !slices.Equal(got, []string{"id integer", "n bigint", "f double precision", "v character varying(50)",
			"d numeric(14,4)", "ts timestamp(6) without time zone", "c character varying(12)", "arr bigint[]"}) {
			t.Errorf("v2 columns: %q", got)
		}
	})
	t.Run("every row is there with its values", func(t *testing.T) {
		want := []string{
			"1|-5000000000|2.5|short|0.0001|2024-01-02 03:04:05|abc|{1,2,3}",
			"40000|5000000000|1e+300|" + strings.Repeat("y", 50) + "|1234567890.1234|2024-01-02 03:04:05.123456|twelve chars|{5000000000}",
		}
		if got := e.rows("m", "id", "n", "f", "v", "d", "ts", "c", "arr"); !slices.Equal(got, want) {
			t.Errorf("rows:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("a late record of the older version keeps the wider columns", func(t *testing.T) {
		e.produce(ins(v1, 4, schemas.Row{"id": int32(3), "n": int32(3), "f": float32(3), "v": "three", "d": big.NewRat(3, 1), "ts": ts0, "c": "x", "arr": "{3}"}))
		e.waitCaughtUp("wh", v1)
		if got := e.columnTypes("m"); !slices.Contains(got, "n bigint") || !slices.Contains(got, "v character varying(50)") {
			t.Errorf("columns after a v1 record: %q", got)
		}
		if got := e.rows("m", "id", "n", "v"); len(got) != 3 || got[2] != "40000|5000000000|"+strings.Repeat("y", 50) {
			t.Errorf("rows: %q", got)
		}
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	t  *testing.T
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Log(strings.TrimRight(string(p), "\n"))
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestAnIncompatibleTypeChangeStopsOnlyThatTable(t *testing.T) {
	e := newEnv(t)
	v1 := newTable("people",
		schemas.Column{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true},
		schemas.Column{Name: "score", PGType: "text", Kind: schemas.KindString},
	)
	v2 := newTable("people",
		schemas.Column{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true},
		schemas.Column{Name: "score", PGType: "integer", Kind: schemas.KindInt32},
	)
	other := newTable("other", schemas.Column{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true})
	e.createTopic(topicOf(v1), 1)
	e.createTopic(topicOf(other), 1)
	logs := &syncBuffer{t: t}
	s := e.startStopping(e.config("wh", v1, other), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	e.produce(ins(v1, 1, schemas.Row{"id": int32(1), "score": "10"}), ins(v1, 2, schemas.Row{"id": int32(2), "score": "twenty"}),
		ins(other, 3, schemas.Row{"id": int32(1)}))
	e.waitCaughtUp("wh", v1, other)
	applied := e.storedOffsets("wh")[topicOf(v1)+"/0"]

	// text -> integer: "twenty" cannot convert.
	e.produce(upd(v2, 4, nil, schemas.Row{"id": int32(2), "score": int32(20)}), ins(v2, 5, schemas.Row{"id": int32(3), "score": int32(30)}))
	e.produce(ins(other, 6, schemas.Row{"id": int32(2)}), ins(other, 7, schemas.Row{"id": int32(3)}))
	e.waitCaughtUp("wh", other)

	t.Run("the other tables keep flowing", func(t *testing.T) {
		if got := e.rows("other", "id"); !slices.Equal(got, []string{"1", "2", "3"}) {
			t.Errorf("other: %q", got)
		}
	})
	t.Run("the stopped table is left as it was and its offsets stay", func(t *testing.T) {
		time.Sleep(500 * time.Millisecond) // rechecks happen meanwhile
		if got := e.rows("people", "id", "score"); !slices.Equal(got, []string{"1|10", "2|twenty"}) {
			t.Errorf("people: %q", got)
		}
		if got := e.columnTypes("people"); !slices.Equal(got, []string{"id integer", "score text"}) {
			t.Errorf("people columns: %q", got)
		}
		if got := e.storedOffsets("wh")[topicOf(v1)+"/0"]; got != applied {
			t.Errorf("stored offset of the stopped topic moved from %d to %d", applied, got)
		}
	})
	t.Run("not ready, naming the table, the column, both types and what to do", func(t *testing.T) {
		if s.Ready() {
			t.Error("Ready() with a stopped table")
		}
		d := s.NotReadyDetail()
		for _, want := range []string{"analytics.people", "score", "text", "integer"} {
			if !strings.Contains(d, want) {
				t.Errorf("NotReadyDetail %q lacks %q", d, want)
			}
		}
		l := logs.String()
		for _, want := range []string{"level=ERROR", "table=analytics.people", "column=score", "old_type=text", "new_type=integer",
			`ALTER TABLE analytics.people ALTER COLUMN score TYPE integer USING score::integer`, "RENAME COLUMN score TO score_old"} {
			if !strings.Contains(l, want) {
				t.Errorf("log lacks %q:\n%s", want, l)
			}
		}
	})
	t.Run("fixing the column by hand resumes the table where it stopped", func(t *testing.T) {
		e.exec(`UPDATE analytics.people SET score = '20' WHERE score = 'twenty'`)
		e.exec(`ALTER TABLE analytics.people ALTER COLUMN score TYPE integer USING score::integer`)
		e.waitCaughtUp("wh", v1, other)
		if got := e.rows("people", "id", "score"); !slices.Equal(got, []string{"1|10", "2|20", "3|30"}) {
			t.Errorf("people: %q", got)
		}
		e.eventually(10*time.Second, func() (bool, string) { return s.Ready(), "not ready after the table resumed: " + s.NotReadyDetail() })
	})
}

package warehouse

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"syncline/schemas"
)

func kindsTable() *schemas.Table {
	return newTable("customers",
		schemas.Column{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true},
		schemas.Column{Name: "big", PGType: "bigint", Kind: schemas.KindInt64},
		schemas.Column{Name: "amount", PGType: "numeric(12,2)", Kind: schemas.KindDecimal, Precision: 12, Scale: 2},
		schemas.Column{Name: "Display Name", PGType: "text", Kind: schemas.KindString},
		schemas.Column{Name: "photo", PGType: "bytea", Kind: schemas.KindBytes},
		schemas.Column{Name: "seen_at", PGType: "timestamp with time zone", Kind: schemas.KindTimestampTZ},
		schemas.Column{Name: "born", PGType: "date", Kind: schemas.KindDate},
		schemas.Column{Name: "active", PGType: "boolean", Kind: schemas.KindBool},
		schemas.Column{Name: "prefs", PGType: "jsonb", Kind: schemas.KindJSON},
		schemas.Column{Name: "ext_id", PGType: "uuid", Kind: schemas.KindUUID},
		schemas.Column{Name: "tags", PGType: "text[]", Kind: schemas.KindString},
		schemas.Column{Name: "code", PGType: "character varying(8)", Kind: schemas.KindString},
		schemas.Column{Name: "mood", PGType: "mood", Kind: schemas.KindString}, // an enum only the source has
		schemas.Column{Name: "initials", PGType: "character(3)", Kind: schemas.KindString},
		schemas.Column{Name: "flags", PGType: "bit(4)", Kind: schemas.KindString},
	)
}

var kindCols = []string{"id", "big", "amount", "Display Name", "photo", "seen_at", "born", "active", "prefs", "ext_id", "tags", "code", "mood", "initials", "flags"}

func fullRow(id int32, name string) schemas.Row {
	return schemas.Row{
		"id": id, "big": int64(1) << 40, "amount": big.NewRat(1250, 100), "Display_Name": name,
		"photo": []byte{0, 1, 0xff}, "seen_at": time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC),
		"born": time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), "active": true, "prefs": `{"a": [1, "x"]}`,
		"ext_id": "1b4e28ba-2fa1-11d2-883f-0016cb3b0a01", "tags": `{a,"b c"}`, "code": "AB-12", "mood": "happy",
		"initials": "ab ", "flags": "1010", // char(3)::text drops the padding
	}
}

func nullRow(id int32) schemas.Row {
	r := schemas.Row{"id": id}
	for _, c := range kindsTable().Columns {
		if c.Field != "id" {
			r[c.Field] = nil
		}
	}
	return r
}

func TestEveryKindArrivesColumnForColumn(t *testing.T) {
	e := newEnv(t)
	tbl := kindsTable()
	e.createTopic(topicOf(tbl), 1)
	cfg := e.config("wh", tbl)
	e.start(cfg)

	full := fullRow(1, "Zoë 日本語 🚀")
	updated := fullRow(3, "before")
	after := updated.Clone()
	after["Display_Name"] = "after"
	after["amount"] = big.NewRat(-99999, 100)
	after["active"] = false
	e.produce(ins(tbl, 1, full), ins(tbl, 2, nullRow(2)), ins(tbl, 3, updated), ins(tbl, 4, fullRow(4, "gone")))
	e.produce(upd(tbl, 5, updated, after), del(tbl, 6, fullRow(4, "gone")))
	e.waitCaughtUp("wh", tbl)

	t.Run("inserts, updates and deletes leave exactly the expected rows", func(t *testing.T) {
		got := e.rows("customers", kindCols...)
		want := []string{
			`1|1099511627776|12.50|Zoë 日本語 🚀|\x0001ff|2024-05-06 07:08:09.123456+00|1999-12-31|true|{"a": [1, "x"]}|1b4e28ba-2fa1-11d2-883f-0016cb3b0a01|{a,"b c"}|AB-12|happy|ab|1010`,
			`2|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL`,
			`3|1099511627776|-999.99|after|\x0001ff|2024-05-06 07:08:09.123456+00|1999-12-31|false|{"a": [1, "x"]}|1b4e28ba-2fa1-11d2-883f-0016cb3b0a01|{a,"b c"}|AB-12|happy|ab|1010`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("rows:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("columns have the source types and unknown types fall back to the kind's type", func(t *testing.T) {
		got := e.query(`SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
WHERE attrelid = 'analytics.customers'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)
		want := []string{
			"id|integer|true", "big|bigint|false", "amount|numeric(12,2)|false", "Display Name|text|false",
			"photo|bytea|false", "seen_at|timestamp with time zone|false", "born|date|false", "active|boolean|false",
			"prefs|jsonb|false", "ext_id|uuid|false", "tags|text[]|false", "code|character varying(8)|false", "mood|text|false",
			"initials|character(3)|false", "flags|bit(4)|false",
			"_syncline_position|text|true", "_syncline_op|text|true", "_syncline_synced_at|timestamp with time zone|true",
		}
		if !slices.Equal(got, want) {
			t.Errorf("columns:\n got %q\nwant %q", got, want)
		}
		pk := e.query(`SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = 'analytics.customers'::regclass AND i.indisprimary`)
		if !slices.Equal(pk, []string{"id"}) {
			t.Errorf("primary key = %q, want [id]", pk)
		}
	})
	t.Run("metadata columns carry the position and op of the last change", func(t *testing.T) {
		got := e.query(`SELECT id, _syncline_position, _syncline_op, _syncline_synced_at <= now() FROM analytics.customers ORDER BY id`)
		want := []string{"1|" + pos(1) + "|c|true", "2|" + pos(2) + "|c|true", "3|" + pos(5) + "|u|true"}
		if !slices.Equal(got, want) {
			t.Errorf("metadata:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("metrics count rows written and observe end-to-end latency", func(t *testing.T) {
		if n := e.counter(e.m.SinkWrites.WithLabelValues("wh", "ok")); n < 3 {
			t.Errorf("sink writes ok = %v, want at least 3 (rows 1-3; 4 may collapse to a no-op delete)", n)
		}
		if n := testutilHistogramCount(t, e, "wh"); n != 6 {
			t.Errorf("latency observations = %d, want 6 (one per change)", n)
		}
	})
}

func testutilHistogramCount(t *testing.T, e *env, sink string) uint64 {
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "syncline_end_to_end_latency_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "sink" && l.GetValue() == sink {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func TestChangesApplyInOrder(t *testing.T) {
	tbl := people()
	cases := []struct {
		name        string
		soft        bool
		ignoreTrunc bool
		steps       [][]*schemas.Change // each step is produced at once, then awaited
		want        []string            // id|name|op[|deleted]
	}{
		{
			name: "inserts, updates and deletes leave the latest row of each key",
			steps: [][]*schemas.Change{
				{ins(tbl, 1, person(1, "a")), ins(tbl, 2, person(2, "b")), ins(tbl, 3, person(3, "c"))},
				{upd(tbl, 4, person(2, "b"), person(2, "bb")), del(tbl, 5, person(3, "c"))},
			},
			want: []string{"1|a|c", "2|bb|u"},
		},
		{
			name: "a delete followed by an insert of the same key in one batch leaves the row present",
			steps: [][]*schemas.Change{
				{ins(tbl, 1, person(1, "a"))},
				{del(tbl, 2, person(1, "a")), ins(tbl, 3, person(1, "again"))},
			},
			want: []string{"1|again|c"},
		},
		{
			name:  "an insert followed by a delete in one batch leaves no row",
			steps: [][]*schemas.Change{{ins(tbl, 1, person(1, "a")), del(tbl, 2, person(1, "a"))}},
			want:  nil,
		},
		{
			name: "an older position never overwrites a newer row",
			steps: [][]*schemas.Change{
				{ins(tbl, 10, person(1, "new"))},
				{upd(tbl, 5, person(1, "older"), person(1, "old"))},
			},
			want: []string{"1|new|c"},
		},
		{
			name: "an older delete does not remove a newer row",
			steps: [][]*schemas.Change{
				{ins(tbl, 10, person(1, "a"))},
				{del(tbl, 5, person(1, "a"))},
			},
			want: []string{"1|a|c"},
		},
		{
			name: "a soft delete keeps the row marked deleted",
			soft: true,
			steps: [][]*schemas.Change{
				{ins(tbl, 1, person(1, "a")), ins(tbl, 2, person(2, "b"))},
				{del(tbl, 3, person(1, "a"))},
			},
			want: []string{"1|a|d|true", "2|b|c|false"},
		},
		{
			name: "a soft-deleted row comes back when the key is inserted again",
			soft: true,
			steps: [][]*schemas.Change{
				{ins(tbl, 1, person(1, "a"))},
				{del(tbl, 2, person(1, "a"))},
				{ins(tbl, 3, person(1, "again"))},
			},
			want: []string{"1|again|c|false"},
		},
		{
			name: "a truncate removes the rows before it and keeps the rows after it",
			steps: [][]*schemas.Change{
				{ins(tbl, 1, person(1, "a")), ins(tbl, 2, person(2, "b"))},
				{ins(tbl, 3, person(3, "c")), trunc(tbl, 4), ins(tbl, 5, person(4, "d"))},
			},
			want: []string{"4|d|c"},
		},
		{
			name:  "a truncate wipes changes of older positions even when they arrive after it",
			steps: [][]*schemas.Change{{ins(tbl, 30, person(2, "b")), trunc(tbl, 20), ins(tbl, 10, person(1, "a"))}},
			want:  []string{"2|b|c"},
		},
		{
			name:        "an ignored truncate keeps every row",
			ignoreTrunc: true,
			steps: [][]*schemas.Change{
				{ins(tbl, 1, person(1, "a"))},
				{trunc(tbl, 2), ins(tbl, 3, person(2, "b"))},
			},
			want: []string{"1|a|c", "2|b|c"},
		},
		{
			name: "an update that changes the key moves the row",
			steps: [][]*schemas.Change{
				{ins(tbl, 1, person(1, "a"))},
				{upd(tbl, 2, person(1, "a"), person(7, "a"))},
			},
			want: []string{"7|a|u"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.createTopic(topicOf(tbl), 1)
			cfg := e.config("wh", tbl)
			cfg.SoftDelete, cfg.IgnoreTruncate = tc.soft, tc.ignoreTrunc
			e.start(cfg)
			for _, step := range tc.steps {
				e.produce(step...)
				e.waitCaughtUp("wh", tbl)
			}
			cols := []string{"id", "name", "_syncline_op"}
			if tc.soft {
				cols = append(cols, "_syncline_deleted")
			}
			got := e.rows("people", cols...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("rows = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReplaysWriteNothing(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	e.createTopic(topicOf(tbl), 1)
	cfg := e.config("wh", tbl)
	sink := e.start(cfg)
	changes := []*schemas.Change{
		ins(tbl, 1, person(1, "a")), ins(tbl, 2, person(2, "b")), ins(tbl, 3, person(3, "c")),
		upd(tbl, 4, person(2, "b"), person(2, "bb")),
	}
	e.produce(changes...)
	e.waitCaughtUp("wh", tbl)
	e.installWriteCounter("people")
	before := e.rows("people", "id", "name", "_syncline_position", "_syncline_op", "_syncline_synced_at")

	t.Run("the same records delivered again change nothing and write nothing", func(t *testing.T) {
		e.produce(changes...)
		e.waitCaughtUp("wh", tbl)
		if n := e.writes(); n != 0 {
			t.Errorf("%d rows written by the replay, want 0", n)
		}
		if got := e.rows("people", "id", "name", "_syncline_position", "_syncline_op", "_syncline_synced_at"); !slices.Equal(got, before) {
			t.Errorf("rows changed:\n got %q\nwant %q", got, before)
		}
	})
	t.Run("a sink that lost its offsets re-reads everything and writes nothing", func(t *testing.T) {
		sink.stop()
		e.exec("DELETE FROM analytics._syncline_offsets")
		e.start(cfg)
		e.waitCaughtUp("wh", tbl)
		if n := e.writes(); n != 0 {
			t.Errorf("%d rows written by the replay, want 0", n)
		}
		if got := e.rows("people", "id", "name", "_syncline_position", "_syncline_op", "_syncline_synced_at"); !slices.Equal(got, before) {
			t.Errorf("rows changed:\n got %q\nwant %q", got, before)
		}
	})
}

func TestRestartResumesFromStoredOffsets(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	e.createTopic(topicOf(tbl), 3)
	cfg := e.config("wh", tbl)
	sink := e.start(cfg)
	e.produce(ins(tbl, 1, person(0, "first")))
	e.waitCaughtUp("wh", tbl)
	e.installWriteCounter("people")

	lsn := 10
	produceRange := func(from, to int) {
		for i := from; i < to; i += 10 {
			var chs []*schemas.Change
			for j := i; j < i+10 && j < to; j++ {
				lsn++
				chs = append(chs, ins(tbl, lsn, person(int32(j), fmt.Sprint("p", j))))
			}
			e.produce(chs...)
		}
	}
	produceRange(1, 51)
	e.waitCaughtUp("wh", tbl)
	sink.stop()
	offsetsAtStop := e.storedOffsets("wh")

	produceRange(51, 101)
	t.Run("a stopped sink stores the offsets it applied and nothing more", func(t *testing.T) {
		if got := e.query("SELECT count(*) FROM analytics.people"); got[0] != "51" {
			t.Errorf("rows after stop = %s, want 51", got[0])
		}
		if !mapsEqual(e.storedOffsets("wh"), offsetsAtStop) {
			t.Errorf("offsets moved while stopped")
		}
	})
	e.start(cfg)
	e.waitCaughtUp("wh", tbl)
	t.Run("the restarted sink applies exactly the rest", func(t *testing.T) {
		if got := e.query("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM analytics.people"); got[0] != "101|101|0|100" {
			t.Errorf("count, distinct, min, max = %s, want 101|101|0|100", got[0])
		}
		if n := e.writes(); n != 100 {
			t.Errorf("%d rows written after the first, want 100 (nothing missed, nothing doubled)", n)
		}
	})
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestUndecodableRecordsGoToTheDLQ(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	topic := topicOf(tbl)
	e.createTopic(topic, 1)

	// A schema registered by someone else: valid Avro, not a syncline envelope.
	plain, err := e.registry.CreateSchema(e.ctx, "x-value", sr.Schema{Schema: `{"type":"record","name":"X","fields":[{"name":"a","type":"string"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	wire := func(id int, body []byte) []byte {
		b := make([]byte, 5, 5+len(body))
		binary.BigEndian.PutUint32(b[1:], uint32(id))
		return append(b, body...)
	}
	e.start(e.config("wh", tbl))
	e.produce(ins(tbl, 1, person(1, "a")))
	e.produceRaw(
		&kgo.Record{Topic: topic, Value: []byte("not the wire format")},
		&kgo.Record{Topic: topic, Value: wire(9999, []byte{0})},
		&kgo.Record{Topic: topic, Value: wire(plain.ID, []byte{2, 'h', 'i'})},
	)
	e.produce(ins(tbl, 2, person(2, "b")))
	e.waitCaughtUp("wh", tbl)

	t.Run("the decodable records still apply", func(t *testing.T) {
		if got := e.rows("people", "id", "name"); !slices.Equal(got, []string{"1|a", "2|b"}) {
			t.Errorf("rows = %q", got)
		}
	})
	t.Run("each undecodable record is parked with its reason and origin", func(t *testing.T) {
		recs := e.dlqRecords(3)
		var offsets []string
		for _, r := range recs {
			if got := header(r, "syncline.reason"); got != "decode" {
				t.Errorf("reason = %q, want decode", got)
			}
			if header(r, "syncline.error") == "" || header(r, "syncline.topic") != topic || header(r, "syncline.stage") != "sink.wh" {
				t.Errorf("headers = %v", r.Headers)
			}
			offsets = append(offsets, header(r, "syncline.offset"))
		}
		if !slices.Equal(offsets, []string{"1", "2", "3"}) {
			t.Errorf("parked offsets = %q, want 1, 2, 3", offsets)
		}
		if !strings.Contains(header(recs[1], "syncline.error"), "9999") {
			t.Errorf("unknown schema id error = %q", header(recs[1], "syncline.error"))
		}
		if !strings.Contains(header(recs[2], "syncline.error"), "not a syncline record") {
			t.Errorf("foreign schema error = %q", header(recs[2], "syncline.error"))
		}
		if n := e.counter(e.m.SinkErrors.WithLabelValues("wh", "decode")); n != 3 {
			t.Errorf("decode errors = %v, want 3", n)
		}
	})
}

func TestRejectedRowsGoToTheDLQAndTheRestCommits(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	e.createTopic(topicOf(tbl), 1)
	// The warehouse has a constraint the source does not.
	e.exec(`CREATE SCHEMA analytics; CREATE TABLE analytics.people (
	id integer PRIMARY KEY, name varchar(10) CHECK (name <> 'bad'),
	_syncline_position text NOT NULL, _syncline_op text NOT NULL, _syncline_synced_at timestamptz NOT NULL)`)
	e.start(e.config("wh", tbl))
	e.produce(ins(tbl, 1, person(1, "ok")), ins(tbl, 2, person(2, "bad")), ins(tbl, 3, person(3, "fine")),
		upd(tbl, 4, person(1, "ok"), person(1, "still ok")), ins(tbl, 5, person(5, "far too long for ten")))
	e.waitCaughtUp("wh", tbl)

	t.Run("the other rows of the batch commit, none truncated", func(t *testing.T) {
		if got := e.rows("people", "id", "name"); !slices.Equal(got, []string{"1|still ok", "3|fine"}) {
			t.Errorf("rows = %q", got)
		}
	})
	t.Run("each rejected row is parked with the database's error", func(t *testing.T) {
		recs := e.dlqRecords(2)
		want := map[string]string{"1": "check constraint", "4": "too long"} // offset -> error
		for _, r := range recs {
			off := header(r, "syncline.offset")
			if header(r, "syncline.reason") != "rejected" || want[off] == "" {
				t.Errorf("headers = %v", r.Headers)
				continue
			}
			if msg := header(r, "syncline.error"); !strings.Contains(msg, want[off]) {
				t.Errorf("error of offset %s = %q, want the database's %q error", off, msg, want[off])
			}
		}
		if n := e.counter(e.m.SinkErrors.WithLabelValues("wh", "permanent")); n != 2 {
			t.Errorf("permanent errors = %v, want 2", n)
		}
	})
}

func TestSchemaGainingAColumnAltersTheTable(t *testing.T) {
	e := newEnv(t)
	v1 := people()
	v2 := newTable("people",
		schemas.Column{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true},
		schemas.Column{Name: "name", PGType: "text", Kind: schemas.KindString},
		schemas.Column{Name: "Nick Name", PGType: "character varying(20)", Kind: schemas.KindString},
	)
	e.createTopic(topicOf(v1), 1)
	e.start(e.config("wh", v1))
	e.produce(ins(v1, 1, person(1, "a")))
	e.waitCaughtUp("wh", v1)
	e.produce(
		ins(v2, 2, schemas.Row{"id": int32(2), "name": "b", "Nick_Name": "bee"}),
		upd(v2, 3, schemas.Row{"id": int32(1), "name": "a", "Nick_Name": nil}, schemas.Row{"id": int32(1), "name": "a", "Nick_Name": "ay"}),
	)
	e.waitCaughtUp("wh", v1)

	t.Run("the new column is added with the source type", func(t *testing.T) {
		got := e.query(`SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'analytics.people'::regclass AND attname = 'Nick Name'`)
		if !slices.Equal(got, []string{"character varying(20)"}) {
			t.Errorf("type = %q", got)
		}
	})
	t.Run("rows of the new version fill it", func(t *testing.T) {
		if got := e.rows("people", "id", "name", "Nick Name"); !slices.Equal(got, []string{"1|a|ay", "2|b|bee"}) {
			t.Errorf("rows = %q", got)
		}
	})
	t.Run("a late record of the old version leaves the new column alone", func(t *testing.T) {
		e.produce(upd(v1, 4, person(2, "b"), person(2, "b2")))
		e.waitCaughtUp("wh", v1)
		if got := e.rows("people", "id", "name", "Nick Name"); !slices.Equal(got, []string{"1|a|ay", "2|b2|bee"}) {
			t.Errorf("rows = %q", got)
		}
	})
}

func TestTopicsCreatedAfterTheSinkStarted(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	s := e.start(e.config("wh", tbl))
	e.eventually(30*time.Second, func() (bool, string) { return s.Ready(), "sink not ready" })
	e.createTopic(topicOf(tbl), 1)
	e.produce(ins(tbl, 1, person(1, "late")))
	e.waitCaughtUp("wh", tbl)
	if got := e.rows("people", "id", "name"); !slices.Equal(got, []string{"1|late"}) {
		t.Errorf("rows = %q", got)
	}
}

func TestOnlyCommittedKafkaTransactionsApply(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	e.createTopic(topicOf(tbl), 1)
	e.start(e.config("wh", tbl))
	txp, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.ListenAddrs()...), kgo.TransactionalID("test-capture"))
	if err != nil {
		t.Fatal(err)
	}
	defer txp.Close()
	inTx := func(commit bool, chs ...*schemas.Change) {
		if err := txp.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, ch := range chs {
			enc, _ := e.serde.Encoder(e.ctx, topicOf(tbl), tbl)
			k, v, _ := enc.Encode(ch)
			if err := txp.ProduceSync(e.ctx, &kgo.Record{Topic: topicOf(tbl), Key: k, Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := txp.EndTransaction(e.ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	inTx(false, ins(tbl, 1, person(1, "aborted")))
	inTx(true, ins(tbl, 2, person(2, "committed")))
	e.eventually(60*time.Second, func() (bool, string) {
		if e.query("SELECT to_regclass('analytics.people') IS NOT NULL")[0] != "true" {
			return false, "table not created"
		}
		got := e.query("SELECT count(*) FROM analytics.people WHERE id = 2")
		return got[0] == "1", "committed row not there"
	})
	if got := e.rows("people", "id", "name"); !slices.Equal(got, []string{"2|committed"}) {
		t.Errorf("rows = %q, want only the committed one", got)
	}
}

func TestLostConnectionsLoseAndDoubleNothing(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	e.createTopic(topicOf(tbl), 2)
	cfg := e.config("wh", tbl)
	cfg.BatchSize = 7
	e.start(cfg)
	e.produce(ins(tbl, 1, person(0, "first")))
	e.waitCaughtUp("wh", tbl)
	e.installWriteCounter("people")

	var wg sync.WaitGroup
	stop := make(chan struct{})
	killed := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn := e.conn()
		defer conn.Close(context.Background())
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			var n int
			if err := conn.QueryRow(e.ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = 'syncline-sink-wh' AND datname = current_database()`).Scan(&n); err == nil {
				killed += n
			}
		}
	}()
	lsn := 10
	for i := 1; i <= 300; i += 10 {
		var chs []*schemas.Change
		for j := i; j < i+10; j++ {
			lsn++
			chs = append(chs, ins(tbl, lsn, person(int32(j), fmt.Sprint("p", j))))
		}
		e.produce(chs...)
		time.Sleep(5 * time.Millisecond) // spread the load over the kills
	}
	// Keep killing until the sink has had to recover at least a few times.
	e.eventually(60*time.Second, func() (bool, string) {
		n := e.counter(e.m.SinkErrors.WithLabelValues("wh", "retryable"))
		return n >= 3, fmt.Sprintf("only %v retryable errors", n)
	})
	close(stop)
	wg.Wait()
	e.waitCaughtUp("wh", tbl)
	if got := e.query("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM analytics.people"); got[0] != "301|301|0|300" {
		t.Errorf("count, distinct, min, max = %s, want 301|301|0|300", got[0])
	}
	if n := e.writes(); n != 300 {
		t.Errorf("%d rows written, want exactly 300", n)
	}
	t.Logf("terminated %d sink connections", killed)
}

func TestTwoSinkProcessesSplitThePartitions(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	e.createTopic(topicOf(tbl), 4)
	cfg := e.config("wh", tbl)
	a := e.start(cfg)
	e.start(cfg)
	// Both members hold partitions before anything is produced.
	e.eventually(60*time.Second, func() (bool, string) {
		groups, err := e.adm.DescribeGroups(e.ctx, "syncline-sink-wh")
		if err != nil {
			return false, err.Error()
		}
		g := groups["syncline-sink-wh"]
		var sizes []int
		for _, m := range g.Members {
			n := 0
			if c, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range c.Topics {
					n += len(t.Partitions)
				}
			}
			sizes = append(sizes, n)
		}
		return len(sizes) == 2 && sizes[0] > 0 && sizes[1] > 0 && sizes[0]+sizes[1] == 4,
			fmt.Sprintf("group state %q, partitions per member %v", g.State, sizes)
	})
	lsn := 0
	produceRange := func(from, to int) {
		var chs []*schemas.Change
		for j := from; j < to; j++ {
			lsn++
			chs = append(chs, ins(tbl, lsn, person(int32(j), fmt.Sprint("p", j))))
		}
		e.produce(chs...)
	}
	produceRange(0, 200)
	e.waitCaughtUp("wh", tbl)
	t.Run("together they apply every row once", func(t *testing.T) {
		if got := e.query("SELECT count(*), count(DISTINCT id) FROM analytics.people"); got[0] != "200|200" {
			t.Errorf("count, distinct = %s", got[0])
		}
		if n := len(e.storedOffsets("wh")); n != 4 {
			t.Errorf("offsets stored for %d partitions, want 4", n)
		}
	})
	t.Run("when one stops the other takes over its partitions where it left off", func(t *testing.T) {
		a.stop()
		e.installWriteCounter("people")
		produceRange(200, 300)
		e.waitCaughtUp("wh", tbl)
		if got := e.query("SELECT count(*), count(DISTINCT id) FROM analytics.people"); got[0] != "300|300" {
			t.Errorf("count, distinct = %s", got[0])
		}
		if n := e.writes(); n != 100 {
			t.Errorf("%d rows written after the handover, want 100", n)
		}
	})
}

func TestABatchWhoseStoredOffsetsMovedIsDroppedAndReSeeks(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	e.createTopic(topicOf(tbl), 1)
	e.start(e.config("wh", tbl))
	e.produce(ins(tbl, 1, person(1, "a"))) // offset 0
	e.waitCaughtUp("wh", tbl)
	// Another process (or a commit whose outcome this one never learned)
	// applied offsets 1 and 2 and stored 3.
	e.exec("UPDATE analytics._syncline_offsets SET next_offset = 3")
	e.produce(ins(tbl, 2, person(2, "applied elsewhere")), ins(tbl, 3, person(3, "applied elsewhere")), ins(tbl, 4, person(4, "d")))
	e.waitCaughtUp("wh", tbl)
	if got := e.rows("people", "id", "name"); !slices.Equal(got, []string{"1|a", "4|d"}) {
		t.Errorf("rows = %q, want offsets 1 and 2 skipped (they count as applied) and 3 applied", got)
	}
}

func TestAnUnreachableWarehouseIsNotReadyAndStopsCleanly(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	cfg := e.config("wh", tbl)
	cfg.DSN = "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=1"
	s := e.start(cfg)
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if s.Ready() {
			t.Fatal("Ready() with an unreachable warehouse")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.stop() // asserts Run returns nil
}

func TestATargetWhoseKeyDoesNotMatchStopsTheSink(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	e.createTopic(topicOf(tbl), 1)
	e.exec(`CREATE SCHEMA analytics; CREATE TABLE analytics.people (
	id integer, name text PRIMARY KEY,
	_syncline_position text NOT NULL, _syncline_op text NOT NULL, _syncline_synced_at timestamptz NOT NULL)`)
	s, err := New(e.config("wh", tbl), e.kafkaOpts(), e.serde, e.dlq, e.m, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	e.produce(ins(tbl, 1, person(1, "a")))
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	err = s.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "analytics.people") || !strings.Contains(err.Error(), "ON CONFLICT") {
		t.Errorf("Run = %v, want an error naming analytics.people and the ON CONFLICT mismatch", err)
	}
}

// Sink processes that start together against an empty warehouse create
// its schema and tables at the same moment; each must succeed (the DDL is
// serialized), not fail on the catalog with "type ... already exists".
func TestSinkProcessesCreatingTheSameTablesAtOnce(t *testing.T) {
	e := newEnv(t)
	var tables []*schemas.Table
	for i := range 4 {
		tables = append(tables, newTable(fmt.Sprintf("t%d", i),
			schemas.Column{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true},
			schemas.Column{Name: "v", PGType: "text", Kind: schemas.KindString}))
	}
	cfg := e.config("wh", tables...)
	const procs = 8
	for round := range 5 {
		cfg.Schema = fmt.Sprintf("race%d", round)
		sinks := make([]*Sink, procs)
		for i := range sinks {
			s, err := New(cfg, e.kafkaOpts(), e.serde, e.dlq, e.m, testLogger(t))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			sinks[i] = s
			t.Cleanup(s.closeConn)
		}
		start := make(chan struct{})
		errs := make(chan error, procs)
		for _, s := range sinks {
			go func() {
				<-start
				if err := s.connect(e.ctx); err != nil {
					errs <- fmt.Errorf("connect: %w", err)
					return
				}
				for i, tgt := range s.targets {
					if err := s.ensureTable(e.ctx, s.conn, tgt, tables[i]); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		close(start)
		for range procs {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		for _, tbl := range tables {
			got := e.query("SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2", cfg.Schema, tbl.Name)
			if got[0] != "5" { // id, v and the three bookkeeping columns
				t.Errorf("round %d: %s.%s has %s columns, want 5", round, cfg.Schema, tbl.Name, got[0])
			}
		}
	}
}

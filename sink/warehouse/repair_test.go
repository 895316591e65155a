package warehouse

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/schemas"
)

// repairRecord encodes ch for the repair topic.
func (e *env) repairRecord(topic string, ch *schemas.Change) *kgo.Record {
	e.t.Helper()
	enc, err := e.serde.Encoder(e.ctx, topic, ch.Table)
	if err != nil {
		e.t.Fatal(err)
	}
	k, v, err := enc.Encode(ch)
	if err != nil {
		e.t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: k, Value: v}
}

func TestRepairTopicRecordsApplyToTheirTable(t *testing.T) {
	e := newEnv(t)
	tbl := people()
	other := newTable("others", schemas.Column{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true})
	const repair = "syncline.repair.wh"
	e.createTopic(topicOf(tbl), 1)
	e.createTopic(repair, 2)
	s, err := New(e.config("wh", tbl), e.kafkaOpts(), e.serde, e.dlq, e.m, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRepairTopic(topicOf(tbl)); err == nil || !strings.Contains(err.Error(), "also a change topic") {
		t.Errorf("SetRepairTopic(change topic) = %v, want it refused", err)
	}
	if err := s.SetRepairTopic(repair); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	e.produce(ins(tbl, 5, person(1, "a")), ins(tbl, 5, person(2, "b")), ins(tbl, 9, person(3, "new")))
	e.waitCaughtUp("wh", tbl)
	e.installWriteCounter("people")

	// Repair: row 1 again at an older position than its own (nothing to
	// write), row 2 newer (written), row 3 deleted at a position older
	// than the row (kept), row 4 missing (written), and a record of a
	// table the sink does not deliver (parked).
	e.produceRaw(
		e.repairRecord(repair, change(tbl, schemas.OpRead, pos(5), nil, person(1, "a"))),
		e.repairRecord(repair, change(tbl, schemas.OpRead, pos(7), nil, person(2, "repaired"))),
		e.repairRecord(repair, change(tbl, schemas.OpDelete, pos(7), person(3, ""), nil)),
		e.repairRecord(repair, change(tbl, schemas.OpRead, pos(7), nil, person(4, "missing"))),
		e.repairRecord(repair, change(other, schemas.OpRead, pos(7), nil, schemas.Row{"id": int32(1)})),
	)
	recs := e.dlqRecords(1)
	if got := header(recs[0], "syncline.reason"); got != "repair" || !strings.Contains(header(recs[0], "syncline.error"), "app.public.others") {
		t.Errorf("parked with reason %q, error %q; want repair naming the table", got, header(recs[0], "syncline.error"))
	}
	e.eventually(time.Minute, func() (bool, string) {
		got := e.rows("people", "id", "name")
		return slices.Equal(got, []string{"1|a", "2|repaired", "3|new", "4|missing"}), strings.Join(got, ", ")
	})
	e.eventually(time.Minute, func() (bool, string) {
		got := e.storedOffsets("wh")
		return got[repair+"/0"]+got[repair+"/1"] == 5, ""
	})
	if n := e.writes(); n != 2 {
		t.Errorf("%d writes, want 2 (rows 2 and 4)", n)
	}
}

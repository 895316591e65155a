package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"syncline/capture/postgres"
)

// A Postgres transaction larger than a Kafka transaction is written in
// parts. When a commit of one part fails (its outcome as unknown as after a
// crash), the capture restarts from the stored position inside the
// transaction: every row of it ends up on the topic exactly once.
func TestLargeTransactionIsWrittenInPartsAndResumesInsideIt(t *testing.T) {
	e := newEnv(t, `CREATE TABLE big (id int PRIMARY KEY, v text)`)
	const rows = 2500
	var commits, failed atomic.Int32
	e.k.Broker.Control(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.EndTxnRequest)
		if !r.Commit {
			return nil, nil, false
		}
		n := commits.Add(1)
		// Fail the 4th and the 9th commit: both fall inside the large
		// transaction (parts of 200 rows), after parts of it committed.
		if n == 4 || n == 9 {
			failed.Add(1)
			resp := r.ResponseKind().(*kmsg.EndTxnResponse)
			resp.ErrorCode = kerr.InvalidTxnState.Code
			return resp, nil, true
		}
		return nil, nil, false
	})
	stop := e.run(postgres.Config{NoSnapshot: true, BatchMaxRecords: 200, Tables: []postgres.TableName{{Schema: "public", Name: "big"}}})
	defer stop()
	e.pg.Exec(t, "app", fmt.Sprintf(`INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, %d) g`, rows))
	e.pg.Exec(t, "app", `INSERT INTO big VALUES (0, 'marker')`)
	seen := map[int32]int{}
	for _, r := range e.records("syncline.raw.app.public.big", rows+1) {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		seen[ch.Key["id"].(int32)]++
	}
	if failed.Load() != 2 {
		t.Fatalf("%d commits failed, want 2: the transaction was not written in parts", failed.Load())
	}
	for id := int32(0); id <= rows; id++ {
		if seen[id] != 1 {
			t.Errorf("row %d captured %d times, want 1", id, seen[id])
		}
	}
}

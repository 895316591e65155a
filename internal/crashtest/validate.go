package crashtest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/schemas"
)

// ReadTopic reads every record of topic that is visible to a
// read_committed consumer, from the start of each partition to its last
// stable offset, in partition and offset order.
func ReadTopic(ctx context.Context, brokers []string, topic string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	offs := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			offs[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w (partitions not read to their end: %v)", topic, err, want)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

// rec is one decoded record as the validators see it.
type rec struct {
	tok       string // "c3", "u4", "d", "r0"
	pos       string
	partition int32
	offset    int64
	beforeVer string // change topics: ver of the before image ("" if none)
	ch        *schemas.Change
}

func (r rec) String() string {
	return fmt.Sprintf("%s@%s(p%d/o%d)", r.tok, r.pos, r.partition, r.offset)
}

// TopicReport is the outcome of checking one topic.
type TopicReport struct {
	Topic    string
	Records  int
	Keys     int
	Problems []string // the first problems found, described
	Count    int      // problems found in total
}

const maxProblems = 40

func (r *TopicReport) problem(format string, args ...any) {
	r.Count++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// OK reports whether the topic passed.
func (r *TopicReport) OK() bool { return r.Count == 0 }

func (r *TopicReport) String() string {
	if r.OK() {
		return fmt.Sprintf("%s: %d records over %d keys: ok", r.Topic, r.Records, r.Keys)
	}
	s := fmt.Sprintf("%s: %d records over %d keys: %d problems", r.Topic, r.Records, r.Keys, r.Count)
	for _, p := range r.Problems {
		s += "\n  - " + p
	}
	if r.Count > len(r.Problems) {
		s += fmt.Sprintf("\n  ... and %d more", r.Count-len(r.Problems))
	}
	return s
}

// CheckTopic checks the records of spec's table on one topic against the
// history: per key, the sequence of operations equals what was committed
// (nothing missing, nothing duplicated, nothing reordered), positions
// strictly increase, and every key stays on one partition. On change topics
// (changes true) it also checks that each update and delete carries the
// complete before image of the previous version and that no record lists
// unavailable columns.
func CheckTopic(ctx context.Context, serde *schemas.Serde, records []*kgo.Record, topic string, spec TableSpec, want map[string][]string, changes bool) (*TopicReport, error) {
	rep := &TopicReport{Topic: topic, Records: len(records)}
	got := map[string][]rec{}
	for _, r := range records {
		ch, err := serde.Decode(ctx, r.Key, r.Value)
		if err != nil {
			return nil, fmt.Errorf("decode %s p%d/o%d: %w", topic, r.Partition, r.Offset, err)
		}
		if ch.Key == nil {
			rep.problem("unexpected record without key (op %s) at p%d/o%d position %s", ch.Op, r.Partition, r.Offset, ch.Source.Position)
			continue
		}
		vals := make([]any, len(spec.Key))
		for i, c := range spec.Key {
			vals[i] = ch.Key[c]
		}
		key := KeyString(spec.Name, vals...)
		d := rec{pos: ch.Source.Position, partition: r.Partition, offset: r.Offset, ch: ch}
		switch ch.Op {
		case schemas.OpDelete:
			d.tok = "d"
		case schemas.OpCreate, schemas.OpUpdate, schemas.OpRead:
			if ch.After == nil || ch.After["ver"] == nil {
				rep.problem("%s: %s record without after.ver at p%d/o%d", key, ch.Op, r.Partition, r.Offset)
				d.tok = string(ch.Op) + "?"
			} else {
				d.tok = fmt.Sprintf("%s%v", ch.Op, ch.After["ver"])
			}
		default:
			d.tok = string(ch.Op) + "!"
		}
		if ch.Before != nil && ch.Before["ver"] != nil {
			d.beforeVer = fmt.Sprint(ch.Before["ver"])
		}
		if changes && len(ch.Unavailable) > 0 {
			rep.problem("%s: change record %s lists unavailable columns %v", key, d, ch.Unavailable)
		}
		got[key] = append(got[key], d)
	}
	prefix := spec.Name + "|"
	for key, seq := range want {
		if strings.HasPrefix(key, prefix) {
			if _, ok := got[key]; !ok {
				rep.problem("%s: no record at all; committed %v", key, seq)
			}
		}
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rep.Keys = len(keys)
	for _, key := range keys {
		recs := got[key]
		exp, ok := want[key]
		if !ok {
			rep.problem("%s: records for a key never written: %v", key, recs)
			continue
		}
		toks := make([]string, len(recs))
		for i, r := range recs {
			toks[i] = r.tok
		}
		if !slices.Equal(toks, exp) {
			rep.problem("%s: %s\n      committed: %v\n      on topic:  %v", key, describeDiff(exp, toks), exp, recs)
		}
		for i := 1; i < len(recs); i++ {
			if recs[i].partition != recs[0].partition {
				rep.problem("%s: on two partitions: %v and %v", key, recs[0], recs[i])
			}
			if recs[i].pos <= recs[i-1].pos {
				rep.problem("%s: position goes backwards or repeats: %v then %v", key, recs[i-1], recs[i])
			}
		}
		if changes {
			for i := 1; i < len(recs); i++ {
				r, prev := recs[i], recs[i-1]
				if r.tok != "d" && r.tok[0] != 'u' {
					continue
				}
				if pv := strings.TrimLeft(prev.tok, "cur"); prev.tok != "d" && r.beforeVer != pv {
					rep.problem("%s: %v has before.ver %q, want %q (the previous version %v)", key, r, r.beforeVer, pv, prev)
				}
			}
		}
	}
	return rep, nil
}

// describeDiff names what differs between the committed sequence and the
// one found: missing and duplicated operations, or a different order.
func describeDiff(want, got []string) string {
	count := func(s []string) map[string]int {
		m := map[string]int{}
		for _, t := range s {
			m[t]++
		}
		return m
	}
	wc, gc := count(want), count(got)
	var missing, dup, extra []string
	for t, n := range wc {
		if gc[t] < n {
			missing = append(missing, fmt.Sprintf("%s×%d", t, n-gc[t]))
		}
		if gc[t] > n {
			dup = append(dup, fmt.Sprintf("%s×%d", t, gc[t]-n))
		}
	}
	for t, n := range gc {
		if wc[t] == 0 {
			extra = append(extra, fmt.Sprintf("%s×%d", t, n))
		}
	}
	sort.Strings(missing)
	sort.Strings(dup)
	sort.Strings(extra)
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "MISSING "+strings.Join(missing, " "))
	}
	if len(dup) > 0 {
		parts = append(parts, "DUPLICATED "+strings.Join(dup, " "))
	}
	if len(extra) > 0 {
		parts = append(parts, "UNEXPECTED "+strings.Join(extra, " "))
	}
	if len(parts) == 0 {
		parts = append(parts, "REORDERED")
	}
	return strings.Join(parts, "; ")
}

// CompareTables compares each workload table of the source database with
// its copy in the warehouse (schema whSchema), on the source columns, and
// returns the differences (at most limit described, plus a count).
func CompareTables(ctx context.Context, srcDSN, whDSN, whSchema string, limit int) ([]string, error) {
	src, err := pgx.Connect(ctx, srcDSN)
	if err != nil {
		return nil, err
	}
	defer src.Close(context.Background())
	wh, err := pgx.Connect(ctx, whDSN)
	if err != nil {
		return nil, err
	}
	defer wh.Close(context.Background())
	var diffs []string
	total := 0
	add := func(format string, args ...any) {
		total++
		if len(diffs) < limit {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	for _, t := range Tables {
		q := func(schema string) string {
			key := make([]string, len(t.Key))
			for i, k := range t.Key {
				key[i] = pgx.Identifier{k}.Sanitize() + "::text"
			}
			return fmt.Sprintf("SELECT concat_ws('|', %s), ROW(%s)::text FROM %s ORDER BY 1",
				strings.Join(key, ", "), strings.Join(t.Cols, ", "), pgx.Identifier{schema, t.Name}.Sanitize())
		}
		a, err := tableRows(ctx, src, q("public"))
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", t.Name, err)
		}
		b, err := tableRows(ctx, wh, q(whSchema))
		if err != nil {
			if len(a) == 0 && strings.Contains(err.Error(), "does not exist") {
				continue
			}
			return []string{fmt.Sprintf("warehouse %s: %v", t.Name, err)}, nil
		}
		var keys []string
		for k := range a {
			keys = append(keys, k)
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			sa, ina := a[k]
			sb, inb := b[k]
			switch {
			case !inb:
				add("%s|%s: missing in the warehouse; source %.200s", t.Name, k, sa)
			case !ina:
				add("%s|%s: in the warehouse only: %.200s", t.Name, k, sb)
			case sa != sb:
				add("%s|%s: differs\n      source    %.200s\n      warehouse %.200s", t.Name, k, sa, sb)
			}
		}
	}
	if total > len(diffs) {
		diffs = append(diffs, fmt.Sprintf("... and %d more differences", total-len(diffs)))
	}
	return diffs, nil
}

func tableRows(ctx context.Context, conn *pgx.Conn, q string) (map[string]string, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// WaitInSync polls CompareTables until the warehouse equals the source or
// timeout passes; it returns the last differences (nil when in sync).
func WaitInSync(ctx context.Context, srcDSN, whDSN, whSchema string, timeout time.Duration, alive func() error) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		diffs, err := CompareTables(ctx, srcDSN, whDSN, whSchema, 20)
		if err != nil {
			return nil, err
		}
		if len(diffs) == 0 {
			return nil, nil
		}
		if alive != nil {
			if err := alive(); err != nil {
				return diffs, err
			}
		}
		if time.Now().After(deadline) {
			return diffs, nil
		}
		select {
		case <-ctx.Done():
			return diffs, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// GroupReport describes consumer groups for a failure report: members
// (with their client address) and, per partition, the committed offset
// against the last stable offset. With one syncline process running, each
// group should have one member; more are members of killed processes that
// the broker still counts, and the partitions assigned to them are not
// consumed.
func GroupReport(ctx context.Context, brokers []string, groups ...string) string {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var b strings.Builder
	described, err := adm.DescribeGroups(ctx, groups...)
	if err != nil {
		fmt.Fprintf(&b, "describe groups: %v\n", err)
	}
	for _, g := range described.Sorted() {
		fmt.Fprintf(&b, "group %s: state %s, %d members\n", g.Group, g.State, len(g.Members))
		for _, m := range g.Members {
			var parts []string
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					parts = append(parts, fmt.Sprintf("%s%v", t.Topic, t.Partitions))
				}
			}
			fmt.Fprintf(&b, "  member %s (client %s) assigned %s\n", m.MemberID, m.ClientHost, strings.Join(parts, " "))
		}
		committed, err := adm.FetchOffsets(ctx, g.Group)
		if err != nil {
			fmt.Fprintf(&b, "  offsets: %v\n", err)
			continue
		}
		var ts []string
		committed.Each(func(o kadm.OffsetResponse) { ts = append(ts, o.Topic) })
		slices.Sort(ts)
		ts = slices.Compact(ts)
		ends, err := adm.ListCommittedOffsets(ctx, ts...)
		if err != nil {
			continue
		}
		var lines []string
		committed.Each(func(o kadm.OffsetResponse) {
			if e, ok := ends.Lookup(o.Topic, o.Partition); ok && e.Offset != o.At {
				lines = append(lines, fmt.Sprintf("  %s/%d: committed %d, end %d (lag %d)", o.Topic, o.Partition, o.At, e.Offset, e.Offset-o.At))
			}
		})
		slices.Sort(lines)
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

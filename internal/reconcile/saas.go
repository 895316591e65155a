package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	sinksaas "syncline/sink/saas"
	"syncline/transform/state"
)

// SaaS sinks (hubspot, stripe, salesforce, mailchimp; rest with a read
// request) are compared differently from warehouse tables: the sink's
// ledger (its changelog, _<prefix>.state.sink.<name>) says per record
// which object it wrote and the value of every mapped property as of the
// last change applied, and the provider is asked, by object id, what it
// holds of those objects now (through the sink package's
// sinksaas.Reader: HubSpot batch/read, 100 ids per call; Salesforce
// sObject collections retrieve, 200 per call; Stripe GET
// /v1/customers/{id}, Mailchimp GET /lists/{list}/members/{hash} and the
// rest sink's read request, one per call, a few at a time):
//
//   - missing: the ledger has a live record whose object the provider
//     does not hold (deleted or merged there);
//   - different: the object's value of a mapped property is not the
//     ledger's (edited at the provider since);
//   - extra: an object of a record the sink deleted (archived) that the
//     provider holds again (restored there). Objects the sink never wrote
//     are not looked for: a CRM holds objects from many sources.
//
// The ledger's values stand for what the source says the record should
// be: they are the mapped values of the last change applied, which is
// also what the sink compares the next change with. Changes still on
// their way through the pipeline are not drift of the provider (they are
// sent anyway), and the change topics need not be read (they may be long,
// or past retention). A record whose last change was parked in the DLQ or
// waits in the retry queue is compared as of the change before it.

// SaaSDiff compares one SaaS sink with its provider.
type SaaSDiff struct {
	Sink     string // the sink's name
	Object   string // what the result is labelled ("hubspot contacts")
	Provider string // the provider's name in messages ("HubSpot")
	// KeyField is the mapped field that identifies a record at the
	// provider (id_property, key_field, external_id_field, email_field).
	KeyField    string
	TopicPrefix string
	// IgnoreDeletes: the sink leaves objects of deleted records (no
	// extra objects are looked for).
	IgnoreDeletes bool
	Kafka         []kgo.Opt
	Reader        sinksaas.Reader
	// Settle is how long to wait before the differing records are checked
	// again (ledger and provider); 0: no second pass.
	Settle time.Duration
	Log    *slog.Logger
}

// PropertyDiff is one property whose value at the provider is not the
// ledger's.
type PropertyDiff struct {
	Key      []string `json:"key"`
	Property string   `json:"property"`
	Ledger   string   `json:"ledger"`
	Provider string   `json:"provider"`
}

// SaaSResult is the comparison of a SaaS sink: a Result (keys as the key
// field's value) with the differing properties.
type SaaSResult struct {
	*Result
	Properties []PropertyDiff `json:"properties"`

	repairs []sinksaas.Repair
}

// finding is one record that differs.
type finding struct {
	kind   string // missing, different, extra
	key    []string
	props  []PropertyDiff
	repair sinksaas.Repair
}

// Compare reads the ledger and the provider's objects and reports what
// differs.
func (d *SaaSDiff) Compare(ctx context.Context) (*SaaSResult, error) {
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	recs, err := sinksaas.ReadLedger(ctx, d.Kafka, d.TopicPrefix, d.Sink)
	if err != nil {
		return nil, err
	}
	res := &Result{Table: d.Object, Sink: d.Sink, KeyColumns: []string{d.KeyField}, Missing: [][]string{}, Extra: [][]string{}, Different: [][]string{}}
	fs, found, err := d.check(ctx, recs)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if !r.Entry.Archived && r.Entry.Props != nil {
			res.SourceRows++
		}
	}
	res.SinkRows = found
	res.Stats.RowsFetched = int64(len(recs))
	if len(fs) > 0 && d.Settle > 0 {
		log.Info("records differ; checking them again once the sink had time to catch up", "sink", d.Sink, "records", len(fs), "settle", d.Settle)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d.Settle):
		}
		again, err := sinksaas.ReadLedger(ctx, d.Kafka, d.TopicPrefix, d.Sink)
		if err != nil {
			return nil, err
		}
		want := map[string]bool{}
		for _, f := range fs {
			want[ledgerKey(f.repair)] = true
		}
		var sub []sinksaas.LedgerRecord
		for _, r := range again {
			if want[string(r.Unit.Key(r.Key))] {
				sub = append(sub, r)
			}
		}
		res.Stats.Rechecked = len(fs)
		fs2, _, err := d.check(ctx, sub)
		if err != nil {
			return nil, err
		}
		res.Stats.CaughtUp = len(fs) - len(fs2)
		fs = fs2
	}
	out := &SaaSResult{Result: res, Properties: []PropertyDiff{}}
	for _, f := range fs {
		switch f.kind {
		case "missing":
			res.Missing = append(res.Missing, f.key)
		case "different":
			res.Different = append(res.Different, f.key)
		case "extra":
			res.Extra = append(res.Extra, f.key)
		}
		out.Properties = append(out.Properties, f.props...)
		out.repairs = append(out.repairs, f.repair)
	}
	res.Stats.Seconds = time.Since(start).Seconds()
	return out, nil
}

func ledgerKey(rp sinksaas.Repair) string {
	return string(state.Unit{Topic: rp.Topic, Partition: rp.Partition}.Key(rp.Key))
}

// check compares ledger records with the provider; found counts the
// objects the provider holds of them.
func (d *SaaSDiff) check(ctx context.Context, recs []sinksaas.LedgerRecord) ([]finding, int64, error) {
	var byID, byKey, archived []string
	for _, r := range recs {
		e := r.Entry
		switch {
		case e.Archived:
			if e.ID != "" && !d.IgnoreDeletes {
				archived = append(archived, e.ID)
			}
		case e.Props == nil:
		case e.ID != "":
			byID = append(byID, e.ID)
		default:
			byKey = append(byKey, e.Props[d.KeyField])
		}
	}
	ids, err := d.Reader.ReadIDs(ctx, slices.Concat(byID, archived))
	if err != nil {
		return nil, 0, err
	}
	keys := map[string]sinksaas.Object{}
	if len(byKey) > 0 {
		if keys, err = d.Reader.ReadKeys(ctx, byKey); err != nil {
			return nil, 0, err
		}
	}
	var fs []finding
	var found int64
	for _, r := range recs {
		e := r.Entry
		rp := sinksaas.Repair{Topic: r.Unit.Topic, Partition: r.Unit.Partition, Key: r.Key, Expect: e}
		if e.Archived {
			if e.ID == "" || d.IgnoreDeletes {
				continue
			}
			o, ok := ids[e.ID]
			if !ok {
				continue
			}
			found++
			rp.Found, rp.ID, rp.Props = true, o.ID, o.Props
			fs = append(fs, finding{kind: "extra", key: []string{keyOr(o.Props[d.KeyField], o.ID)}, repair: rp})
			continue
		}
		if e.Props == nil {
			continue
		}
		key := []string{keyOr(e.Props[d.KeyField], e.ID)}
		var o sinksaas.Object
		var ok bool
		if e.ID != "" {
			o, ok = ids[e.ID]
		} else {
			o, ok = keys[d.Reader.Key(e.Props[d.KeyField])]
		}
		if !ok {
			fs = append(fs, finding{kind: "missing", key: key, repair: rp})
			continue
		}
		found++
		var diffs []PropertyDiff
		for _, name := range slices.Sorted(maps.Keys(e.Props)) {
			if name == d.KeyField && d.Reader.Key(o.Props[name]) == d.Reader.Key(e.Props[name]) {
				continue
			}
			if o.Props[name] != e.Props[name] {
				diffs = append(diffs, PropertyDiff{Key: key, Property: name, Ledger: e.Props[name], Provider: o.Props[name]})
			}
		}
		if len(diffs) == 0 && o.ID == e.ID {
			continue
		}
		rp.Found, rp.ID, rp.Props = true, o.ID, o.Props
		fs = append(fs, finding{kind: "different", key: key, props: diffs, repair: rp})
	}
	return fs, found, nil
}

func keyOr(v, id string) string {
	if v != "" {
		return v
	}
	return "id:" + id
}

// Repair sends the repair records of res to the sink's repair topic: per
// record, what the provider holds and the ledger entry compared. The
// running sink corrects its ledger to what the provider holds and sends
// what the record needs on top of it, in its own transaction (see
// sink/saas Repair); records that did not differ are not sent anything.
func (d *SaaSDiff) Repair(ctx context.Context, prod *kgo.Client, res *SaaSResult) (Repaired, error) {
	var out Repaired
	if len(res.repairs) == 0 {
		return out, nil
	}
	topic := RepairTopic(d.TopicPrefix, d.Sink)
	var recs []*kgo.Record
	for _, rp := range res.repairs {
		recs = append(recs, rp.Record(topic))
		if rp.Expect.Archived {
			out.Deletes++
		} else {
			out.Upserts++
		}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return Repaired{}, fmt.Errorf("produce repair records to %s: %w", topic, err)
	}
	return out, nil
}

package merge

import (
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	"syncline/schemas"
)

// scenarioConfig is the config the seeds' scenarios share: app, crm,
// email and billing systems holding the same customer.
var scenarioConfig = Config{
	Sources: []string{"crm", "app", "email", "billing"},
	Fields: map[string]Field{
		"phone":           {Policy: LastWriterWins},
		"email":           {Policy: LastWriterWins, Required: true},
		"last_name":       {Required: true},
		"billing_address": {SystemOfRecord: "billing"},
		"bank_account":    {SystemOfRecord: "billing", HighStakes: true},
		"price":           {Policy: LastWriterWins, Anomaly: &Anomaly{Factor: 10}},
		"company":         {SourcePriority: []string{"crm", "app"}},
		"first_seen":      {Policy: Min},
		"lead_score":      {Policy: Max},
		"lifetime_value":  {Policy: Sum},
		"tags":            {Policy: Set},
		"name":            {Policy: ThreeWay},
		"title":           {Policy: ThreeWay},
	},
}

// step is one input of a scenario: a change, a decision on the review
// item of a change (by its field and position), or a sync mark.
type step struct {
	ch        *Change
	decide    Decision
	field     string // decision: the item's field
	source    string // decision: the item's source
	pos       string // decision: the item's position
	synced    map[string]any
	sink      string
	want      func(t *testing.T, s *State, out Output)
	redeliver bool // apply the step's change a second time, expecting nothing
}

func chg(c Change) *Change { return &c }

func runSteps(t *testing.T, m *Merger, steps []step) *State {
	t.Helper()
	s := NewState("contact", "c1")
	for i, st := range steps {
		var out Output
		var err error
		switch {
		case st.ch != nil:
			s, out, err = m.Apply(s, *st.ch)
		case st.decide != "":
			id := ReviewID("contact", "c1", st.field, st.source, "k1", st.pos)
			s, out, err = m.ApplyDecision(s, id, st.decide)
		case st.sink != "":
			s, err = m.MarkSynced(s, st.sink, st.synced)
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if st.want != nil {
			st.want(t, s, out)
		}
		if st.redeliver {
			again, out2, err := m.Apply(s, *st.ch)
			if err != nil {
				t.Fatalf("step %d redelivered: %v", i, err)
			}
			if !out2.Empty() {
				t.Fatalf("step %d redelivered: output %+v, want none", i, out2)
			}
			sameState(t, s, again, "redelivery")
		}
	}
	return s
}

func wantGolden(field string, v any) func(*testing.T, *State, Output) {
	return func(t *testing.T, s *State, _ Output) {
		t.Helper()
		if got := golden(s, field); !schemas.ValueEqual(got, v) {
			t.Fatalf("%s = %v (%T), want %v (%T)", field, got, got, v, v)
		}
	}
}

func wantAll(fs ...func(*testing.T, *State, Output)) func(*testing.T, *State, Output) {
	return func(t *testing.T, s *State, o Output) {
		t.Helper()
		for _, f := range fs {
			f(t, s, o)
		}
	}
}

func wantProv(field, source string, p Policy) func(*testing.T, *State, Output) {
	return func(t *testing.T, s *State, _ Output) {
		t.Helper()
		pr := s.Fields[field].Prov
		if pr.Source != source || pr.Policy != p {
			t.Fatalf("%s provenance %+v, want source %s policy %s", field, pr, source, p)
		}
	}
}

func wantReview(field string, kind HoldKind) func(*testing.T, *State, Output) {
	return func(t *testing.T, s *State, o Output) {
		t.Helper()
		if len(o.Reviews) != 1 || o.Reviews[0].Field != field || o.Reviews[0].Kind != kind {
			t.Fatalf("reviews %+v, want one %s item on %s", o.Reviews, kind, field)
		}
		if o.Delta != nil {
			for _, fc := range o.Delta.Fields {
				if fc.Field == field {
					t.Fatalf("held field %s in the delta: %+v", field, fc)
				}
			}
		}
		if _, ok := s.Pending[o.Reviews[0].ID]; !ok {
			t.Fatalf("review %s not pending in state", o.Reviews[0].ID)
		}
		if !slices.ContainsFunc(o.Events, func(e Event) bool { return e.Field == field && e.Resolution == ResolutionReview }) {
			t.Fatalf("events %+v, want a review event on %s", o.Events, field)
		}
	}
}

func wantEvent(field, resolution, winner string) func(*testing.T, *State, Output) {
	return func(t *testing.T, _ *State, o Output) {
		t.Helper()
		for _, e := range o.Events {
			if e.Field == field && e.Resolution == resolution && e.Winner == winner && e.Entity == "contact" {
				return
			}
		}
		t.Fatalf("events %+v, want %s resolved by %s, won by %s", o.Events, field, resolution, winner)
	}
}

func wantOutcome(o Outcome) func(*testing.T, *State, Output) {
	return func(t *testing.T, _ *State, out Output) {
		t.Helper()
		if out.Outcome != o {
			t.Fatalf("outcome %q, want %q", out.Outcome, o)
		}
	}
}

func wantNoDelta(t *testing.T, _ *State, o Output) {
	t.Helper()
	if o.Delta != nil {
		t.Fatalf("delta %+v, want none", o.Delta)
	}
}

func TestScenarios(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"concurrent modification in two systems is resolved by the later commit", []step{
			{ch: chg(up("app", "k1", 100, "A1", map[string]any{"phone": "+15550001"})), want: wantGolden("phone", "+15550001")},
			{ch: chg(up("crm", "k1", 200, "C1", map[string]any{"phone": "+15550002"})), redeliver: true,
				want: wantAll(wantGolden("phone", "+15550002"), wantProv("phone", "crm", LastWriterWins), wantEvent("phone", "last_writer_wins", "crm"))},
			// The app's edit committed before the CRM's arrives late: it loses.
			{ch: chg(up("app", "k1", 150, "A2", map[string]any{"phone": "+15550003"})),
				want: wantAll(wantGolden("phone", "+15550002"), wantNoDelta, wantEvent("phone", "last_writer_wins", "crm"))},
		}},
		{"an update of another field does not make a system's stale values newer", []step{
			{ch: chg(up("crm", "k1", 100, "C1", map[string]any{"phone": "+1 old", "email": "a@x.com"}))},
			{ch: chg(up("app", "k1", 200, "A1", map[string]any{"phone": "+1 new"})), want: wantGolden("phone", "+1 new")},
			// The CRM's after image carries its old phone along with the new email.
			{ch: chg(up("crm", "k1", 300, "C2", map[string]any{"phone": "+1 old", "email": "b@x.com"})),
				want: wantAll(wantGolden("phone", "+1 new"), wantProv("phone", "app", LastWriterWins), wantGolden("email", "b@x.com"))},
			{ch: chg(up("crm", "k1", 400, "C3", map[string]any{"phone": "+1 newest", "email": "b@x.com"})),
				want: wantAll(wantGolden("phone", "+1 newest"), wantProv("email", "crm", LastWriterWins), func(t *testing.T, s *State, _ Output) {
					if p := s.Fields["email"].Prov; p.Position != "C2" || p.CommitMs != 300 {
						t.Fatalf("email provenance %+v, want the change that set it (C2)", p)
					}
				})},
		}},
		{"a null a system never held does not clear the field, a null after a value does", []step{
			{ch: chg(up("app", "k1", 100, "A1", map[string]any{"phone": "+1555"}))},
			{ch: chg(up("crm", "k1", 200, "C1", map[string]any{"phone": nil})), want: wantAll(wantGolden("phone", "+1555"), wantNoDelta)},
			{ch: chg(up("crm", "k1", 300, "C2", map[string]any{"phone": "+1666"})), want: wantGolden("phone", "+1666")},
			{ch: chg(up("crm", "k1", 400, "C3", map[string]any{"phone": nil})), redeliver: true,
				want: wantAll(wantGolden("phone", nil), wantProv("phone", "crm", LastWriterWins))},
		}},
		{"at the same commit time the higher-ranked source wins", []step{
			{ch: chg(up("app", "k1", 100, "A1", map[string]any{"phone": "app"}))},
			{ch: chg(up("crm", "k1", 100, "C1", map[string]any{"phone": "crm"})), want: wantGolden("phone", "crm")},
			{ch: chg(up("app", "k1", 100, "A2", map[string]any{"phone": "app2"})), want: wantGolden("phone", "crm")},
		}},
		{"the system of record wins over a later change from another source", []step{
			{ch: chg(up("billing", "k1", 100, "B1", map[string]any{"billing_address": "1 Main St"})), want: wantGolden("billing_address", "1 Main St")},
			{ch: chg(up("crm", "k1", 500, "C1", map[string]any{"billing_address": "9 Elm St"})), redeliver: true,
				want: wantAll(wantGolden("billing_address", "1 Main St"), wantNoDelta, wantProv("billing_address", "billing", SystemOfRecord),
					wantEvent("billing_address", "system_of_record", "billing"))},
			{ch: chg(up("billing", "k1", 50, "B2", map[string]any{"billing_address": "2 Main St"})), want: wantGolden("billing_address", "2 Main St")},
		}},
		{"non-conflicting changes from two systems merge field by field", []step{
			{ch: chg(up("app", "k1", 100, "A1", map[string]any{"email": "ann@x.com", "phone": "+1555", "name": "Ann", "title": "CTO"}))},
			{sink: "crm", synced: map[string]any{"email": "ann@x.com", "phone": "+1555", "name": "Ann", "title": "CTO"}},
			{sink: "app", synced: map[string]any{"name": "Ann", "title": "CTO"}},
			{ch: chg(up("app", "k1", 200, "A2", map[string]any{"email": "ann@y.com", "name": "Ann", "title": "VP"}))},
			{ch: chg(up("crm", "k1", 210, "C1", map[string]any{"email": "ann@y.com", "phone": "+1666", "name": "Ann B", "title": "CTO"})), redeliver: true,
				want: wantAll(wantGolden("email", "ann@y.com"), wantGolden("phone", "+1666"), wantGolden("name", "Ann B"), wantGolden("title", "VP"),
					wantProv("name", "crm", ThreeWay), wantProv("title", "app", ThreeWay), wantProv("phone", "crm", LastWriterWins))},
		}},
		{"a $100 to $1 price change is held for review, then approved", []step{
			{ch: chg(up("billing", "k1", 100, "B1", map[string]any{"price": int64(100)})), want: wantGolden("price", int64(100))},
			{ch: chg(up("billing", "k1", 110, "B2", map[string]any{"price": int64(120)})), want: wantGolden("price", int64(120))},
			{ch: chg(up("billing", "k1", 200, "B3", map[string]any{"price": int64(1)})), redeliver: true,
				want: wantAll(wantGolden("price", int64(120)), wantReview("price", HoldAnomaly))},
			{decide: Approve, field: "price", source: "billing", pos: "B3",
				want: wantAll(wantGolden("price", int64(1)), wantOutcome(OutcomeApplied), wantEvent("price", ResolutionApproved, "billing"),
					func(t *testing.T, s *State, o Output) {
						if len(s.Pending) != 0 || o.Delta == nil || len(o.Delta.Fields) != 1 || !strings.Contains(s.Fields["price"].Prov.Reason, "approved in review") {
							t.Fatalf("after approval: pending %v, delta %+v, provenance %+v", s.Pending, o.Delta, s.Fields["price"].Prov)
						}
					})},
			{decide: Approve, field: "price", source: "billing", pos: "B3", want: wantAll(wantOutcome(OutcomeAlreadyDecided), wantNoDelta)},
			{decide: Reject, field: "price", source: "billing", pos: "B3", want: wantAll(wantOutcome(OutcomeAlreadyDecided), wantGolden("price", int64(1)))},
			// Redelivered after the decision: still nothing new.
			{ch: chg(up("billing", "k1", 200, "B3", map[string]any{"price": int64(1)})), want: func(t *testing.T, _ *State, o Output) {
				if !o.Empty() {
					t.Fatalf("redelivery after approval: %+v", o)
				}
			}},
		}},
		{"a $100 to $1 price change is held for review, then rejected", []step{
			{ch: chg(up("billing", "k1", 100, "B1", map[string]any{"price": big.NewRat(10000, 100)}))},
			{ch: chg(up("billing", "k1", 200, "B2", map[string]any{"price": big.NewRat(100, 100)})), want: wantReview("price", HoldAnomaly)},
			{decide: Reject, field: "price", source: "billing", pos: "B2",
				want: wantAll(wantGolden("price", big.NewRat(100, 1)), wantOutcome(OutcomeDropped), wantNoDelta, wantEvent("price", ResolutionRejected, "billing"))},
			{ch: chg(up("billing", "k1", 200, "B2", map[string]any{"price": big.NewRat(1, 1)})), want: func(t *testing.T, s *State, o Output) {
				if !o.Empty() || len(s.Pending) != 0 {
					t.Fatalf("redelivery of a rejected change: output %+v, pending %v", o, s.Pending)
				}
			}},
			{ch: chg(up("billing", "k1", 300, "B3", map[string]any{"price": big.NewRat(9500, 100)})), want: wantGolden("price", big.NewRat(95, 1))},
		}},
		{"a high-stakes bank account change is held", []step{
			{ch: chg(up("billing", "k1", 100, "B1", map[string]any{"bank_account": "DE89 3704"})), want: wantReview("bank_account", HoldHighStakes)},
			{decide: Approve, field: "bank_account", source: "billing", pos: "B1", want: wantGolden("bank_account", "DE89 3704")},
			{ch: chg(up("billing", "k1", 200, "B2", map[string]any{"bank_account": "GB29 NWBK", "billing_address": "3 Oak St"})), redeliver: true,
				want: wantAll(wantReview("bank_account", HoldHighStakes), wantGolden("bank_account", "DE89 3704"), wantGolden("billing_address", "3 Oak St"))},
			// A later change of the record supersedes the pending one.
			{ch: chg(up("billing", "k1", 300, "B3", map[string]any{"bank_account": "FR76 3000"})), want: wantReview("bank_account", HoldHighStakes)},
			{decide: Approve, field: "bank_account", source: "billing", pos: "B3", want: wantGolden("bank_account", "FR76 3000")},
			{decide: Approve, field: "bank_account", source: "billing", pos: "B2",
				want: wantAll(wantOutcome(OutcomeSuperseded), wantGolden("bank_account", "FR76 3000"), wantNoDelta)},
			// Held, then the record sends the approved value again: the held
			// change is superseded even though the value did not change.
			{ch: chg(up("billing", "k1", 400, "B4", map[string]any{"bank_account": "XX00"})), want: wantReview("bank_account", HoldHighStakes)},
			{ch: chg(up("billing", "k1", 500, "B5", map[string]any{"bank_account": "FR76 3000"})), want: wantNoDelta},
			{decide: Approve, field: "bank_account", source: "billing", pos: "B4",
				want: wantAll(wantOutcome(OutcomeSuperseded), wantGolden("bank_account", "FR76 3000"), wantNoDelta)},
		}},
		{"a true three-way conflict goes to review", []step{
			{ch: chg(up("app", "k1", 100, "A1", map[string]any{"name": "Ann"})), want: wantGolden("name", "Ann")},
			{sink: "crm", synced: map[string]any{"name": "Ann"}},
			{ch: chg(up("app", "k1", 200, "A2", map[string]any{"name": "Anne"})), want: wantAll(wantGolden("name", "Anne"), wantProv("name", "app", ThreeWay))},
			{ch: chg(up("crm", "k1", 210, "C1", map[string]any{"name": "Annie"})), redeliver: true,
				want: wantAll(wantReview("name", HoldConflict), wantGolden("name", "Anne"), func(t *testing.T, _ *State, o Output) {
					if r := o.Reviews[0]; r.Current != "Anne" || r.Value != "Annie" || !strings.Contains(r.Reason, "base Ann") {
						t.Fatalf("review %+v", r)
					}
				})},
			{decide: Approve, field: "name", source: "crm", pos: "C1", want: wantAll(wantGolden("name", "Annie"), wantProv("name", "crm", ThreeWay))},
			// The CRM echoes the value it holds: nothing changes.
			{ch: chg(up("crm", "k1", 300, "C2", map[string]any{"name": "Annie"})), want: wantNoDelta},
		}},
		{"only one side of a three-way field changed: the golden value stands", []step{
			{ch: chg(up("app", "k1", 100, "A1", map[string]any{"name": "Ann"}))},
			{sink: "crm", synced: map[string]any{"name": "Ann"}},
			{ch: chg(up("app", "k1", 200, "A2", map[string]any{"name": "Anne"}))},
			// The CRM sends its unchanged value (synced Ann) before the sink wrote Anne.
			{ch: chg(up("crm", "k1", 210, "C1", map[string]any{"name": "Ann"})), want: wantAll(wantGolden("name", "Anne"), wantNoDelta,
				func(t *testing.T, _ *State, o Output) {
					if len(o.Reviews) != 0 {
						t.Fatalf("reviews %+v", o.Reviews)
					}
				})},
		}},
		{"source priority takes the first source with a value", []step{
			{ch: chg(up("email", "k1", 300, "E1", map[string]any{"company": "Acme (email)"})), want: wantGolden("company", "Acme (email)")},
			{ch: chg(up("app", "k1", 100, "A1", map[string]any{"company": "Acme (app)"})), want: wantGolden("company", "Acme (app)")},
			{ch: chg(up("crm", "k1", 50, "C1", map[string]any{"company": nil})), want: wantGolden("company", "Acme (app)")},
			{ch: chg(up("crm", "k1", 60, "C2", map[string]any{"company": "Acme Inc"})), want: wantAll(wantGolden("company", "Acme Inc"), wantProv("company", "crm", SourcePriority))},
		}},
		{"min, max, sum and set combine the sources", []step{
			{ch: chg(up("app", "k1", 100, "A1", map[string]any{"first_seen": "2024-03-01", "lead_score": int64(40), "lifetime_value": int64(10), "tags": []any{"b", "a"}}))},
			{ch: chg(up("crm", "k1", 100, "C1", map[string]any{"first_seen": "2023-07-15", "lead_score": int32(75), "lifetime_value": int64(5), "tags": "vip"})), redeliver: true,
				want: wantAll(wantGolden("first_seen", "2023-07-15"), wantGolden("lead_score", int32(75)), wantGolden("lifetime_value", int64(15)),
					wantGolden("tags", []any{"a", "b", "vip"}), wantEvent("lead_score", "max", "crm"))},
			{ch: chg(up("crm", "k1", 200, "C2", map[string]any{"lifetime_value": int64(7)})), want: wantGolden("lifetime_value", int64(17))},
		}},
		{"deletes remove the deleted record's part of a sum and its system-of-record fields", []step{
			{ch: chg(up("app", "k1", 100, "A1", map[string]any{"lifetime_value": int64(10), "phone": "+1555", "tags": "a"}))},
			{ch: chg(up("billing", "k1", 110, "B1", map[string]any{"lifetime_value": int64(5), "billing_address": "1 Main St", "phone": "+1666", "tags": "b"}))},
			{ch: chg(del("billing", "k1", 120, "B2")), redeliver: true,
				want: wantAll(wantGolden("lifetime_value", int64(10)), wantGolden("billing_address", nil), wantGolden("phone", "+1666"), wantGolden("tags", []any{"a", "b"}),
					func(t *testing.T, _ *State, o Output) {
						if o.Delta == nil || len(o.Delta.Fields) != 2 || o.Delta.Deleted {
							t.Fatalf("delta %+v, want lifetime_value and billing_address", o.Delta)
						}
					})},
			// An update the delete overtook stays a value of a deleted record.
			{ch: chg(up("billing", "k1", 115, "B1a", map[string]any{"lifetime_value": int64(50), "billing_address": "2 Main St"})),
				want: wantAll(wantGolden("lifetime_value", int64(10)), wantGolden("billing_address", nil))},
			{ch: chg(up("billing", "k1", 130, "B3", map[string]any{"lifetime_value": int64(1), "billing_address": "3 Main St"})),
				want: wantAll(wantGolden("lifetime_value", int64(11)), wantGolden("billing_address", "3 Main St"))},
		}},
		{"required fields are reported while null", []step{
			{ch: chg(up("app", "k1", 100, "A1", map[string]any{"email": "a@x.com"})), want: func(t *testing.T, _ *State, o Output) {
				if !o.Delta.Created || !slices.Equal(o.Missing, []string{"last_name"}) {
					t.Fatalf("delta %+v missing %v", o.Delta, o.Missing)
				}
			}},
			{ch: chg(up("app", "k1", 110, "A2", map[string]any{"last_name": "Smith"})), want: func(t *testing.T, _ *State, o Output) {
				if o.Delta.Created || len(o.Missing) != 0 {
					t.Fatalf("delta %+v missing %v", o.Delta, o.Missing)
				}
			}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, newMerger(t, scenarioConfig), tt.steps)
		})
	}
}

func TestEntityDeletedWithItsLastSource(t *testing.T) {
	cfg := scenarioConfig
	cfg.DeleteWhenNoSources = true
	m := newMerger(t, cfg)
	s, _ := run(t, m, nil,
		up("app", "k1", 100, "A1", map[string]any{"phone": "+1555", "lifetime_value": int64(3)}),
		up("crm", "k1", 110, "C1", map[string]any{"email": "a@x.com"}))
	s, outs := run(t, m, s, del("app", "k1", 120, "A2"))
	if d := outs[0].Delta; d == nil || d.Deleted || golden(s, "phone") != "+1555" {
		t.Fatalf("first delete: delta %+v, golden %v", d, s.Golden())
	}
	s, outs = run(t, m, s, del("crm", "k1", 130, "C2"))
	d := outs[0].Delta
	if d == nil || !d.Deleted || !s.Deleted || s.Golden() != nil || len(d.Fields) != 2 {
		t.Fatalf("last delete: delta %+v, state deleted %v golden %v", d, s.Deleted, s.Golden())
	}
	again, outs := run(t, m, s, del("crm", "k1", 130, "C2"), up("crm", "k1", 115, "C1a", map[string]any{"email": "old@x.com"}))
	if !outs[0].Empty() || !outs[1].Empty() {
		t.Fatalf("redelivered delete / older update of a deleted entity: %+v", outs)
	}
	sameState(t, s, again, "deleted entity")
	s, outs = run(t, m, s, up("crm", "k1", 140, "C3", map[string]any{"email": "new@x.com"}))
	if d := outs[0].Delta; d == nil || !d.Created || s.Deleted || !maps1(s.Golden(), "email", "new@x.com") {
		t.Fatalf("re-created: delta %+v golden %v", d, s.Golden())
	}
}

func maps1(m map[string]any, k string, v any) bool { return len(m) == 1 && m[k] == v }

func TestEntityKeptWithoutSourcesByDefault(t *testing.T) {
	m := newMerger(t, scenarioConfig)
	s, _ := run(t, m, nil, up("app", "k1", 100, "A1", map[string]any{"phone": "+1555"}), del("app", "k1", 110, "A2"))
	if s.Deleted || golden(s, "phone") != "+1555" {
		t.Fatalf("state %s", dump(s))
	}
}

func TestApplyRejectsBadInput(t *testing.T) {
	m := newMerger(t, scenarioConfig)
	st := NewState("contact", "c1")
	tests := []struct {
		name string
		st   *State
		ch   Change
		want string
	}{
		{"a change without a position", st, up("app", "k1", 1, "", nil), "no position"},
		{"a change without a source", st, up("", "k1", 1, "A", nil), "no source"},
		{"a truncate", st, Change{Entity: "contact", Source: "app", Op: schemas.OpTruncate, Position: "A"}, `op "t"`},
		{"a change of another entity type", st, Change{Entity: "company", Source: "app", Op: schemas.OpUpdate, Position: "A"}, `entity type "company"`},
		{"a state of another entity type", NewState("company", "x"), up("app", "k1", 1, "A", nil), `state of entity type "company"`},
		{"an unsupported value type", st, up("app", "k1", 1, "A", map[string]any{"phone": struct{}{}}), "field phone: unsupported value type struct {}"},
		{"a nested array", st, up("app", "k1", 1, "A", map[string]any{"tags": []any{[]any{"x"}}}), "nested arrays"},
		{"a string for a sum", st, up("app", "k1", 1, "A", map[string]any{"lifetime_value": "10"}), "policy sum needs a number"},
		{"a nil state", nil, up("app", "k1", 1, "A", nil), "nil state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := m.Apply(tt.st, tt.ch)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, _, err := m.ApplyDecision(st, "nope", Approve); !errors.Is(err, ErrUnknownReview) {
		t.Fatalf("unknown review: %v", err)
	}
	if _, _, err := m.ApplyDecision(st, "nope", "maybe"); err == nil || !strings.Contains(err.Error(), `"maybe"`) {
		t.Fatalf("bad decision: %v", err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"an unknown policy", Config{Fields: map[string]Field{"x": {Policy: "newest"}}}, `fields.x.policy: unknown policy "newest"`},
		{"a system of record with another policy", Config{Fields: map[string]Field{"x": {Policy: Min, SystemOfRecord: "a"}}}, "fields.x.system_of_record: set, but policy is min"},
		{"policy system_of_record without a source", Config{Fields: map[string]Field{"x": {Policy: SystemOfRecord}}}, "fields.x.system_of_record: required"},
		{"a system of record not among the sources", Config{Sources: []string{"a"}, Fields: map[string]Field{"x": {SystemOfRecord: "b"}}}, `fields.x.system_of_record: source "b" is not in sources`},
		{"a source listed twice in a priority", Config{Fields: map[string]Field{"x": {SourcePriority: []string{"a", "a"}}}}, `fields.x.source_priority[1]: source "a" listed twice`},
		{"an anomaly factor of 1", Config{Fields: map[string]Field{"x": {Anomaly: &Anomaly{Factor: 1}}}}, "fields.x.anomaly.factor: 1, want a finite number greater than 1"},
		{"an anomaly check on a set", Config{Fields: map[string]Field{"x": {Policy: Set, Anomaly: &Anomaly{Factor: 2}}}}, "fields.x.anomaly: policy set"},
		{"a source listed twice", Config{Sources: []string{"a", "a"}}, `sources[1]: source "a" listed twice`},
		{"an unknown default policy", Config{Default: Field{Policy: "x"}}, "default.policy: unknown policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if _, err := New("contact", tt.cfg); err == nil || !strings.Contains(err.Error(), "entity contact: ") {
				t.Fatalf("New: %v", err)
			}
		})
	}
	if err := scenarioConfig.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultPolicyAppliesToUnnamedFields(t *testing.T) {
	m := newMerger(t, Config{Default: Field{Policy: Max}})
	s, _ := run(t, m, nil, up("a", "k", 2, "2", map[string]any{"n": int64(1)}), up("b", "k", 1, "1", map[string]any{"n": int64(9)}))
	if golden(s, "n") != int64(9) || s.Fields["n"].Prov.Policy != Max {
		t.Fatalf("state %s", dump(s))
	}
}

func TestAnomalyFactor(t *testing.T) {
	tests := []struct {
		from, to any
		want     bool
	}{
		{int64(100), int64(1), true},
		{int64(1), int64(100), true},
		{int64(100), int64(11), false},
		{int64(100), int64(10), false}, // exactly the factor is not more than it
		{float64(100), float64(9.99), true},
		{int64(0), int64(5), true},
		{int64(0), int64(0), false},
		{int64(5), int64(-5), true},
		{big.NewRat(1, 1), float32(50), true},
		{nil, int64(1), false},
		{"100", "1", false},
	}
	for _, tt := range tests {
		if got, why := anomalous(tt.from, tt.to, 10); got != tt.want {
			t.Errorf("%v -> %v: anomalous %v (%s), want %v", tt.from, tt.to, got, why, tt.want)
		}
	}
}

func TestReviewIDIsStable(t *testing.T) {
	a := ReviewID("contact", "c1", "price", "billing", "k1", "B3")
	if a != ReviewID("contact", "c1", "price", "billing", "k1", "B3") || len(a) != 32 {
		t.Fatalf("id %q", a)
	}
	for _, b := range []string{
		ReviewID("contact", "c1", "price", "billing", "k1", "B4"),
		ReviewID("contact", "c2", "price", "billing", "k1", "B3"),
		ReviewID("contact", "c1", "cost", "billing", "k1", "B3"),
		ReviewID("contact", "c1p", "rice", "billing", "k1", "B3"),
	} {
		if a == b {
			t.Fatalf("ids collide: %s", a)
		}
	}
}

func TestApplyDoesNotModifyItsInput(t *testing.T) {
	m := newMerger(t, scenarioConfig)
	s, _ := run(t, m, nil, up("app", "k1", 100, "A1", map[string]any{"phone": "+1555", "price": int64(100)}))
	before := enc(t, s)
	if _, _, err := m.Apply(s, up("crm", "k1", 200, "C1", map[string]any{"phone": "+1666", "price": int64(1)})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Apply(s, del("app", "k1", 300, "A2")); err != nil {
		t.Fatal(err)
	}
	if string(enc(t, s)) != string(before) {
		t.Fatal("Apply modified the state passed in")
	}
}

func TestCombineKeepsReviewsAndThreeWayValues(t *testing.T) {
	m := newMerger(t, scenarioConfig)
	a, _ := run(t, m, NewState("contact", "c1"), up("app", "k1", 100, "A1", map[string]any{"name": "Ann", "price": int64(100)}),
		up("app", "k1", 200, "A2", map[string]any{"price": int64(1)}))
	b, _ := run(t, m, NewState("contact", "c2"), up("crm", "k9", 300, "C1", map[string]any{"name": "Ann Smith", "phone": "+1555"}))
	if len(a.Pending) != 1 {
		t.Fatalf("pending %v", a.Pending)
	}
	s, out, err := m.Combine(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if golden(s, "name") != "Ann Smith" || golden(s, "phone") != "+1555" || golden(s, "price") != int64(100) || s.ID != "c1" {
		t.Fatalf("combined %s", dump(s))
	}
	if out.Delta == nil || len(out.Delta.Fields) != 2 || !slices.ContainsFunc(out.Events, func(e Event) bool { return e.Field == "name" && e.Winner == "crm" }) {
		t.Fatalf("output %+v", out)
	}
	for id := range a.Pending {
		s, out, err = m.ApplyDecision(s, id, Approve)
		if err != nil || out.Outcome != OutcomeApplied || golden(s, "price") != int64(1) {
			t.Fatalf("approve after combine: %+v %v %s", out, err, dump(s))
		}
	}
	if _, _, err := m.Combine(a, a); err == nil {
		t.Fatal("combined an entity with itself")
	}
}

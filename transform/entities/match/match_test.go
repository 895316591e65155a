package match_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"syncline/transform/entities/match"
	"syncline/transform/entities/match/synth"
)

// TestDuplicateDetectionQuality is the figure the README reports: pairwise
// precision and recall of the default thresholds on 20,000 generated
// records (seed 42; the weights were tuned on seed 1).
func TestDuplicateDetectionQuality(t *testing.T) {
	ds := synth.Generate(42, 20000)
	rep, err := match.Evaluate(match.DefaultConfig(), ds.Records, ds.Entity)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	for k, v := range ds.Composition {
		t.Logf("%s: %d", k, v)
	}
	if rep.Precision < 0.98 {
		t.Errorf("precision %.4f < 0.98", rep.Precision)
		for _, e := range rep.FalseMerges {
			t.Logf("false merge %.3f %q\n  %+v\n  %+v\n  %v %v", e.Candidate.Score, e.Candidate.Key, e.A, e.B, e.Candidate.Reasons, e.Candidate.Notes)
		}
	}
	if rep.Recall < 0.90 {
		t.Errorf("recall %.4f < 0.90", rep.Recall)
		for _, e := range rep.Missed {
			t.Logf("missed %.3f %s\n  %+v\n  %+v\n  %v %v", e.Candidate.Score, e.Candidate.Decision, e.A, e.B, e.Candidate.Reasons, e.Candidate.Notes)
		}
	}
	if rep.ReviewPairs == 0 || rep.ReviewTrue == 0 {
		t.Errorf("review band is empty (%d pairs, %d true): the band should catch the uncertain pairs", rep.ReviewPairs, rep.ReviewTrue)
	}
	// Blocking keeps Add from comparing with everything.
	if per := float64(rep.Stats.Comparisons) / float64(rep.Records); per > 50 {
		t.Errorf("%.1f comparisons per record: blocking is not selective", per)
	}
}

func TestCompare(t *testing.T) {
	cfg := match.DefaultConfig()
	for _, tc := range []struct {
		name string
		a, b match.Record
		want match.Decision
		key  string
	}{
		{
			name: "duplicate contacts with formatting differences are merged by the email key",
			a:    match.Record{ID: "crm/1", FirstName: "Robert", LastName: "Smith", Email: "Robert.Smith@Acme.com ", Phone: "(212) 555-0101", Company: "ACME, INC."},
			b:    match.Record{ID: "app/9", Name: "  smith,  robert ", Email: "robert.smith@acme.com", Phone: "+1 212 555 0101", Company: "Acme Incorporated"},
			want: match.Merge, key: match.KeyEmail,
		},
		{
			name: "a nickname and a typo at the same company and phone are merged",
			a:    match.Record{ID: "a", FirstName: "William", LastName: "Johnson", Phone: "212.555.0199", Company: "Northwind LLC", City: "New York"},
			b:    match.Record{ID: "b", FirstName: "Bill", LastName: "Jonhson", Phone: "1-212-555-0199", Company: "Northwind L.L.C.", City: "new york"},
			want: match.Merge, key: match.KeyPhone,
		},
		{
			name: "a nickname with a work address and the same company merges without a key",
			a:    match.Record{ID: "a", FirstName: "Elizabeth", LastName: "Moore", Email: "emoore@granite.io", Company: "Granite Labs, Inc.", City: "Denver"},
			b:    match.Record{ID: "b", FirstName: "Liz", LastName: "Moore", Email: "liz.moore77@gmail.com", Company: "Granite Labs", City: "Denver"},
			want: match.Merge,
		},
		{
			name: "two people sharing info@ are not merged",
			a:    match.Record{ID: "a", FirstName: "Alice", LastName: "Nguyen", Email: "info@acme.com", Company: "Acme Inc."},
			b:    match.Record{ID: "b", FirstName: "Brian", LastName: "Okafor", Email: "INFO@acme.com", Company: "Acme Inc."},
			want: match.Distinct,
		},
		{
			name: "family members sharing a home phone and address are distinct",
			a:    match.Record{ID: "a", FirstName: "Mary", LastName: "Garcia", Email: "mary.garcia@gmail.com", Phone: "303-555-0142", City: "Denver", PostalCode: "80205"},
			b:    match.Record{ID: "b", FirstName: "Daniel", LastName: "Garcia", Email: "dgarcia81@gmail.com", Phone: "(303) 555-0142", City: "Denver", PostalCode: "80205"},
			want: match.Distinct,
		},
		{
			name: "colleagues on one office line with similar given names are not merged by the phone key",
			a:    match.Record{ID: "a", FirstName: "Mary", LastName: "Cruz", Phone: "210-333-6556", Company: "Sterling Works"},
			b:    match.Record{ID: "b", FirstName: "Marie", LastName: "Ruiz", Phone: "(210) 333-6556", Company: "Sterling Works Corp."},
			want: match.Distinct,
		},
		{
			name: "namesakes in different cities are not merged",
			a:    match.Record{ID: "a", FirstName: "John", LastName: "Smith", Email: "john.smith@gmail.com", Phone: "617-555-0100", City: "Boston", PostalCode: "02110"},
			b:    match.Record{ID: "b", FirstName: "John", LastName: "Smith", Email: "jsmith42@yahoo.com", Phone: "303-555-0177", City: "Denver", PostalCode: "80202"},
			want: match.Distinct,
		},
		{
			name: "names alone go to review at most",
			a:    match.Record{ID: "a", FirstName: "Ines", LastName: "Kowalczyk"},
			b:    match.Record{ID: "b", FirstName: "Ines", LastName: "Kowalczyk"},
			want: match.Review,
		},
		{
			name: "a shared external id decides whatever the fields say",
			a:    match.Record{ID: "a", ExternalIDs: []string{"stripe:cus_1"}, FirstName: "Pat", LastName: "Lee"},
			b:    match.Record{ID: "b", ExternalIDs: []string{"stripe:cus_1"}, FirstName: "Patricia", LastName: "Li-Lee", Email: "p@x.org"},
			want: match.Merge, key: match.KeyExternalID,
		},
		{
			name: "missing fields do not count against a pair",
			a:    match.Record{ID: "a", FirstName: "Sven", LastName: "Larsen", Email: "sven@larsen.dk"},
			b:    match.Record{ID: "b", FirstName: "Sven", LastName: "Larsen", Email: "sven@larsen.dk", Phone: "+45 32 12 34 56", Company: "Larsen ApS", City: "Copenhagen"},
			want: match.Merge, key: match.KeyEmail,
		},
		{
			name: "plus addressing is not a key by default but scores as the same mailbox",
			a:    match.Record{ID: "a", FirstName: "Jo", LastName: "March", Email: "jo+crm@march.org", Company: "March & Co"},
			b:    match.Record{ID: "b", FirstName: "Jo", LastName: "March", Email: "jo@march.org", Company: "March and Co"},
			want: match.Merge,
		},
		{
			name: "a shared personal mailbox with different given names is not merged by the key",
			a:    match.Record{ID: "a", FirstName: "Tom", LastName: "Baker", Email: "bakerfamily@gmail.com"},
			b:    match.Record{ID: "b", FirstName: "Sarah", LastName: "Baker", Email: "bakerfamily@gmail.com"},
			want: match.Distinct,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := match.Compare(cfg, tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if c.Decision != tc.want || c.Key != tc.key {
				t.Errorf("got %s (key %q, score %.3f), want %s (key %q)\nreasons %v\nnotes %v", c.Decision, c.Key, c.Score, tc.want, tc.key, c.Reasons, c.Notes)
			}
			if c.Score < 0 || c.Score > 1 {
				t.Errorf("score %v outside [0,1]", c.Score)
			}
		})
	}
}

func TestEmailKeyOptions(t *testing.T) {
	a := match.Record{ID: "a", FirstName: "Ann", LastName: "Lee", Email: "ann.lee+news@gmail.com"}
	b := match.Record{ID: "b", FirstName: "Ann", LastName: "Lee", Email: "annlee@gmail.com"}
	cfg := match.DefaultConfig()
	if c, _ := match.Compare(cfg, a, b); c.Key != "" {
		t.Errorf("default config: key %q, want none (plus and dots are not folded)", c.Key)
	}
	cfg.PlusAddressing = true
	cfg.DotInsensitiveDomains = []string{"gmail.com"}
	if c, _ := match.Compare(cfg, a, b); c.Key != match.KeyEmail || c.Decision != match.Merge {
		t.Errorf("with plus_addressing and gmail dots folded: %s key %q, want merge by email", c.Decision, c.Key)
	}
	// Dots stay significant at a company domain.
	c, _ := match.Compare(cfg, match.Record{ID: "a", FirstName: "J", LastName: "Smith", Email: "j.smith@acme.com"},
		match.Record{ID: "b", FirstName: "J", LastName: "Smith", Email: "jsmith@acme.com"})
	if c.Key != "" {
		t.Errorf("j.smith@acme.com and jsmith@acme.com share key %q; dots are folded only for configured domains", c.Key)
	}
}

func TestIndexAdd(t *testing.T) {
	ix, err := match.NewIndex(match.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	add := func(r match.Record) []match.Candidate {
		t.Helper()
		cs, err := ix.Add(r)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	if cs := add(match.Record{ID: "crm/1", FirstName: "Margaret", LastName: "O'Brien", Email: "mobrien@harbor.com", Company: "Harbor Foods Ltd", City: "Boston"}); len(cs) != 0 {
		t.Fatalf("first record has candidates %v", cs)
	}
	add(match.Record{ID: "crm/2", FirstName: "Kevin", LastName: "Brown", Email: "kbrown@harbor.com", Company: "Harbor Foods Ltd", City: "Boston"})
	cs := add(match.Record{ID: "app/7", FirstName: "Peggy", LastName: "OBrien", Email: "peggy.obrien@gmail.com", Company: "HARBOR FOODS LIMITED", City: "boston"})
	if len(cs) == 0 || cs[0].ID != "crm/1" {
		t.Fatalf("candidates %+v, want crm/1 first", cs)
	}
	best := cs[0]
	if best.Decision != match.Merge {
		t.Errorf("Peggy O'Brien at Harbor Foods: %s %.3f, want merge; reasons %v notes %v", best.Decision, best.Score, best.Reasons, best.Notes)
	}
	fields := map[string]match.Contribution{}
	for _, r := range best.Reasons {
		fields[r.Field] = r
	}
	if fields[match.FieldFirstName].Note != "nickname" {
		t.Errorf("first name contribution %+v, want a nickname note", fields[match.FieldFirstName])
	}
	if fields[match.FieldCompany].Similarity != 1 {
		t.Errorf("company contribution %+v, want similarity 1 (legal suffix stripped)", fields[match.FieldCompany])
	}
	for _, c := range cs {
		if c.ID == "crm/2" && c.Decision != match.Distinct {
			t.Errorf("Kevin Brown: %s, want distinct", c.Decision)
		}
	}

	if _, err := ix.Add(match.Record{ID: "crm/1"}); !errors.Is(err, match.ErrDuplicateID) {
		t.Errorf("re-adding crm/1: %v, want ErrDuplicateID", err)
	}
	if _, err := ix.Add(match.Record{}); err == nil || !strings.Contains(err.Error(), "empty ID") {
		t.Errorf("empty id: %v", err)
	}
	if ix.Len() != 3 {
		t.Errorf("Len %d, want 3", ix.Len())
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		key    string
		mutate func(*match.Config)
	}{
		{"auto_merge", func(c *match.Config) { c.AutoMerge = 1.5 }},
		{"review_from", func(c *match.Config) { c.ReviewFrom = 0.9 }},
		{"weights.email", func(c *match.Config) { c.Weights.Email = -1 }},
		{"weights", func(c *match.Config) { c.Weights = match.Weights{} }},
		{"default_region", func(c *match.Config) { c.DefaultRegion = "USA" }},
		{"free_mail_domains[0]", func(c *match.Config) { c.FreeMailDomains = []string{"me@x"} }},
		{"role_local_parts[1]", func(c *match.Config) { c.RoleLocalParts = []string{"info", ""} }},
		{"max_block_scan", func(c *match.Config) { c.MaxBlockScan = 0 }},
		{"min_corroboration", func(c *match.Config) { c.MinCorroboration = 2 }},
	} {
		t.Run(tc.key, func(t *testing.T) {
			c := match.DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if !errors.Is(err, match.ErrConfig) || !strings.Contains(err.Error(), tc.key+":") {
				t.Errorf("Validate() = %v, want an ErrConfig naming %s", err, tc.key)
			}
			if _, err := match.NewIndex(c); err == nil {
				t.Error("NewIndex accepted the invalid config")
			}
		})
	}
	if err := match.DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := synth.Generate(7, 3000), synth.Generate(7, 3000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two datasets from seed 7 differ")
	}
	if c := synth.Generate(8, 3000); reflect.DeepEqual(a.Records, c.Records) {
		t.Fatal("seeds 7 and 8 gave the same records")
	}
	if len(a.Records) != 3000 || len(a.Entity) != 3000 {
		t.Fatalf("%d records, %d labels", len(a.Records), len(a.Entity))
	}
	for _, kind := range []string{"people", "duplicate records",
		"hard negative: family member (same surname, address, home phone)",
		"hard negative: colleague (same company, role mailbox, main line)",
		"hard negative: namesake (common name) in another city"} {
		if a.Composition[kind] == 0 {
			t.Errorf("no %q in the dataset", kind)
		}
	}
}

func TestEvaluateCountsPairs(t *testing.T) {
	// Three records of one person and one other: 3 true pairs.
	recs := []match.Record{
		{ID: "1", FirstName: "Ada", LastName: "Byron", Email: "ada@byron.org"},
		{ID: "2", FirstName: "Ada", LastName: "Byron", Email: "ADA@byron.org"},
		{ID: "3", FirstName: "Ada", LastName: "Byron", Email: "ada@byron.org", Phone: "+44 20 7946 0000"},
		{ID: "4", FirstName: "Charles", LastName: "Babbage", Email: "cb@engine.org"},
	}
	rep, err := match.Evaluate(match.DefaultConfig(), recs, []int{1, 1, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.TruePairs != 3 || rep.CorrectPairs != 3 || rep.PredictedPairs != 3 || rep.Precision != 1 || rep.Recall != 1 || math.Abs(rep.F1-1) > 1e-9 {
		t.Errorf("report %v", rep)
	}
	if _, err := match.Evaluate(match.DefaultConfig(), recs, []int{1}); err == nil {
		t.Error("Evaluate accepted 4 records with 1 label")
	}
}

// FuzzCompare checks that scoring never panics, stays in [0,1] and does
// not depend on the order of the two records.
func FuzzCompare(f *testing.F) {
	f.Add("Robert", "Smith", "bob@acme.com", "(212) 555-0101", "Acme Inc", "10001", "Bob", "Smiht", "BOB@ACME.COM", "+12125550101", "ACME", "10001-1234")
	f.Add("", "", "@", "+", ",", "", "é", "ß", "a@b.c", "00", "Inc.", "SW1A 1AA")
	cfg := match.DefaultConfig()
	f.Fuzz(func(t *testing.T, f1, l1, e1, p1, c1, z1, f2, l2, e2, p2, c2, z2 string) {
		a := match.Record{ID: "a", FirstName: f1, LastName: l1, Email: e1, Phone: p1, Company: c1, PostalCode: z1, City: z2}
		b := match.Record{ID: "b", FirstName: f2, LastName: l2, Email: e2, Phone: p2, Company: c2, PostalCode: z2, City: z1}
		x, err := match.Compare(cfg, a, b)
		if err != nil {
			t.Fatal(err)
		}
		y, _ := match.Compare(cfg, b, a)
		if x.Score < 0 || x.Score > 1 || math.IsNaN(x.Score) {
			t.Fatalf("score %v", x.Score)
		}
		if math.Abs(x.Score-y.Score) > 1e-9 || x.Decision != y.Decision || x.Key != y.Key {
			t.Fatalf("asymmetric: %v/%s/%q vs %v/%s/%q", x.Score, x.Decision, x.Key, y.Score, y.Decision, y.Key)
		}
	})
}

func TestRemovedRecordIsNoCandidate(t *testing.T) {
	ix, err := match.NewIndex(match.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	a := match.Record{ID: "crm/1", FirstName: "Ann", LastName: "Lee", Email: "ann.lee@acme.com"}
	if _, err := ix.Add(a); err != nil {
		t.Fatal(err)
	}
	if !ix.Remove("crm/1") || ix.Remove("crm/1") {
		t.Fatal("Remove: want true then false")
	}
	b := match.Record{ID: "app/7", FirstName: "Ann", LastName: "Lee", Email: "ann.lee@acme.com"}
	cands, err := ix.Add(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 0 || ix.Len() != 1 {
		t.Fatalf("after Remove: candidates %+v, len %d; want none, 1", cands, ix.Len())
	}
	a.Email = "ann@lee.family"
	if _, err := ix.Add(a); err != nil { // re-added with new values
		t.Fatalf("re-add after Remove: %v", err)
	}
}

func TestInsertedRecordIsACandidateOfLaterAdds(t *testing.T) {
	ix, err := match.NewIndex(match.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Insert(match.Record{ID: "crm/1", FirstName: "Ann", LastName: "Lee", Email: "ann.lee@acme.com"}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Insert(match.Record{ID: "crm/1"}); !errors.Is(err, match.ErrDuplicateID) {
		t.Fatalf("second Insert of one id: %v, want ErrDuplicateID", err)
	}
	cands, err := ix.Add(match.Record{ID: "app/7", FirstName: "Ann", LastName: "Lee", Email: "ANN.LEE@acme.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 || cands[0].ID != "crm/1" || cands[0].Decision != match.Merge || cands[0].Key != match.KeyEmail {
		t.Fatalf("candidates %+v; want crm/1 merged by email", cands)
	}
}

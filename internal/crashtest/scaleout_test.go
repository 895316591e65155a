package crashtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// scaleParams are TestScaleOut's knobs: SCALE_OPS, SCALE_DURATION,
// SCALE_SEED, SCALE_WORKDIR (keep binary, config, logs and broker data),
// SCALE_PARTITIONS, SCALE_TXN_TIMEOUT and SCALE_REPLACE.
type scaleParams struct {
	ops        int
	duration   time.Duration
	seed       uint64
	workDir    string
	partitions int
	txnTimeout string
	// replace: instead of waiting for the survivors and restarting t1,
	// start a replacement process with a new instance id (t4) right after
	// the kill, as a Deployment that replaces a pod under a new host name.
	replace bool
	// sessionTimeout is kafka.session_timeout (SCALE_SESSION_TIMEOUT).
	sessionTimeout string
	// alsoKill: transform processes killed together with t1 (a node
	// failure taking several processes), from SCALE_ALSO_KILL=t3 or t2,t3.
	alsoKill []string
}

func loadScaleParams(t *testing.T) scaleParams {
	p := scaleParams{ops: envInt("SCALE_OPS", 12000), duration: 80 * time.Second, seed: uint64(time.Now().UnixNano()), workDir: os.Getenv("SCALE_WORKDIR"),
		partitions: envInt("SCALE_PARTITIONS", 12), txnTimeout: "15s", sessionTimeout: "15s", replace: os.Getenv("SCALE_REPLACE") == "1"}
	if v := os.Getenv("SCALE_ALSO_KILL"); v != "" {
		for _, id := range strings.Split(v, ",") {
			if id != "t2" && id != "t3" {
				t.Fatalf("SCALE_ALSO_KILL: %q is not t2 or t3", id)
			}
			p.alsoKill = append(p.alsoKill, id)
		}
	}
	if v := os.Getenv("SCALE_TXN_TIMEOUT"); v != "" {
		if _, err := time.ParseDuration(v); err != nil {
			t.Fatalf("SCALE_TXN_TIMEOUT: %v", err)
		}
		p.txnTimeout = v
	}
	if v := os.Getenv("SCALE_SESSION_TIMEOUT"); v != "" {
		if _, err := time.ParseDuration(v); err != nil {
			t.Fatalf("SCALE_SESSION_TIMEOUT: %v", err)
		}
		p.sessionTimeout = v
	}
	if v := os.Getenv("SCALE_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SCALE_DURATION: %v", err)
		}
		p.duration = d
	}
	if v := os.Getenv("SCALE_SEED"); v != "" {
		if _, err := fmt.Sscan(v, &p.seed); err != nil {
			t.Fatalf("SCALE_SEED: %v", err)
		}
	}
	return p
}

// scaleProc is one `syncline run --role R --instance-id ID` process slot,
// restarted under the same id.
type scaleProc struct {
	role, id string
	port     int
	cur      *Proc
	down     bool // killed on purpose and not restarted yet
	starts   int
	since    time.Time
}

func (p *scaleProc) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path)
}

const changesGroup = "syncline-changes"

// TestScaleOut proves issue 4, "scale-out": the embedded broker runs alone
// (`syncline broker`), and the pipeline runs as separate processes over
// topics with 12 partitions: one capture process, three transform
// processes (the changes stage, one consumer group, static membership by
// instance id, a state directory each under a shared data_dir) and one
// sink process. t1 starts first and processes the snapshot on every
// partition alone; t2 and t3 join after, so t1's state directory holds a
// copy of every unit that falls behind the changelog once it gives the
// unit away. While the mixed workload of TestCrash runs:
//
//  1. the test waits until the changes group has three members sharing the
//     36 raw partitions, and until each member has committed progress on
//     its own partitions (the work really is spread);
//  2. it kills transform process t1 with SIGKILL mid-stream and waits for
//     the survivors to take its partitions over (after the session
//     timeout: static members are not removed before it) and to commit
//     progress on them, restoring their state from the changelog;
//  3. it restarts t1 ("it comes back"): the group rebalances, and t1 takes
//     partitions again with a Badger copy that is behind the changelog,
//     which must be caught up before use, and commits progress on them;
//  4. it kills t3 and restarts it at once (static membership: it takes its
//     own partitions back without a rebalance).
//
// Then it checks what a single-process run must produce, in the stronger
// form TestCrash uses: on every raw and change topic, read read_committed,
// each key has exactly the sequence of operations the generator committed
// (nothing missing, nothing duplicated, per-key order kept, positions
// strictly increasing, one partition per key, complete before images);
// the DLQ is empty; and the warehouse equals the source. Comparing with
// the committed sequence rather than with the output of a second,
// single-process run is stricter: a single-process run is itself checked
// against that same sequence by TestCrash. Change records are attributed
// to the transform process that wrote them by producer id, which shows
// each process wrote output before the kill and the survivors wrote the
// killed process's partitions after it.
//
// SCALE_OPS, SCALE_DURATION, SCALE_SEED and SCALE_WORKDIR change the run;
// SCALE_PARTITIONS (default 12) and SCALE_TXN_TIMEOUT (kafka.transaction_timeout,
// default 15s) and SCALE_SESSION_TIMEOUT (kafka.session_timeout, default 15s) the topology; SCALE_ALSO_KILL=t3 kills t3 together with t1;
// SCALE_REPLACE=1 starts a replacement with a new instance id (t4) right
// after the kill instead of steps 3 and 4 (a Deployment replacing a pod
// under a new host name; the survivors' transaction ends can time out
// during the rebalance that waits for the dead static member, and the
// stage aborts what is left open and goes on).
func TestScaleOut(t *testing.T) {
	p := loadScaleParams(t)
	t.Logf("scale-out test: %d operations over %v, %d partitions, transaction timeout %s, session timeout %s, replace %v, also killed %v, seed %d (reproduce the workload with SCALE_SEED=%d)",
		p.ops, p.duration, p.partitions, p.txnTimeout, p.sessionTimeout, p.replace, p.alsoKill, p.seed, p.seed)
	began := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, bin, srcDSN, whDSN := setUp(ctx, t, p.workDir)

	ep := freeEndpoints(t, 6)
	brokerAddr, registryURL, ports := ep.broker, ep.registryURL, ep.ports
	brokers := []string{brokerAddr}

	var mu sync.Mutex // guards events and every scaleProc's cur (read by the cleanup)
	var events []string
	var broker *Proc
	procs := []*scaleProc{
		{role: "capture", id: "cap", port: ports[0]},
		{role: "transform", id: "t1", port: ports[1]},
		{role: "transform", id: "t2", port: ports[2]},
		{role: "transform", id: "t3", port: ports[3]},
		{role: "sink", id: "s1", port: ports[4]},
		{role: "transform", id: "t4", port: ports[5]}, // SCALE_REPLACE only
	}
	byID := map[string]*scaleProc{}
	for _, sp := range procs {
		byID[sp.id] = sp
	}
	var wlStart time.Time
	event := func(format string, args ...any) {
		at := "setup"
		if !wlStart.IsZero() {
			at = fmt.Sprintf("+%v", time.Since(wlStart).Round(time.Millisecond))
		}
		s := at + ": " + fmt.Sprintf(format, args...)
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
		t.Log(s)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, sp := range procs {
			if sp.cur != nil {
				_ = sp.cur.Kill()
			}
		}
		if !t.Failed() {
			return
		}
		t.Logf("timeline:\n  %s", strings.Join(events, "\n  "))
		gctx, gcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer gcancel()
		if broker != nil && broker.Exited() == nil {
			t.Logf("consumer groups:\n%s", GroupReport(gctx, brokers, changesGroup, "syncline-sink-wh"))
		}
		if broker != nil {
			t.Logf("--- tail of %s (broker) ---\n%s", broker.LogPath, broker.Tail(30))
		}
		for _, sp := range procs {
			if sp.cur != nil {
				t.Logf("--- tail of %s (%s) ---\n%s", sp.cur.LogPath, sp.cur.Name, sp.cur.Tail(40))
			}
		}
		t.Logf("all logs are in %s", work)
	})

	b := startBroker(ctx, t, bin, work, brokerAddr, ep.registryPort, p.partitions)
	mu.Lock()
	broker = b
	mu.Unlock()

	// One config for every process; http.listen comes from the
	// environment. The processes share data_dir: the state directory
	// (state/changes/<instance id>) and the instance lock
	// (locks/<role>-<instance id>.lock) are per instance. A short
	// transaction timeout bounds how long the open transaction of a killed
	// transform process holds back the last stable offset of the
	// partitions it wrote to.
	cfgPath := filepath.Join(work, "pipeline.yaml")
	// A short session timeout bounds how long the killed process keeps its
	// partitions (static members are not removed before it).
	cfg := crashConfig("scale", work, brokerAddr, registryURL, "${SCALE_HTTP}", p.partitions,
		"transaction_timeout: "+p.txnTimeout, "session_timeout: "+p.sessionTimeout)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	start := func(sp *scaleProc) {
		t.Helper()
		sp.starts++
		log := filepath.Join(work, fmt.Sprintf("%s-%02d.log", sp.id, sp.starts))
		env := []string{"CRASH_APP_DSN=" + srcDSN, "CRASH_WH_DSN=" + whDSN, fmt.Sprintf("SCALE_HTTP=127.0.0.1:%d", sp.port)}
		pr, err := Start(fmt.Sprintf("syncline run --role %s --instance-id %s #%d", sp.role, sp.id, sp.starts), bin, work, log, env,
			"run", "--config", cfgPath, "--role", sp.role, "--instance-id", sp.id)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		sp.cur, sp.down, sp.since = pr, false, time.Now()
		mu.Unlock()
	}
	kill := func(sp *scaleProc) {
		t.Helper()
		up, pid := time.Since(sp.since), sp.cur.Pid()
		if err := sp.cur.Kill(); err != nil {
			t.Fatalf("kill %s: %v", sp.id, err)
		}
		mu.Lock()
		sp.down = true
		mu.Unlock()
		event("SIGKILL %s (pid %d, up %v)", sp.id, pid, up.Round(time.Millisecond))
	}
	// alive fails when a process that should run has exited.
	alive := func() error {
		for _, sp := range procs {
			if sp.cur != nil && !sp.down {
				if err := sp.cur.Exited(); err != nil {
					return fmt.Errorf("died on its own (not killed): %w", err)
				}
			}
		}
		return nil
	}
	// waitFor polls cond every 250 ms until it holds; it fails the test
	// after timeout or when a process dies, with cond's last description.
	waitFor := func(what string, timeout time.Duration, cond func() (bool, string)) string {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			ok, desc := cond()
			if ok {
				return desc
			}
			if err := alive(); err != nil {
				t.Fatalf("waiting for %s: %v (last: %s)", what, err, desc)
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: not after %v (last: %s)", what, timeout, desc)
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	rawTopics := make([]string, len(Tables))
	for i, spec := range Tables {
		rawTopics[i] = "syncline.raw.app.public." + spec.Name
	}
	changeTopic := func(raw string) string { return strings.Replace(raw, ".raw.", ".", 1) }
	allTPs := len(rawTopics) * p.partitions
	gq := func() (GroupMembers, map[TP]int64, error) {
		qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
		defer qcancel()
		g, err := DescribeGroup(qctx, brokers, changesGroup)
		if err != nil {
			return g, nil, err
		}
		offs, err := CommittedOffsets(qctx, brokers, changesGroup)
		return g, offs, err
	}
	// progress sums, over tps, how far the group's committed offsets moved
	// past base.
	progress := func(tps []TP, offs, base map[TP]int64) int64 {
		var n int64
		for _, tp := range tps {
			n += offs[tp] - base[tp]
		}
		return n
	}
	member := func(id string) string { return changesGroup + "-" + id }

	hist := NewHistory()
	if err := Preload(ctx, srcDSN, 200, hist); err != nil {
		t.Fatal(err)
	}
	// t1 starts alone with capture and sink and processes the snapshot on
	// every partition; t2 and t3 join after. So t1's state directory holds
	// a copy of every unit, which is behind the changelog for each unit it
	// gives away: when it comes back (3.) whatever it takes must be caught
	// up from the changelog, not trusted.
	for _, id := range []string{"cap", "s1", "t1"} {
		start(byID[id])
	}
	for _, id := range []string{"cap", "s1", "t1"} {
		if err := WaitHTTP(ctx, byID[id].cur, byID[id].url("/readyz"), 90*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if diffs, err := WaitInSync(ctx, srcDSN, whDSN, "analytics", 2*time.Minute, alive); err != nil || len(diffs) > 0 {
		t.Fatalf("initial snapshot did not reach the warehouse: %v\n%s", err, strings.Join(diffs, "\n"))
	}
	event("capture, sink and t1 up, snapshot of %d rows delivered, after %v", hist.Ops(), time.Since(began).Round(time.Millisecond))
	for _, id := range []string{"t2", "t3"} {
		start(byID[id])
	}
	for _, id := range []string{"t2", "t3"} {
		if err := WaitHTTP(ctx, byID[id].cur, byID[id].url("/readyz"), 90*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	// 1. The three transform processes share the partitions.
	var base map[TP]int64
	desc := waitFor("three transform processes sharing the raw partitions", time.Minute, func() (bool, string) {
		g, offs, err := gq()
		if err != nil {
			return false, err.Error()
		}
		base = offs
		if g.State != "Stable" || len(g.Members) != 3 || len(g.Assigned()) != allTPs {
			return false, g.String()
		}
		for _, id := range []string{"t1", "t2", "t3"} {
			if len(g.Members[member(id)]) == 0 {
				return false, g.String()
			}
		}
		return true, g.String()
	})
	event("changes group: %s", desc)

	wl := Workload{Workers: 2, Ops: p.ops, Duration: p.duration, Seed: p.seed}
	stats := &Stats{}
	wlDone := make(chan error, 1)
	wlStart = time.Now()
	go func() { wlDone <- wl.Run(ctx, srcDSN, hist, stats) }()
	var wlErr error
	wlRunning := true
	workloadRunning := func() bool {
		if !wlRunning {
			return false
		}
		select {
		case wlErr = <-wlDone:
			wlRunning = false
			if wlErr != nil {
				t.Fatalf("workload: %v", wlErr)
			}
			event("workload done: %d operations in %d transactions", hist.Ops(), hist.Txs())
		default:
		}
		return wlRunning
	}

	desc = waitFor("each transform process to commit progress on its own partitions", time.Minute, func() (bool, string) {
		workloadRunning()
		g, offs, err := gq()
		if err != nil {
			return false, err.Error()
		}
		var parts []string
		ok := time.Since(wlStart) > 6*time.Second
		for _, id := range []string{"t1", "t2", "t3"} {
			tps := g.Members[member(id)]
			n := progress(tps, offs, base)
			parts = append(parts, fmt.Sprintf("%s: %d partitions, %d records committed", id, len(tps), n))
			if n <= 0 {
				ok = false
			}
		}
		return ok && g.State == "Stable" && len(g.Members) == 3, g.String() + ": " + strings.Join(parts, "; ")
	})
	event("work spread before the kill: %s", desc)

	// 2. Kill t1 mid-stream; the survivors take its partitions over.
	if !workloadRunning() {
		t.Fatalf("the workload ended before the kill: make SCALE_DURATION longer")
	}
	victim := byID["t1"]
	gk, killOffs, err := gq()
	if err != nil {
		t.Fatal(err)
	}
	victims := []*scaleProc{victim}
	for _, id := range p.alsoKill {
		victims = append(victims, byID[id])
	}
	var victimTPs []TP // the partitions of every process killed
	for _, v := range victims {
		victimTPs = append(victimTPs, gk.Members[member(v.id)]...)
	}
	changeTopics := make([]string, len(rawTopics))
	for i, r := range rawTopics {
		changeTopics[i] = changeTopic(r)
	}
	killEnds, err := StableOffsets(ctx, brokers, changeTopics...)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	for _, v := range victims {
		kill(v)
	}
	survivors := 3 - len(victims)
	if p.replace {
		time.Sleep(500 * time.Millisecond)
		start(byID["t4"])
		if err := WaitHTTP(ctx, byID["t4"].cur, byID["t4"].url("/readyz"), 60*time.Second); err != nil {
			t.Fatal(err)
		}
		survivors++
		event("replacement t4 started")
	}
	var backlog int64
	desc = waitFor("the survivors to take over t1's partitions", 2*time.Minute, func() (bool, string) {
		workloadRunning()
		g, offs, err := gq()
		if err != nil {
			return false, err.Error()
		}
		if slices.ContainsFunc(victims, func(v *scaleProc) bool { _, ok := g.Members[member(v.id)]; return ok }) {
			// Still a member (until the session timeout): its partitions wait.
			if ends, err := StableOffsets(ctx, brokers, rawTopics...); err == nil {
				backlog = progress(victimTPs, ends, offs)
			}
			return false, fmt.Sprintf("%s; %d records waiting on t1's partitions", g, backlog)
		}
		if g.State != "Stable" || len(g.Members) != survivors || len(g.Assigned()) != allTPs {
			return false, g.String()
		}
		// A first commit is not enough: its change records may not be
		// visible below the last stable offset yet when the test reads
		// the change topics' ends, and then none would count as the
		// survivors'. A hundred records (or the whole backlog) is some
		// seconds of their work.
		n := progress(victimTPs, offs, killOffs)
		return n >= min(100, max(backlog, 1)), fmt.Sprintf("%s; %d records committed on t1's former partitions since the kill (backlog when taken over: %d)", g, n, backlog)
	})
	event("survivors took over %v after the kill: %s", time.Since(killedAt).Round(time.Millisecond), desc)

	// 3. t1 comes back, with a Badger copy behind the changelog.
	returnEnds, err := StableOffsets(ctx, brokers, changeTopics...)
	if err != nil {
		t.Fatal(err)
	}
	runningAtReturn := !p.replace && workloadRunning() && time.Since(wlStart) < p.duration-8*time.Second
	if !p.replace {
		for _, v := range victims {
			start(v)
		}
		for _, v := range victims {
			if err := WaitHTTP(ctx, v.cur, v.url("/readyz"), 60*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		var backOffs map[TP]int64
		var gBack GroupMembers
		desc = waitFor("t1 to rejoin and take partitions", time.Minute, func() (bool, string) {
			workloadRunning()
			g, offs, err := gq()
			if err != nil {
				return false, err.Error()
			}
			gBack = g
			if backOffs == nil {
				backOffs = offs
			}
			tps := g.Members[member(victim.id)]
			if g.State != "Stable" || len(g.Members) != 3 || len(g.Assigned()) != allTPs || len(tps) == 0 {
				return false, g.String()
			}
			for _, v := range victims {
				if len(g.Members[member(v.id)]) == 0 {
					return false, g.String()
				}
			}
			n := progress(tps, offs, backOffs)
			return n > 0 || !runningAtReturn, fmt.Sprintf("%s; t1 committed %d records since its return", g, n)
		})
		event("t1 is back: %s", desc)
		former := 0
		for _, tp := range gBack.Members[member(victim.id)] {
			if slices.Contains(victimTPs, tp) {
				former++
			}
		}
		event("t1 got %d of its former partitions back and %d others (it held every partition at the start: its state copy of each is behind the changelog)", former, len(gBack.Members[member(victim.id)])-former)
	}

	// 4. t3 killed and restarted at once: static membership.
	bounce := byID["t3"]
	kill(bounce)
	time.Sleep(300 * time.Millisecond)
	start(bounce)
	if err := WaitHTTP(ctx, bounce.cur, bounce.url("/readyz"), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	event("t3 restarted")

	for workloadRunning() {
		if err := alive(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	wlTime := time.Since(wlStart)
	t.Logf("workload: %d operations in %d transactions (%s)", hist.Ops(), hist.Txs(), stats)

	if diffs, err := WaitInSync(ctx, srcDSN, whDSN, "analytics", 2*time.Minute, alive); err != nil || len(diffs) > 0 {
		t.Errorf("warehouse not equal to the source after the workload (err %v):\n%s", err, strings.Join(diffs, "\n"))
	} else {
		event("warehouse equals the source")
	}
	g, _, err := gq()
	if err == nil {
		event("changes group at the end: %s", g)
	}
	for _, sp := range procs {
		if sp.cur == nil || sp.down {
			continue
		}
		if err := sp.cur.Stop(60 * time.Second); err != nil {
			t.Errorf("graceful stop of %s: %v", sp.id, err)
		}
	}

	// Validate; change records are attributed to the transform process
	// that wrote them by producer id.
	vctx, vcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer vcancel()
	want := hist.Keys()
	txnIDs := []string{member("t1"), member("t2"), member("t3")}
	if p.replace {
		txnIDs = append(txnIDs, member("t4"))
	}
	pids, err := ProducerIDs(vctx, brokers, txnIDs...)
	if err != nil {
		t.Fatal(err)
	}
	byProc := map[string]int{}      // change records by transform process
	beforeKill := map[string]int{}  // ... before the kill
	takenOver := map[string]int{}   // ... on t1's partitions after the kill, until the takeover was seen
	afterReturn := map[string]int{} // ... after t1 came back
	victimSet := map[TP]bool{}
	for _, tp := range victimTPs {
		victimSet[TP{changeTopic(tp.Topic), tp.Partition}] = true
	}
	total := validateRun(vctx, t, brokers, registryURL, srcDSN, whDSN, hist, func(_ string, isChange bool, recs []*kgo.Record) {
		if !isChange {
			return
		}
		for _, r := range recs {
			who := pids[r.ProducerID]
			if who == "" {
				who = fmt.Sprintf("producer %d", r.ProducerID)
			}
			who = strings.TrimPrefix(who, changesGroup+"-")
			tp := TP{r.Topic, r.Partition}
			byProc[who]++
			if r.Offset < killEnds[tp] {
				beforeKill[who]++
			} else if victimSet[tp] && r.Offset < returnEnds[tp] {
				takenOver[who]++
			}
			if r.Offset >= returnEnds[tp] {
				afterReturn[who]++
			}
		}
	})

	fmtCounts := func(m map[string]int) string {
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		var parts []string
		for _, k := range ks {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		return strings.Join(parts, ", ")
	}
	t.Logf("change records by transform process: %s; before the kill: %s; on t1's partitions while it was away: %s; after t1 came back: %s",
		fmtCounts(byProc), fmtCounts(beforeKill), fmtCounts(takenOver), fmtCounts(afterReturn))
	for _, id := range []string{"t1", "t2", "t3"} {
		if beforeKill[id] == 0 {
			t.Errorf("transform process %s wrote no change record before the kill: the work was not spread", id)
		}
	}
	for _, v := range victims {
		if takenOver[v.id] != 0 {
			t.Errorf("the killed processes' partitions while they were away: %s; want none by %s", fmtCounts(takenOver), v.id)
		}
	}
	if takenOver["t2"]+takenOver["t3"]+takenOver["t4"] == 0 {
		t.Errorf("the killed processes' partitions while they were away: %s; want records by the survivors", fmtCounts(takenOver))
	}
	if runningAtReturn && afterReturn["t1"] == 0 {
		t.Errorf("t1 wrote no change record after it came back")
	}
	t.Logf("scale-out figures: %v in total; workload %v; %d operations in %d transactions committed to the source (%d keys); %d topic records validated (raw + change topics)",
		time.Since(began).Round(time.Second), wlTime.Round(time.Second), hist.Ops(), hist.Txs(), len(want), total)
}

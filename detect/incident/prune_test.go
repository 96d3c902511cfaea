package incident

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kaudit/kaudit/detect"
)

func TestPruneBoundsState(t *testing.T) {
	c := New(time.Minute, nil)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		at := base.Add(time.Duration(i) * time.Second)
		c.touches["mallory"] = append(c.touches["mallory"], c.keep(Touch{Actor: "mallory", At: at, AuditID: fmt.Sprint(i)}))
		c.Add(detect.Finding{Rule: "r", AuditID: fmt.Sprint(i), User: "mallory", At: at, Time: at.Format(detect.TimeFormat), Severity: "high"})
		c.links = append(c.links, Link{From: "admin", To: "mallory", AuditID: fmt.Sprint(i), at: at})
	}
	c.touches["old"] = []touch{c.keep(Touch{Actor: "old", At: base})}
	c.Prune(Limits{Window: 10 * time.Minute, MaxFindings: 100, MaxTouchesPerActor: 50, MaxLinks: 20}, time.Time{})
	f, tc, l := c.Size()
	if f != 100 || tc != 50 || l != 20 {
		t.Fatalf("after prune: %d findings, %d touches, %d links", f, tc, l)
	}
	if _, ok := c.touches["old"]; ok {
		t.Fatal("an actor outside the window was kept")
	}
	fs := c.Findings()
	if fs[0].AuditID != "900" || fs[len(fs)-1].AuditID != "999" {
		t.Fatalf("kept findings %s..%s, want the newest", fs[0].AuditID, fs[len(fs)-1].AuditID)
	}
	if got := c.byAudit["999"]; len(got) != 1 || c.links[got[0]].AuditID != "999" {
		t.Fatal("link index not rebuilt")
	}
	if incs := c.Incidents(); len(incs) != 1 || incs[0].FindingCount != 100 {
		t.Fatalf("incidents after prune: %+v", incs)
	}
}

// One event dated far ahead (a skewed apiserver clock, a hostile client)
// must not become the correlator's "now": pruning by the window would then
// drop every real finding, and every new one, until a restart.
func TestFutureDatedEventDoesNotStopIncidents(t *testing.T) {
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	limits := Limits{Window: 2 * time.Hour, MaxFindings: 5000, MaxTouchesPerActor: 10000, MaxLinks: 10000, MaxSkew: 10 * time.Minute}
	for _, future := range []time.Time{base.Add(5 * time.Hour), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)} {
		c := New(time.Minute, nil)
		add := func(id, user string, at time.Time) {
			c.touches[user] = append(c.touches[user], c.keep(Touch{Actor: user, At: at, AuditID: id}))
			c.Add(detect.Finding{Rule: "r", AuditID: id, User: user, At: at, Time: at.Format(detect.TimeFormat), Severity: "high"})
		}
		add("before", "mallory", base)
		add("skewed", "clock", future)
		c.Prune(limits, base.Add(time.Minute))
		add("after", "mallory", base.Add(30*time.Second))
		c.Prune(limits, base.Add(2*time.Minute))
		var mallory *Incident
		for _, inc := range c.Incidents() {
			if inc.Actors[0] == "mallory" {
				mallory = &inc
			}
		}
		if mallory == nil || mallory.FindingCount != 2 {
			t.Fatalf("event dated %s: mallory's incident is %+v, want both findings", future, mallory)
		}
		if f, _, _ := c.Size(); f != 3 {
			t.Fatalf("event dated %s: %d findings held, want 3 (the skewed one too, while there is room)", future, f)
		}
	}
}

// A flood of future-dated findings goes first when a cap is reached: it
// never pushes out the real ones.
func TestFutureDatedFloodIsPrunedFirst(t *testing.T) {
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c := New(time.Minute, nil)
	for i := 0; i < 10; i++ {
		at := base.Add(time.Duration(i) * time.Second)
		c.Add(detect.Finding{Rule: "r", AuditID: fmt.Sprint("real-", i), User: "mallory", At: at, Severity: "high"})
	}
	for i := 0; i < 100; i++ {
		at := base.Add(24*time.Hour + time.Duration(i)*time.Second)
		c.Add(detect.Finding{Rule: "r", AuditID: fmt.Sprint("future-", i), User: "clock", At: at, Severity: "high"})
	}
	c.Prune(Limits{Window: 2 * time.Hour, MaxFindings: 20, MaxSkew: 10 * time.Minute}, base)
	real := 0
	for _, f := range c.Findings() {
		if f.User == "mallory" {
			real++
		}
	}
	if real != 10 {
		t.Fatalf("the cap kept %d of the 10 real findings, want all: future-dated ones go first", real)
	}
}

// Pruning keeps a busy actor's array (one at its cap fills it again before
// the next prune) and gives a quiet one that kept a few requests an array
// of their size, so that it frees the rest.
func TestPruneKeepsBusyActorsArray(t *testing.T) {
	c := New(time.Minute, nil)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		at := base.Add(time.Duration(i) * time.Millisecond)
		c.touches["busy"] = append(c.touches["busy"], c.keep(Touch{Actor: "busy", At: at, AuditID: fmt.Sprint(i)}))
	}
	for i := 0; i < 1000; i++ {
		// Old but for its last two requests: only they stay in the window.
		at := base.Add(-time.Hour)
		if i >= 998 {
			at = base.Add(time.Second)
		}
		c.touches["quiet"] = append(c.touches["quiet"], c.keep(Touch{Actor: "quiet", At: at, AuditID: fmt.Sprint(i)}))
	}
	busyCap := cap(c.touches["busy"])
	c.Prune(Limits{Window: 10 * time.Minute, MaxTouchesPerActor: 100}, time.Time{})
	if busy := c.touches["busy"]; len(busy) != 100 || cap(busy) != busyCap || c.auditID(&busy[99]) != "999" {
		t.Fatalf("busy actor: %d requests (last %s), array of %d, want the newest 100 in the array of %d", len(busy), c.auditID(&busy[len(busy)-1]), cap(busy), busyCap)
	}
	if quiet := c.touches["quiet"]; len(quiet) != 2 || cap(quiet) > 4 {
		t.Fatalf("quiet actor: %d requests in an array of %d, want 2 in one of their size", len(quiet), cap(quiet))
	}
}

// newestTouches sorts only what arrived since the last prune; what it
// keeps, and in which order, must be what a stable sort of every request
// gave: random times with many ties, some dated past the bound, the
// earlier part sorted as a prune leaves it.
func TestNewestTouchesIsTheTailOfAStableSort(t *testing.T) {
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	r := ranker{bound: base.Add(time.Hour)}
	byTime := func(a, b touch) int { return r.cmp(a.at(), b.at()) }
	rng := rand.New(rand.NewSource(1))
	c := New(0, nil)
	for round := 0; round < 200; round++ {
		n := 1 + rng.Intn(300)
		ts := make([]touch, n)
		for i := range ts {
			ts[i] = c.keep(Touch{AuditID: fmt.Sprint(i), At: base.Add(time.Duration(rng.Intn(90)) * time.Minute)})
		}
		if p := rng.Intn(n + 1); round%2 == 0 {
			slices.SortStableFunc(ts[:p], byTime) // what the last prune left
		}
		want := slices.Clone(ts)
		slices.SortStableFunc(want, byTime)
		max := 1 + rng.Intn(n)
		got, _ := c.newestTouches(slices.Clone(ts), max, r)
		if !slices.Equal(got, want[n-max:]) {
			t.Fatalf("round %d: kept %v, want %v", round, ids(c, got), ids(c, want[n-max:]))
		}
	}
}

func ids(c *Correlator, ts []touch) []string {
	var out []string
	for _, t := range ts {
		out = append(out, c.auditID(&t))
	}
	return out
}

// The merge buffer holds the arrivals of one actor at a time; after a
// prune it is kept at the size the busiest actor needed (so that actors
// of different sizes share it), and only while prunes still need it.
func TestMergeBufferFollowsThePrunes(t *testing.T) {
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c := New(0, nil)
	limits := Limits{Window: 24 * time.Hour, MaxTouchesPerActor: 100}
	// arrive gives each actor its newest 100 requests in order, then the
	// number given that arrived since, the first older than the last.
	arrive := func(arrivals map[string]int) {
		c.touches = map[string][]touch{}
		for actor, n := range arrivals {
			var ts []touch
			for i := 0; i < 100; i++ {
				ts = append(ts, c.keep(Touch{Actor: actor, AuditID: fmt.Sprint("h", i), At: base.Add(time.Duration(i) * time.Second)}))
			}
			for i := 0; i < n; i++ {
				ts = append(ts, c.keep(Touch{Actor: actor, AuditID: fmt.Sprint("n", i), At: base.Add(time.Duration(50+i) * time.Second)}))
			}
			c.touches[actor] = ts
		}
	}
	burst := 3 * minMergeBuffer
	for round := 0; round < 5; round++ { // the actors come in map order
		arrive(map[string]int{"busy": burst, "quiet": 10})
		c.Prune(limits, base.Add(10*time.Hour))
		if cap(c.merged) < burst {
			t.Fatalf("round %d: after a burst of %d arrivals the buffer holds %d", round, burst, cap(c.merged))
		}
	}
	if got := c.touches["busy"]; len(got) != 100 || c.auditID(&got[99]) != fmt.Sprint("n", burst-1) {
		t.Fatalf("kept %d requests, the last %s", len(got), c.auditID(&got[len(got)-1]))
	}
	arrive(map[string]int{"busy": 10})
	c.Prune(limits, base.Add(10*time.Hour))
	if cap(c.merged) > minMergeBuffer {
		t.Fatalf("after a prune of 10 arrivals the buffer still holds %d", cap(c.merged))
	}
}

// Pruning links keeps the newest of those inside the window in their own
// array, and indexes each kept link, and no dropped one, by its audit id.
func TestPruneLinksReindexesInPlace(t *testing.T) {
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c := New(0, nil)
	for i := 0; i < 300; i++ {
		// Two links per request; out of order in blocks of ten.
		at := base.Add(time.Duration(i/10*10+9-i%10) * time.Second)
		for _, to := range []string{"a", "b"} {
			l := Link{AuditID: fmt.Sprint("req-", i), To: to, at: at}
			c.byAudit[l.AuditID] = append(c.byAudit[l.AuditID], len(c.links))
			c.links = append(c.links, l)
		}
	}
	array := &c.links[:1][0]
	// Requests 0-49 (seconds 0-49) are before the window; the newest 200
	// links of the rest are requests 200-299.
	c.Prune(Limits{Window: time.Hour, MaxLinks: 200}, base.Add(time.Hour+50*time.Second))
	if len(c.links) != 200 || &c.links[:1][0] != array {
		t.Fatalf("kept %d links, in the same array: %v; want 200 in it", len(c.links), &c.links[:1][0] == array)
	}
	for _, l := range c.links[len(c.links):cap(c.links)] {
		if l.AuditID != "" {
			t.Fatalf("dropped link %s still held", l.AuditID)
		}
	}
	for i := 0; i < 300; i++ {
		id := fmt.Sprint("req-", i)
		idx := c.byAudit[id]
		if i < 200 {
			if len(idx) != 0 {
				t.Fatalf("%s dropped but indexed at %v", id, idx)
			}
			continue
		}
		if len(idx) != 2 || c.links[idx[0]].AuditID != id || c.links[idx[1]].AuditID != id || c.links[idx[0]].To == c.links[idx[1]].To {
			t.Fatalf("%s indexed at %v", id, idx)
		}
	}
}

// Pruning in place keeps the requests in the window in their order,
// whether nothing, the oldest or a late arrival among them falls out of
// it.
func TestPruneDropsInPlace(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		old  []int // which of the 10 requests are out of the window
	}{
		{"nothing", nil},
		{"the oldest", []int{0, 1, 2}},
		{"a late arrival", []int{6}},
		{"all", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	} {
		c := New(time.Minute, nil)
		var want []string
		for i := 0; i < 10; i++ {
			at := base.Add(time.Duration(i) * time.Second)
			if slices.Contains(tc.old, i) {
				at = base.Add(-time.Hour)
			} else {
				want = append(want, fmt.Sprint(i))
			}
			c.touches["a"] = append(c.touches["a"], c.keep(Touch{Actor: "a", At: at, AuditID: fmt.Sprint(i)}))
		}
		c.touches["busy"] = make([]touch, 0, 64) // another actor, newest in the window
		c.touches["busy"] = append(c.touches["busy"], c.keep(Touch{Actor: "busy", At: base.Add(time.Minute)}))
		c.Prune(Limits{Window: 10 * time.Minute, MaxTouchesPerActor: 100}, time.Time{})
		ts := c.touches["a"]
		var got []string
		for _, tt := range ts {
			got = append(got, c.auditID(&tt))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s out of the window: kept %v, want %v", tc.name, got, want)
		}
	}
}

// A request comes back from the correlator as it went in, whatever its
// time (before 1970, far ahead, to the nanosecond) and names.
func TestTouchesKeepTheirRequest(t *testing.T) {
	c := New(0, nil)
	for _, in := range []Touch{
		{Actor: "mallory", User: "mallory", At: time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC), AuditID: "a",
			Verb: "get", Resource: "pods", Sub: "exec", Namespace: "default", Name: "web-0", Code: 101},
		{Actor: "system:serviceaccount:ns:sa", User: "admin", At: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			AuditID: "b", Verb: "list", Resource: "secrets", Denied: true, Code: 403},
		{Actor: "old", At: time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC), AuditID: "c"},
		{Actor: "nobody"},
		{Actor: "a", AuditID: "5f0c3a1e-9b7d-4c2a-8e61-0d3b9f4a7c25"},
		{Actor: "a", AuditID: "00000000-0000-0000-0000-000000000000"},
		{Actor: "a", AuditID: "5F0C3A1E-9B7D-4C2A-8E61-0D3B9F4A7C25"}, // upper case: kept as written
		{Actor: "a", AuditID: "5f0c3a1e-9b7d-4c2a-8e61-0d3b9f4a7cg5"},
		{Actor: "a", AuditID: "5f0c3a1e9b7d-4c2a-8e61-0d3b9f4a7c25-"},
	} {
		k := c.keep(in)
		if out := c.touchOf(in.Actor, &k); out != in {
			t.Errorf("kept %+v, read back %+v", in, out)
		}
	}
}

// The name table holds the names of the requests kept: object names
// that a long run meets once each must not stay in it after their
// requests are pruned, and the requests kept must read back their own.
func TestNameTableFollowsThePrunes(t *testing.T) {
	c := New(0, nil)
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	limits := Limits{Window: time.Minute, MaxTouchesPerActor: 100}
	n := 0
	for round := 0; round < 50; round++ {
		for i := 0; i < 1000; i++ {
			at := base.Add(time.Duration(n) * time.Second)
			c.touches["ci"] = append(c.touches["ci"], c.keep(Touch{Actor: "ci", User: "ci", At: at, AuditID: fmt.Sprint(n),
				Verb: "create", Resource: "configmaps", Namespace: "build", Name: fmt.Sprint("cm-", n)}))
			n++
		}
		c.Prune(limits, base.Add(time.Duration(n)*time.Second))
		if got := len(c.names.strings); got > 2*minNames {
			t.Fatalf("round %d: the name table holds %d names for %d requests", round, got, len(c.touches["ci"]))
		}
	}
	got := c.actorTouches("ci", base, base.Add(time.Duration(n)*time.Second))
	if len(got) != 61 { // the minute before the newest, both ends in
		t.Fatalf("kept %d requests, want 61", len(got))
	}
	for _, tc := range got {
		if tc.Name != "cm-"+tc.AuditID || tc.User != "ci" || tc.Verb != "create" || tc.Namespace != "build" {
			t.Fatalf("request %s reads back as %+v", tc.AuditID, tc)
		}
	}
}

// A kept request holds no pointer, so that the collector never reads the
// correlator's requests (a long replay keeps every one of them).
func TestTouchHoldsNoPointer(t *testing.T) {
	typ := reflect.TypeFor[touch]()
	for i := 0; i < typ.NumField(); i++ {
		switch f := typ.Field(i); f.Type.Kind() {
		case reflect.Bool, reflect.Int32, reflect.Int64, reflect.Uint32, reflect.Array:
			if f.Type.Kind() == reflect.Array && f.Type.Elem().Kind() != reflect.Uint8 {
				t.Errorf("field %s is %s", f.Name, f.Type)
			}
		default:
			t.Errorf("field %s is %s, which the collector would read", f.Name, f.Type)
		}
	}
}

// Requests sort by audit id as their strings do, whether the ids are
// UUIDs kept as bytes or other strings kept in the name table.
func TestTouchesSortByAuditIDAsStrings(t *testing.T) {
	c := New(0, nil)
	rng := rand.New(rand.NewSource(1))
	var ts []touch
	for i := 0; i < 500; i++ {
		var b [16]byte
		rng.Read(b[:])
		id := formatUUID(b)
		switch i % 5 {
		case 0:
			id = strings.ToUpper(id)
		case 1:
			id = fmt.Sprint("req-", rng.Intn(1000))
		}
		ts = append(ts, c.keep(Touch{Actor: "a", AuditID: id}))
	}
	slices.SortFunc(ts, func(a, b touch) int { return c.compareIDs(&a, &b) })
	for i := 1; i < len(ts); i++ {
		if a, b := c.auditID(&ts[i-1]), c.auditID(&ts[i]); a > b {
			t.Fatalf("%s sorted before %s", a, b)
		}
	}
}

package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/kaudit/kaudit/detect"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// DefaultGap is how far apart in time two findings of one chain may be.
const DefaultGap = 30 * time.Minute

// Correlator collects findings and what it needs of all events (who touched
// what, which objects link identities) and builds incidents from them. The
// result depends only on the set of inputs, not on their arrival order:
// webhook batches and Kafka partitions arrive out of order.
type Correlator struct {
	gap      time.Duration
	findings []detect.Finding
	touches  map[string][]Touch // by actor
	links    []Link
	byAudit  map[string][]int // audit id -> indexes into links
	// Delivery is at least once (webhook retries, Kafka redelivery, a log
	// replayed with its rotated copy): a finding seen again is not counted
	// again, and a request seen again is kept but folded where touches are
	// read (actorTouches), which costs less than a set of every audit id.
	seen map[string]struct{} // findingKey of findings added
}

// New returns a Correlator joining findings no more than gap apart
// (DefaultGap when gap is zero).
func New(gap time.Duration) *Correlator {
	if gap <= 0 {
		gap = DefaultGap
	}
	return &Correlator{gap: gap, touches: map[string][]Touch{}, byAudit: map[string][]int{},
		seen: map[string]struct{}{}}
}

// Observe indexes one event. Call it for the judged stage of every request
// (once per request), findings or not.
func (c *Correlator) Observe(ev *auditv1.Event) {
	t := TouchOf(ev)
	c.touches[t.Actor] = append(c.touches[t.Actor], t)
	for _, l := range LinksOf(ev) {
		c.byAudit[l.AuditID] = append(c.byAudit[l.AuditID], len(c.links))
		c.links = append(c.links, l)
	}
}

// Add records findings and returns those it had not seen before: the same
// rule on the same stage of the same request counts once, however often the
// event was delivered.
func (c *Correlator) Add(fs ...detect.Finding) []detect.Finding {
	var added []detect.Finding
	for _, f := range fs {
		k := findingKey(&f)
		if _, dup := c.seen[k]; dup {
			continue
		}
		c.seen[k] = struct{}{}
		c.findings = append(c.findings, f)
		added = append(added, f)
	}
	return added
}

func findingKey(f *detect.Finding) string { return f.Rule + "|" + f.AuditID + "|" + f.Stage }

// Findings returns every finding added, in the order incidents use: time,
// then audit id, then rule.
func (c *Correlator) Findings() []detect.Finding {
	out := append([]detect.Finding(nil), c.findings...)
	SortFindings(out)
	return out
}

// SortFindings orders findings by time, audit id and rule, the order every
// output uses, so that output does not depend on arrival order.
func SortFindings(fs []detect.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := &fs[i], &fs[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		if a.AuditID != b.AuditID {
			return a.AuditID < b.AuditID
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Stage < b.Stage
	})
}

// TouchOf reduces an event to what the correlator keeps of it.
func TouchOf(ev *auditv1.Event) Touch {
	t := Touch{Actor: ActorOf(ev), At: detect.EventTime(ev), AuditID: string(ev.AuditID), Verb: ev.Verb, Denied: detect.IsDenied(ev)}
	if ref := ev.ObjectRef; ref != nil {
		t.Resource, t.Sub, t.Namespace, t.Name = ref.Resource, ref.Subresource, ref.Namespace, ref.Name
	}
	return t
}

// ActorOf is who an event is about: the impersonated user when there is
// one, else the authenticated user.
func ActorOf(ev *auditv1.Event) string {
	if ev.ImpersonatedUser != nil && ev.ImpersonatedUser.Username != "" {
		return ev.ImpersonatedUser.Username
	}
	return ev.User.Username
}

// sourceKey is the chaining key of an outside source: its address with its
// client. Loopback and unparsable addresses say nothing about who is behind
// them, so they never chain.
func sourceKey(f *detect.Finding) string {
	if len(f.SourceIPs) == 0 {
		return ""
	}
	a, err := netip.ParseAddr(f.SourceIPs[0])
	if err != nil || a.IsLoopback() || a.IsUnspecified() {
		return ""
	}
	return "src:" + a.String() + "|" + f.UserAgent
}

// Incidents builds the incidents from everything observed so far.
func (c *Correlator) Incidents() []Incident {
	fs := c.Findings()
	if len(fs) == 0 {
		return nil
	}
	parent := make([]int, len(fs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		ra, rb := find(a), find(b)
		if ra == rb {
			return
		}
		if ra < rb {
			parent[rb] = ra
		} else {
			parent[ra] = rb
		}
	}
	type last struct {
		at  time.Time
		idx int
	}
	seen := map[string]last{}
	for i := range fs {
		f := &fs[i]
		keys := []string{"actor:" + f.Actor()}
		if f.ImpersonatedUser != "" && f.User != f.ImpersonatedUser {
			// Whoever impersonates is the one acting: chain the requests made
			// as someone else with the impersonator's own.
			keys = append(keys, "actor:"+f.User)
		}
		if k := sourceKey(f); k != "" {
			keys = append(keys, k)
		}
		for _, li := range c.byAudit[f.AuditID] {
			keys = append(keys, "actor:"+c.links[li].To)
		}
		for _, k := range keys {
			if l, ok := seen[k]; ok && f.At.Sub(l.at) <= c.gap {
				union(i, l.idx)
			}
			seen[k] = last{at: f.At, idx: i}
		}
	}
	groups := map[int][]int{}
	var roots []int
	for i := range fs {
		r := find(i)
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], i)
	}
	out := make([]Incident, 0, len(roots))
	for _, r := range roots {
		members := make([]detect.Finding, 0, len(groups[r]))
		for _, i := range groups[r] {
			members = append(members, fs[i])
		}
		out = append(out, c.build(members))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].StartTime.Equal(out[j].StartTime) {
			return out[i].StartTime.Before(out[j].StartTime)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// build assembles one incident from its findings (in time order).
func (c *Correlator) build(fs []detect.Finding) Incident {
	first := fs[0]
	sum := sha256.Sum256([]byte(first.AuditID + "/" + first.Rule))
	inc := Incident{
		Type:       "incident",
		ID:         "inc-" + hex.EncodeToString(sum[:6]),
		StartTime:  first.At,
		EndTime:    fs[len(fs)-1].At,
		Actors:     []string{},
		SourceIPs:  []string{},
		UserAgents: []string{},
		Tactics:    []string{},
		Techniques: []Technique{},
		Findings:   []string{},
		Touched:    []Touched{},
		Links:      []Link{},
		Rules:      []string{},
	}
	inc.Start, inc.End = inc.StartTime.Format(detect.TimeFormat), inc.EndTime.Format(detect.TimeFormat)
	add := func(list *[]string, s string) {
		if s == "" {
			return
		}
		for _, x := range *list {
			if x == s {
				return
			}
		}
		*list = append(*list, s)
	}
	techSeen := map[string]bool{}
	linkSeen := map[string]bool{}
	for _, f := range fs {
		if detect.SeverityRank(f.Severity) > detect.SeverityRank(inc.Severity) {
			inc.Severity = f.Severity
		}
		add(&inc.Actors, f.Actor())
		for _, ip := range f.SourceIPs {
			add(&inc.SourceIPs, ip)
		}
		add(&inc.UserAgents, f.UserAgent)
		add(&inc.Rules, f.Rule)
		add(&inc.Findings, f.AuditID)
		inc.FindingCount++
		if !techSeen[f.TechniqueID] {
			techSeen[f.TechniqueID] = true
			inc.Techniques = append(inc.Techniques, Technique{ID: f.TechniqueID, Name: f.Technique, Tactic: f.Tactic, FirstSeen: f.Time})
		}
		for _, li := range c.byAudit[f.AuditID] {
			l := c.links[li]
			if !linkSeen[l.AuditID+l.To] {
				linkSeen[l.AuditID+l.To] = true
				inc.Links = append(inc.Links, l)
			}
		}
	}
	for _, f := range fs {
		add(&inc.Tactics, f.Tactic)
	}
	sort.SliceStable(inc.Tactics, func(i, j int) bool { return TacticRank(inc.Tactics[i]) < TacticRank(inc.Tactics[j]) })
	// Links whose event is no finding still explain how an actor got its
	// rights: keep those that reach an actor shortly before or during the span.
	for _, l := range c.links {
		if linkSeen[l.AuditID+l.To] || !slices.Contains(inc.Actors, l.To) {
			continue
		}
		if l.at.Before(inc.StartTime.Add(-c.gap)) || l.at.After(inc.EndTime) {
			continue
		}
		linkSeen[l.AuditID+l.To] = true
		inc.Links = append(inc.Links, l)
	}
	sort.SliceStable(inc.Links, func(i, j int) bool { return inc.Links[i].at.Before(inc.Links[j].at) })
	inc.Touched = c.touched(inc.Actors, inc.StartTime, inc.EndTime)
	inc.Summary = narrative(&inc, fs, c.actorTouches(primaryActor(fs), inc.StartTime, inc.EndTime))
	return inc
}

// actorTouches returns the actor's requests within [from, to], in time order.
func (c *Correlator) actorTouches(actor string, from, to time.Time) []Touch {
	var out []Touch
	for _, t := range c.touches[actor] {
		if !t.At.Before(from) && !t.At.After(to) {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].AuditID < out[j].AuditID
	})
	// A request delivered twice sorts next to itself: keep it once.
	kept := out[:0]
	for _, t := range out {
		if len(kept) > 0 && t.AuditID == kept[len(kept)-1].AuditID {
			continue
		}
		kept = append(kept, t)
	}
	return kept
}

// touched groups the actors' requests in the span by object.
func (c *Correlator) touched(actors []string, from, to time.Time) []Touched {
	var all []Touch
	for _, a := range actors {
		all = append(all, c.actorTouches(a, from, to)...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].At.Equal(all[j].At) {
			return all[i].At.Before(all[j].At)
		}
		return all[i].AuditID < all[j].AuditID
	})
	return GroupTouches(all)
}

// GroupTouches folds requests (in time order) into one entry per object,
// in the order each object was first touched.
func GroupTouches(all []Touch) []Touched {
	out := []Touched{}
	index := map[[3]string]int{}
	for _, t := range all {
		if t.Resource == "" {
			continue // non-resource requests (/openapi, /version) touch no object
		}
		res := t.Resource
		if t.Sub != "" {
			res += "/" + t.Sub
		}
		k := [3]string{res, t.Namespace, t.Name}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, Touched{Resource: res, Namespace: t.Namespace, Name: t.Name, Verbs: []string{}})
		}
		o := &out[i]
		o.Count++
		if !slices.Contains(o.Verbs, t.Verb) {
			o.Verbs = append(o.Verbs, t.Verb)
			sort.Strings(o.Verbs)
		}
	}
	return out
}

// primaryActor is the actor with the most findings (the first on a tie).
func primaryActor(fs []detect.Finding) string {
	count := map[string]int{}
	best, n := "", 0
	for _, f := range fs {
		a := f.Actor()
		count[a]++
		if count[a] > n {
			best, n = a, count[a]
		}
	}
	return best
}

// tacticOrder is the kill-chain order of the matrix's tactics.
var tacticOrder = []string{
	"Initial Access", "Execution", "Persistence", "Privilege Escalation", "Defense Evasion",
	"Credential Access", "Discovery", "Lateral Movement", "Collection", "Impact",
}

// TacticRank places a tactic in kill-chain order (unknown tactics last).
func TacticRank(t string) int {
	for i, x := range tacticOrder {
		if x == t {
			return i
		}
	}
	return len(tacticOrder)
}

package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/rulefile"
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
	tactics  []string // the order of an incident's tactics
	findings []detect.Finding
	touches  map[string][]touch // by actor
	names    names              // the strings of touches
	// namesKept is how many names the table held after its last rebuild.
	namesKept int
	links     []Link
	byAudit   map[string][]int // audit id -> indexes into links
	// created records who created each service account ("NS/NAME"): a
	// binding to an account its own writer created is an installer's
	// (a chart binding its own controller), which joins nothing.
	created map[string]creation
	// Delivery is at least once (webhook retries, Kafka redelivery, a log
	// replayed with its rotated copy): a finding seen again is not counted
	// again, and a request seen again is kept but folded where touches are
	// read (actorTouches), which costs less than a set of every audit id.
	seen map[string]struct{} // findingKey of findings added

	merged []touch // newestTouches' buffer of arrivals, kept between prunes
}

// New returns a Correlator joining findings no more than gap apart
// (DefaultGap when gap is zero), listing an incident's tactics in the order
// of tactics (the kill chain of rules/matrix.yaml: rules.Tactics).
func New(gap time.Duration, tactics []string) *Correlator {
	if gap <= 0 {
		gap = DefaultGap
	}
	return &Correlator{gap: gap, tactics: tactics, touches: map[string][]touch{}, names: newNames(), byAudit: map[string][]int{},
		seen: map[string]struct{}{}, created: map[string]creation{}}
}

// creation is who created a service account, and when.
type creation struct {
	actor string
	at    time.Time
}

// Observe indexes one event. Call it for the judged stage of every request
// (once per request), findings or not.
func (c *Correlator) Observe(ev *auditv1.Event) {
	t := TouchOf(ev)
	c.touches[t.Actor] = append(c.touches[t.Actor], c.keep(t))
	if t.Verb == "create" && t.Resource == "serviceaccounts" && t.Sub == "" && !t.Denied && t.Code < 300 && t.Name != "" {
		c.created[t.Namespace+"/"+t.Name] = creation{actor: t.Actor, at: t.At}
	}
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
	// Generic, not sort.SliceStable: a finding is a few hundred bytes, and
	// swapping them through reflection showed under load.
	slices.SortStableFunc(fs, func(a, b detect.Finding) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if c := strings.Compare(a.AuditID, b.AuditID); c != 0 {
			return c
		}
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return strings.Compare(a.Stage, b.Stage)
	})
}

// TouchOf reduces an event to what the correlator keeps of it.
func TouchOf(ev *auditv1.Event) Touch {
	t := Touch{Actor: detect.ActorOf(ev), User: ev.User.Username, At: detect.EventTime(ev), AuditID: string(ev.AuditID), Verb: ev.Verb, Denied: detect.IsDenied(ev)}
	if ev.ResponseStatus != nil {
		t.Code = int(ev.ResponseStatus.Code)
	}
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

// Incidents builds the incidents from everything observed so far. Only
// findings above info form and join incidents: an info finding (a caBundle
// rotation, a request routine for its actor) is context, listed in the
// incident of its actor that spans it, never a step of the story.
func (c *Correlator) Incidents() []Incident {
	all := c.Findings()
	chained := func(f *detect.Finding) bool {
		return rulefile.SeverityRank(f.Severity) > rulefile.SeverityRank(rulefile.SeverityInfo)
	}
	// Sized first: the live publisher calls this every few seconds on
	// thousands of findings, and growing the two lists was a third of
	// what it allocated.
	n := 0
	for i := range all {
		if chained(&all[i]) {
			n++
		}
	}
	fs, context := make([]detect.Finding, 0, n), make([]detect.Finding, 0, len(all)-n)
	for i := range all {
		if chained(&all[i]) {
			fs = append(fs, all[i])
		} else {
			context = append(context, all[i])
		}
	}
	if len(fs) == 0 {
		return nil
	}
	groups, joins := c.chain(fs)
	out := make([]Incident, 0, len(groups))
	for gi, g := range groups {
		members := make([]detect.Finding, 0, len(g))
		for _, i := range g {
			members = append(members, fs[i])
		}
		inc := c.build(members, joins[gi])
		addContext(&inc, context)
		out = append(out, inc)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].StartTime.Equal(out[j].StartTime) {
			return out[i].StartTime.Before(out[j].StartTime)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// chainKey is one key a finding chains by, and the kind of join it makes
// between two identities ("" when it joins findings of one actor only).
type chainKey struct {
	key, join string
}

// chain groups findings (in time order) into incidents: two findings
// chain when they share a key (their actor, the impersonator behind it,
// their outside source and client, an identity their request linked) and
// lie no more than gap apart. It returns the groups as indexes into fs, in
// order of their first finding, and for each group the joins of different
// identities by impersonation or a shared source, as links that say why.
func (c *Correlator) chain(fs []detect.Finding) ([][]int, map[int][]Link) {
	sets := newDisjointSets(len(fs))
	type last struct {
		at  time.Time
		idx int
	}
	seen := map[string]last{}
	type join struct {
		a, b int
		kind string
	}
	var joins []join
	for i := range fs {
		for _, k := range c.chainKeys(&fs[i]) {
			if l, ok := seen[k.key]; ok && fs[i].At.Sub(l.at) <= c.gap {
				sets.union(i, l.idx)
				if k.join != "" && fs[i].Actor() != fs[l.idx].Actor() {
					joins = append(joins, join{l.idx, i, k.join})
				}
			}
			seen[k.key] = last{at: fs[i].At, idx: i}
		}
	}
	groups := sets.groups()
	groupOf := map[int]int{}
	for gi, g := range groups {
		groupOf[sets.find(g[0])] = gi
	}
	out := map[int][]Link{}
	done := map[string]bool{}
	for _, j := range joins {
		gi := groupOf[sets.find(j.a)]
		a, b := &fs[j.a], &fs[j.b]
		k := j.kind + "|" + a.Actor() + "|" + b.Actor()
		if done[k] {
			continue
		}
		done[k] = true
		out[gi] = append(out[gi], joinLink(j.kind, a, b))
	}
	return groups, out
}

// joinLink says why two identities' findings were joined.
func joinLink(kind string, a, b *detect.Finding) Link {
	l := Link{Kind: kind, From: a.Actor(), To: b.Actor(), AuditID: b.AuditID, Time: b.Time, at: b.At}
	switch kind {
	case "source":
		l.Object = "the same source " + b.SourceIPs[0] + " and client " + detect.Client(b.UserAgent)
	case "impersonation":
		l.From, l.To = b.User, b.ImpersonatedUser
		l.Object = b.User + " acted as " + b.ImpersonatedUser
	}
	return l
}

// chainKeys are the keys a finding chains by.
func (c *Correlator) chainKeys(f *detect.Finding) []chainKey {
	keys := []chainKey{{key: "actor:" + f.Actor()}}
	if f.ImpersonatedUser != "" && f.User != f.ImpersonatedUser {
		// Whoever impersonates is the one acting: chain the requests made
		// as someone else with the impersonator's own.
		keys = append(keys, chainKey{key: "actor:" + f.User, join: "impersonation"})
	}
	if k := sourceKey(f); k != "" {
		keys = append(keys, chainKey{key: k, join: "source"})
	}
	for _, li := range c.byAudit[f.AuditID] {
		if l := &c.links[li]; !c.installs(l) {
			keys = append(keys, chainKey{key: "granted:" + l.To})
		}
	}
	if grantee(f) {
		keys = append(keys, chainKey{key: "granted:" + f.Actor()})
	}
	return keys
}

// installs reports whether a link is an installer's: a binding to a
// service account that the binding's own writer created (a chart, or a
// person applying manifests, binding the controller it deploys).
func (c *Correlator) installs(l *Link) bool {
	if l.Kind != "binding" {
		return false
	}
	ns, name, ok := detect.ServiceAccountOf(l.To)
	return ok && c.created[ns+"/"+name].actor == l.From
}

// grantee reports whether a finding can join the incident of whoever
// granted its actor rights (a binding, a token, a certificate). A service
// account acting from the cluster's own addresses is the workload it was
// installed for, doing its job: the installer's binding, made long before
// by a person or Helm, must not pull every operator it set up into one
// incident. A person, or a service account's token used from outside,
// joins.
func grantee(f *detect.Finding) bool {
	if _, _, ok := detect.ServiceAccountOf(f.Actor()); !ok {
		return true
	}
	return detect.ExternalSource(f.SourceIPs)
}

// addContext lists the info findings of the incident's actors within its
// span: what they did that the story leaves out because it is routine.
func addContext(inc *Incident, context []detect.Finding) {
	for _, f := range context {
		if f.At.Before(inc.StartTime) || f.At.After(inc.EndTime) || !slices.Contains(inc.Actors, f.Actor()) {
			continue
		}
		inc.Context = append(inc.Context, ContextFinding{Rule: f.Rule, AuditID: f.AuditID, Time: f.Time, Actor: f.Actor(), Reason: f.SeverityReason})
	}
}

// disjointSets is union-find over 0..n-1, the smaller index the root.
type disjointSets []int

func newDisjointSets(n int) disjointSets {
	d := make(disjointSets, n)
	for i := range d {
		d[i] = i
	}
	return d
}

func (d disjointSets) find(i int) int {
	for d[i] != i {
		d[i] = d[d[i]]
		i = d[i]
	}
	return i
}

func (d disjointSets) union(a, b int) {
	ra, rb := d.find(a), d.find(b)
	switch {
	case ra < rb:
		d[rb] = ra
	case rb < ra:
		d[ra] = rb
	}
}

// groups lists the sets, each in index order, in order of their smallest
// index.
func (d disjointSets) groups() [][]int {
	at := map[int]int{}
	var out [][]int
	for i := range d {
		r := d.find(i)
		g, ok := at[r]
		if !ok {
			g = len(out)
			at[r] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], i)
	}
	return out
}

// build assembles one incident from its findings (in time order) and the
// joins between its identities.
func (c *Correlator) build(fs []detect.Finding, joins []Link) Incident {
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
		Context:    []ContextFinding{},
	}
	inc.Start, inc.End = inc.StartTime.Format(detect.TimeFormat), inc.EndTime.Format(detect.TimeFormat)
	linkSeen := c.gather(&inc, fs)
	for _, f := range fs {
		addUnique(&inc.Tactics, f.Tactic)
	}
	sort.SliceStable(inc.Tactics, func(i, j int) bool { return c.tacticRank(inc.Tactics[i]) < c.tacticRank(inc.Tactics[j]) })
	c.addContextLinks(&inc, linkSeen)
	inc.Links = append(inc.Links, joins...)
	sort.SliceStable(inc.Links, func(i, j int) bool { return inc.Links[i].at.Before(inc.Links[j].at) })
	touches := c.touchesBy(inc.Actors, principals(fs), inc.StartTime, inc.EndTime)
	inc.Touched = GroupTouches(touches)
	inc.Summary = narrative(&inc, fs, touches)
	return inc
}

// gather folds the findings into the incident: severity, actors, sources,
// clients, rules, techniques and the links their requests made. It returns
// the links taken.
func (c *Correlator) gather(inc *Incident, fs []detect.Finding) map[linkKey]bool {
	techSeen := map[string]bool{}
	linkSeen := map[linkKey]bool{}
	// An incident may hold thousands of findings: a set, not a search of
	// the list, says whether a request is listed already (the search was
	// a third of rebuilding incidents under load).
	listed := make(map[string]struct{}, len(fs))
	for _, f := range fs {
		if rulefile.SeverityRank(f.Severity) > rulefile.SeverityRank(inc.Severity) {
			inc.Severity = f.Severity
		}
		addUnique(&inc.Actors, f.Actor())
		for _, ip := range f.SourceIPs {
			addUnique(&inc.SourceIPs, ip)
		}
		addUnique(&inc.UserAgents, f.UserAgent)
		addUnique(&inc.Rules, f.Rule)
		if _, ok := listed[f.AuditID]; !ok && f.AuditID != "" {
			listed[f.AuditID] = struct{}{}
			inc.Findings = append(inc.Findings, f.AuditID)
		}
		inc.FindingCount++
		if !techSeen[f.TechniqueID] {
			techSeen[f.TechniqueID] = true
			inc.Techniques = append(inc.Techniques, Technique{ID: f.TechniqueID, Name: f.Technique, Tactic: f.Tactic, FirstSeen: f.Time})
		}
		for _, li := range c.byAudit[f.AuditID] {
			l := c.links[li]
			if k := (linkKey{l.AuditID, l.To}); !linkSeen[k] {
				linkSeen[k] = true
				inc.Links = append(inc.Links, l)
			}
		}
	}
	return linkSeen
}

// linkKey names a link: the request that made it and its grantee.
type linkKey struct{ auditID, to string }

// addContextLinks adds the links whose event is no finding but which still
// explain how an actor got its rights: those that reach an actor shortly
// before or during the incident's span.
func (c *Correlator) addContextLinks(inc *Incident, linkSeen map[linkKey]bool) {
	for _, l := range c.links {
		if !slices.Contains(inc.Actors, l.To) || linkSeen[linkKey{l.AuditID, l.To}] {
			continue
		}
		if l.at.Before(inc.StartTime.Add(-c.gap)) || l.at.After(inc.EndTime) {
			continue
		}
		linkSeen[linkKey{l.AuditID, l.To}] = true
		inc.Links = append(inc.Links, l)
	}
	sort.SliceStable(inc.Links, func(i, j int) bool { return inc.Links[i].at.Before(inc.Links[j].at) })
}

// addUnique appends s to list unless it is empty or already there.
func addUnique(list *[]string, s string) {
	if s != "" && !slices.Contains(*list, s) {
		*list = append(*list, s)
	}
}

// actorTouches returns the actor's requests within [from, to], in time order.
func (c *Correlator) actorTouches(actor string, from, to time.Time) []Touch {
	var in []touch
	ts := c.touches[actor]
	for i := range ts {
		if t := &ts[i]; !t.before(from) && !t.at().After(to) {
			in = append(in, *t)
		}
	}
	byTime := func(a, b touch) int {
		if d := cmpTime(&a, &b); d != 0 {
			return d
		}
		return c.compareIDs(&a, &b)
	}
	if !slices.IsSortedFunc(in, byTime) { // pruning leaves them mostly sorted
		slices.SortStableFunc(in, byTime)
	}
	// A request delivered twice sorts next to itself: keep it once.
	out := make([]Touch, 0, len(in))
	for i := range in {
		if i > 0 && sameRequest(&in[i], &in[i-1]) {
			continue
		}
		out = append(out, c.touchOf(actor, &in[i]))
	}
	return out
}

// principals are who made the incident's findings: the authenticated
// users behind them. An identity that is an actor only because a principal
// impersonated it (a controller's account) is not one of them, and its own
// routine requests are not the incident's.
func principals(fs []detect.Finding) map[string]bool {
	out := map[string]bool{}
	for _, f := range fs {
		out[f.User] = true
	}
	return out
}

// touchesBy returns the actors' requests in [from, to] that a principal
// made, in time order: what the incident's identities touched.
func (c *Correlator) touchesBy(actors []string, principals map[string]bool, from, to time.Time) []Touch {
	var all []Touch
	for _, a := range actors {
		for _, t := range c.actorTouches(a, from, to) {
			if principals[t.User] || t.User == "" {
				all = append(all, t)
			}
		}
	}
	if len(actors) > 1 && !slices.IsSortedFunc(all, byTimeThenID) {
		// Each actor's requests are in order already.
		slices.SortStableFunc(all, byTimeThenID)
	}
	return all
}

// byTimeThenID orders requests by time, then audit id, for the slices
// package (generic: a Touch is too large to swap through reflection).
func byTimeThenID(a, b Touch) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return strings.Compare(a.AuditID, b.AuditID)
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

// tacticRank places a tactic in the order the correlator was given
// (unknown tactics last).
func (c *Correlator) tacticRank(t string) int {
	if i := slices.Index(c.tactics, t); i >= 0 {
		return i
	}
	return len(c.tactics)
}

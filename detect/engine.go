package detect

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/kaudit/kaudit/detect/rulefile"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Engine evaluates a compiled RuleSet against events. Rules are compiled
// once; each event is checked only against the rules its verb and resource
// could match. An Engine keeps sequence state and is not safe for
// concurrent use: the pipeline feeds it events one at a time, in order.
type Engine struct {
	rules      []*compiled
	byResource map[string][]int // "pods", "pods/exec", "pods/*"
	wildcard   []int
	narrowed   map[matchKey][]int // narrow's answers, by verb, resource and API group
	state      *state
	vm         vm.VM
	env        Env                  // reused for every event: the engine is serial
	grants     grantCache           // allowedBy's readings of recent reasons
	started    map[string]time.Time // long-running requests already judged at ResponseStarted
	lastPrune  time.Time
	objects    *objects         // the last version of objects whose changes rules grade
	bodies     bodyReaders      // which verbs and resources rules read the bodies of (Parse)
	writes     writes           // writes late findings are made of
	history    History          // the baseline (nil: none)
	clock      func() time.Time // the receiver's clock (time.Now)
	maxSkew    time.Duration    // how far ahead of it an event may be dated
}

// History is what detection asks of a cluster's past (package
// detect/baseline learns it): whether a request is routine for its actor,
// and what about it is new.
type History interface {
	// Assess says what the history makes of the event's request: whether
	// it is routine for its actor, and what about it is new. One call, so
	// that the request is reduced to what a history keeps once.
	Assess(ev *auditv1.Event) Assessment
	// CredentialRoutes lists the routes (SourceNetworks) a token was used
	// from.
	CredentialRoutes(credential string) []string
}

// Assessment is what a History says of one request.
type Assessment struct {
	// Routine says why the request is routine for its actor (empty when
	// IsRoutine is false).
	Routine   string
	IsRoutine bool
	// NewNetworks lists the networks of the source chain the actor was
	// never seen acting from, and NewClient whether it never used the
	// client: both only for an actor with a history.
	NewNetworks []string
	NewClient   bool
	// Known says the actor has a history.
	Known bool
}

// SetHistory gives the engine a baseline: findings of routine requests are
// downgraded to info (never dropped), and rules can read what is new.
func (e *Engine) SetHistory(h History) { e.history = h }

// matchKey is what the index narrows candidates by: the resource and its
// subresource ("pods", "exec"), the verb and the API group.
type matchKey struct{ resource, subresource, verb, group string }

// maxCacheKeys bounds the candidate caches: resource names in audit events
// come from clients (a 404 for a made-up resource is audited too), so an
// unbounded cache would let anyone grow kaudit's memory.
const maxCacheKeys = 4096

type compiled struct {
	rule             *rulefile.Rule
	cond             *vm.Program
	quick            quickTest   // cond's leading conjuncts read without the VM (quick.go), or nil
	fallback         *vm.Program // condition when the event's level is below the rule's
	msg              *vm.Program
	level            int // LevelRank of the rule's level
	verbs            map[string]bool
	groups           map[string]bool
	users            map[string]bool
	userPrefixes     []string // match.users entries ending in "*", without it
	notUsers         map[string]bool
	notUserPrefixes  []string
	inGroups         map[string]bool
	inNS             map[string]bool
	inNames          map[string]bool
	impersonatedOnly bool // match.impersonated
	externalOnly     bool // match.external_source
	objects          bool // needs request/response objects parsed
	request          bool // names the request body itself (namesRequest)
	query            bool // reads the parsed query string
	anyVerb          bool
	anyGroup         bool
	anyUser          bool
	previous         bool // reads previous or changes: the object is tracked
	changes          bool // its condition or fallback reads changes
	changesLater     bool // its message or grades read changes
	exception        []rulefile.Exception
	grades           []compiledGrade
}

// compiledGrade is a rule's grade, compiled.
type compiledGrade struct {
	when, reason *vm.Program
	severity     string
}

// NewEngine compiles every enabled rule of set. A rule that does not compile
// is an error naming its file and id.
func NewEngine(set *rulefile.RuleSet) (*Engine, error) {
	e := &Engine{
		byResource: map[string][]int{},
		narrowed:   map[matchKey][]int{},
		state:      newState(),
		started:    map[string]time.Time{},
		objects:    newObjects(),
		writes:     writes{},
		clock:      time.Now,
		maxSkew:    DefaultMaxClockSkew,
	}
	// The environment's type is given as a struct, not a pointer: expr
	// then compiles each variable to its field's index (OpLoadField), where
	// for a pointer it looks every variable up by name at run time
	// (OpLoadConst: a sync.Map and reflection for each read), a fifth of
	// the rules' instructions. Rules still run on an *Env, which expr
	// dereferences.
	opts := append([]expr.Option{expr.Env(Env{})}, objectFunctions()...)
	opts = append(opts, changeFunctions()...)
	opts = append(opts, admissionFunctions()...)
	opts = append(opts, corefileFunctions()...)
	opts = append(opts, csrFunctions()...)
	opts = append(opts, rbacFunctions()...)
	opts = append(opts, expr.Function("created_by", func(p ...any) (any, error) {
		// created_by(key): who created the object ("ServiceAccount NS/NAME"), as kaudit saw it.
		return e.writes.createdBy(str(p[0])), nil
	}, new(func(string) string)))
	opts = append(opts, e.state.functions()...)
	for _, r := range set.Rules {
		if r.Disabled {
			continue
		}
		c, err := compileRule(r, opts)
		if err != nil {
			return nil, err
		}
		if c.previous {
			groups := r.Match.APIGroups
			if len(groups) == 0 {
				groups = []string{""} // the core group
			}
			for _, res := range r.Match.Resources {
				for _, g := range groups {
					e.objects.tracked[trackKey{res, g}] = true
				}
			}
		}
		e.index(c)
	}
	return e, nil
}

// compileRule compiles a rule's expressions and its match into the sets
// and prefixes admits tests.
func compileRule(r *rulefile.Rule, opts []expr.Option) (*compiled, error) {
	c := &compiled{rule: r, objects: r.Level != rulefile.LevelMetadata, exception: r.Exceptions, level: rulefile.LevelRank(r.Level)}
	// The query string is parsed only for rules that read it (query, or
	// command, which comes from it); changes are worked out only for rules
	// that read them.
	srcs := []string{r.Condition, r.Fallback, r.Message}
	for _, g := range r.Grades {
		srcs = append(srcs, g.When, g.Reason)
		// A Metadata rule may still be graded by what a body shows, when
		// the event has one.
		if strings.Contains(g.When, "object") || strings.Contains(g.When, "change") {
			c.objects = true
		}
	}
	for i, src := range srcs {
		if strings.Contains(src, "query") || strings.Contains(src, "command") {
			c.query = true
		}
		if strings.Contains(src, "previous") || strings.Contains(src, "changes") {
			c.previous, c.objects = true, true
		}
		if strings.Contains(src, "changes") {
			if i < 2 { // the condition and the fallback
				c.changes = true
			} else {
				c.changesLater = true
			}
		}
	}
	c.request = namesRequest(srcs)
	var err error
	if c.cond, err = expr.Compile(r.Condition, append(opts, expr.AsBool())...); err != nil {
		return nil, fmt.Errorf("rules %s: rule %s: condition: %w", r.Source, r.ID, err)
	}
	c.quick = compileQuick(r.Condition)
	if strings.TrimSpace(r.Fallback) != "" {
		if c.fallback, err = expr.Compile(r.Fallback, append(opts, expr.AsBool())...); err != nil {
			return nil, fmt.Errorf("rules %s: rule %s: fallback: %w", r.Source, r.ID, err)
		}
	}
	if strings.TrimSpace(r.Message) != "" {
		if c.msg, err = expr.Compile(r.Message, opts...); err != nil {
			return nil, fmt.Errorf("rules %s: rule %s: message: %w", r.Source, r.ID, err)
		}
	}
	for i, g := range r.Grades {
		cg := compiledGrade{severity: g.Severity}
		if cg.when, err = expr.Compile(g.When, append(opts, expr.AsBool())...); err != nil {
			return nil, fmt.Errorf("rules %s: rule %s: grade %d: %w", r.Source, r.ID, i+1, err)
		}
		if cg.reason, err = expr.Compile(g.Reason, opts...); err != nil {
			return nil, fmt.Errorf("rules %s: rule %s: grade %d reason: %w", r.Source, r.ID, i+1, err)
		}
		c.grades = append(c.grades, cg)
	}
	c.compileMatch(&r.Match)
	return c, nil
}

func (c *compiled) compileMatch(m *rulefile.Match) {
	c.verbs, c.anyVerb = stringSet(m.Verbs)
	c.groups, c.anyGroup = stringSet(m.APIGroups)
	c.users, c.anyUser = stringSet(m.Users)
	for _, u := range m.Users {
		if len(u) > 1 && strings.HasSuffix(u, "*") {
			c.userPrefixes = append(c.userPrefixes, strings.TrimSuffix(u, "*"))
		}
	}
	for _, u := range m.NotUsers {
		if strings.HasSuffix(u, "*") {
			c.notUserPrefixes = append(c.notUserPrefixes, strings.TrimSuffix(u, "*"))
			continue
		}
		if c.notUsers == nil {
			c.notUsers = map[string]bool{}
		}
		c.notUsers[u] = true
	}
	if len(m.Groups) > 0 {
		c.inGroups, _ = stringSet(m.Groups)
	}
	if len(m.Namespaces) > 0 {
		c.inNS, _ = stringSet(m.Namespaces)
	}
	if len(m.Names) > 0 {
		c.inNames, _ = stringSet(m.Names)
	}
	c.impersonatedOnly, c.externalOnly = m.Impersonated, m.ExternalSource
}

// index files a compiled rule under the resources it matches ("*" when it
// names none).
func (e *Engine) index(c *compiled) {
	idx := len(e.rules)
	e.rules = append(e.rules, c)
	res := c.rule.Match.Resources
	if len(res) == 0 {
		res = []string{"*"}
	}
	for _, k := range res {
		if k == "*" {
			e.wildcard = append(e.wildcard, idx)
			continue
		}
		e.byResource[k] = append(e.byResource[k], idx)
	}
}

// stringSet turns a match list into a set; matchesAll is true when the
// list is empty or holds "*", so that the engine skips the lookup.
func stringSet(list []string) (set map[string]bool, matchesAll bool) {
	if len(list) == 0 {
		return nil, true
	}
	set = make(map[string]bool, len(list))
	for _, s := range list {
		if s == "*" {
			matchesAll = true
		}
		set[s] = true
	}
	return set, matchesAll
}

// SetClock sets the receiver's clock and the skew allowed ahead of it
// (ingest.max_clock_skew; DefaultMaxClockSkew unless set). An event dated
// further ahead is judged all the same (rules see clock_skewed and
// ahead_seconds), but windows and pruning take the clock's time as its
// time, so that it cannot move the engine's "now" into the future.
func (e *Engine) SetClock(now func() time.Time, maxSkew time.Duration) {
	if now == nil {
		now = time.Now
	}
	e.clock, e.maxSkew = now, max(maxSkew, 0)
}

// Rules returns the number of enabled rules.
func (e *Engine) Rules() int { return len(e.rules) }

// matchKeyOf is the caches' key of a request of verb on ref. The
// subresource stands apart: joined to the resource, as the index names it,
// it was an allocation for every request on one (pods/status, nodes/proxy)
// before the caches were even read.
func matchKeyOf(ref *auditv1.ObjectReference, verb string) matchKey {
	k := matchKey{verb: verb}
	if ref != nil {
		k.resource, k.subresource, k.group = ref.Resource, ref.Subresource, ref.APIGroup
	}
	return k
}

// narrow returns, in rule order, the rules whose resource, verb and API
// group filters all admit a request of verb on ref: exact
// "resource/subresource", "resource/*", and "*". It reads the compiled
// index only, so that Parse may call it from many goroutines.
func (e *Engine) narrow(ref *auditv1.ObjectReference, verb string) []int {
	k := matchKeyOf(ref, verb)
	res := k.resource // as the index names it: "resource/subresource"
	if k.subresource != "" {
		res += "/" + k.subresource
	}
	var c []int
	c = append(c, e.byResource[res]...)
	if ref != nil && ref.Resource != "" {
		c = append(c, e.byResource[ref.Resource+"/*"]...)
	}
	c = append(c, e.wildcard...)
	sort.Ints(c)
	out := c[:0]
	for _, i := range c {
		r := e.rules[i]
		if (r.anyVerb || r.verbs[verb]) && (r.anyGroup || r.groups[k.group]) {
			out = append(out, i)
		}
	}
	return out
}

// matching is narrow, remembered per verb, resource and group: the
// per-event loop then visits only rules the event could match, however
// large the library is.
func (e *Engine) matching(ref *auditv1.ObjectReference, verb string) []int {
	k := matchKeyOf(ref, verb)
	if c, ok := e.narrowed[k]; ok {
		return c
	}
	out := e.narrow(ref, verb)
	if len(e.narrowed) >= maxCacheKeys {
		e.narrowed = map[matchKey][]int{}
	}
	e.narrowed[k] = out
	return out
}

// Candidates returns how many rules the index hands an event to: those
// whose resource, verb and API group filters admit it. It shows that an
// event's cost follows the rules it could match, not the library's size.
func (e *Engine) Candidates(ev *auditv1.Event) int { return len(e.matching(ev.ObjectRef, ev.Verb)) }

// userMatches applies match.users, exact names and "prefix*" entries.
func (c *compiled) userMatches(user string) bool {
	if c.anyUser || c.users[user] {
		return true
	}
	for _, p := range c.userPrefixes {
		if strings.HasPrefix(user, p) {
			return true
		}
	}
	return false
}

// admits applies the rest of the match, in Go and before any expression
// runs: rules that watch every resource (new sources, impersonation,
// anonymous access) cost a few comparisons on the events they cannot match.
func (c *compiled) admits(ev *auditv1.Event) bool {
	u := ev.User.Username
	if !c.userMatches(u) || c.notUsers[u] {
		return false
	}
	for _, p := range c.notUserPrefixes {
		if strings.HasPrefix(u, p) {
			return false
		}
	}
	if c.inGroups != nil {
		groups := ev.User.Groups
		if iu := ev.ImpersonatedUser; iu != nil && iu.Username != "" {
			groups = iu.Groups
		}
		if !containsAny(c.inGroups, groups) {
			return false
		}
	}
	if c.inNS != nil || c.inNames != nil {
		var ns, name string
		if ev.ObjectRef != nil {
			ns, name = ev.ObjectRef.Namespace, ev.ObjectRef.Name
		}
		if c.inNS != nil && !c.inNS[ns] || c.inNames != nil && !c.inNames[name] {
			return false
		}
	}
	if c.impersonatedOnly && (ev.ImpersonatedUser == nil || ev.ImpersonatedUser.Username == "") {
		return false
	}
	if c.externalOnly && !ExternalSource(ev.SourceIPs) {
		return false
	}
	return true
}

// containsAny reports whether any of have is in the set want.
func containsAny(want map[string]bool, have []string) bool {
	for _, h := range have {
		if want[h] {
			return true
		}
	}
	return false
}

// ExternalSource reports whether any address of a source chain is outside
// private, loopback and link-local space (unparsable ones count as outside).
func ExternalSource(ips []string) bool {
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return true
		}
		a = a.Unmap()
		if !(a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()) {
			return true
		}
	}
	return false
}

// judged reports whether detection runs on this stage of the request
// (Judgeable), and remembers long-running requests judged when their
// response started, so that their completion is not judged again.
// now is the event's time as pruning uses it (Skew.Now).
func (e *Engine) judged(ev *auditv1.Event, now time.Time) bool {
	if !Judgeable(ev) {
		return false
	}
	if !IsLongRunning(ev) {
		return true
	}
	id := string(ev.AuditID)
	if ev.Stage == auditv1.StageResponseStarted {
		e.started[id] = now
		return true
	}
	if _, ok := e.started[id]; ok {
		delete(e.started, id)
		return false
	}
	return true
}

// pruneStarted forgets long-running requests whose completion never came,
// so memory stays bounded on a live stream.
func (e *Engine) pruneStarted(now time.Time) {
	if now.Sub(e.lastPrune) < time.Minute {
		return
	}
	e.lastPrune = now
	for id, t := range e.started {
		if now.Sub(t) > 24*time.Hour || t.After(now.Add(e.maxSkew)) {
			delete(e.started, id)
		}
	}
}

// Evaluate runs the rules on one event and returns its findings (nil for
// most events). location is where the event came from. judged is false for
// the stages of a request that detection skips (RequestReceived, and the
// second stage of a request already judged): each request counts once.
//
// Time is the event's own, bounded by the receiver's clock (SetClock): an
// event dated beyond the allowed skew is judged with the clock's time as
// its time for windows and pruning (Skew).
func (e *Engine) Evaluate(ev *auditv1.Event, location string) (findings []Finding, judged bool, err error) {
	return e.EvaluateParsed(ev, nil, location)
}

// EvaluateParsed is Evaluate with the event's bodies parsed beforehand by
// Parse (nil: parsed here, when a rule reads them).
func (e *Engine) EvaluateParsed(ev *auditv1.Event, parsed *Parsed, location string) (findings []Finding, judged bool, err error) {
	skew := SkewOf(EventTime(ev), e.clock(), e.maxSkew)
	if !e.judged(ev, skew.Now) {
		return nil, false, nil
	}
	cands := e.matching(ev.ObjectRef, ev.Verb)
	tracked, written := e.objects.tracks(ev), writeKey(ev.ObjectRef) != ""
	if len(cands) == 0 && !tracked && !written {
		// Nothing to run and nothing to remember. The versions of graded
		// objects and the writes are remembered whether or not a rule
		// runs on the write; else, with rules that all name what they
		// match (the built-in set has some that match every request), an
		// update would be graded against nothing.
		return nil, true, nil
	}
	now := skew.Now
	e.pruneStarted(now)
	e.state.prune(now)
	j := judgement{ev: ev, parsed: parsed, now: now, skew: skew, level: rulefile.LevelRank(string(ev.Level)), location: location}
	var errs []error
	for _, i := range cands {
		f, err := e.evaluateRule(e.rules[i], &j)
		if err != nil {
			// One rule failing at run time (a type it did not expect) must
			// cost neither the event nor the other rules' findings.
			errs = append(errs, fmt.Errorf("rule %s on event %s: %w", e.rules[i].rule.ID, ev.AuditID, err))
			continue
		}
		if f != nil {
			findings = append(findings, *f)
		}
	}
	if tracked || written {
		if j.env == nil {
			e.metaEnv(&j) // no rule read it: the bookkeeping reads metadata and bodies only
		}
		if tracked {
			if showsVersion(ev.Verb) {
				j.env.loadObjects(ev, false)
			}
			e.objects.remember(ev, j.env)
		}
		e.writes.remember(ev, j.env, location)
	}
	return findings, true, errors.Join(errs...)
}

// judgement is one event being judged: the environment rules read is
// filled on the first rule that gets past the cheap filters.
type judgement struct {
	ev       *auditv1.Event
	parsed   *Parsed // the event's bodies parsed beforehand (Parse), or nil
	env      *Env
	now      time.Time // the event's time, bounded by the receiver's clock
	skew     Skew
	level    int // LevelRank of the event's level
	location string
}

// evaluateRule runs one candidate rule on the event: its finding when it
// fires, else nil. Most candidates do not fire, and a finding returned by
// value (a few hundred bytes) was cleared and copied for each of them.
func (e *Engine) evaluateRule(c *compiled, j *judgement) (*Finding, error) {
	ev := j.ev
	if !c.admits(ev) {
		return nil, nil
	}
	// An event recorded below the level the rule needs cannot show what the
	// condition looks for: the rule's metadata fallback judges it, or
	// nothing does. An event without a level is judged in full.
	cond, sev, degraded := c.cond, c.rule.Severity, false
	if j.level != 0 && j.level < c.level || c.level > 1 && !hasBody(ev) {
		// No body to judge: logged below the rule's level, or refused
		// before the apiserver kept one (a 403 carries none).
		if c.fallback == nil {
			return nil, nil
		}
		cond, sev, degraded = c.fallback, c.rule.FallbackSeverity, true
	}
	env := e.envOf(j)
	// Exceptions read metadata only: judge them before parsing objects, so
	// the cluster's own bulk writes (bootstrap roles) cost no parse.
	if exempt(c.exception, env) {
		return nil, nil
	}
	if !degraded && c.quick != nil && !c.quick(env) {
		return nil, nil // a leading conjunct is false: so is the condition
	}
	if c.objects {
		env.loadObjects(ev, c.request)
	}
	if c.query {
		env.loadQuery()
	}
	if c.previous {
		env.loadPrevious(ev, e.objects)
	}
	if c.changes {
		env.loadChanges(ev)
	}
	// Sequence functions use the event's own time.
	e.state.now = j.now
	res, err := e.vm.Run(cond, env)
	if err != nil {
		return nil, err
	}
	if fired, _ := res.(bool); !fired {
		return nil, nil
	}
	if env.Denied {
		if sev = c.rule.DeniedSeverity; sev == rulefile.SeverityNone {
			return nil, nil
		}
	}
	if c.changesLater {
		env.loadChanges(ev)
	}
	msg := e.message(c, j, degraded)
	f := newFinding(c.rule, env, ev, sev, msg, j.location)
	if c.rule.ReportOn != "" {
		var ok bool
		if f, ok = e.lateFinding(c, env, ev, f, sev, msg); !ok {
			return nil, nil
		}
	}
	if err := e.grade(c, env, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// grade applies the rule's first grade that holds, then the baseline: a
// routine request's finding is kept at info, saying why.
func (e *Engine) grade(c *compiled, env *Env, f *Finding) error {
	for _, g := range c.grades {
		res, err := e.vm.Run(g.when, env)
		if err != nil {
			return fmt.Errorf("grade: %w", err)
		}
		if ok, _ := res.(bool); !ok {
			continue
		}
		why := ""
		if r, err := e.vm.Run(g.reason, env); err == nil {
			why = fmt.Sprint(r)
		}
		f.regrade(g.severity, why)
		break
	}
	if writeVerbs[env.Verb] && env.Subresource == "" && env.Failed && !env.Denied && rulefile.SeverityRank(f.Severity) > rulefile.SeverityRank(rulefile.SeverityLow) {
		// A write of an object that failed (409 already exists, 422
		// invalid) changed nothing: the attempt is told, at low. Actions
		// through subresources (exec, attach, the kubelet's proxy) are
		// intent whatever the kubelet answered, and keep their severity.
		f.regrade(rulefile.SeverityLow, fmt.Sprintf("the request failed (%d): nothing changed", env.Code))
	}
	if env.Routine != "" && c.rule.Baselined && f.Severity != rulefile.SeverityInfo {
		f.regrade(rulefile.SeverityInfo, env.Routine)
		f.Routine = true
	}
	return nil
}

// envOf fills the event's environment once, for every rule that reads it.
func (e *Engine) envOf(j *judgement) *Env {
	if j.env == nil {
		e.metaEnv(j)
		j.env.ClockSkewed = j.skew.Skewed
		j.env.AheadSeconds = max(int(j.skew.Ahead/time.Second), 0)
		e.fillHistory(j.env, j.ev)
		j.env.AllowedByAge = -1
		if w, ok := e.writes[j.env.AllowedBy]; ok {
			j.env.AllowedByAge = j.now.Sub(w.At).Seconds()
		}
	}
	return j.env
}

// metaEnv makes the engine's environment the event's: its metadata, and
// its bodies as parsed beforehand. envOf adds what rules read beyond them.
func (e *Engine) metaEnv(j *judgement) {
	j.env = &e.env
	fillEnv(j.env, j.ev, &e.grants)
	j.env.parsed = j.parsed
}

// message words a finding of c; a rule judged by its fallback says what
// the event did not show.
func (e *Engine) message(c *compiled, j *judgement, degraded bool) string {
	msg := c.rule.Title
	if c.msg != nil {
		if m, err := e.vm.Run(c.msg, j.env); err == nil {
			msg = fmt.Sprint(m)
		}
	}
	if degraded {
		if j.level != 0 && j.level < c.level {
			msg += " (recorded at audit level " + string(j.ev.Level) + "; the rule needs " + c.rule.Level + " to see more)"
		} else {
			msg += " (its body was not recorded, as for every refused request)"
		}
	}
	return msg
}

// lateFinding turns the finding of a request into one about the write
// that made it possible: the binding that allowed it (report_on: binding)
// or the creation of its object (report_on: object), with the request as
// the evidence. Bindings the apiserver bootstraps, and writes whose body the
// rules already judged, make none.
func (e *Engine) lateFinding(c *compiled, env *Env, ev *auditv1.Event, f Finding, sev, msg string) (Finding, bool) {
	key := env.AllowedBy
	if c.rule.ReportOn == "object" {
		key = writeKey(ev.ObjectRef)
	}
	w, ok := e.writes[key]
	if !ok || w.judged || w.User == "system:apiserver" {
		return f, false
	}
	late := w.Finding
	late.setRule(c.rule, sev, msg)
	late.EvidenceAuditID, late.EvidenceTime = f.AuditID, f.Time
	return late, true
}

// writeVerbs are the verbs that change objects.
var writeVerbs = map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}

// fillHistory sets what the baseline says of the event.
func (e *Engine) fillHistory(env *Env, ev *auditv1.Event) {
	if e.history == nil {
		return
	}
	a := e.history.Assess(ev)
	if a.IsRoutine {
		env.Routine = a.Routine
	}
	env.NewNetworks, env.NewClient, env.HasHistory = a.NewNetworks, a.NewClient, a.Known
	if env.Credential != "" {
		env.CredentialRoutes = e.history.CredentialRoutes(env.Credential)
	}
}

// exempt reports whether any exception matches the event.
func exempt(list []rulefile.Exception, env *Env) bool {
	for i := range list {
		if exceptionMatches(&list[i], env) {
			return true
		}
	}
	return false
}

func exceptionMatches(x *rulefile.Exception, env *Env) bool {
	if len(x.Users) > 0 && !slices.Contains(x.Users, env.User) && !slices.Contains(x.Users, env.Actor) {
		return false
	}
	// Groups are the actor's: under impersonation, the impersonated groups
	// are the ones the cluster authorized the request with.
	groups := env.Groups
	if env.ImpersonatedUser != "" {
		groups = env.ImpersonatedGrps
	}
	if len(x.Groups) > 0 && !sharesAny(x.Groups, groups) {
		return false
	}
	if len(x.Namespaces) > 0 && !slices.Contains(x.Namespaces, env.Namespace) {
		return false
	}
	if len(x.Names) > 0 && !slices.Contains(x.Names, env.Name) {
		return false
	}
	if len(x.UserAgents) > 0 {
		ok := false
		for _, p := range x.UserAgents {
			if strings.HasPrefix(env.UserAgent, p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(x.Networks()) > 0 {
		// Every address of the chain must be inside: a forwarded chain that
		// leaves the expected networks anywhere is not exempt.
		if len(env.SourceIPs) == 0 {
			return false
		}
		for _, ip := range env.SourceIPs {
			a, err := netip.ParseAddr(ip)
			if err != nil || !inAny(x.Networks(), a.Unmap()) {
				return false
			}
		}
	}
	return true
}

// sharesAny reports whether any of have is in want.
func sharesAny(want, have []string) bool {
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}

// inAny reports whether a lies in any of nets.
func inAny(nets []netip.Prefix, a netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

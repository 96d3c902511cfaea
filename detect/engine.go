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
	candidates map[string][]int   // cache of merged lists per resource key
	narrowed   map[matchKey][]int // cache of candidates filtered by verb and API group
	state      *state
	vm         vm.VM
	env        Env                  // reused for every event: the engine is serial
	started    map[string]time.Time // long-running requests already judged at ResponseStarted
	lastPrune  time.Time
	clock      func() time.Time // the receiver's clock (time.Now)
	maxSkew    time.Duration    // how far ahead of it an event may be dated
}

// matchKey is what the index narrows candidates by: the resource key
// ("pods", "pods/exec"), the verb and the API group.
type matchKey struct{ resource, verb, group string }

// maxCacheKeys bounds the candidate caches: resource names in audit events
// come from clients (a 404 for a made-up resource is audited too), so an
// unbounded cache would let anyone grow kaudit's memory.
const maxCacheKeys = 4096

type compiled struct {
	rule             *rulefile.Rule
	cond             *vm.Program
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
	query            bool // reads the parsed query string
	anyVerb          bool
	anyGroup         bool
	anyUser          bool
	exception        []rulefile.Exception
}

// NewEngine compiles every enabled rule of set. A rule that does not compile
// is an error naming its file and id.
func NewEngine(set *rulefile.RuleSet) (*Engine, error) {
	e := &Engine{
		byResource: map[string][]int{},
		candidates: map[string][]int{},
		narrowed:   map[matchKey][]int{},
		state:      newState(),
		started:    map[string]time.Time{},
		clock:      time.Now,
		maxSkew:    DefaultMaxClockSkew,
	}
	opts := append([]expr.Option{expr.Env(&Env{})}, objectFunctions()...)
	opts = append(opts, e.state.functions()...)
	for _, r := range set.Rules {
		if r.Disabled {
			continue
		}
		c, err := compileRule(r, opts)
		if err != nil {
			return nil, err
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
	// command, which comes from it).
	for _, src := range []string{r.Condition, r.Fallback, r.Message} {
		if strings.Contains(src, "query") || strings.Contains(src, "command") {
			c.query = true
		}
	}
	var err error
	if c.cond, err = expr.Compile(r.Condition, append(opts, expr.AsBool())...); err != nil {
		return nil, fmt.Errorf("rules %s: rule %s: condition: %w", r.Source, r.ID, err)
	}
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

// candidatesFor returns, in rule order, the rules whose resource filter
// admits the event: exact "resource/subresource", "resource/*", and "*".
func (e *Engine) candidatesFor(ref *auditv1.ObjectReference) []int {
	key := ""
	res := ""
	if ref != nil {
		res = ref.Resource
		key = res
		if ref.Subresource != "" {
			key = res + "/" + ref.Subresource
		}
	}
	if c, ok := e.candidates[key]; ok {
		return c
	}
	if len(e.candidates) >= maxCacheKeys {
		e.candidates = map[string][]int{}
	}
	var c []int
	c = append(c, e.byResource[key]...)
	if res != "" {
		c = append(c, e.byResource[res+"/*"]...)
	}
	c = append(c, e.wildcard...)
	sort.Ints(c)
	e.candidates[key] = c
	return c
}

// matching returns, in rule order, the rules whose resource, verb and API
// group filters all admit the event: the per-event loop then visits only
// rules the event could match, however large the library is.
func (e *Engine) matching(ref *auditv1.ObjectReference, verb string) []int {
	k := matchKey{verb: verb}
	if ref != nil {
		k.resource, k.group = ref.Resource, ref.APIGroup
		if ref.Subresource != "" {
			k.resource += "/" + ref.Subresource
		}
	}
	if c, ok := e.narrowed[k]; ok {
		return c
	}
	var out []int
	for _, i := range e.candidatesFor(ref) {
		c := e.rules[i]
		if (c.anyVerb || c.verbs[verb]) && (c.anyGroup || c.groups[k.group]) {
			out = append(out, i)
		}
	}
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
	if c.externalOnly && !externalSource(ev.SourceIPs) {
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

// externalSource reports whether any address of a source chain is outside
// private, loopback and link-local space (unparsable ones count as outside).
func externalSource(ips []string) bool {
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
	skew := SkewOf(EventTime(ev), e.clock(), e.maxSkew)
	if !e.judged(ev, skew.Now) {
		return nil, false, nil
	}
	cands := e.matching(ev.ObjectRef, ev.Verb)
	if len(cands) == 0 {
		return nil, true, nil
	}
	now := skew.Now
	e.pruneStarted(now)
	e.state.prune(now)
	j := judgement{ev: ev, now: now, skew: skew, level: rulefile.LevelRank(string(ev.Level)), location: location}
	var errs []error
	for _, i := range cands {
		f, ok, err := e.evaluateRule(e.rules[i], &j)
		if err != nil {
			// One rule failing at run time (a type it did not expect) must
			// cost neither the event nor the other rules' findings.
			errs = append(errs, fmt.Errorf("rule %s on event %s: %w", e.rules[i].rule.ID, ev.AuditID, err))
			continue
		}
		if ok {
			findings = append(findings, f)
		}
	}
	return findings, true, errors.Join(errs...)
}

// judgement is one event being judged: the environment rules read is
// filled on the first rule that gets past the cheap filters.
type judgement struct {
	ev       *auditv1.Event
	env      *Env
	now      time.Time // the event's time, bounded by the receiver's clock
	skew     Skew
	level    int // LevelRank of the event's level
	location string
}

// evaluateRule runs one candidate rule on the event; ok is true when it
// fires.
func (e *Engine) evaluateRule(c *compiled, j *judgement) (f Finding, ok bool, err error) {
	ev := j.ev
	if !c.admits(ev) {
		return f, false, nil
	}
	// An event recorded below the level the rule needs cannot show what the
	// condition looks for: the rule's metadata fallback judges it, or
	// nothing does. An event without a level is judged in full.
	cond, sev, degraded := c.cond, c.rule.Severity, false
	if j.level != 0 && j.level < c.level {
		if c.fallback == nil {
			return f, false, nil
		}
		cond, sev, degraded = c.fallback, c.rule.FallbackSeverity, true
	}
	if j.env == nil {
		j.env = &e.env
		fillEnv(j.env, ev)
		j.env.ClockSkewed = j.skew.Skewed
		j.env.AheadSeconds = max(int(j.skew.Ahead/time.Second), 0)
	}
	env := j.env
	// Exceptions read metadata only: judge them before parsing objects, so
	// the cluster's own bulk writes (bootstrap roles) cost no parse.
	if exempt(c.exception, env) {
		return f, false, nil
	}
	if c.objects {
		env.loadObjects(ev)
	}
	if c.query {
		env.loadQuery()
	}
	// Sequence functions use the event's own time.
	e.state.now = j.now
	res, err := e.vm.Run(cond, env)
	if err != nil {
		return f, false, err
	}
	if fired, _ := res.(bool); !fired {
		return f, false, nil
	}
	if env.Denied {
		if sev = c.rule.DeniedSeverity; sev == rulefile.SeverityNone {
			return f, false, nil
		}
	}
	msg := c.rule.Title
	if c.msg != nil {
		if m, err := e.vm.Run(c.msg, env); err == nil {
			msg = fmt.Sprint(m)
		}
	}
	if degraded {
		msg += " (recorded at audit level " + string(ev.Level) + "; the rule needs " + c.rule.Level + " to see more)"
	}
	return newFinding(c.rule, env, ev, sev, msg, j.location), true, nil
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

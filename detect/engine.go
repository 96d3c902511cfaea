package detect

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
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
}

// matchKey is what the index narrows candidates by: the resource key
// ("pods", "pods/exec"), the verb and the API group.
type matchKey struct{ resource, verb, group string }

// maxCacheKeys bounds the candidate caches: resource names in audit events
// come from clients (a 404 for a made-up resource is audited too), so an
// unbounded cache would let anyone grow kaudit's memory.
const maxCacheKeys = 4096

type compiled struct {
	rule      *Rule
	cond      *vm.Program
	fallback  *vm.Program // condition when the event's level is below the rule's
	msg       *vm.Program
	level     int // LevelRank of the rule's level
	verbs     map[string]bool
	groups    map[string]bool
	users     map[string]bool
	userPfx   []string // match.users entries ending in "*", without it
	notUsers  map[string]bool
	notPfx    []string
	inGroups  map[string]bool
	inNS      map[string]bool
	inNames   map[string]bool
	imperson  bool // match.impersonated
	external  bool // match.external_source
	objects   bool // needs request/response objects parsed
	query     bool // reads the parsed query string
	anyVerb   bool
	anyGroup  bool
	anyUser   bool
	exception []Exception
}

// NewEngine compiles every enabled rule of set. A rule that does not compile
// is an error naming its file and id.
func NewEngine(set *RuleSet) (*Engine, error) {
	e := &Engine{
		byResource: map[string][]int{},
		candidates: map[string][]int{},
		narrowed:   map[matchKey][]int{},
		state:      newState(),
		started:    map[string]time.Time{},
	}
	opts := append([]expr.Option{expr.Env(&Env{})}, objectFunctions()...)
	opts = append(opts, e.state.functions()...)
	for _, r := range set.Rules {
		if r.Disabled {
			continue
		}
		c := &compiled{rule: r, objects: r.Level != LevelMetadata, exception: r.Exceptions, level: LevelRank(r.Level)}
		// The query string is parsed only for rules that read it (query,
		// or command, which comes from it).
		for _, src := range []string{r.Condition, r.Fallback, r.Message} {
			if strings.Contains(src, "query") || strings.Contains(src, "command") {
				c.query = true
			}
		}
		var err error
		c.cond, err = expr.Compile(r.Condition, append(opts, expr.AsBool())...)
		if err != nil {
			return nil, fmt.Errorf("rules %s: rule %s: condition: %w", r.Source, r.ID, err)
		}
		if strings.TrimSpace(r.Fallback) != "" {
			c.fallback, err = expr.Compile(r.Fallback, append(opts, expr.AsBool())...)
			if err != nil {
				return nil, fmt.Errorf("rules %s: rule %s: fallback: %w", r.Source, r.ID, err)
			}
		}
		if strings.TrimSpace(r.Message) != "" {
			c.msg, err = expr.Compile(r.Message, opts...)
			if err != nil {
				return nil, fmt.Errorf("rules %s: rule %s: message: %w", r.Source, r.ID, err)
			}
		}
		c.verbs, c.anyVerb = set2(r.Match.Verbs)
		c.groups, c.anyGroup = set2(r.Match.APIGroups)
		c.users, c.anyUser = set2(r.Match.Users)
		for _, u := range r.Match.Users {
			if len(u) > 1 && strings.HasSuffix(u, "*") {
				c.userPfx = append(c.userPfx, strings.TrimSuffix(u, "*"))
			}
		}
		for _, u := range r.Match.NotUsers {
			if strings.HasSuffix(u, "*") {
				c.notPfx = append(c.notPfx, strings.TrimSuffix(u, "*"))
			} else {
				if c.notUsers == nil {
					c.notUsers = map[string]bool{}
				}
				c.notUsers[u] = true
			}
		}
		if len(r.Match.Groups) > 0 {
			c.inGroups, _ = set2(r.Match.Groups)
		}
		if len(r.Match.Namespaces) > 0 {
			c.inNS, _ = set2(r.Match.Namespaces)
		}
		if len(r.Match.Names) > 0 {
			c.inNames, _ = set2(r.Match.Names)
		}
		c.imperson, c.external = r.Match.Impersonated, r.Match.ExternalSource
		idx := len(e.rules)
		e.rules = append(e.rules, c)
		res := r.Match.Resources
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
	return e, nil
}

func set2(list []string) (map[string]bool, bool) {
	if len(list) == 0 {
		return nil, true
	}
	m := make(map[string]bool, len(list))
	any := false
	for _, s := range list {
		if s == "*" {
			any = true
		}
		m[s] = true
	}
	return m, any
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
	for _, p := range c.userPfx {
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
	for _, p := range c.notPfx {
		if strings.HasPrefix(u, p) {
			return false
		}
	}
	if c.inGroups != nil {
		groups := ev.User.Groups
		if iu := ev.ImpersonatedUser; iu != nil && iu.Username != "" {
			groups = iu.Groups
		}
		if !anyIn2(c.inGroups, groups) {
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
	if c.imperson && (ev.ImpersonatedUser == nil || ev.ImpersonatedUser.Username == "") {
		return false
	}
	if c.external && !externalSource(ev.SourceIPs) {
		return false
	}
	return true
}

func anyIn2(want map[string]bool, have []string) bool {
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

// Judged reports whether detection runs on this stage of the request:
// once per request, on ResponseComplete or Panic, or on ResponseStarted
// for long-running requests whose completion may come much later.
func (e *Engine) judged(ev *auditv1.Event) bool {
	switch ev.Stage {
	case auditv1.StageResponseStarted:
		if !IsLongRunning(ev) {
			return false
		}
		e.started[string(ev.AuditID)] = EventTime(ev)
		return true
	case auditv1.StageResponseComplete, auditv1.StagePanic:
		if IsLongRunning(ev) {
			if _, ok := e.started[string(ev.AuditID)]; ok {
				delete(e.started, string(ev.AuditID))
				return false
			}
		}
		return true
	}
	return false
}

// IsLongRunning reports whether a request may run for a long time after its
// response started: watches and the streaming pod subresources.
func IsLongRunning(ev *auditv1.Event) bool {
	if ev.Verb == "watch" {
		return true
	}
	if ev.ObjectRef != nil {
		switch ev.ObjectRef.Subresource {
		case "exec", "attach", "portforward", "proxy":
			return true
		}
	}
	return false
}

// pruneStarted forgets long-running requests whose completion never came,
// so memory stays bounded on a live stream.
func (e *Engine) pruneStarted(now time.Time) {
	if now.Sub(e.lastPrune) < time.Minute {
		return
	}
	e.lastPrune = now
	for id, t := range e.started {
		if now.Sub(t) > 24*time.Hour {
			delete(e.started, id)
		}
	}
}

// Evaluate runs the rules on one event and returns its findings (nil for
// most events). location is where the event came from. judged is false for
// the stages of a request that detection skips (RequestReceived, and the
// second stage of a request already judged): each request counts once.
func (e *Engine) Evaluate(ev *auditv1.Event, location string) (findings []Finding, judged bool, err error) {
	if !e.judged(ev) {
		return nil, false, nil
	}
	cands := e.matching(ev.ObjectRef, ev.Verb)
	if len(cands) == 0 {
		return nil, true, nil
	}
	now := EventTime(ev)
	if now.After(e.state.now) {
		e.state.now = now
	}
	e.pruneStarted(now)
	e.state.prune(now)
	var env *Env
	var out []Finding
	evLevel := LevelRank(string(ev.Level))
	for _, i := range cands {
		c := e.rules[i]
		if !c.admits(ev) {
			continue
		}
		// An event recorded below the level the rule needs cannot show what
		// the condition looks for: the rule's metadata fallback judges it,
		// or nothing does. An event without a level is judged in full.
		cond, sev, degraded := c.cond, c.rule.Severity, false
		if evLevel != 0 && evLevel < c.level {
			if c.fallback == nil {
				continue
			}
			cond, sev, degraded = c.fallback, c.rule.FallbackSeverity, true
		}
		if env == nil {
			env = &e.env
			fillEnv(env, ev)
		}
		// Exceptions read metadata only: judge them before parsing objects,
		// so the cluster's own bulk writes (bootstrap roles) cost no parse.
		if exempt(c.exception, env) {
			continue
		}
		if c.objects {
			env.loadObjects(ev)
		}
		if c.query {
			env.loadQuery()
		}
		// Sequence functions use the event's own time.
		e.state.now = now
		res, err := e.vm.Run(cond, env)
		if err != nil {
			return out, true, fmt.Errorf("rule %s on event %s: %w", c.rule.ID, ev.AuditID, err)
		}
		if ok, _ := res.(bool); !ok {
			continue
		}
		if env.Denied {
			sev = c.rule.DeniedSeverity
			if sev == SeverityNone {
				continue
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
		out = append(out, newFinding(c.rule, env, ev, sev, msg, location))
	}
	return out, true, nil
}

// exempt reports whether any exception matches the event.
func exempt(list []Exception, env *Env) bool {
	for i := range list {
		if list[i].matches(env) {
			return true
		}
	}
	return false
}

func (x *Exception) matches(env *Env) bool {
	if len(x.Users) > 0 && !slices.Contains(x.Users, env.User) && !slices.Contains(x.Users, env.Actor) {
		return false
	}
	// Groups are the actor's: under impersonation, the impersonated groups
	// are the ones the cluster authorized the request with.
	groups := env.Groups
	if env.ImpersonatedUser != "" {
		groups = env.ImpersonatedGrps
	}
	if len(x.Groups) > 0 && !anyIn(x.Groups, groups) {
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
	if len(x.networks) > 0 {
		// Every address of the chain must be inside: a forwarded chain that
		// leaves the expected networks anywhere is not exempt.
		if len(env.SourceIPs) == 0 {
			return false
		}
		for _, ip := range env.SourceIPs {
			a, err := netip.ParseAddr(ip)
			if err != nil || !inAny(x.networks, a.Unmap()) {
				return false
			}
		}
	}
	return true
}

func anyIn(want, have []string) bool {
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}

func inAny(nets []netip.Prefix, a netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

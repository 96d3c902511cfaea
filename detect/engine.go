package detect

import (
	"fmt"
	"net/netip"
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
	candidates map[string][]int // cache of merged lists per resource key
	state      *state
	vm         vm.VM
	started    map[string]time.Time // long-running requests already judged at ResponseStarted
	lastPrune  time.Time
}

type compiled struct {
	rule      *Rule
	cond      *vm.Program
	msg       *vm.Program
	verbs     map[string]bool
	groups    map[string]bool
	users     map[string]bool
	objects   bool // needs request/response objects parsed
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
		state:      newState(),
		started:    map[string]time.Time{},
	}
	opts := append([]expr.Option{expr.Env(&Env{})}, objectFunctions()...)
	opts = append(opts, e.state.functions()...)
	for _, r := range set.Rules {
		if r.Disabled {
			continue
		}
		c := &compiled{rule: r, objects: r.Level != LevelMetadata, exception: r.Exceptions}
		var err error
		c.cond, err = expr.Compile(r.Condition, append(opts, expr.AsBool())...)
		if err != nil {
			return nil, fmt.Errorf("rules %s: rule %s: condition: %w", r.Source, r.ID, err)
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
	cands := e.candidatesFor(ev.ObjectRef)
	if len(cands) == 0 {
		return nil, true, nil
	}
	now := EventTime(ev)
	if now.After(e.state.now) {
		e.state.now = now
	}
	e.pruneStarted(now)
	var env *Env
	var out []Finding
	apiGroup := ""
	if ev.ObjectRef != nil {
		apiGroup = ev.ObjectRef.APIGroup
	}
	for _, i := range cands {
		c := e.rules[i]
		if !c.anyVerb && !c.verbs[ev.Verb] {
			continue
		}
		if !c.anyGroup && !c.groups[apiGroup] {
			continue
		}
		if !c.anyUser && !c.users[ev.User.Username] {
			continue
		}
		if env == nil {
			env = newEnv(ev)
		}
		if c.objects {
			env.loadObjects(ev)
		}
		if exempt(c.exception, env) {
			continue
		}
		// Sequence functions use the event's own time.
		e.state.now = now
		res, err := e.vm.Run(c.cond, env)
		if err != nil {
			return out, true, fmt.Errorf("rule %s on event %s: %w", c.rule.ID, ev.AuditID, err)
		}
		if ok, _ := res.(bool); !ok {
			continue
		}
		sev := c.rule.Severity
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
	if len(x.Users) > 0 && !contains(x.Users, env.User) && !contains(x.Users, env.Actor) {
		return false
	}
	if len(x.Groups) > 0 && !anyIn(x.Groups, env.Groups) {
		return false
	}
	if len(x.Namespaces) > 0 && !contains(x.Namespaces, env.Namespace) {
		return false
	}
	if len(x.Names) > 0 && !contains(x.Names, env.Name) {
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func anyIn(want, have []string) bool {
	for _, h := range have {
		if contains(want, h) {
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

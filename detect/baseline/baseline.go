// Package baseline learns what each identity of a cluster normally does,
// so that detection can tell an operator's routine from the same request
// made by a thief. For every actor it counts, from a history of audit
// events:
//
//   - its actions: verb, resource (with subresource) and scope (the
//     namespace, or all namespaces and cluster-scoped objects);
//   - the networks it acts from (the /24 of an IPv4 source, the /64 of an
//     IPv6 one, of each address of the X-Forwarded-For chain);
//   - the clients it uses (the product token of the user agent);
//   - whether its tokens are bound to a pod (the kubelet mints those), and
//     the networks each token (credential id) was used from.
//
// A request is routine for an actor when the actor did that action, from
// that network, with that client, at least MinCount times in the history.
// Detection downgrades the findings of routine requests to info, saying
// how often and since when; it never drops them. The history comes from
// earlier logs (`kaudit replay --baseline`), a snapshot written by
// `kaudit baseline build`, or the store (`kaudit serve`).
//
// A Baseline is learned from a history and then read; it is not safe to
// learn and read at once from different goroutines.
package baseline

import (
	"fmt"
	"sort"
	"strings"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/detect"
)

// DefaultMinCount is how many times an actor must have done something,
// from the same network with the same client, for it to be routine.
const DefaultMinCount = 3

// Claims in user.extra that the apiserver sets on service-account tokens:
// the token's id, and the pod it is bound to (kubelet-minted tokens).
const (
	ClaimCredentialID = "authentication.kubernetes.io/credential-id"
	ClaimPodName      = "authentication.kubernetes.io/pod-name"
	ClaimNodeName     = "authentication.kubernetes.io/node-name"
)

// Seen counts how often something was seen, and when first and last.
type Seen struct {
	Count int       `json:"n"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

func (s *Seen) add(at time.Time, n int) {
	if s.Count == 0 || at.Before(s.First) {
		s.First = at
	}
	if at.After(s.Last) {
		s.Last = at
	}
	s.Count += n
}

// Identity is what one actor was seen doing.
type Identity struct {
	Seen
	// Routines are the actor's actions, each with the network and client
	// it was done from: "ACTION|NETWORK|CLIENT".
	Routines map[string]*Seen `json:"routines"`
	// Actions, Networks and Clients count each alone.
	Actions  map[string]*Seen `json:"actions"`
	Networks map[string]*Seen `json:"networks"`
	Clients  map[string]*Seen `json:"clients"`
	// PodBound counts the requests made with a token bound to a pod.
	PodBound Seen `json:"pod_bound"`
}

// Baseline is the learned behaviour of every actor of a history.
type Baseline struct {
	// Since and Until are the span of the history.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Events counts the requests learned.
	Events     int                  `json:"events"`
	Identities map[string]*Identity `json:"identities"`
	// Credentials are the routes (detect.Route) each token (credential
	// id) was used from.
	Credentials map[string]map[string]*Seen `json:"credentials"`
	// MinCount is how often a request must have been seen to be routine
	// (DefaultMinCount when zero).
	MinCount int `json:"min_count,omitempty"`
}

// New returns an empty baseline.
func New() *Baseline {
	return &Baseline{Identities: map[string]*Identity{}, Credentials: map[string]map[string]*Seen{}}
}

// Request is what a baseline keeps of one audit event.
type Request struct {
	Actor      string
	Action     string
	Networks   []string // the networks of the source chain, each once
	Route      string   // the chain as one string (detect.SourceNetworks)
	Client     string
	PodBound   bool
	Credential string
	At         time.Time
}

// RequestOf reduces an event to what a baseline keeps of it.
func RequestOf(ev *auditv1.Event) Request {
	r := Request{Actor: detect.ActorOf(ev), Action: ActionOf(ev), Client: detect.Client(ev.UserAgent), At: detect.EventTime(ev),
		Networks: NetworksOf(ev.SourceIPs), Route: detect.Route(ev.SourceIPs, detect.IsPodBound(ev))}
	if v := ev.User.Extra[ClaimPodName]; len(v) > 0 && v[0] != "" {
		r.PodBound = true
	}
	if v := ev.User.Extra[ClaimCredentialID]; len(v) > 0 {
		r.Credential = v[0]
	}
	return r
}

// ActionOf names what a request does: "VERB RESOURCE[/SUB][.GROUP] in
// NAMESPACE", "... cluster-wide" when it names no namespace (a cluster-
// scoped object, or a namespaced resource across all namespaces), or the
// path of a non-resource request.
func ActionOf(ev *auditv1.Event) string {
	ref := ev.ObjectRef
	if ref == nil {
		return Action(ev.Verb, "", "", "", "", ev.RequestURI)
	}
	return Action(ev.Verb, ref.APIGroup, ref.Resource, ref.Subresource, ref.Namespace, ev.RequestURI)
}

// Action is ActionOf from the fields of a request, as a store holds them.
// list and watch are one action: an informer lists once, at its start,
// then watches, and a restarted operator lists again.
func Action(verb, group, resource, subresource, namespace, requestURI string) string {
	if verb == "list" || verb == "watch" {
		verb = "list/watch"
	}
	if resource == "" {
		path := requestURI
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		return verb + " " + path
	}
	res := resource
	if subresource != "" {
		res += "/" + subresource
	}
	if group != "" {
		res += "." + group
	}
	if namespace == "" {
		return verb + " " + res + " cluster-wide"
	}
	return verb + " " + res + " in " + namespace
}

// NetworksOf lists the networks of a source chain, each once.
func NetworksOf(ips []string) []string {
	var out []string
	for _, ip := range ips {
		if n := detect.Network(ip); n != "" && !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Learn adds one request to the baseline (the judged stage of each request
// of the history, as detection sees it).
func (b *Baseline) Learn(r Request) { b.learnN(r, 1) }

func (b *Baseline) learnN(r Request, n int) {
	if r.Actor == "" || n <= 0 {
		return
	}
	if b.Events == 0 || r.At.Before(b.Since) {
		b.Since = r.At
	}
	if r.At.After(b.Until) {
		b.Until = r.At
	}
	b.Events += n
	id := b.Identities[r.Actor]
	if id == nil {
		id = &Identity{Routines: map[string]*Seen{}, Actions: map[string]*Seen{}, Networks: map[string]*Seen{}, Clients: map[string]*Seen{}}
		b.Identities[r.Actor] = id
	}
	id.Seen.add(r.At, n)
	seen(id.Actions, r.Action).add(r.At, n)
	seen(id.Clients, r.Client).add(r.At, n)
	for _, net := range networksOrNone(r.Networks) {
		seen(id.Networks, net).add(r.At, n)
		seen(id.Routines, routineKey(r.Action, net, r.Client)).add(r.At, n)
	}
	if r.Credential != "" {
		routes := b.Credentials[r.Credential]
		if routes == nil {
			routes = map[string]*Seen{}
			b.Credentials[r.Credential] = routes
		}
		seen(routes, r.Route).add(r.At, n)
	}
	if r.PodBound {
		id.PodBound.add(r.At, n)
	}
}

func routineKey(action, network, client string) string {
	return action + "|" + network + "|" + client
}

func networksOrNone(nets []string) []string {
	if len(nets) == 0 {
		return []string{"none"}
	}
	return nets
}

func seen(m map[string]*Seen, k string) *Seen {
	s := m[k]
	if s == nil {
		s = &Seen{}
		m[k] = s
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (b *Baseline) minCount() int {
	if b == nil || b.MinCount <= 0 {
		return DefaultMinCount
	}
	return b.MinCount
}

// Assess says, in one reduction of the event, whether it is routine for
// its actor (routine, with why for the finding), whether the actor has a
// history (Known) and, if it has, which networks of its source chain and
// whether its client are new (detect.History).
func (b *Baseline) Assess(ev *auditv1.Event) detect.Assessment {
	if b == nil || b.Identities[detect.ActorOf(ev)] == nil {
		return detect.Assessment{} // no history of the actor: nothing is routine, nothing news
	}
	r := RequestOf(ev)
	var a detect.Assessment
	if s, ok := b.routine(r); ok {
		a.Routine, a.IsRoutine = b.Describe(r, s), true
	}
	if a.Known = b.Known(r.Actor); a.Known {
		a.NewNetworks = b.newNetworks(r)
		_, seen := b.Identities[r.Actor].Clients[r.Client]
		a.NewClient = !seen
	}
	return a
}

// routine reports whether the request is routine for its actor: the same
// action, from every network of its source chain, with the same client,
// at least MinCount times in the history. The Seen returned is the least
// seen of those networks, for the finding to say how often and since when.
func (b *Baseline) routine(r Request) (Seen, bool) {
	if b == nil {
		return Seen{}, false
	}
	id := b.Identities[r.Actor]
	if id == nil {
		return Seen{}, false
	}
	var least Seen
	for i, net := range networksOrNone(r.Networks) {
		s := id.Routines[routineKey(r.Action, net, r.Client)]
		if s == nil || s.Count < b.minCount() {
			return Seen{}, false
		}
		if i == 0 || s.Count < least.Count {
			least = *s
		}
	}
	return least, true
}

// Known reports whether the actor has a history at all (detect.History) (MinCount requests
// or more): only then is a new network or client news.
func (b *Baseline) Known(actor string) bool {
	if b == nil {
		return false
	}
	id := b.Identities[actor]
	return id != nil && id.Count >= b.minCount()
}

// newNetworks lists the networks of r's source chain its actor was never
// seen acting from.
func (b *Baseline) newNetworks(r Request) []string {
	var out []string
	for _, net := range r.Networks {
		if _, ok := b.Identities[r.Actor].Networks[net]; !ok {
			out = append(out, net)
		}
	}
	return out
}

// CredentialRoutes returns the routes (detect.SourceNetworks) a token was
// used from in the history, sorted (detect.History).
func (b *Baseline) CredentialRoutes(credential string) []string {
	if b == nil || credential == "" {
		return nil
	}
	nets := make([]string, 0, len(b.Credentials[credential]))
	for n := range b.Credentials[credential] {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	return nets
}

// Describe says, for a finding, why a request is routine: "seen 143 times
// since 2026-11-20T10:00:00Z (list secrets cluster-wide from 10.244.0.0/24
// with kube-state-metrics)".
func (b *Baseline) Describe(r Request, s Seen) string {
	return fmt.Sprintf("routine for %s: seen %d times since %s (%s from %s with %s)",
		r.Actor, s.Count, s.First.UTC().Format(time.RFC3339), r.Action, strings.Join(networksOrNone(r.Networks), ", "), clientName(r.Client))
}

func clientName(c string) string {
	if c == "" {
		return "no user agent"
	}
	return c
}

// AddRoute adds n uses of a token over a route, first and last seen at
// the given times (a history read back in aggregate).
func (b *Baseline) AddRoute(credential, route string, n int, first, last time.Time) {
	if credential == "" || n <= 0 {
		return
	}
	routes := b.Credentials[credential]
	if routes == nil {
		routes = map[string]*Seen{}
		b.Credentials[credential] = routes
	}
	s := seen(routes, route)
	s.add(first, 1)
	if n > 1 {
		s.add(last, n-1)
	}
}

// AddCount adds n requests alike, first and last seen at the given times:
// a history read back in aggregate (the store groups its events).
func (b *Baseline) AddCount(r Request, n int, first, last time.Time) {
	if n <= 0 {
		return
	}
	r.At = first
	b.learnN(r, 1)
	if n > 1 {
		r.At = last
		b.learnN(r, n-1)
	}
}

// LearnEvent learns one event of a history: the judged stage of each
// request (detect.Judgeable; a long-running request at its start), and
// only what the cluster allowed, since a refused request is nobody's
// routine.
func (b *Baseline) LearnEvent(ev *auditv1.Event) {
	if !detect.Judgeable(ev) || detect.IsDenied(ev) {
		return
	}
	if detect.IsLongRunning(ev) && ev.Stage != auditv1.StageResponseStarted {
		return
	}
	b.Learn(RequestOf(ev))
}

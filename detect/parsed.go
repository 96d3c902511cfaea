package detect

import (
	"sync"

	json "github.com/goccy/go-json"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Rules run one event at a time, in order, because sequences and object
// versions carry over from one event to the next; but parsing an event's
// bodies depends on nothing else, and was a third of the time spent in
// that ordered part. Parse does it beforehand, in the sources' own
// workers (the file reader's, the webhook's handlers), for the events a
// rule will read the bodies of; Evaluate uses what it parsed.

// Parsed is an event's request and response bodies, parsed as rules read
// them.
type Parsed struct {
	request, response map[string]any
	patch             []any
	hasRequest        bool // request and patch were parsed
}

// Parse parses the bodies of ev when a rule may read them: ev is a stage
// the engine judges, it has a body, and some rule reading bodies matches
// its verb and resource. It returns nil otherwise, and Evaluate then
// parses on demand as before. It is safe for concurrent use, with itself
// and with Evaluate: it reads the compiled rules only.
func (e *Engine) Parse(ev *auditv1.Event) *Parsed {
	if !Judgeable(ev) || ev.RequestObject == nil && ev.ResponseObject == nil {
		return nil
	}
	reads, request := e.readsBodies(ev.ObjectRef, ev.Verb)
	if !reads {
		return nil
	}
	return parseBodies(ev, request)
}

// parseBodies parses an event's response object, and its request object
// when request is set or the response cannot stand for the object
// (needsRequest), with the request as a JSON patch (a list of operations)
// when it is one.
func parseBodies(ev *auditv1.Event, request bool) *Parsed {
	p := &Parsed{response: parseResponse(ev)}
	if request || needsRequest(ev, p.response) {
		p.request, p.patch = parseRequest(ev)
		p.hasRequest = true
	}
	return p
}

// parseResponse parses an event's response object (nil: none, or not an
// object).
func parseResponse(ev *auditv1.Event) map[string]any {
	if ev.ResponseObject == nil {
		return nil
	}
	return parseObject(ev.ResponseObject.Raw)
}

// parseRequest parses an event's request object, and the request as a
// JSON patch when it is one.
func parseRequest(ev *auditv1.Event) (request map[string]any, patch []any) {
	if ev.RequestObject == nil {
		return nil, nil
	}
	raw := ev.RequestObject.Raw
	request = parseObject(raw)
	if len(raw) > 0 && raw[0] == '[' {
		_ = json.UnmarshalWithOption(raw, &patch, json.DecodeNoCopyString())
	}
	return request, patch
}

// bodyReaders remembers, per verb and resource, whether a rule reading
// bodies (or grading an object's changes) may run on such a request. Like
// the engine's own caches it holds at most maxCacheKeys keys: resource
// names come from clients.
type bodyReaders struct {
	mu    sync.RWMutex
	reads map[matchKey]bodyReads
}

// bodyReads is what the rules that may run on a kind of request read of
// its bodies: any (reads), and the request body itself (request).
type bodyReads struct{ reads, request bool }

// readsBodies reports whether a rule that reads bodies matches requests of
// verb on ref, or verb writes an object whose changes rules grade (a read
// of one is not parsed for it); from the compiled rules alone (narrow), so
// that Parse may run in many goroutines.
func (e *Engine) readsBodies(ref *auditv1.ObjectReference, verb string) (reads, request bool) {
	k := matchKeyOf(ref, verb)
	e.bodies.mu.RLock()
	r, ok := e.bodies.reads[k]
	e.bodies.mu.RUnlock()
	if ok {
		return r.reads, r.request
	}
	r.reads = ref != nil && ref.Subresource == "" && showsVersion(verb) && e.objects.tracked[trackKey{ref.Resource, ref.APIGroup}]
	for _, i := range e.narrow(ref, verb) {
		c := e.rules[i]
		r.reads = r.reads || c.objects
		r.request = r.request || c.objects && c.request
	}
	e.bodies.mu.Lock()
	if len(e.bodies.reads) >= maxCacheKeys || e.bodies.reads == nil {
		e.bodies.reads = map[matchKey]bodyReads{}
	}
	e.bodies.reads[k] = r
	e.bodies.mu.Unlock()
	return r.reads, r.request
}

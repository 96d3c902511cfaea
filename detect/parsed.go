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
}

// Parse parses the bodies of ev when a rule may read them: ev is a stage
// the engine judges, it has a body, and some rule reading bodies matches
// its verb and resource. It returns nil otherwise, and Evaluate then
// parses on demand as before. It is safe for concurrent use, with itself
// and with Evaluate: it reads the compiled rules only.
func (e *Engine) Parse(ev *auditv1.Event) *Parsed {
	if !Judgeable(ev) || ev.RequestObject == nil && ev.ResponseObject == nil || !e.readsBodies(ev.ObjectRef, ev.Verb) {
		return nil
	}
	return parseBodies(ev)
}

// parseBodies parses an event's request and response objects, and the
// request as a JSON patch (a list of operations) when it is one.
func parseBodies(ev *auditv1.Event) *Parsed {
	p := &Parsed{}
	if ev.RequestObject != nil {
		p.request = parseObject(ev.RequestObject.Raw)
		if raw := ev.RequestObject.Raw; len(raw) > 0 && raw[0] == '[' {
			_ = json.UnmarshalWithOption(raw, &p.patch, json.DecodeNoCopyString())
		}
	}
	if ev.ResponseObject != nil {
		p.response = parseObject(ev.ResponseObject.Raw)
	}
	return p
}

// bodyReaders remembers, per verb and resource, whether a rule reading
// bodies (or grading an object's changes) may run on such a request. Like
// the engine's own caches it holds at most maxCacheKeys keys: resource
// names come from clients.
type bodyReaders struct {
	mu    sync.RWMutex
	reads map[matchKey]bool
}

// readsBodies reports whether a rule that reads bodies matches requests of
// verb on ref, or rules grade changes of ref's objects; from the compiled
// rules alone (narrow), so that Parse may run in many goroutines.
func (e *Engine) readsBodies(ref *auditv1.ObjectReference, verb string) bool {
	k := matchKeyOf(ref, verb)
	e.bodies.mu.RLock()
	reads, ok := e.bodies.reads[k]
	e.bodies.mu.RUnlock()
	if ok {
		return reads
	}
	reads = ref != nil && ref.Subresource == "" && e.objects.tracked[trackKey(ref.Resource, ref.APIGroup)]
	for _, i := range e.narrow(ref, verb) {
		reads = reads || e.rules[i].objects
	}
	e.bodies.mu.Lock()
	if len(e.bodies.reads) >= maxCacheKeys || e.bodies.reads == nil {
		e.bodies.reads = map[matchKey]bool{}
	}
	e.bodies.reads[k] = reads
	e.bodies.mu.Unlock()
	return reads
}

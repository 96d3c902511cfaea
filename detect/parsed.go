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
			_ = json.Unmarshal(raw, &p.patch)
		}
	}
	if ev.ResponseObject != nil {
		p.response = parseObject(ev.ResponseObject.Raw)
	}
	return p
}

// bodyReaders remembers, per verb and resource, whether a rule reading
// bodies (or grading an object's changes) may run on such a request.
type bodyReaders struct{ m sync.Map } // matchKey -> bool

// readsBodies reports whether a rule that reads bodies matches requests of
// verb on ref, from the rules alone (no cache of the engine's own is
// touched, so that Parse may run in many goroutines).
func (e *Engine) readsBodies(ref *auditv1.ObjectReference, verb string) bool {
	k := matchKey{verb: verb}
	res, sub := "", ""
	if ref != nil {
		res, sub, k.group = ref.Resource, ref.Subresource, ref.APIGroup
		k.resource = res
		if sub != "" {
			k.resource += "/" + sub
		}
	}
	if v, ok := e.bodies.m.Load(k); ok {
		return v.(bool)
	}
	reads := ref != nil && sub == "" && e.objects.tracked[trackKey(res, k.group)]
	check := func(idx []int) {
		for _, i := range idx {
			c := e.rules[i]
			if c.objects && (c.anyVerb || c.verbs[verb]) && (c.anyGroup || c.groups[k.group]) {
				reads = true
			}
		}
	}
	check(e.byResource[k.resource])
	if res != "" {
		check(e.byResource[res+"/*"])
	}
	check(e.wildcard)
	e.bodies.m.Store(k, reads)
	return reads
}

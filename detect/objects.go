package detect

import auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

// objects remembers the last version the engine saw of the objects whose
// changes some rule grades (webhook configurations, the CoreDNS
// ConfigMap), so that an update can be compared with what it replaced. A
// write that does not show the new version whole (a patch logged without
// its response, a write at the Metadata level) makes the object unknown
// again rather than wrongly known.
type objects struct {
	tracked map[trackKey]bool         // the kinds of objects rules grade
	last    map[string]map[string]any // objectKey -> last version
}

// maxObjects bounds the versions kept: objects are named by clients, so
// the map must not grow without bound.
const maxObjects = 10000

func newObjects() *objects {
	return &objects{tracked: map[trackKey]bool{}, last: map[string]map[string]any{}}
}

// trackKey is a kind of object by its resource and API group. A pair
// rather than the two joined into one string, which was an allocation for
// every event asked about (tracks) when the two were longer than the
// compiler's buffer for a short-lived string.
type trackKey struct{ resource, group string }

func objectKey(ref *auditv1.ObjectReference) string {
	return ref.APIGroup + "/" + ref.Resource + "/" + ref.Namespace + "/" + ref.Name
}

// tracks reports whether rules grade changes of the event's object.
func (o *objects) tracks(ev *auditv1.Event) bool {
	ref := ev.ObjectRef
	return ref != nil && ref.Subresource == "" && ref.Name != "" && o.tracked[trackKey{ref.Resource, ref.APIGroup}]
}

// showsVersion reports whether a request of verb leaves a new version of
// its object, which remember keeps: a write. For a read or a delete,
// neither body is parsed for remember's sake.
func showsVersion(verb string) bool {
	switch verb {
	case "create", "update", "patch":
		return true
	}
	return false
}

// previous returns the last version seen of the event's object, or nil.
func (o *objects) previous(ev *auditv1.Event) map[string]any {
	if !o.tracks(ev) {
		return nil
	}
	return o.last[objectKey(ev.ObjectRef)]
}

// remember records the version a successful write leaves, from the
// environment the rules saw (its parsed objects), or forgets the object
// when the event does not show it.
func (o *objects) remember(ev *auditv1.Event, env *Env) {
	if !o.tracks(ev) || IsDenied(ev) || (ev.ResponseStatus != nil && ev.ResponseStatus.Code >= 300) {
		return
	}
	k := objectKey(ev.ObjectRef)
	var now map[string]any
	switch ev.Verb {
	case "create", "update", "patch":
		if env.Response != nil && !isStatus(env.Response) {
			now = env.Response
		} else if ev.Verb != "patch" && env.Request != nil {
			now = env.Request
		} else if env.patched != nil {
			now = env.patched
		}
	case "delete":
		delete(o.last, k)
		return
	default:
		return
	}
	if now == nil {
		delete(o.last, k)
		return
	}
	if _, ok := o.last[k]; !ok && len(o.last) >= maxObjects {
		for old := range o.last {
			delete(o.last, old)
			break
		}
	}
	o.last[k] = now
}

// loadPrevious fills Previous from the last version seen and works out
// the write's new version: the response, else the request, else (a
// refused patch) the patch applied to Previous.
func (e *Env) loadPrevious(ev *auditv1.Event, o *objects) {
	if e.previousLoaded {
		return
	}
	e.previousLoaded = true
	e.loadObjects(ev, false)
	e.Previous = o.previous(ev)
	newVersion := e.Response
	if newVersion == nil || isStatus(newVersion) {
		newVersion = nil
		if ev.Verb != "patch" {
			newVersion = e.Request
		} else if ev.RequestObject != nil {
			// What the patch asked for, on the version it patched: a
			// refused patch has no response to show it.
			newVersion = applyPatch(e.Previous, ev.RequestObject.Raw)
			e.patched = newVersion
			if newVersion != nil && (e.Object == nil || isStatus(e.Object)) {
				e.Object = newVersion
			}
		}
	}
	e.newVersion = newVersion
}

// loadChanges fills Changes (after loadPrevious) from the last version
// seen, or from a patch's body when that version is unknown; Changes stays
// nil when what changed cannot be told. It is worked out only when an
// expression about to run reads it: most rules that know the previous
// version read changes only in the message and grades of a finding.
func (e *Env) loadChanges(ev *auditv1.Event) {
	if e.changesLoaded {
		return
	}
	e.changesLoaded = true
	switch {
	case e.Previous != nil && e.newVersion != nil:
		e.Changes = diff(e.Previous, e.newVersion)
		if e.Changes == nil {
			e.Changes = []Change{}
		}
	case ev.Verb == "patch" && (e.Request != nil || e.Patch != nil):
		e.Changes = patchChanges(e.Request, e.Patch)
	}
}

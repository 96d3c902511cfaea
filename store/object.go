package store

import (
	"bytes"

	json "github.com/goccy/go-json"
)

// ObjectRef names one object: the objectRef of the requests on it.
type ObjectRef struct {
	APIGroup  string `json:"api_group"`
	Resource  string `json:"resource"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// ObjectVersion is an object as one stored request showed it.
type ObjectVersion struct {
	AuditID string `json:"audit_id"`
	Time    string `json:"time"`
	Verb    string `json:"verb"`
	Actor   string `json:"actor"`
	// Object is the redacted object, as the request's event holds it.
	Object json.RawMessage `json:"object"`
}

// ShowsObject reports whether a request of this verb and outcome can show
// its object whole (ObjectOf tells whether its event does): a successful
// get, create, update or patch of the object itself, not of a subresource.
func ShowsObject(verb, subresource string, code int) bool {
	if subresource != "" || code < 200 || code >= 300 {
		return false
	}
	switch verb {
	case "get", "create", "update", "patch":
		return true
	}
	return false
}

// ObjectOf returns the object a stored event (its redacted JSON) shows
// whole: its response object, unless that is a Status; for a create or an
// update without one, its request object (a patch's request object is the
// patch, not the object). Nil when the audit level recorded neither.
func ObjectOf(event []byte) json.RawMessage {
	var ev struct {
		Verb           string          `json:"verb"`
		RequestObject  json.RawMessage `json:"requestObject"`
		ResponseObject json.RawMessage `json:"responseObject"`
	}
	if json.Unmarshal(event, &ev) != nil {
		return nil
	}
	if isObject(ev.ResponseObject) {
		return ev.ResponseObject
	}
	if (ev.Verb == "create" || ev.Verb == "update") && isObject(ev.RequestObject) {
		return ev.RequestObject
	}
	return nil
}

// isObject reports whether raw is a JSON object other than a Status.
func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return false
	}
	var head struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return false
	}
	return head.Kind != "Status"
}

// NewObjectVersion makes the version an entry's stored event shows, or
// nil when it shows none.
func NewObjectVersion(e *Entry, event []byte) *ObjectVersion {
	obj := ObjectOf(event)
	if obj == nil {
		return nil
	}
	return &ObjectVersion{AuditID: e.AuditID, Time: e.Time, Verb: e.Verb, Actor: e.Actor, Object: obj}
}

// MatchesRef reports whether an entry is a request on the object ref names.
func (ref *ObjectRef) MatchesRef(e *Entry) bool {
	return e.Resource == ref.Resource && e.Namespace == ref.Namespace && e.Name == ref.Name && e.APIGroup == ref.APIGroup
}

// VersionCandidates bounds how many of the latest successful requests on
// an object before a time a store opens looking for one whose event shows
// the object (most reads are recorded at the Metadata level, without it).
const VersionCandidates = 50

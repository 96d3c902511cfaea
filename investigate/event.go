package investigate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/store"
)

// EventStages is the answer of GET /api/v1/events/{auditID}: the redacted
// JSON of each stage of one request, as stored, with what the analyst
// opens it for: the findings on it (each with its incidents and the fields
// its rule looked at) and the authorizer's decision and reason.
type EventStages struct {
	AuditID  string            `json:"audit_id"`
	Stages   []json.RawMessage `json:"stages"`
	Findings []EventFinding    `json:"findings"`
	// Decision and Reason are the annotations authorization.k8s.io/decision
	// and authorization.k8s.io/reason: "allow", and the RBAC binding that
	// allowed it.
	Decision string `json:"decision,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// EventFinding is one finding on a request, with the incidents holding it
// and the event fields its rule looked at (for highlighting).
type EventFinding struct {
	Finding   detect.Finding `json:"finding"`
	Incidents []string       `json:"incidents"`
	Fields    [][]string     `json:"fields"`
}

// EventDiff is the answer of GET /api/v1/events/{auditID}/diff: what an
// update or a patch changed. Before is the object as the latest earlier
// request showed it (null when none is stored: kaudit sees objects only in
// events recorded at the RequestResponse level); After is the object this
// request's event shows (null when it holds none).
type EventDiff struct {
	AuditID string               `json:"audit_id"`
	Verb    string               `json:"verb"`
	Object  store.ObjectRef      `json:"object"`
	Before  *store.ObjectVersion `json:"before"`
	After   *store.ObjectVersion `json:"after"`
	// Patch is a patch's request body: what the client asked to change.
	Patch   json.RawMessage `json:"patch,omitempty"`
	Changes []Change        `json:"changes"`
	// Note says why there is no diff, when there is none.
	Note string `json:"note,omitempty"`
}

// stageHead is what the API reads of a stored stage.
type stageHead struct {
	AuditID   string `json:"auditID"`
	Verb      string `json:"verb"`
	ObjectRef *struct {
		APIGroup    string `json:"apiGroup"`
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	RequestReceivedTimestamp time.Time         `json:"requestReceivedTimestamp"`
	Annotations              map[string]string `json:"annotations"`
	RequestObject            json.RawMessage   `json:"requestObject"`
	ResponseStatus           *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

func (h *Handler) event(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("auditID")
	stages, ok := h.stages(w, r, id)
	if !ok {
		return
	}
	out := EventStages{AuditID: id, Stages: make([]json.RawMessage, 0, len(stages)), Findings: []EventFinding{}}
	for _, s := range stages {
		out.Stages = append(out.Stages, json.RawMessage(s))
	}
	var head stageHead
	_ = json.Unmarshal(stages[len(stages)-1], &head) // valid JSON, checked by stages
	out.Decision = head.Annotations["authorization.k8s.io/decision"]
	out.Reason = head.Annotations["authorization.k8s.io/reason"]
	findings, err := h.st.Findings(r.Context(), []string{id})
	if err != nil {
		h.storeError(w, r, "event findings", err)
		return
	}
	var incs []string
	if len(findings) > 0 {
		list, err := h.st.Incidents(r.Context(), store.IncidentQuery{AuditID: id})
		if err != nil {
			h.storeError(w, r, "event incidents", err)
			return
		}
		for _, inc := range list {
			incs = append(incs, inc.ID)
		}
	}
	for _, f := range findings {
		ef := EventFinding{Finding: f, Incidents: nonNil(incs), Fields: [][]string{}}
		if rule := h.rules[f.Rule]; rule != nil {
			ef.Fields = append(ef.Fields, ruleFields(rule)...)
		}
		out.Findings = append(out.Findings, ef)
	}
	writeJSON(w, r, http.StatusOK, out)
}

// stages reads a request's stages for the event endpoints, answering 400
// (they take no query parameters), 404 or 503 itself when it cannot (ok
// false). Every stage is valid JSON.
func (h *Handler) stages(w http.ResponseWriter, r *http.Request, id string) ([][]byte, bool) {
	if len(r.URL.Query()) > 0 {
		writeError(w, http.StatusBadRequest, "this endpoint takes no query parameters")
		return nil, false
	}
	stages, err := h.st.Event(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(stages) == 0) {
		writeError(w, http.StatusNotFound, "no event "+id)
		return nil, false
	}
	if err != nil {
		h.storeError(w, r, "event", err)
		return nil, false
	}
	for i, s := range stages {
		if !json.Valid(s) {
			h.log.Error("stored event is not JSON", "audit_id", id, "stage_index", i)
			writeError(w, http.StatusInternalServerError, "the store holds a stage of this event that is not JSON")
			return nil, false
		}
	}
	return stages, true
}

func (h *Handler) eventDiff(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("auditID")
	stages, ok := h.stages(w, r, id)
	if !ok {
		return
	}
	d, err := diffEvent(r.Context(), h.st, stages[len(stages)-1])
	if err != nil {
		h.storeError(w, r, "event diff", err)
		return
	}
	writeJSON(w, r, http.StatusOK, d)
}

// diffEvent computes what an update or a patch changed, from the stored
// JSON of its most telling stage.
func diffEvent(ctx context.Context, st store.Reader, stage []byte) (*EventDiff, error) {
	var head stageHead
	if err := json.Unmarshal(stage, &head); err != nil {
		return nil, fmt.Errorf("stored event: %w", err)
	}
	d := &EventDiff{AuditID: head.AuditID, Verb: head.Verb, Changes: []Change{}}
	if head.Verb != "update" && head.Verb != "patch" {
		d.Note = "only an update or a patch changes an object"
		return d, nil
	}
	if head.ObjectRef == nil || head.ObjectRef.Name == "" {
		d.Note = "the request names no object"
		return d, nil
	}
	ref := head.ObjectRef
	d.Object = store.ObjectRef{APIGroup: ref.APIGroup, Resource: ref.Resource, Namespace: ref.Namespace, Name: ref.Name}
	if head.Verb == "patch" && len(head.RequestObject) > 0 {
		d.Patch = head.RequestObject
	}
	actor := head.User.Username
	if head.ImpersonatedUser != nil && head.ImpersonatedUser.Username != "" {
		actor = head.ImpersonatedUser.Username
	}
	e := store.Entry{AuditID: head.AuditID, Time: head.RequestReceivedTimestamp.UTC().Format(detect.TimeFormat), Verb: head.Verb, Actor: actor}
	d.After = store.NewObjectVersion(&e, stage)
	before, err := st.ObjectBefore(ctx, d.Object, head.RequestReceivedTimestamp)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		d.Before = before
	}
	switch {
	case d.After == nil && d.Before == nil:
		d.Note = "neither this event nor an earlier one holds the object: the audit policy recorded them below the RequestResponse level"
	case d.After == nil:
		d.Note = "this event holds no object (recorded below the RequestResponse level); the patch shows what was asked"
	case d.Before == nil:
		d.Note = "no earlier version of the object is stored: kaudit sees an object only in events recorded at the RequestResponse level"
	case ref.Subresource != "":
		d.Note = "a change of the " + ref.Subresource + " subresource"
		fallthrough
	default:
		if d.Changes, err = DiffObjects(d.Before.Object, d.After.Object); err != nil {
			return nil, fmt.Errorf("diff: %w", err)
		}
		if d.Changes == nil {
			d.Changes = []Change{}
		}
	}
	return d, nil
}

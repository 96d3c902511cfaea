package store

import (
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// eventJSON is auditv1.Event as it marshals, field for field and in the
// same order, but for its timestamps: metav1.MicroTime marshals each one
// through encoding/json, which was a third of marshaling an event.
// TestEventJSONMirrorsEvent keeps the fields in step with the apiserver's
// type.
type eventJSON struct {
	metav1.TypeMeta          `json:",inline"`
	Level                    auditv1.Level                   `json:"level"`
	AuditID                  types.UID                       `json:"auditID"`
	Stage                    auditv1.Stage                   `json:"stage"`
	RequestURI               string                          `json:"requestURI"`
	Verb                     string                          `json:"verb"`
	User                     authnv1.UserInfo                `json:"user"`
	ImpersonatedUser         *authnv1.UserInfo               `json:"impersonatedUser,omitempty"`
	AuthenticationMetadata   *auditv1.AuthenticationMetadata `json:"authenticationMetadata,omitempty"`
	SourceIPs                []string                        `json:"sourceIPs,omitempty"`
	UserAgent                string                          `json:"userAgent,omitempty"`
	ObjectRef                *auditv1.ObjectReference        `json:"objectRef,omitempty"`
	ResponseStatus           *metav1.Status                  `json:"responseStatus,omitempty"`
	RequestObject            *runtime.Unknown                `json:"requestObject,omitempty"`
	ResponseObject           *runtime.Unknown                `json:"responseObject,omitempty"`
	RequestReceivedTimestamp microTime                       `json:"requestReceivedTimestamp"`
	StageTimestamp           microTime                       `json:"stageTimestamp"`
	Annotations              map[string]string               `json:"annotations,omitempty"`
}

// set makes e the marshaling of ev; it shares ev's slices, maps and bodies.
func (e *eventJSON) set(ev *auditv1.Event) {
	*e = eventJSON{
		TypeMeta: ev.TypeMeta, Level: ev.Level, AuditID: ev.AuditID, Stage: ev.Stage, RequestURI: ev.RequestURI,
		Verb: ev.Verb, User: ev.User, ImpersonatedUser: ev.ImpersonatedUser, AuthenticationMetadata: ev.AuthenticationMetadata,
		SourceIPs: ev.SourceIPs, UserAgent: ev.UserAgent, ObjectRef: ev.ObjectRef, ResponseStatus: ev.ResponseStatus,
		RequestObject: ev.RequestObject, ResponseObject: ev.ResponseObject,
		RequestReceivedTimestamp: microTime{ev.RequestReceivedTimestamp.Time}, StageTimestamp: microTime{ev.StageTimestamp.Time},
		Annotations: ev.Annotations,
	}
}

// microTime marshals as metav1.MicroTime does: null when zero, else the
// UTC time to the microsecond.
type microTime struct{ t time.Time }

// MarshalJSON writes the time as MicroTime.MarshalJSON does.
func (m microTime) MarshalJSON() ([]byte, error) {
	if m.t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(`""`)+len(metav1.RFC3339Micro))
	b = append(b, '"')
	b = m.t.UTC().AppendFormat(b, metav1.RFC3339Micro)
	return append(b, '"'), nil
}

// Package facts correlates incidents across the consumers of one Kafka
// consumer group. Events are keyed by actor, so the actors an incident joins
// (admin, who bound cluster-admin to mallory, and mallory) may be judged by
// different consumers; each consumer therefore publishes the facts of every
// batch it made durable to a facts topic (Sink), and reads every consumer's
// facts back (Correlation), building the incidents one process would have
// built. It may import ingest/kafka, detect and its subpackages.
package facts

import (
	"time"

	json "github.com/goccy/go-json"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
)

// facts is one message of the facts topic: what incident correlation needs
// of one batch a consumer processed. Correlation joins findings across
// actors (a binding by admin granting mallory joins admin's findings to
// mallory's), and keying the event topic by actor puts those actors on
// different consumers; every consumer therefore publishes its facts and
// every consumer reads all of them, so each builds the incidents one
// process would have built. Facts are small: findings are rare, and a
// request is kept only by who did what to which object, with the binding or
// token body when it links two identities.
type facts struct {
	Findings []detect.Finding `json:"findings,omitempty"`
	Requests []request        `json:"requests,omitempty"`
}

// request is an audit event reduced to what incident.TouchOf and
// incident.LinksOf read, under short names: one is published per request.
type request struct {
	AuditID     string          `json:"id"`
	Stage       string          `json:"st"`
	Verb        string          `json:"v,omitempty"`
	User        string          `json:"u,omitempty"`
	Imp         string          `json:"iu,omitempty"`
	APIGroup    string          `json:"g,omitempty"`
	Resource    string          `json:"r,omitempty"`
	Subresource string          `json:"sr,omitempty"`
	Namespace   string          `json:"ns,omitempty"`
	Name        string          `json:"n,omitempty"`
	Time        time.Time       `json:"t"`
	Decision    string          `json:"d,omitempty"`
	Code        int32           `json:"c,omitempty"`
	Request     json.RawMessage `json:"req,omitempty"`
	Response    json.RawMessage `json:"resp,omitempty"`
}

const decisionKey = "authorization.k8s.io/decision"

// maxFactsRequests caps the requests of one facts message, so that a large
// batch still fits under the brokers' message size limit.
const maxFactsRequests = 1000

// correlated reports whether the correlator observes this stage of a
// request: the stage detection judges (ResponseComplete or Panic, or
// ResponseStarted of a long-running request), as the pipeline does.
func correlated(ev *auditv1.Event) bool { return detect.Judgeable(ev) }

// reduce keeps of a (redacted) event what correlation reads.
func reduce(ev *auditv1.Event) request {
	r := request{
		AuditID:  string(ev.AuditID),
		Stage:    string(ev.Stage),
		Verb:     ev.Verb,
		User:     ev.User.Username,
		Time:     ev.RequestReceivedTimestamp.Time,
		Decision: ev.Annotations[decisionKey],
	}
	if iu := ev.ImpersonatedUser; iu != nil {
		r.Imp = iu.Username
	}
	if ref := ev.ObjectRef; ref != nil {
		r.APIGroup, r.Resource, r.Subresource, r.Namespace, r.Name = ref.APIGroup, ref.Resource, ref.Subresource, ref.Namespace, ref.Name
	}
	if ev.ResponseStatus != nil {
		r.Code = ev.ResponseStatus.Code
	}
	if len(incident.LinksOf(ev)) > 0 {
		if ev.RequestObject != nil {
			r.Request = ev.RequestObject.Raw
		}
		if ev.ResponseObject != nil {
			r.Response = ev.ResponseObject.Raw
		}
	}
	return r
}

// event rebuilds the audit event the correlator observes.
func (r *request) event() *auditv1.Event {
	ev := &auditv1.Event{
		AuditID:                  types.UID(r.AuditID),
		Stage:                    auditv1.Stage(r.Stage),
		Verb:                     r.Verb,
		User:                     authnv1.UserInfo{Username: r.User},
		RequestReceivedTimestamp: metav1.NewMicroTime(r.Time),
	}
	if r.Imp != "" {
		ev.ImpersonatedUser = &authnv1.UserInfo{Username: r.Imp}
	}
	if r.Resource != "" || r.Name != "" || r.Namespace != "" {
		ev.ObjectRef = &auditv1.ObjectReference{APIGroup: r.APIGroup, Resource: r.Resource, Subresource: r.Subresource, Namespace: r.Namespace, Name: r.Name}
	}
	if r.Decision != "" {
		ev.Annotations = map[string]string{decisionKey: r.Decision}
	}
	if r.Code != 0 {
		ev.ResponseStatus = &metav1.Status{Code: r.Code}
	}
	if len(r.Request) > 0 {
		ev.RequestObject = &runtime.Unknown{Raw: r.Request}
	}
	if len(r.Response) > 0 {
		ev.ResponseObject = &runtime.Unknown{Raw: r.Response}
	}
	return ev
}

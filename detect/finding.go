package detect

import (
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	"github.com/kaudit/kaudit/detect/rulefile"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Finding is one rule matching one event. Its JSON form is an interface read
// by scripts: fields may be added, never renamed or dropped.
type Finding struct {
	Type             string   `json:"type"` // always "finding"
	Rule             string   `json:"rule"`
	Title            string   `json:"title"`
	Severity         string   `json:"severity"`
	TechniqueID      string   `json:"technique_id"`
	Technique        string   `json:"technique"`
	Tactic           string   `json:"tactic"`
	Attack           []string `json:"attack,omitempty"`
	AuditID          string   `json:"audit_id"`
	Stage            string   `json:"stage"`
	Time             string   `json:"time"`
	User             string   `json:"user"`
	Groups           []string `json:"groups"`
	ImpersonatedUser string   `json:"impersonated_user"`
	SourceIPs        []string `json:"source_ips"`
	UserAgent        string   `json:"user_agent"`
	Verb             string   `json:"verb"`
	RequestURI       string   `json:"request_uri"`
	APIGroup         string   `json:"api_group"`
	Resource         string   `json:"resource"`
	Subresource      string   `json:"subresource"`
	Namespace        string   `json:"namespace"`
	Name             string   `json:"name"`
	Code             int      `json:"code"`
	Message          string   `json:"message"`
	Location         string   `json:"location"`
	// RuleSeverity is the rule's own severity when the finding's differs
	// (graded by what changed, or downgraded as routine), and
	// SeverityReason says why.
	RuleSeverity   string `json:"rule_severity,omitempty"`
	SeverityReason string `json:"severity_reason,omitempty"`
	// Routine is set when the baseline shows the request is what its actor
	// does every day: kept, shown at info, never chained into incidents.
	Routine bool `json:"routine,omitempty"`
	// EvidenceAuditID and EvidenceTime name the later request that showed
	// what this finding's request did, when the finding was made late:
	// a binding logged without its body is judged by what its grantee was
	// later allowed to do under it.
	EvidenceAuditID string `json:"evidence_audit_id,omitempty"`
	EvidenceTime    string `json:"evidence_time,omitempty"`

	// At is Time parsed, for ordering and correlation.
	At time.Time `json:"-"`
}

// Actor is who the finding is about: the impersonated user when there is
// one, else the authenticated user.
func (f *Finding) Actor() string { return Actor(f.User, f.ImpersonatedUser) }

// newFinding copies the event's identifying fields into a finding of r.
func newFinding(r *rulefile.Rule, env *Env, ev *auditv1.Event, severity, message, location string) Finding {
	f := eventFinding(env, ev, location)
	f.setRule(r, severity, message)
	return f
}

// eventFinding is a finding of no rule yet: the identifying fields of an
// event, kept so that a later request can make a finding of it.
func eventFinding(env *Env, ev *auditv1.Event, location string) Finding {
	groups := env.Groups
	if groups == nil {
		groups = []string{}
	}
	ips := env.SourceIPs
	if ips == nil {
		ips = []string{}
	}
	at := EventTime(ev)
	return Finding{
		Type:    "finding",
		AuditID: env.AuditID, Stage: env.Stage, Time: at.Format(TimeFormat),
		User: env.User, Groups: groups, ImpersonatedUser: env.ImpersonatedUser,
		SourceIPs: ips, UserAgent: env.UserAgent, Verb: env.Verb, RequestURI: env.RequestURI,
		APIGroup: env.APIGroup, Resource: env.Resource, Subresource: env.Subresource,
		Namespace: env.Namespace, Name: env.Name, Code: env.Code,
		Location: location, At: at,
	}
}

func (f *Finding) setRule(r *rulefile.Rule, severity, message string) {
	f.Rule, f.Title, f.Severity, f.Message = r.ID, r.Title, severity, message
	f.TechniqueID, f.Technique, f.Tactic, f.Attack = r.TechniqueID, r.Technique, r.Tactic, r.Attack
}

// findingFields is Finding without its methods, so that MarshalJSON and
// UnmarshalJSON can use the default encoding of its fields.
type findingFields Finding

// MarshalJSON writes the finding's fields and, derived, its actor.
func (f Finding) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		*findingFields
		Actor string `json:"actor"`
	}{(*findingFields)(&f), f.Actor()})
}

// UnmarshalJSON reads a finding back (from the store, the spool, Kafka)
// with At parsed from Time.
func (f *Finding) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, (*findingFields)(f)); err != nil {
		return err
	}
	if f.Time == "" {
		f.At = time.Time{}
		return nil
	}
	at, err := ParseTime(f.Time)
	if err != nil {
		return fmt.Errorf("finding %s/%s: %w", f.Rule, f.AuditID, err)
	}
	f.At = at
	return nil
}

// regrade sets the finding's severity, keeping the rule's own and saying
// why; reasons of successive regrades accumulate.
func (f *Finding) regrade(severity, why string) {
	if severity == f.Severity && why == "" {
		return
	}
	if f.RuleSeverity == "" {
		f.RuleSeverity = f.Severity
	}
	f.Severity = severity
	if why != "" {
		if f.SeverityReason != "" {
			f.SeverityReason += "; "
		}
		f.SeverityReason += why
	}
	if f.RuleSeverity == f.Severity && f.SeverityReason == "" {
		f.RuleSeverity = ""
	}
}

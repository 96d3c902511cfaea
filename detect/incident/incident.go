// Package incident chains findings into incidents: findings of one actor
// close in time, of one outside source and client, and of identities linked
// by the objects that tie them (a binding granting a user rights, a token
// minted for a service account). An incident also lists everything its
// actors touched in its span, findings or not, to answer "what else did they
// touch?".
package incident

import (
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	"github.com/kaudit/kaudit/detect"
)

// Incident is a chain of findings an analyst reads as one story. Its JSON
// form is an interface: fields may be added, never renamed or dropped.
type Incident struct {
	Type         string      `json:"type"` // always "incident"
	ID           string      `json:"id"`
	Severity     string      `json:"severity"`
	Start        string      `json:"start"`
	End          string      `json:"end"`
	Actors       []string    `json:"actors"`
	SourceIPs    []string    `json:"source_ips"`
	UserAgents   []string    `json:"user_agents"`
	Tactics      []string    `json:"tactics"`
	Techniques   []Technique `json:"techniques"`
	FindingCount int         `json:"finding_count"`
	Findings     []string    `json:"findings"` // audit ids, in time order
	Touched      []Touched   `json:"touched"`
	Summary      string      `json:"summary"`
	// Links say why identities were joined into this incident.
	Links []Link `json:"links"`
	// Rules lists the rule ids that fired, in first-seen order.
	Rules []string `json:"rules"`
	// Context lists the info findings of the incident's actors within its
	// span (routine requests, graded-down changes): shown with the
	// incident, never steps of it.
	Context []ContextFinding `json:"context"`

	StartTime time.Time `json:"-"`
	EndTime   time.Time `json:"-"`
}

// ContextFinding is an info finding shown with an incident.
type ContextFinding struct {
	Rule    string `json:"rule"`
	AuditID string `json:"audit_id"`
	Time    string `json:"time"`
	Actor   string `json:"actor"`
	Reason  string `json:"reason,omitempty"`
}

// Technique is one matrix technique seen in an incident.
type Technique struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Tactic    string `json:"tactic"`
	FirstSeen string `json:"first_seen"`
}

// Touched is one object the incident's actors acted on in its span.
type Touched struct {
	Resource  string   `json:"resource"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Verbs     []string `json:"verbs"`
	Count     int      `json:"count"`
}

// Link ties two identities: "binding" when From granted To rights through a
// binding, "token" when From minted a token for service account To,
// "certificate" when From asked for a client certificate naming user To,
// "source" when both acted from the same outside address and client,
// "impersonation" when From acted as To.
type Link struct {
	Kind    string `json:"kind"`
	From    string `json:"from"`
	To      string `json:"to"`
	AuditID string `json:"audit_id"`
	Time    string `json:"time"`
	Object  string `json:"object"`
	Role    string `json:"role,omitempty"`

	at time.Time
}

// Touch is one request of one actor, as the correlator reads it (it keeps
// it smaller, as a touch): the material of an incident's touched list and
// of its narrative.
type Touch struct {
	Actor     string
	User      string // who authenticated: the impersonator under impersonation
	At        time.Time
	AuditID   string
	Verb      string
	Resource  string
	Sub       string
	Namespace string
	Name      string
	Denied    bool
	Code      int
}

// incidentFields is Incident without its methods (see UnmarshalJSON).
type incidentFields Incident

// UnmarshalJSON reads an incident back from the store with StartTime and
// EndTime parsed from Start and End.
func (inc *Incident) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, (*incidentFields)(inc)); err != nil {
		return err
	}
	var err error
	if inc.Start != "" {
		if inc.StartTime, err = detect.ParseTime(inc.Start); err != nil {
			return fmt.Errorf("incident %s start: %w", inc.ID, err)
		}
	}
	if inc.End != "" {
		if inc.EndTime, err = detect.ParseTime(inc.End); err != nil {
			return fmt.Errorf("incident %s end: %w", inc.ID, err)
		}
	}
	return nil
}

// Package notify tells people about incidents: it decides, from the
// incidents the live.Publisher builds, when an incident deserves a
// notification (it opened at or above a severity, rose in severity, gained
// a tactic or an identity, resolved after a quiet time), writes each
// notification to a durable outbox in the store (store.Outbox) before
// anything is sent, and delivers it to every matching receiver:
// Prometheus Alertmanager (API v2), a signed generic webhook, and
// Slack-compatible incoming webhooks.
//
// Delivery is at least once. A notification's id is its receivers'
// deduplication key: the same on every attempt, after a restart, and from
// whichever kaudit process delivers it. Failed attempts back off
// exponentially (cenkalti/backoff) and honour Retry-After; a receiver that
// was down gets, in order, everything it missed once it is back. When
// several kaudit processes share one store, the one holding the outbox's
// lease decides and delivers; the others stand by and take over, from the
// outbox, when its lease lapses.
//
// The package sits with live (it is what becomes of incidents); it imports
// the store, detect and nothing above them.
package notify

import (
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/detect/rulefile"
)

// Kinds of notification.
const (
	KindOpened    = "opened"
	KindEscalated = "escalated" // rose in severity
	KindUpdated   = "updated"   // gained a tactic or an identity
	KindResolved  = "resolved"
	KindReopened  = "reopened" // a resolved incident went on
	KindTest      = "test"     // `kaudit notify test`
)

// SchemaVersion is the version of the notification JSON (deploy/notify/).
const SchemaVersion = 1

// Notification is what every receiver is told, and the body of the generic
// webhook. Its JSON form is an interface documented in
// deploy/notify/webhook.schema.json: fields may be added, never renamed or
// dropped.
type Notification struct {
	SchemaVersion int `json:"schema_version"`
	// ID is the stable deduplication key: "<incident id>-<seq>".
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Seq numbers the notifications of one incident from 1.
	Seq int `json:"seq"`
	// Reasons say what changed, for a person ("severity high -> critical").
	Reasons []string `json:"reasons"`
	// DecidedAt is when kaudit decided to notify (RFC 3339, UTC).
	DecidedAt string  `json:"decided_at"`
	Incident  Summary `json:"incident"`
}

// Summary is the incident as a notification carries it.
type Summary struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	// Status is "open" or "resolved".
	Status       string      `json:"status"`
	Summary      string      `json:"summary"`
	Tactics      []string    `json:"tactics"`
	Techniques   []Technique `json:"techniques"`
	Actors       []string    `json:"actors"`
	SourceIPs    []string    `json:"source_ips"`
	Namespaces   []string    `json:"namespaces"`
	Start        string      `json:"start"`
	End          string      `json:"end"`
	FindingCount int         `json:"finding_count"`
	Rules        []string    `json:"rules"`
	// URL opens the incident in kaudit's web view (notify.external_url);
	// empty when that is not set.
	URL         string    `json:"url"`
	TopFindings []Finding `json:"top_findings"`
}

// Technique is one matrix technique of the incident.
type Technique struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Tactic string `json:"tactic"`
}

// Finding is one of the incident's most severe findings.
type Finding struct {
	Rule        string `json:"rule"`
	Title       string `json:"title"`
	Severity    string `json:"severity"`
	Tactic      string `json:"tactic"`
	TechniqueID string `json:"technique_id"`
	Time        string `json:"time"`
	Actor       string `json:"actor"`
	Verb        string `json:"verb"`
	Resource    string `json:"resource"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	AuditID     string `json:"audit_id"`
	Message     string `json:"message"`
}

// maxTopFindings bounds the findings a notification carries.
const maxTopFindings = 5

// IncidentURL is the link to an incident in the web view served at base.
func IncidentURL(base, id string) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/#/incidents/" + url.PathEscape(id)
}

// summarize turns an incident and its findings (any order; nil when not at
// hand) into a notification's summary.
func summarize(inc *incident.Incident, findings []detect.Finding, externalURL string) Summary {
	s := Summary{
		ID: inc.ID, Severity: inc.Severity, Status: "open", Summary: inc.Summary,
		Tactics: nonNil(inc.Tactics), Actors: nonNil(inc.Actors), SourceIPs: nonNil(inc.SourceIPs),
		Start: inc.Start, End: inc.End, FindingCount: inc.FindingCount, Rules: nonNil(inc.Rules),
		URL: IncidentURL(externalURL, inc.ID), Techniques: []Technique{}, Namespaces: []string{},
	}
	for _, t := range inc.Techniques {
		s.Techniques = append(s.Techniques, Technique{ID: t.ID, Name: t.Name, Tactic: t.Tactic})
	}
	for _, t := range inc.Touched {
		if t.Namespace != "" && !slices.Contains(s.Namespaces, t.Namespace) {
			s.Namespaces = append(s.Namespaces, t.Namespace)
		}
	}
	s.TopFindings = topFindings(inc, findings)
	for _, f := range s.TopFindings {
		if f.Namespace != "" && !slices.Contains(s.Namespaces, f.Namespace) {
			s.Namespaces = append(s.Namespaces, f.Namespace)
		}
	}
	sort.Strings(s.Namespaces)
	return s
}

// topFindings picks the incident's most severe findings, one per rule,
// earliest first among equals.
func topFindings(inc *incident.Incident, findings []detect.Finding) []Finding {
	ids := make(map[string]bool, len(inc.Findings))
	for _, a := range inc.Findings {
		ids[a] = true
	}
	var mine []detect.Finding
	for _, f := range findings {
		if ids[f.AuditID] {
			mine = append(mine, f)
		}
	}
	sort.SliceStable(mine, func(i, j int) bool {
		ri, rj := rulefile.SeverityRank(mine[i].Severity), rulefile.SeverityRank(mine[j].Severity)
		if ri != rj {
			return ri > rj
		}
		if !mine[i].At.Equal(mine[j].At) {
			return mine[i].At.Before(mine[j].At)
		}
		return mine[i].AuditID < mine[j].AuditID
	})
	out := []Finding{}
	seen := map[string]bool{}
	for _, f := range mine {
		if seen[f.Rule] {
			continue
		}
		seen[f.Rule] = true
		out = append(out, Finding{Rule: f.Rule, Title: f.Title, Severity: f.Severity, Tactic: f.Tactic, TechniqueID: f.TechniqueID,
			Time: f.Time, Actor: f.Actor(), Verb: f.Verb, Resource: f.Resource, Namespace: f.Namespace, Name: f.Name,
			AuditID: f.AuditID, Message: f.Message})
		if len(out) == maxTopFindings {
			break
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

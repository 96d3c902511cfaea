package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

// Alertmanager posts one alert per incident to Alertmanager's API v2
// (POST /api/v2/alerts), as Prometheus does: labels alertname=KauditIncident,
// severity, incident_id and tactic (the incident's tactics in kill-chain
// order, comma-separated), annotations, startsAt (the incident's first
// finding), endsAt and generatorURL (the incident in kaudit's web view).
// While the incident is open the notifier re-sends the alert (Resend)
// before endsAt, so that Alertmanager keeps it firing; when the incident
// resolves, endsAt is now. When an incident's labels change (it rose in
// severity, gained a tactic), the alert of the old labels is resolved in
// the same request, so that Alertmanager's grouping sees one alert per
// incident.
type Alertmanager struct {
	base
	url   string
	token string
	// openFor is how far ahead of now an open incident's endsAt lies.
	openFor time.Duration
	now     func() time.Time
}

// AlertName is the alertname label of every kaudit alert.
const AlertName = "KauditIncident"

// amAlert is an alert of Alertmanager's API v2 (postableAlert).
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Labels are the labels of n's alert.
func Labels(n *Notification) map[string]string {
	l := map[string]string{"alertname": AlertName, "incident_id": n.Incident.ID, "severity": n.Incident.Severity}
	if len(n.Incident.Tactics) > 0 {
		l["tactic"] = strings.Join(n.Incident.Tactics, ",")
	}
	return l
}

func (a *Alertmanager) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

func (a *Alertmanager) alert(n *Notification, endsAt time.Time) amAlert {
	s := &n.Incident
	first := s.Summary
	if i := strings.Index(first, ". "); i > 0 {
		first = first[:i+1]
	}
	first = truncate(first, 240)
	var d strings.Builder
	d.WriteString(s.Summary)
	if len(n.Reasons) > 0 {
		fmt.Fprintf(&d, "\n\nWhy now: %s.", strings.Join(n.Reasons, "; "))
	}
	for _, f := range s.TopFindings {
		fmt.Fprintf(&d, "\n- [%s] %s: %s by %s", f.Severity, f.Title, objectOf(&f), f.Actor)
	}
	al := amAlert{
		Labels: Labels(n),
		Annotations: map[string]string{
			"summary":         fmt.Sprintf("kaudit incident %s [%s]: %s", s.ID, s.Severity, first),
			"description":     d.String(),
			"actors":          strings.Join(s.Actors, ", "),
			"source_ips":      strings.Join(s.SourceIPs, ", "),
			"tactics":         strings.Join(s.Tactics, ", "),
			"first_seen":      s.Start,
			"last_seen":       s.End,
			"kind":            n.Kind,
			"notification_id": n.ID,
		},
		EndsAt:       endsAt.UTC().Format(time.RFC3339Nano),
		GeneratorURL: s.URL,
	}
	if s.URL != "" {
		al.Annotations["url"] = s.URL
	}
	if t, err := time.Parse(time.RFC3339Nano, s.Start); err == nil {
		al.StartsAt = t.UTC().Format(time.RFC3339Nano)
	}
	return al
}

func objectOf(f *Finding) string {
	o := f.Verb + " " + f.Resource
	if f.Namespace != "" {
		o += " " + f.Namespace + "/" + f.Name
	} else if f.Name != "" {
		o += " " + f.Name
	}
	return o
}

// Send posts n's alert (resolved when n resolves the incident) and, when
// the labels of prev differ, prev's alert resolved.
func (a *Alertmanager) Send(ctx context.Context, n, prev *Notification) error {
	now := a.clock()
	ends := now.Add(a.openFor)
	if n.Kind == KindResolved {
		ends = now
	}
	alerts := []amAlert{a.alert(n, ends)}
	if prev != nil && !maps.Equal(Labels(prev), Labels(n)) {
		alerts = append(alerts, a.alert(prev, now))
	}
	return a.postAlerts(ctx, alerts)
}

// Resend posts n's alert again with endsAt moved ahead: Alertmanager
// resolves an alert whose endsAt passed, so an open incident's alert is
// re-sent well before.
func (a *Alertmanager) Resend(ctx context.Context, n *Notification) error {
	return a.postAlerts(ctx, []amAlert{a.alert(n, a.clock().Add(a.openFor))})
}

func (a *Alertmanager) postAlerts(ctx context.Context, alerts []amAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return &SendError{Err: err}
	}
	hdr := http.Header{}
	if a.token != "" {
		hdr.Set("Authorization", "Bearer "+a.token)
	}
	return post(ctx, a.client, a.url, body, hdr)
}

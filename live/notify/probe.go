package notify

import (
	"context"
	"fmt"
	"time"
)

// ProbeResult is one receiver's answer to a test notification.
type ProbeResult struct {
	Receiver string
	Type     string
	Took     time.Duration
	// Err is nil when the receiver acknowledged (2xx).
	Err error
}

// TestNotification is the synthetic incident `kaudit notify test` sends:
// severity info, kind test, an id of its own.
func TestNotification(now time.Time, externalURL string) *Notification {
	id := fmt.Sprintf("inc-kaudit-test-%d", now.Unix())
	at := now.UTC().Format(time.RFC3339Nano)
	return &Notification{SchemaVersion: SchemaVersion, ID: id + "-1", Kind: KindTest, Seq: 1,
		Reasons: []string{"kaudit notify test: a synthetic incident, to check that notifications reach this receiver"}, DecidedAt: at,
		Incident: Summary{ID: id, Severity: "info", Status: "open",
			Summary: "Test notification from `kaudit notify test`: no incident happened.",
			Tactics: []string{"Discovery"}, Techniques: []Technique{{ID: "MS-TA9000", Name: "Test", Tactic: "Discovery"}},
			Actors: []string{"kaudit-notify-test"}, SourceIPs: []string{}, Namespaces: []string{}, Start: at, End: at,
			FindingCount: 0, Rules: []string{}, URL: IncidentURL(externalURL, id), TopFindings: []Finding{}}}
}

// Probe sends n to every receiver, whatever their filters, and reports
// each answer. Alertmanager gets an alert that ends 5 minutes later.
func Probe(ctx context.Context, receivers []Receiver, n *Notification) []ProbeResult {
	var out []ProbeResult
	for _, r := range receivers {
		if am, ok := r.(*Alertmanager); ok && am.openFor == 0 {
			am.openFor = 5 * time.Minute
		}
		t0 := time.Now()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := r.Send(sctx, n, nil)
		cancel()
		out = append(out, ProbeResult{Receiver: r.Name(), Type: r.Type(), Took: time.Since(t0), Err: err})
	}
	return out
}

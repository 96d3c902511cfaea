package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/live/notify/amtest"
	"github.com/kaudit/kaudit/store/memory"
)

// amInbox is the webhook Alertmanager notifies.
type amInbox struct {
	mu  sync.Mutex
	got []amtest.Notification
}

func (b *amInbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n amtest.Notification
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &n); err == nil {
		b.mu.Lock()
		b.got = append(b.got, n)
		b.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

// firing returns the incident ids of the firing alerts Alertmanager
// notified, in order, one entry per notification.
func (b *amInbox) firing() [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out [][]string
	for _, n := range b.got {
		var ids []string
		for _, a := range n.Alerts {
			if a.Status == "firing" {
				ids = append(ids, a.Labels["incident_id"]+"/"+a.Labels["severity"])
			}
		}
		out = append(out, ids)
	}
	return out
}

func alertOf(alerts []amtest.Alert, id, sev string) *amtest.Alert {
	for i := range alerts {
		if alerts[i].Labels["incident_id"] == id && alerts[i].Labels["severity"] == sev {
			return &alerts[i]
		}
	}
	return nil
}

// Against Debian's prometheus-alertmanager 0.25: the alert arrives with its
// labels and annotations, alerts of two incidents are grouped into one
// notification, a silence suppresses the next incident's, an escalation
// resolves the alert of the old labels, and re-sending keeps an open
// incident's alert firing past its first endsAt.
func TestAlertmanager(t *testing.T) {
	inbox := &amInbox{}
	hook := httptest.NewServer(inbox)
	defer hook.Close()
	am := amtest.Start(t, amtest.Options{WebhookURL: hook.URL, GroupBy: []string{"alertname"}})
	rs, err := NewReceivers([]ReceiverConfig{{Name: "am", Type: TypeAlertmanager, URL: am.URL}}, "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Receivers: rs, Outbox: memory.New(), ExternalURL: "https://kaudit.example", Holder: "a",
		ResendEvery: 500 * time.Millisecond, Tick: 50 * time.Millisecond, Registerer: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	incs := []incident.Incident{
		inc("inc-1", "high", now, now, []string{"Credential Access", "Persistence"}, []string{"mallory"}),
		inc("inc-2", "medium", now, now, []string{"Discovery"}, []string{"eve"}),
	}
	// startsAt is the incident's start: Alertmanager notifies a group at
	// once when its first alert started more than group_wait ago, so these
	// start now, to see the two grouped.
	n.Observe(incs)
	n.step(ctx)

	alerts := am.Alerts(t)
	a := alertOf(alerts, "inc-1", "high")
	if len(alerts) != 2 || a == nil {
		t.Fatalf("alertmanager holds %+v", alerts)
	}
	if a.Labels["alertname"] != "KauditIncident" || a.Labels["tactic"] != "Credential Access,Persistence" ||
		a.Generator != "https://kaudit.example/#/incidents/inc-1" || !strings.Contains(a.Annotations["summary"], "inc-1") ||
		a.Annotations["description"] == "" || a.Status.State != "active" || a.StartsAt.Unix() != now.Unix() {
		t.Fatalf("alert %+v", a)
	}
	eventually(t, 15*time.Second, "one grouped notification from alertmanager", func() bool { return len(inbox.firing()) >= 1 })
	if got := inbox.firing()[0]; len(got) != 2 {
		t.Fatalf("alertmanager's first notification holds %v, want both incidents grouped (all: %+v)", got, inbox.got)
	}
	if g := inbox.got[0].GroupLabels["alertname"]; g != "KauditIncident" {
		t.Fatalf("group labels %v", inbox.got[0].GroupLabels)
	}

	// A silence on the next incident's id: its alert is suppressed and
	// never notified.
	am.Silence(t, "incident_id", "inc-3", time.Hour)
	incs = append(incs, inc("inc-3", "critical", now, now, []string{"Impact"}, []string{"eve"}))
	n.Observe(incs)
	n.step(ctx)
	if a := alertOf(am.Alerts(t), "inc-3", "critical"); a == nil || a.Status.State != "suppressed" || len(a.Status.SilencedBy) != 1 {
		t.Fatalf("silenced alert: %+v", a)
	}

	// inc-1 rises to critical: the critical alert fires, the high one is
	// resolved in the same request.
	incs[0] = inc("inc-1", "critical", now, now.Add(time.Second), []string{"Credential Access", "Persistence"}, []string{"mallory"})
	n.Observe(incs)
	n.step(ctx)
	if a := alertOf(am.Alerts(t), "inc-1", "critical"); a == nil || a.Status.State != "active" {
		t.Fatalf("escalated alert: %+v", a)
	}
	if a := alertOf(am.Alerts(t), "inc-1", "high"); a != nil && !a.EndsAt.Before(time.Now().Add(time.Second)) {
		t.Fatalf("the alert of the old labels still fires until %s", a.EndsAt)
	}
	eventually(t, 15*time.Second, "the escalation notified", func() bool {
		for _, f := range inbox.firing() {
			for _, id := range f {
				if id == "inc-1/critical" {
					return true
				}
			}
		}
		return false
	})
	for _, f := range inbox.firing() {
		for _, id := range f {
			if strings.HasPrefix(id, "inc-3/") {
				t.Fatalf("the silenced incident was notified: %v", inbox.firing())
			}
		}
	}

	// endsAt is 4 re-send periods (2 s) ahead; re-sending keeps the alert
	// firing well past it.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); n.Run(runCtx) }()
	time.Sleep(3 * time.Second)
	a = alertOf(am.Alerts(t), "inc-2", "medium")
	stop()
	<-done
	if a == nil || a.Status.State != "active" || !a.EndsAt.After(time.Now()) {
		t.Fatalf("inc-2's alert after 3 s of re-sending: %+v", a)
	}
}

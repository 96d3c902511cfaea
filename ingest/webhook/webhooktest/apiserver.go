package webhooktest

import (
	"bufio"
	"os"
	"testing"
	"time"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit"
	utilwebhook "k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/apiserver/plugin/pkg/audit/buffered"
	"k8s.io/apiserver/plugin/pkg/audit/webhook"

	"github.com/kaudit/kaudit/ingest"
)

// Apiserver is kube-apiserver's audit webhook backend, wired as the
// apiserver wires it in batch mode: the webhook client wrapped in the
// buffered backend (async delegate, default batch size and throttle).
type Apiserver struct {
	backend audit.Backend
	stop    chan struct{}
}

// NewApiserver starts the backend posting to the webhook kubeconfig's
// server. initialBackoff replaces the apiserver's 10 s first retry delay so
// that a test's retries do not take minutes; every other setting is the
// apiserver's default.
func NewApiserver(t testing.TB, kubeconfig string, initialBackoff time.Duration) *Apiserver {
	t.Helper()
	wh, err := webhook.NewBackend(kubeconfig, auditv1.SchemeGroupVersion, utilwebhook.DefaultRetryBackoffWithInitialDelay(initialBackoff), nil)
	if err != nil {
		t.Fatalf("apiserver webhook backend: %v", err)
	}
	cfg := buffered.BatchConfig{
		BufferSize:     10000,
		MaxBatchSize:   400,
		MaxBatchWait:   200 * time.Millisecond, // the apiserver's 30 s would only slow the test
		ThrottleEnable: true,
		ThrottleQPS:    10,
		ThrottleBurst:  15,
		AsyncDelegate:  true,
	}
	a := &Apiserver{backend: buffered.NewBackend(wh, cfg), stop: make(chan struct{})}
	if err := a.backend.Run(a.stop); err != nil {
		t.Fatal(err)
	}
	return a
}

// Send queues events as the apiserver's audit layer does (converted to the
// internal version the backends take).
func (a *Apiserver) Send(t testing.TB, events []*auditv1.Event) {
	t.Helper()
	for _, ev := range events {
		in := new(auditinternal.Event)
		if err := audit.Scheme.Convert(ev, in, nil); err != nil {
			t.Fatalf("convert event %s: %v", ev.AuditID, err)
		}
		a.backend.ProcessEvents(in)
	}
}

// Shutdown flushes every queued event (each batch sent, retried or given up
// as the apiserver would) and stops the backend.
func (a *Apiserver) Shutdown() {
	close(a.stop)
	a.backend.Shutdown()
}

// Sample reads a log of JSON lines written by kube-apiserver.
func Sample(t testing.TB, path string) []*auditv1.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	var out []*auditv1.Event
	for sc.Scan() {
		ev, err := ingest.DecodeEvent(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

package webhooktest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit"
	utilwebhook "k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/apiserver/plugin/pkg/audit/buffered"
	"k8s.io/apiserver/plugin/pkg/audit/webhook"
	"k8s.io/klog/v2"

	"github.com/go-logr/logr"

	"github.com/kaudit/kaudit/ingest"
)

// Apiserver is kube-apiserver's audit webhook backend, wired as the
// apiserver wires it in batch mode: the webhook client wrapped in the
// buffered backend (async delegate, default batch size and throttle).
type Apiserver struct {
	backend audit.Backend
	client  *counting
	stop    chan struct{}
}

// counting is the webhook client, counting the events of the batches it
// gave up on (after its retries, or at once for an answer it does not
// retry).
type counting struct {
	audit.Backend
	dropped atomic.Int64
}

func (c *counting) ProcessEvents(evs ...*auditinternal.Event) bool {
	ok := c.Backend.ProcessEvents(evs...)
	if !ok {
		c.dropped.Add(int64(len(evs)))
	}
	return ok
}

// NewApiserver starts the backend posting to the webhook kubeconfig's
// server. initialBackoff replaces the apiserver's 10 s first retry delay so
// that a test's retries do not take minutes; every other setting is the
// apiserver's default.
func NewApiserver(t testing.TB, kubeconfig string, initialBackoff time.Duration) *Apiserver {
	t.Helper()
	shortenKlog.Do(func() {
		klog.SetLogger(logr.New(firstLines{os.Stderr}))
	})
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
	client := &counting{Backend: wh}
	a := &Apiserver{backend: buffered.NewBackend(client, cfg), client: client, stop: make(chan struct{})}
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
		if !a.backend.ProcessEvents(in) {
			t.Fatalf("event %s: the apiserver's audit buffer is full", ev.AuditID)
		}
	}
}

// Dropped is how many events the client gave up on, as the apiserver
// does once a batch's retries are spent: such events are lost for good,
// so a test that expects every event delivered checks it after Shutdown.
func (a *Apiserver) Dropped() int { return int(a.client.dropped.Load()) }

// Shutdown flushes every queued event (each batch sent, retried or given up
// as the apiserver would) and stops the backend.
func (a *Apiserver) Shutdown() {
	close(a.stop)
	a.backend.Shutdown()
}

// shortenKlog makes klog, which the apiserver's backends log through,
// write the first line of each message only. A batch given up on is
// logged with every one of its events, one line each: hundreds of lines
// that push a test's own failure out of the tail of go test's output.
var shortenKlog sync.Once

// firstLines is a logr sink writing the first line of each message (and
// how many it left out) to w. Set as klog's logger, it takes every message
// klog would have written to stderr.
type firstLines struct{ w io.Writer }

func (firstLines) Init(logr.RuntimeInfo)                   {}
func (firstLines) Enabled(level int) bool                  { return level <= 0 } // what klog writes by default
func (f firstLines) WithValues(...any) logr.LogSink        { return f }
func (f firstLines) WithName(string) logr.LogSink          { return f }
func (f firstLines) Info(_ int, msg string, _ ...any)      { f.write("I", msg, nil) }
func (f firstLines) Error(err error, msg string, _ ...any) { f.write("E", msg, err) }

func (f firstLines) write(level, msg string, err error) {
	line, rest, _ := strings.Cut(msg, "\n")
	if err != nil {
		line += ": " + err.Error()
	}
	if rest = strings.TrimSuffix(rest, "\n"); rest != "" {
		line += fmt.Sprintf(" (and %d more lines)", strings.Count(rest, "\n")+1)
	}
	fmt.Fprintf(f.w, "%s %s %s\n", level, time.Now().Format("15:04:05.000000"), line)
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

package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
	"github.com/kaudit/kaudit/store/clickhouse/chtest"
	kafkago "github.com/segmentio/kafka-go"
)

// Tokens of the serve tests: the apiserver's and an analyst's.
const (
	testWebhookToken = "apiserver-webhook-token"
	testAnalystToken = "analyst-token"
)

// childEnv marks the test binary re-executed as `kaudit serve` (see
// TestServeChild): a real process, so that tests can SIGKILL it.
const childEnv = "KAUDIT_SERVE_CHILD_ARGS"

// TestServeChild is not a test: when the test binary is started with
// childEnv set, it runs `kaudit` with those arguments and exits with its
// status. In an ordinary run it returns at once.
func TestServeChild(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, "bad", childEnv, err)
		os.Exit(2)
	}
	os.Exit(run(args, os.Stdin, os.Stdout, os.Stderr))
}

// serveEnv is what a serve test sets up: PKI, token files, a spool
// directory, a ClickHouse server.
type serveEnv struct {
	t   *testing.T
	pki *webhooktest.PKI
	dir string
	ch  *chtest.Server
	// cl, instead of ch, is a ClickHouse cluster (store.cluster); each
	// kaudit started enters it through Nodes[entry] (its DSN lists that
	// node first).
	cl       *chtest.Cluster
	entry    int
	db       string
	spoolDir string
	// spoolMax and maxBody set spool.max_bytes and webhook.max_body_bytes
	// when not empty.
	spoolMax, maxBody string
	// extra is YAML appended to the configuration (notify: ...).
	extra string
	// spoolExtra is YAML added to the spool section (flush_interval: 1h).
	spoolExtra string
	// env is added to the child's environment (GOMEMLIMIT).
	env []string
}

func newServeEnv(t *testing.T, db string) *serveEnv {
	t.Helper()
	e := &serveEnv{t: t, pki: webhooktest.NewPKI(t), dir: t.TempDir(), db: db}
	e.spoolDir = filepath.Join(e.dir, "spool")
	writeFile(t, filepath.Join(e.dir, "webhook.tokens"), "# the apiserver\n"+testWebhookToken+"\n")
	writeFile(t, filepath.Join(e.dir, "api.tokens"), testAnalystToken+"\n")
	e.ch = chtest.Start(t)
	return e
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// config writes serve's configuration file.
func (e *serveEnv) config() string {
	spoolMax, maxBody := e.spoolMax, e.maxBody
	store := "dsn: " + e.dsn()
	if e.cl != nil {
		store += "\n  cluster: " + e.cl.Name
	}
	if spoolMax == "" {
		spoolMax = "1Gi"
	}
	if maxBody == "" {
		maxBody = "32Mi"
	}
	cfg := fmt.Sprintf(`webhook:
  listen: 127.0.0.1:0
  max_body_bytes: %s
  tls:
    cert: %s
    key: %s
    client_ca: %s
  tokens_file: %s
api:
  listen: 127.0.0.1:0
  tokens_file: %s
store:
  %s
spool:
  dir: %s
  max_bytes: %s
%sredact:
  key: serve-test-key
`, maxBody, e.pki.ServerCert, e.pki.ServerKey, e.pki.CAFile, filepath.Join(e.dir, "webhook.tokens"), filepath.Join(e.dir, "api.tokens"),
		store, e.spoolDir, spoolMax, e.spoolExtra) + e.extra
	path := filepath.Join(e.dir, "kaudit.yaml")
	writeFile(e.t, path, cfg)
	return path
}

// dsn is store.dsn: the server's, or the cluster's entered at e.entry.
func (e *serveEnv) dsn() string {
	if e.cl != nil {
		return e.cl.DSNFrom(e.entry, e.db)
	}
	return e.ch.DSN(e.db)
}

// kauditProc is a running `kaudit serve`.
type kauditProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	webhook string // https://addr/audit/webhook
	api     string // https://addr
	client  *http.Client
	logs    *syncBuffer
	exited  chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listeningRE = regexp.MustCompile(`"msg":"(webhook|query API) listening","addr":"([^"]+)"`)

// start runs `kaudit serve --config FILE` as a child process and waits
// until both listeners are up.
func (e *serveEnv) start() *kauditProc {
	t := e.t
	t.Helper()
	args, _ := json.Marshal([]string{"serve", "--config", e.config()})
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), e.env...), childEnv+"="+string(args))
	p := &kauditProc{t: t, cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(p.logs, pw)
	cmd.Stdout = p.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); pw.Close(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("kaudit serve log:\n%s", tail(p.logs.String(), 60))
		}
	})
	found := map[string]string{}
	sc := bufio.NewScanner(pr)
	for len(found) < 2 && sc.Scan() {
		if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
			found[m[1]] = m[2]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if len(found) < 2 {
		<-p.exited
		t.Fatalf("kaudit serve did not start:\n%s", p.logs.String())
	}
	p.webhook = "https://" + found["webhook"] + "/audit/webhook"
	p.api = "https://" + found["query API"]
	caPEM, err := os.ReadFile(e.pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	p.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// memory returns the process's resident memory now and its peak so far
// (VmRSS, VmHWM), in bytes.
func (p *kauditProc) memory() (rss, peak int64) {
	p.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kb int64
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			rss = kb << 10
		}
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			peak = kb << 10
		}
	}
	return rss, peak
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *kauditProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (p *kauditProc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatal("kaudit serve did not stop within 60 s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("kaudit serve exited %d after SIGTERM", code)
	}
}

// get does a GET on the query API listener with a bearer token.
func (p *kauditProc) get(path, token string) (int, []byte) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.api+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// post posts a body to the webhook with a bearer token.
func (p *kauditProc) post(body []byte, token string, hdr map[string]string) (int, http.Header, []byte) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.webhook, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// metric reads one sample of /metrics ("name" or `name{label="v"}`), with
// the analyst's token, which shows the detection metrics too.
func (p *kauditProc) metric(name string) float64 {
	p.t.Helper()
	code, body := p.get("/metrics", testAnalystToken)
	if code != http.StatusOK {
		p.t.Fatalf("/metrics: %d", code)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				p.t.Fatalf("metric %s: %v", name, err)
			}
			return v
		}
	}
	p.t.Fatalf("metric %s not in /metrics", name)
	return 0
}

// eventually polls cond until it holds, failing after limit. Only for
// waiting on background work (a drain, the incident publisher): nothing is
// asserted about how long it took.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not the case after %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stored counts the events in ClickHouse: rows once duplicates collapse
// (FINAL), and distinct (audit_id, stage) identities. Both must equal what
// was sent for "stored exactly once".
func (e *serveEnv) stored() (rows, identities int) {
	e.t.Helper()
	q := fmt.Sprintf("SELECT count(), uniqExact(audit_id, stage) FROM %s.events FINAL", e.db)
	var out []byte
	if e.cl != nil {
		// Through the Distributed table, from a node that is up.
		s, err := e.cl.Any().Query(q)
		if err != nil {
			e.t.Fatalf("cluster: %v", err)
		}
		out = []byte(s)
	} else {
		var err error
		out, err = exec.Command("clickhouse-client", append(e.ch.ClientArgs(), "--query", q)...).CombinedOutput()
		if err != nil {
			e.t.Fatalf("clickhouse-client: %v: %s", err, out)
		}
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		e.t.Fatalf("clickhouse-client: %q", out)
	}
	rows, _ = strconv.Atoi(f[0])
	identities, _ = strconv.Atoi(f[1])
	return rows, identities
}

// actorMessages wraps log lines as Kafka messages keyed by actor, as the
// forwarder and a well-configured shipper key them.
func actorMessages(t *testing.T, lines [][]byte) []kafkago.Message {
	t.Helper()
	msgs := make([]kafkago.Message, len(lines))
	for i, l := range lines {
		ev, err := ingest.DecodeEvent(l)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		msgs[i] = kafkago.Message{Key: []byte(detect.ActorOf(ev)), Value: l}
	}
	return msgs
}

// fillingSample is the sample eight times over, each event with an audit
// ID of its own: more than 800 KiB of spooled batches once they are packed
// (about tenfold, live/spool/frame.go), for the tests that fill a spool of
// that size.
func fillingSample(t *testing.T) []*auditv1.Event {
	var evs []*auditv1.Event
	for n, ev := range slices.Repeat(webhooktest.Sample(t, sample), 8) {
		ev = ev.DeepCopy()
		ev.AuditID = types.UID(fmt.Sprintf("fill-%05d", n))
		evs = append(evs, ev)
	}
	return evs
}

// Package amtest starts a private Prometheus Alertmanager for tests: the
// prometheus-alertmanager binary that `make deps` installs from Debian
// (0.25), on a free loopback port, with a temporary data directory and a
// configuration that routes every alert to a webhook the test serves, so
// that a test sees both Alertmanager's API and what it notifies. A missing
// binary or a server that does not come up fails the test.
package amtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary is the name Debian installs Alertmanager under.
const Binary = "prometheus-alertmanager"

// Server is a running Alertmanager owned by a test.
type Server struct {
	// URL is its base URL (http://127.0.0.1:PORT).
	URL string
	Dir string

	cmd    *exec.Cmd
	exited chan struct{}
	output *syncBuffer
}

type syncBuffer struct {
	b  bytes.Buffer
	mu chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

// Options shape the route.
type Options struct {
	// WebhookURL receives what Alertmanager notifies (required).
	WebhookURL string
	// GroupBy are the route's group_by labels (default alertname).
	GroupBy []string
	// GroupWait, GroupInterval and RepeatInterval of the route (defaults
	// 1s, 1s, 1h: short, so that tests see notifications quickly).
	GroupWait, GroupInterval, RepeatInterval string
}

// Start starts Alertmanager and stops it when the test ends.
//
// Long because it is a server's start-up in order (config, ports, process,
// readiness), as chtest's is.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		t.Fatalf("amtest: %s is not installed: run `make deps` (apt-get install prometheus-alertmanager)", Binary)
	}
	if len(o.GroupBy) == 0 {
		o.GroupBy = []string{"alertname"}
	}
	if o.GroupWait == "" {
		o.GroupWait = "1s"
	}
	if o.GroupInterval == "" {
		o.GroupInterval = "1s"
	}
	if o.RepeatInterval == "" {
		o.RepeatInterval = "1h"
	}
	dir := t.TempDir()
	groupBy, _ := json.Marshal(o.GroupBy)
	cfg := fmt.Sprintf(`route:
  receiver: test
  group_by: %s
  group_wait: %s
  group_interval: %s
  repeat_interval: %s
receivers:
  - name: test
    webhook_configs:
      - url: %q
        send_resolved: true
`, groupBy, o.GroupWait, o.GroupInterval, o.RepeatInterval, o.WebhookURL)
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir, exited: make(chan struct{}), output: &syncBuffer{mu: make(chan struct{}, 1)}}
	s.cmd = exec.Command(bin, "--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=", "--log.level=warn")
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("amtest: start %s: %v", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", s.output.String())
		}
	})
	if err := s.waitReady(30 * time.Second); err != nil {
		t.Fatalf("amtest: %v\n%s", err, s.output.String())
	}
	return s
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.exited:
			return errors.New("alertmanager exited at start")
		default:
		}
		if resp, err := c.Get(s.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("alertmanager not ready on %s within %s", s.URL, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Alert is an alert as GET /api/v2/alerts shows it.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Generator   string            `json:"generatorURL"`
	Status      struct {
		State      string   `json:"state"`
		SilencedBy []string `json:"silencedBy"`
	} `json:"status"`
}

// Alerts lists the alerts Alertmanager holds (active, silenced, inhibited).
func (s *Server) Alerts(t testing.TB) []Alert {
	t.Helper()
	resp, err := http.Get(s.URL + "/api/v2/alerts")
	if err != nil {
		t.Fatalf("amtest: %v", err)
	}
	defer resp.Body.Close()
	var out []Alert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("amtest: alerts: %v", err)
	}
	return out
}

// Silence silences alerts whose label name equals value for d and returns
// the silence's id.
func (s *Server) Silence(t testing.TB, name, value string, d time.Duration) string {
	t.Helper()
	now := time.Now().UTC()
	body, _ := json.Marshal(map[string]any{
		"matchers":  []map[string]any{{"name": name, "value": value, "isRegex": false, "isEqual": true}},
		"startsAt":  now.Format(time.RFC3339),
		"endsAt":    now.Add(d).Format(time.RFC3339),
		"createdBy": "amtest",
		"comment":   "test silence",
	})
	resp, err := http.Post(s.URL+"/api/v2/silences", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("amtest: silence: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("amtest: silence: %d %s", resp.StatusCode, b)
	}
	var r struct {
		ID string `json:"silenceID"`
	}
	_ = json.Unmarshal(b, &r)
	return strings.TrimSpace(r.ID)
}

// Notification is what Alertmanager posts to a webhook_config (version 4).
type Notification struct {
	Status      string            `json:"status"`
	GroupKey    string            `json:"groupKey"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

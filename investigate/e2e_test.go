package investigate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The browser test needs Debian's chromium and playwright-core installed
// by `make deps`; without them it fails, never skips.
const (
	e2eDir       = "e2e"
	e2eScript    = "ui.test.mjs"
	largeEvents  = 10_000
	largeSpanUS  = 4_000_000 // microseconds, inside mallory's incident
	largeStartAt = "2026-11-22T09:53:41.000000Z"
	xssName      = `<img src=x onerror="window.__xss=1">`
)

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// TestBrowserEndToEnd runs the analyst's view in headless Chromium against
// real `kaudit ui` processes: one on the basic-intrusion sample (login,
// the mallory incident, links, bookmarks, logout), one on the sample plus
// 10,000 events of mallory's inside her incident (render and interaction
// times, reported).
func TestBrowserEndToEnd(t *testing.T) {
	if _, err := os.Stat(chromiumPath()); err != nil {
		t.Fatalf("chromium is missing (%v): run `make deps`, which installs Debian's chromium package", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e2eDir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("playwright-core is missing (%v): run `make deps`, which runs npm ci in investigate/e2e", err)
	}

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "kaudit")
	build := exec.Command("go", "build", "-o", bin, "../cmd/kaudit")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kaudit: %v\n%s", err, out)
	}
	large := filepath.Join(tmp, "large-incident.log")
	writeLargeIncident(t, large)

	basic := startUI(t, bin, samplePath)
	big := startUI(t, bin, large)

	// On the real server too: no session, no data.
	checkUnauthenticated(t, basic.url)
	bigID := largeIncidentID(t, big)

	shots := os.Getenv("KAUDIT_UI_SHOTS")
	if shots == "" {
		// Kept after the test (outside the repository) so that the
		// screenshot can be looked at; the path is logged.
		if shots, err = os.MkdirTemp("", "kaudit-ui-shots-"); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _ := json.Marshal(map[string]any{
		"url": basic.url, "token": basic.token, "shots": shots,
		"big": map[string]string{"url": big.url, "token": big.token, "incident": bigID},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, e2eScript, string(cfg))
	cmd.Dir = e2eDir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("browser test log:\n%s", stderr.String())
	if err != nil {
		t.Fatalf("browser test failed: %v\n%s", err, stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var metrics map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &metrics); err != nil {
		t.Fatalf("browser test printed no measurements: %v\n%s", err, stdout.String())
	}
	b, _ := json.MarshalIndent(metrics, "", "  ")
	if pngs, err := filepath.Glob(filepath.Join(shots, "*.png")); err == nil {
		t.Logf("screenshots (%s):\n  %s", shots, strings.Join(pngs, "\n  "))
	}
	t.Logf("incident of %d events, measured in Chromium (reported, not asserted):\n%s", largeEvents, b)

	basic.stop(t)
	big.stop(t)
}

// uiProc is a running `kaudit ui`.
type uiProc struct {
	cmd    *exec.Cmd
	url    string
	token  string
	stderr *bytes.Buffer
}

var (
	urlLine   = regexp.MustCompile(`^kaudit ui: open (http://\S+/)$`)
	tokenLine = regexp.MustCompile(`^kaudit ui: analyst token \(valid until this process exits\): (\S+)$`)
)

// startUI starts `kaudit ui` on path and reads its URL and one-time token
// from its output.
func startUI(t *testing.T, bin, path string) *uiProc {
	t.Helper()
	cmd := exec.Command(bin, "ui", "--listen", "127.0.0.1:0", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &uiProc{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kaudit ui: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				p.url = m[1]
			}
			if m := tokenLine.FindStringSubmatch(sc.Text()); m != nil {
				p.token = m[1]
			}
			if p.url != "" && p.token != "" {
				found <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		found <- fmt.Errorf("output ended without URL and token: %v", sc.Err())
	}()
	select {
	case err := <-found:
		if err != nil {
			t.Fatalf("kaudit ui %s: %v\nstderr:\n%s", path, err, p.stderr)
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("kaudit ui %s printed no URL and token\nstderr:\n%s", path, p.stderr)
	}
	return p
}

// stop sends SIGTERM, as a user's Ctrl-C would, and expects a clean exit.
func (p *uiProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("kaudit ui did not exit cleanly on SIGTERM: %v\nstderr:\n%s", err, p.stderr)
	}
}

func checkUnauthenticated(t *testing.T, base string) {
	t.Helper()
	for _, path := range []string{"", "api/v1/incidents", "api/v1/timeline?actor=mallory"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || bytes.Contains(body, []byte("mallory")) {
			t.Fatalf("GET /%s without credentials: %d\n%s", path, res.StatusCode, body)
		}
		if path == "" && !bytes.Contains(body, []byte(`name="token"`)) {
			t.Fatalf("GET / without a session is not the login page:\n%s", body)
		}
	}
}

// largeIncidentID asks the API (with the bearer token) for mallory's incident.
func largeIncidentID(t *testing.T, p *uiProc) string {
	t.Helper()
	req, _ := http.NewRequest("GET", p.url+"api/v1/incidents?actor=mallory", nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list IncidentList
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || len(list.Incidents) != 1 {
		t.Fatalf("mallory's incident on the large log: %d %v %d", res.StatusCode, err, len(list.Incidents))
	}
	return list.Incidents[0].ID
}

// writeLargeIncident writes the sample followed by 10,000 ordinary
// requests of mallory's (gets and lists of pods, some denied) inside her
// incident's span, so that the incident's timeline holds over 10,000
// events while its findings stay those of the sample.
func writeLargeIncident(t *testing.T, path string) {
	t.Helper()
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.Write(sample)
	start, err := time.Parse(time.RFC3339Nano, largeStartAt)
	if err != nil {
		t.Fatal(err)
	}
	verbs := []string{"get", "list", "get", "watch"}
	for i := 0; i < largeEvents; i++ {
		at := start.Add(time.Duration(i*largeSpanUS/largeEvents) * time.Microsecond).Format("2006-01-02T15:04:05.000000Z")
		ns := fmt.Sprintf("team-%c", 'a'+i%5)
		verb := verbs[i%len(verbs)]
		name, uri := fmt.Sprintf("web-%d", i%97), ""
		if verb == "get" {
			uri = fmt.Sprintf("/api/v1/namespaces/%s/pods/%s", ns, name)
		} else {
			name, uri = "", fmt.Sprintf("/api/v1/namespaces/%s/pods", ns)
		}
		code, decision := 200, "allow"
		if i%50 == 0 {
			code, decision = 403, "forbid"
		}
		ev := map[string]any{
			"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
			"auditID": fmt.Sprintf("e2e00000-0000-4000-8000-%012d", i), "stage": "ResponseComplete",
			"requestURI": uri, "verb": verb,
			"user":      map[string]any{"username": "mallory", "uid": "3", "groups": []string{"developers", "system:authenticated"}},
			"sourceIPs": []string{"127.0.0.1"}, "userAgent": "kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07",
			"objectRef":                map[string]any{"resource": "pods", "namespace": ns, "name": name, "apiVersion": "v1"},
			"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": code},
			"requestReceivedTimestamp": at, "stageTimestamp": at,
			"annotations": map[string]string{"authorization.k8s.io/decision": decision, "authorization.k8s.io/reason": ""},
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	// One request names an object with markup: audit logs are attacker
	// controlled, and the page must show it as text, never run it.
	hostile := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
		"auditID": "e2e00000-0000-4000-8000-hostile00001", "stage": "ResponseComplete",
		"requestURI": "/api/v1/namespaces/team-a/configmaps/x", "verb": "get",
		"user":      map[string]any{"username": "mallory", "uid": "3", "groups": []string{"developers", "system:authenticated"}},
		"sourceIPs": []string{"127.0.0.1"}, "userAgent": `<script>window.__xss=1</script>`,
		"objectRef":                map[string]any{"resource": "configmaps", "namespace": "team-a", "name": xssName, "apiVersion": "v1"},
		"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": 404},
		"requestReceivedTimestamp": "2026-11-22T09:53:42.500000Z", "stageTimestamp": "2026-11-22T09:53:42.500000Z",
		"annotations": map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
	}
	b, err := json.Marshal(hostile)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(b)
	buf.WriteByte('\n')
	// One request came through a proxy: X-Forwarded-For named the client,
	// the peer is the proxy. The page must show two addresses, each marked.
	forwarded := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
		"auditID": "e2e00000-0000-4000-8000-forwarded001", "stage": "ResponseComplete",
		"requestURI": "/api/v1/namespaces/team-a/pods/web-1", "verb": "get",
		"user":      map[string]any{"username": "mallory", "uid": "3", "groups": []string{"developers", "system:authenticated"}},
		"sourceIPs": []string{"203.0.113.5", "127.0.0.1"}, "userAgent": "kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07",
		"objectRef":                map[string]any{"resource": "pods", "namespace": "team-a", "name": "web-1", "apiVersion": "v1"},
		"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": 200},
		"requestReceivedTimestamp": "2026-11-22T09:53:42.600000Z", "stageTimestamp": "2026-11-22T09:53:42.600000Z",
		"annotations": map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
	}
	if b, err = json.Marshal(forwarded); err != nil {
		t.Fatal(err)
	}
	buf.Write(b)
	buf.WriteByte('\n')
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

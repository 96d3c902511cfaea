package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The CRDs of the optional objects the chart renders, from the projects'
// own Go modules (the Go module proxy is the only network): the dry run
// then checks the ServiceMonitor and the Certificate against their real
// schemas.
var crds = []struct{ module, file, name string }{
	{"github.com/prometheus-operator/prometheus-operator@v0.85.0", "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml", "servicemonitors.monitoring.coreos.com"},
	{"github.com/cert-manager/cert-manager@v1.21.2", "deploy/crds/cert-manager.io_certificates.yaml", "certificates.cert-manager.io"},
}

// clusterLock is held around a cluster's whole life: other engineers' and
// tests' clusters on this machine use the same lock (and fixed ports).
const clusterLock = "/tmp/kaudit-cluster.lock"

type cluster struct {
	bin, run, kubeconfig string
}

// startCluster builds (once per machine) and starts etcd and
// kube-apiserver on free loopback ports, under the cluster lock, and stops
// them when the test ends.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	for _, tool := range []string{"etcd", "openssl", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run `make deps` (apt-get install etcd-server openssl curl)", tool)
		}
	}
	start := time.Now()
	out, err := run(repo, nil, "bash", clusterBuildSh)
	if err != nil {
		t.Fatalf("deploy/dev/cluster/build.sh: %v", err)
	}
	bin := strings.TrimSpace(lastLine(out))
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("built kube-apiserver and kubectl in %s", d.Round(time.Second))
	}

	lock, err := os.OpenFile(clusterLock, os.O_CREATE|os.O_RDWR, 0666)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for it as long as the test's time allows, keeping two minutes
	// for the test itself.
	waited := time.Now()
	giveUp := waited.Add(10 * time.Minute)
	if d, ok := t.Deadline(); ok {
		giveUp = d.Add(-2 * time.Minute)
	}
	for {
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			break
		}
		if time.Now().After(giveUp) {
			lock.Close()
			t.Fatalf("%s held by another cluster for %s", clusterLock, time.Since(waited).Round(time.Second))
		}
		time.Sleep(time.Second)
	}
	if d := time.Since(waited); d > 2*time.Second {
		t.Logf("waited %s for %s", d.Round(time.Second), clusterLock)
	}
	c := &cluster{bin: bin, run: t.TempDir()}
	c.kubeconfig = filepath.Join(c.run, "admin.kubeconfig")
	ports := freePorts(t, 3)
	env := []string{"BIN=" + bin, "RUN=" + c.run,
		fmt.Sprintf("APISERVER_PORT=%d", ports[0]), fmt.Sprintf("ETCD_PORT=%d", ports[1]), fmt.Sprintf("ETCD_PEER_PORT=%d", ports[2])}
	t.Cleanup(func() {
		if _, err := run(repo, env, "bash", clusterDownSh); err != nil {
			t.Errorf("deploy/dev/cluster/down.sh: %v", err)
		}
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	})
	start = time.Now()
	if _, err := run(repo, env, "bash", clusterUpSh); err != nil {
		t.Fatalf("deploy/dev/cluster/up.sh: %v", err)
	}
	t.Logf("kube-apiserver ready in %s", time.Since(start).Round(100*time.Millisecond))
	return c
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func freePorts(t testing.TB, n int) []int {
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func (c *cluster) kubectl(args ...string) (string, error) {
	return run(repo, nil, filepath.Join(c.bin, "kubectl"), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
}

// dryRun applies a manifest with `kubectl apply --dry-run=server
// --validate=strict`: the apiserver decodes every object (unknown kinds,
// API versions and fields fail), runs defaulting, validation and admission,
// and stores nothing.
func (c *cluster) dryRun(t *testing.T, name, manifest string) error {
	f := filepath.Join(t.TempDir(), strings.NewReplacer(" ", "-", "/", "-", ",", "").Replace(name)+".yaml")
	if err := os.WriteFile(f, []byte(manifest), 0644); err != nil {
		t.Fatal(err)
	}
	out, err := c.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", f)
	if err == nil {
		t.Logf("%s: %d objects accepted", name, strings.Count(out, "(server dry run)"))
	}
	return err
}

// TestManifestsOnAPIServer applies every rendering of the chart and the
// static manifest to a real kube-apiserver with a server-side dry run, and
// checks that what the apiserver must refuse it does refuse.
func TestManifestsOnAPIServer(t *testing.T) {
	helm(t)
	c := startCluster(t)

	if _, err := c.kubectl("create", "namespace", releaseNS); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, crd := range crds {
		out, err := run(repo, nil, "go", "mod", "download", "-json", crd.module)
		if err != nil {
			t.Fatalf("go mod download %s: %v", crd.module, err)
		}
		var m struct{ Dir string }
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		if _, err := c.kubectl("create", "-f", filepath.Join(m.Dir, crd.file)); err != nil {
			t.Fatal(err)
		}
		names = append(names, "crd/"+crd.name)
	}
	if _, err := c.kubectl(append([]string{"wait", "--for", "condition=established", "--timeout=60s"}, names...)...); err != nil {
		t.Fatal(err)
	}

	// The address the control plane's calls come from, as this cluster
	// advertises it (in a kubeadm cluster: the control-plane node's IP).
	ipOut, err := c.kubectl("get", "endpoints", "kubernetes", "-n", "default", "-o", "jsonpath={.subsets[0].addresses[0].ip}")
	if err != nil {
		t.Fatal(err)
	}
	apiserverIP := net.ParseIP(strings.TrimSpace(ipOut))
	if apiserverIP == nil {
		t.Fatalf("the kubernetes endpoints hold no address: %q", ipOut)
	}
	cidr := apiserverIP.String() + "/32"
	if apiserverIP.To4() == nil {
		cidr = apiserverIP.String() + "/128"
	}

	for _, r := range renderings {
		if err := c.dryRun(t, r.name, mustRender(t, r.values, r.sets...)); err != nil {
			t.Errorf("%s: the apiserver refused the rendering: %v", r.name, err)
		}
	}
	// helm install --dry-run=server: Helm's own path to the apiserver, and
	// the release notes the operator reads: the apiserver flags and the
	// webhook kubeconfig with this release's URL.
	for _, r := range []struct {
		name   string
		values []string
		url    string
	}{
		{"default values", nil, "https://kaudit-webhook.kaudit.svc:8443/audit/webhook"},
		{"full values", []string{fullValues}, "https://10.96.100.100:8443/audit/webhook"},
		{"forwarding receiver", []string{forwardValues}, "https://kaudit-webhook.kaudit.svc:8443/audit/webhook"},
	} {
		args := []string{"install", releaseName, chartDir, "--namespace", releaseNS, "--dry-run=server", "--kubeconfig", c.kubeconfig}
		for _, f := range r.values {
			args = append(args, "-f", f)
		}
		out, err := run(repo, helmEnv(), helm(t), args...)
		if err != nil {
			t.Errorf("helm install --dry-run=server with %s: %v", r.name, err)
			continue
		}
		_, notes, _ := strings.Cut(out, "NOTES:")
		for _, want := range []string{"--audit-webhook-config-file=/etc/kubernetes/kaudit/webhook-kubeconfig.yaml", "--audit-policy-file=", "server: " + r.url, "current-context: kaudit"} {
			if !strings.Contains(notes, want) {
				t.Errorf("helm install with %s: the notes lack %q:\n%s", r.name, want, notes)
			}
		}
	}

	static, err := os.ReadFile(staticManifest)
	if err != nil {
		t.Fatal(err)
	}
	// The static manifest's Namespace exists (created above): its objects
	// are checked in it.
	if err := c.dryRun(t, "deploy/kubernetes/kaudit.yaml", string(static)); err != nil {
		t.Errorf("deploy/kubernetes/kaudit.yaml: the apiserver refused it: %v", err)
	}

	// This cluster's control plane, set as the chart's apiserverCIDRs: the
	// NetworkPolicy the apiserver accepts must let its calls in; a policy for
	// other addresses must not.
	ok := mustRender(t, []string{fullValues}, "networkPolicy.apiserverCIDRs={"+cidr+"}")
	if err := c.dryRun(t, "full values, this apiserver's CIDR", ok); err != nil {
		t.Errorf("full values with networkPolicy.apiserverCIDRs={%s}: %v", cidr, err)
	}
	if reach, why := webhookReachable(t, parseObjects(t, ok), apiserverIP); !reach {
		t.Errorf("with networkPolicy.apiserverCIDRs={%s}, the apiserver at %s cannot reach the webhook: %s", cidr, apiserverIP, why)
	}
	blocked := parseObjects(t, mustRender(t, []string{fullValues}, "networkPolicy.apiserverCIDRs={198.51.100.0/24}"))
	if reach, why := webhookReachable(t, blocked, apiserverIP); reach {
		t.Errorf("a NetworkPolicy for 198.51.100.0/24 lets the apiserver at %s in: %s", apiserverIP, why)
	}

	// What the apiserver must refuse, it refuses: a removed API version, an
	// unknown field, an invalid value. Each is the full rendering with one
	// defect.
	full := mustRender(t, []string{fullValues})
	for _, bad := range []struct{ name, from, to, want string }{
		{"removed API version", "apiVersion: apps/v1\nkind: StatefulSet", "apiVersion: apps/v1beta1\nkind: StatefulSet", "apps/v1beta1"},
		{"unknown kind version", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor", "apiVersion: monitoring.coreos.com/v2\nkind: ServiceMonitor", "monitoring.coreos.com/v2"},
		{"unknown field", "  podManagementPolicy: Parallel", "  podManagementPolicy: Parallel\n  replicaz: 1", "replicaz"},
		{"invalid CIDR", "cidr: 10.0.0.0/24", "cidr: 10.0.0.0/33", "cidr"},
		{"invalid CRD field value", "    size: 256\n", "    size: \"256\"\n", "size"},
	} {
		if !strings.Contains(full, bad.from) {
			t.Fatalf("%s: the full rendering has no %q to break", bad.name, bad.from)
		}
		err := c.dryRun(t, bad.name, strings.Replace(full, bad.from, bad.to, 1))
		if err == nil {
			t.Errorf("%s: the apiserver accepted it", bad.name)
		} else if !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: refused, but the error does not name %q: %v", bad.name, bad.want, err)
		}
	}
}

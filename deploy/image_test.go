package deploy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	corev1 "k8s.io/api/core/v1"

	"github.com/kaudit/kaudit/store/clickhouse/chtest"
)

// imageMaxBytes is the target: the image is under 40 MB, counted
// uncompressed (what it takes on a node's disk), so compressed too.
const imageMaxBytes = 40_000_000

// The image's files, all of them: no shell, no package manager, nothing
// but kaudit, its user, the CA certificates and the spool directory.
var imageFiles = []string{
	"etc", "etc/group", "etc/kaudit", "etc/passwd", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt",
	"usr", "usr/local", "usr/local/bin", "usr/local/bin/kaudit",
	"var", "var/lib", "var/lib/kaudit", "var/lib/kaudit/spool",
}

// TestImage builds the image as `make image` does, checks its
// configuration, size and files, then runs its entrypoint the way a
// container runtime does: the layers unpacked by umoci (an OCI
// implementation other than the one that wrote them), a read-only root
// filesystem, the image's user, and the volumes, environment and arguments
// of the Helm chart's StatefulSet. `kaudit version` must print the stamped
// version, and `kaudit serve` with the chart's configuration must reach
// /readyz against a test ClickHouse, take a webhook batch and write only to
// its spool.
func TestImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("running the image needs root (mount namespaces, chroot, setuid), as the test command runs")
	}
	for _, tool := range []string{"umoci", "unshare", "mount", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run `make deps`", tool)
		}
	}
	helm(t)
	out := t.TempDir()
	start := time.Now()
	if _, err := run(repo, nil, "make", "--no-print-directory", "image", "IMAGE_OUT="+out, "PLATFORMS=linux/"+runtime.GOARCH); err != nil {
		t.Fatalf("make image: %v", err)
	}
	t.Logf("make image: %s", time.Since(start).Round(100*time.Millisecond))
	wantVersion, wantCommit := "dev", "unknown"
	if v, err := run(repo, nil, "git", "describe", "--tags", "--always", "--dirty"); err == nil {
		wantVersion = strings.TrimSpace(v)
		c, _ := run(repo, nil, "git", "rev-parse", "HEAD")
		wantCommit = strings.TrimSpace(c)
	}

	// The layout: one image, its configuration and its files.
	idx, err := layout.ImageIndexFromPath(filepath.Join(out, "image"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != wantVersion {
		t.Fatalf("index: want one image tagged %s: %+v", wantVersion, im.Manifests)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	uidGID := strings.Split(cf.Config.User, ":")
	if len(uidGID) != 2 || uidGID[0] == "0" || uidGID[1] == "0" {
		t.Errorf("image user %q: want numeric uid:gid, not root", cf.Config.User)
	}
	uid, errU := strconv.Atoi(uidGID[0])
	gid, errG := strconv.Atoi(uidGID[len(uidGID)-1])
	if errU != nil || errG != nil {
		t.Fatalf("image user %q is not numeric (Kubernetes' runAsNonRoot needs a numeric user)", cf.Config.User)
	}
	if cf.Config.Labels["org.opencontainers.image.version"] != wantVersion || cf.Config.Labels["org.opencontainers.image.revision"] != wantCommit {
		t.Errorf("labels %v: want version %s, revision %s", cf.Config.Labels, wantVersion, wantCommit)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var compressed int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		compressed += n
	}
	var files []string
	var uncompressed int64
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, strings.TrimSuffix(h.Name, "/"))
		uncompressed += h.Size
	}
	t.Logf("image %s: %d layers, %.1f MB compressed, %.1f MB of files", im.Manifests[0].Digest, len(layers), float64(compressed)/1e6, float64(uncompressed)/1e6)
	if uncompressed >= imageMaxBytes || compressed >= imageMaxBytes {
		t.Errorf("image: %d bytes compressed, %d uncompressed; want under %d", compressed, uncompressed, imageMaxBytes)
	}
	slices.Sort(files)
	if !slices.Equal(files, imageFiles) {
		t.Errorf("image files:\n%v\nwant exactly\n%v", files, imageFiles)
	}
	if tb, err := os.Stat(filepath.Join(out, "kaudit-image.tar")); err != nil || tb.Size() < compressed {
		t.Errorf("the docker/podman tarball is missing or short: %v", err)
	}

	// Unpack with umoci: its config.json is the runtime's reading of the
	// image configuration (entrypoint and arguments, user, environment).
	bundle := filepath.Join(t.TempDir(), "bundle")
	if _, err := run(repo, nil, "umoci", "unpack", "--image", filepath.Join(out, "image")+":"+wantVersion, bundle); err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Process struct {
			User struct{ UID, GID int }
			Args []string
			Env  []string
		}
	}
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Process.User.UID != uid || spec.Process.User.GID != gid || len(spec.Process.Args) == 0 {
		t.Fatalf("umoci's runtime spec: %+v", spec.Process)
	}
	entrypoint := cf.Config.Entrypoint
	rootfs := filepath.Join(bundle, "rootfs")
	ctr := &container{rootfs: rootfs, uid: uid, gid: gid, env: spec.Process.Env}

	// kaudit version, as `docker run IMAGE version`.
	v, err := ctr.output(append(entrypoint, "version")...)
	if err != nil {
		t.Fatal(err)
	}
	wantV := fmt.Sprintf("kaudit %s\ncommit: %s\ngo: %s\n", wantVersion, wantCommit, runtime.Version())
	if !strings.HasPrefix(v, wantV) {
		t.Errorf("kaudit version printed\n%s\nwant it to start with\n%s", v, wantV)
	}

	// kaudit serve as the chart's StatefulSet runs it.
	t.Run("serve with the chart's configuration", func(t *testing.T) {
		serveImage(t, ctr, entrypoint, wantVersion, wantCommit)
	})
}

// container runs a program of an unpacked image the way a runtime does,
// with root's tools only: a private mount namespace, the root filesystem
// bind-mounted read-only, /proc and /dev, the volumes, then chroot and the
// image's user (util-linux unshare), with the environment given and nothing
// else.
type container struct {
	rootfs   string
	uid, gid int
	env      []string
	mounts   []bindMount
}

type bindMount struct {
	src, dst string
	ro       bool
}

func (c *container) command(argv ...string) *exec.Cmd {
	unshare, _ := exec.LookPath("unshare")
	var s strings.Builder
	s.WriteString(`set -eu
R=$1; shift
mount --bind "$R" "$R"
mkdir -p "$R/proc" "$R/dev"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
`)
	for _, m := range c.mounts {
		dst := `"$R"` + shellQuote(m.dst)
		fmt.Fprintf(&s, "if [ -d %s ]; then mkdir -p %s; else mkdir -p \"$(dirname %s)\"; touch %s; fi\n", shellQuote(m.src), dst, dst, dst)
		fmt.Fprintf(&s, "mount --bind %s %s\n", shellQuote(m.src), dst)
		if m.ro {
			fmt.Fprintf(&s, "mount -o remount,bind,ro %s\n", dst)
		}
	}
	s.WriteString(`mount -o remount,bind,ro "$R"` + "\n")
	fmt.Fprintf(&s, "exec /usr/bin/env -i")
	for _, e := range c.env {
		s.WriteString(" " + shellQuote(e))
	}
	fmt.Fprintf(&s, " %s --root=\"$R\" --wd=/ --setgid=%d --setuid=%d --", shellQuote(unshare), c.gid, c.uid)
	for _, a := range argv {
		s.WriteString(" " + shellQuote(a))
	}
	s.WriteString("\n")
	return exec.Command(unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", s.String(), "sh", c.rootfs)
}

func (c *container) output(argv ...string) (string, error) {
	cmd := c.command(argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v in the image: %v\n%s", argv, err, stderr.String())
	}
	return stdout.String(), nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// serveImage runs `kaudit serve` from the image with the pod the chart
// renders: its container's arguments, environment and volume mounts, the
// volumes filled as the Secrets and ConfigMap would fill them.
func serveImage(t *testing.T, ctr *container, entrypoint []string, wantVersion, wantCommit string) {
	ch := chtest.Start(t)
	ports := freePorts(t, 2)
	objs := parseObjects(t, mustRender(t, nil,
		fmt.Sprintf("webhook.listen=127.0.0.1:%d", ports[0]), fmt.Sprintf("api.listen=127.0.0.1:%d", ports[1]),
		"tokens.metricsKey=metrics.tokens"))
	sts := objs.statefulSet(t)
	pod := sts.Spec.Template.Spec
	c := pod.Containers[0]

	// What the Secrets hold in this test.
	webhookToken, analystToken, metricsToken := "webhook-token-"+randHex(t), "analyst-token-"+randHex(t), "metrics-token-"+randHex(t)
	crt, key := selfSignedServer(t)
	secrets := map[string]map[string]string{
		releaseName + "-tokens": {"webhook.tokens": webhookToken + "\n", "api.tokens": "sha256:" + sha256Hex(analystToken) + "\n",
			"metrics.tokens": "sha256:" + sha256Hex(metricsToken) + "\n"},
		releaseName + "-tls":        {"tls.crt": crt, "tls.key": key},
		releaseName + "-clickhouse": {"dsn": ch.DSN("kaudit_image_test"), "redact-key": "image-test-redaction-key"},
	}
	configMaps := map[string]map[string]string{releaseName: {"kaudit.yaml": objs.kauditConfig(t)}}

	// The volumes, as the kubelet lays them out: Secrets and ConfigMaps
	// owned by root and readable by the pod's fsGroup, the spool owned by
	// it.
	fsGroup := 0
	if pod.SecurityContext != nil && pod.SecurityContext.FSGroup != nil {
		fsGroup = int(*pod.SecurityContext.FSGroup)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsUser == nil || int(*pod.SecurityContext.RunAsUser) != ctr.uid {
		t.Errorf("the chart's runAsUser is not the image's user %d", ctr.uid)
	}
	vols := t.TempDir()
	volDirs := map[string]string{}
	spoolHost := ""
	for _, v := range pod.Volumes {
		dir := filepath.Join(vols, v.Name)
		if err := os.MkdirAll(dir, 0755); err != nil {
			t.Fatal(err)
		}
		var data map[string]string
		var items []corev1.KeyToPath
		switch {
		case v.Secret != nil:
			data, items = secrets[v.Secret.SecretName], v.Secret.Items
			if data == nil {
				t.Fatalf("the chart mounts Secret %s, which this test does not know", v.Secret.SecretName)
			}
		case v.ConfigMap != nil:
			data, items = configMaps[v.ConfigMap.Name], v.ConfigMap.Items
			if data == nil {
				t.Fatalf("the chart mounts ConfigMap %s, which this test does not know", v.ConfigMap.Name)
			}
		default:
			t.Fatalf("volume %s: this test knows Secrets and ConfigMaps only (the spool is a volumeClaimTemplate)", v.Name)
		}
		if len(items) == 0 {
			for k := range data {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			val, ok := data[it.Key]
			if !ok {
				t.Fatalf("volume %s wants key %s, which its source lacks", v.Name, it.Key)
			}
			f := filepath.Join(dir, it.Path)
			if err := os.WriteFile(f, []byte(val), 0440); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(f, 0, fsGroup); err != nil {
				t.Fatal(err)
			}
		}
		volDirs[v.Name] = dir
	}
	for _, pvc := range sts.Spec.VolumeClaimTemplates {
		dir := filepath.Join(vols, pvc.Name)
		if err := os.MkdirAll(dir, 0770); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 0, fsGroup); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0770|os.ModeSetgid)
		volDirs[pvc.Name] = dir
		spoolHost = dir
	}
	if spoolHost == "" {
		t.Fatal("the chart renders no spool volume")
	}
	srv := *ctr
	srv.mounts = nil
	for _, m := range c.VolumeMounts {
		src, ok := volDirs[m.Name]
		if !ok {
			t.Fatalf("volume mount %s has no volume", m.Name)
		}
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
		}
		srv.mounts = append(srv.mounts, bindMount{src: src, dst: m.MountPath, ro: m.ReadOnly})
	}
	// The environment: the image's, then the container's.
	srv.env = append([]string{}, ctr.env...)
	for _, e := range c.Env {
		val := e.Value
		if e.ValueFrom != nil {
			ref := e.ValueFrom.SecretKeyRef
			if ref == nil || secrets[ref.Name] == nil {
				t.Fatalf("env %s: want a secretKeyRef this test knows: %+v", e.Name, e.ValueFrom)
			}
			val = strings.TrimSpace(secrets[ref.Name][ref.Key])
		}
		srv.env = append(srv.env, e.Name+"="+val)
	}
	argv := append(append([]string{}, entrypoint...), c.Args...)
	if len(c.Command) > 0 {
		argv = append(append([]string{}, c.Command...), c.Args...)
	}

	cmd := srv.command(argv...)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("kaudit's log:\n%s", logs.String())
		}
	}()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(crt))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
	api := fmt.Sprintf("https://127.0.0.1:%d", ports[1])
	// The readiness probe of the chart.
	probe := c.ReadinessProbe.HTTPGet
	if probe == nil || probe.Path != "/readyz" || probe.Port.String() != "api" || probe.Scheme != corev1.URISchemeHTTPS {
		t.Fatalf("readiness probe %+v: want HTTPS /readyz on the api port", c.ReadinessProbe)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get(api + probe.Path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("kaudit serve exited before /readyz: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 after 90 s (last: %v)", err)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// /metrics: the build stamped into the binary.
	body := get(t, client, api+"/metrics", "")
	wantInfo := fmt.Sprintf(`kaudit_build_info{goversion=%q,revision=%q,version=%q} 1`, runtime.Version(), wantCommit, wantVersion)
	if !strings.Contains(body, wantInfo) {
		t.Errorf("/metrics has no %s; kaudit_build_info lines: %q", wantInfo, grepLines(body, "kaudit_build_info"))
	}
	// The detection metrics need a token: Prometheus's, from the chart's
	// tokens.metricsKey (metrics.tokens_file), which opens nothing else.
	if strings.Contains(body, "kaudit_correlator_findings") {
		t.Errorf("/metrics without a token shows the detection metrics")
	}
	if body := get(t, client, api+"/metrics", metricsToken); !strings.Contains(body, "kaudit_correlator_findings") {
		t.Errorf("/metrics with the token of tokens.metricsKey lacks the detection metrics (kaudit_correlator_findings)")
	}
	if code := status(t, client, api+"/api/v1/incidents", metricsToken); code != http.StatusUnauthorized {
		t.Errorf("the metrics token on the query API: %d, want 401", code)
	}

	// A webhook batch as the apiserver sends it, with the token of the
	// mounted webhook.tokens.
	items := sampleItems(t, 20)
	batch, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": map[string]any{}, "items": items})
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("https://127.0.0.1:%d/audit/webhook?timeout=30s", ports[0]), bytes.NewReader(batch))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+webhookToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("webhook batch: %d %s", resp.StatusCode, rb)
	}
	// The analysts' token (hashed in api.tokens) opens the query API; the
	// webhook's does not.
	get(t, client, api+"/api/v1/incidents", analystToken)
	if code := status(t, client, api+"/api/v1/incidents", webhookToken); code != http.StatusUnauthorized {
		t.Errorf("the webhook token on the query API: %d, want 401", code)
	}

	// It wrote its spool, as the image's user, there and nowhere else (the
	// root filesystem is read-only: anything else would have failed).
	entries, err := os.ReadDir(spoolHost)
	if err != nil || len(entries) == 0 {
		t.Errorf("the spool volume is empty (%v): kaudit did not open its spool there", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != ctr.uid {
			t.Errorf("spool file %s owned by uid %d, want the image's user %d", e.Name(), st.Uid, ctr.uid)
		}
	}

	// SIGTERM, as the kubelet stops a pod: a clean exit well within the
	// chart's grace period.
	cmd.Process.Signal(syscall.SIGTERM)
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("kaudit serve after SIGTERM: %v", err)
		}
	case <-time.After(grace):
		t.Errorf("kaudit serve still running %s after SIGTERM", grace)
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("kaudit's log has no orderly stop")
	}
}

func get(t *testing.T, c *http.Client, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func status(t *testing.T, c *http.Client, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func grepLines(s, sub string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

// sampleItems reads the first n events of a real apiserver log, as the
// webhook's items (the apiserver sends them without kind and apiVersion).
func sampleItems(t *testing.T, n int) []json.RawMessage {
	f, err := os.Open(filepath.Join(repo, "testdata/apiserver-1.36-basic-intrusion.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	strip := regexp.MustCompile(`^\{"kind":"Event","apiVersion":"audit.k8s.io/v1",`)
	var out []json.RawMessage
	for sc.Scan() && len(out) < n {
		out = append(out, json.RawMessage(strip.ReplaceAllString(sc.Text(), "{")))
	}
	if len(out) == 0 {
		t.Fatal("no events in the sample")
	}
	return out
}

func randHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// selfSignedServer is a certificate for 127.0.0.1, PEM.
func selfSignedServer(t *testing.T) (crt, key string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kaudit-webhook.kaudit.svc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"kaudit-webhook.kaudit.svc"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}

// syncBuffer is a bytes.Buffer safe for a process's two streams.
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

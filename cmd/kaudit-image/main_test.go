package main

import (
	"archive/tar"
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// staticBinary builds a small static Go program for GOARCH arch.
func staticBinary(t *testing.T, arch string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "kaudit")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func testOptions(t *testing.T, bins ...string) options {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), 0644); err != nil {
		t.Fatal(err)
	}
	return options{
		binaries: bins, version: "v9.9.9", revision: "abc123", source: "https://example.com/kaudit",
		created: time.Unix(1700000000, 0).UTC(), caCerts: ca,
		layout: filepath.Join(dir, "layout"), tarball: filepath.Join(dir, "image.tar"), tag: "example.com/kaudit:v9.9.9",
	}
}

func TestImageConfigAndFiles(t *testing.T) {
	bin := staticBinary(t, runtime.GOARCH)
	o := testOptions(t, bin)
	if _, err := build(o); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(o.layout)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Platform == nil || m.Manifests[0].Platform.Architecture != runtime.GOARCH {
		t.Fatalf("index: %+v", m.Manifests)
	}
	if got := m.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != "v9.9.9" {
		t.Errorf("ref.name %q", got)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != binaryPath || strings.Join(c.Cmd, " ") != "serve --config "+configPath {
		t.Errorf("config: user %q entrypoint %v cmd %v", c.User, c.Entrypoint, c.Cmd)
	}
	if _, ok := c.Volumes[spoolDir]; !ok {
		t.Errorf("no volume %s: %v", spoolDir, c.Volumes)
	}
	if c.Labels["org.opencontainers.image.version"] != "v9.9.9" || c.Labels["org.opencontainers.image.revision"] != "abc123" {
		t.Errorf("labels %v", c.Labels)
	}
	if !cf.Created.Time.Equal(o.created) || cf.OS != "linux" {
		t.Errorf("created %v os %s", cf.Created, cf.OS)
	}

	type file struct {
		mode     int64
		uid, gid int
		mtime    time.Time
	}
	files := map[string]file{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = file{h.Mode & 07777, h.Uid, h.Gid, h.ModTime}
		if h.Name == "etc/passwd" {
			b, _ := io.ReadAll(tr)
			if !strings.Contains(string(b), "nonroot:x:65532:65532:") {
				t.Errorf("/etc/passwd:\n%s", b)
			}
		}
	}
	for name, want := range map[string]file{
		"usr/local/bin/kaudit":              {0555, 0, 0, o.created},
		"var/lib/kaudit/spool":              {0700, 65532, 65532, o.created},
		"etc/ssl/certs/ca-certificates.crt": {0644, 0, 0, o.created},
		"etc/group":                         {0644, 0, 0, o.created},
	} {
		got, ok := files[name]
		if !ok || got.mode != want.mode || got.uid != want.uid || got.gid != want.gid || !got.mtime.Equal(want.mtime) {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	for name := range files {
		for _, bad := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/apt", "sbin/apk", "usr/bin/dpkg"} {
			if strings.HasSuffix(name, bad) {
				t.Errorf("the image holds %s", name)
			}
		}
	}

	// The tarball is loadable: its image (configuration and layers) is the
	// layout's; only the manifest's media types differ (Docker's format).
	timg, err := tarball.ImageFromPath(o.tarball, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := timg.ConfigName()
	lc, _ := img.ConfigName()
	if tc != lc {
		t.Errorf("tarball image %s, layout image %s", tc, lc)
	}
}

// The same inputs give the same digests: the image can be rebuilt from a
// commit and compared.
func TestImageReproducible(t *testing.T) {
	bin := staticBinary(t, runtime.GOARCH)
	a, err := build(testOptions(t, bin))
	if err != nil {
		t.Fatal(err)
	}
	b, err := build(testOptions(t, bin))
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("two builds: %s and %s", da, db)
	}
}

func TestImageMultiPlatform(t *testing.T) {
	amd, arm := staticBinary(t, "amd64"), staticBinary(t, "arm64")
	o := testOptions(t, "linux/amd64="+amd, arm) // arm64 read from the binary
	o.tarball = ""
	if _, err := build(o); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(o.layout)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	var plats []string
	for _, d := range m.Manifests {
		plats = append(plats, d.Platform.String())
	}
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("platforms %v", plats)
	}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		if cf.Architecture != d.Platform.Architecture {
			t.Errorf("%s: config says %s", d.Platform, cf.Architecture)
		}
	}
}

func TestImageRefusals(t *testing.T) {
	bin := staticBinary(t, runtime.GOARCH)
	dynamic, err := exec.LookPath("ls") // a C program: dynamically linked
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]options{
		"dynamic binary":   testOptions(t, dynamic),
		"wrong platform":   testOptions(t, "linux/s390x="+bin),
		"not an ELF":       testOptions(t, "/etc/passwd"),
		"no binary":        testOptions(t),
		"two for one arch": testOptions(t, bin, bin),
	} {
		if _, err := build(o); err == nil {
			t.Errorf("%s: built", name)
		}
	}
	o := testOptions(t, bin)
	if err := os.MkdirAll(o.layout, 0755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.layout, "precious"), nil, 0644); err != nil {
		t.Fatal(err)
	}
	if _, err := build(o); err == nil {
		t.Error("replaced a directory that is not an OCI layout")
	}
}

// The Dockerfile builds the same image for Docker users: same user,
// entrypoint, command, environment, volume and ports. (No Docker engine
// runs here; this keeps the two from drifting apart.)
func TestDockerfileMatches(t *testing.T) {
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	inFinal := false
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "FROM ") {
			inFinal = l == "FROM scratch"
		}
		if !inFinal || l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		got[k] = v
	}
	bin := staticBinary(t, runtime.GOARCH)
	o := testOptions(t, bin)
	idx, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	img, _ := idx.Image(m.Manifests[0].Digest)
	cf, _ := img.ConfigFile()
	c := cf.Config
	want := map[string]string{
		"USER":       c.User,
		"ENTRYPOINT": quoteList(c.Entrypoint),
		"CMD":        quoteList(c.Cmd),
		"ENV":        strings.Join(c.Env, " "),
		"VOLUME":     `["` + spoolDir + `"]`,
		"EXPOSE":     "8443/tcp 9443/tcp",
		"WORKDIR":    c.WorkingDir,
		"STOPSIGNAL": c.StopSignal,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Dockerfile %s %s; kaudit-image has %s", k, got[k], v)
		}
	}
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = `"` + x + `"`
	}
	return "[" + strings.Join(q, ", ") + "]"
}

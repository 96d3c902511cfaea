// Command kaudit-image assembles kaudit's container image from a static
// kaudit binary built beforehand (`make image`), without a container engine
// and without any network: an OCI image layout (for skopeo, crane, podman,
// containerd) and, for one platform, a tarball that `docker load` and
// `podman load` read.
//
// The image is minimal: the binary, /etc/passwd and /etc/group naming the
// non-root user 65532, the CA certificates of the build machine (for TLS to
// ClickHouse and Kafka) and the spool directory, owned by that user. There is
// no shell and no package manager. Run it with a read-only root filesystem:
// the spool volume (/var/lib/kaudit/spool) is the only path kaudit writes.
//
//	kaudit-image --binary bin/linux-amd64/kaudit --version v1.2.3 --revision $(git rev-parse HEAD) \
//	    --layout _output/image --tarball _output/kaudit-image.tar --tag ghcr.io/kaudit/kaudit:v1.2.3
//
// The same inputs give the same image digest: files carry the --created time
// (default: SOURCE_DATE_EPOCH, else the Unix epoch), layers are ordered and
// compressed deterministically.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed facts, an interface: the Helm chart, the manifests and
// the Dockerfile name them.
const (
	binaryPath = "/usr/local/bin/kaudit"
	spoolDir   = "/var/lib/kaudit/spool"
	configPath = "/etc/kaudit/kaudit.yaml"
	uid        = 65532
	gid        = 65532
	userName   = "nonroot"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
)

// options are kaudit-image's inputs.
type options struct {
	binaries []string // [OS/ARCH=]PATH; the platform is read from the ELF header when not given
	version  string
	revision string
	source   string
	created  time.Time
	caCerts  string // host file copied to caPath; "" leaves it out
	layout   string // OCI image layout directory to write
	tarball  string // docker/podman-loadable tarball to write (one platform only)
	tag      string // reference recorded in the layout's index and the tarball
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kaudit-image:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kaudit-image", flag.ContinueOnError)
	var o options
	var bins multiFlag
	var created string
	fs.Var(&bins, "binary", "static kaudit binary, [OS/ARCH=]PATH; repeat for a multi-platform image (the platform is read from the binary when not given)")
	fs.StringVar(&o.version, "version", "dev", "version label (org.opencontainers.image.version)")
	fs.StringVar(&o.revision, "revision", "unknown", "commit label (org.opencontainers.image.revision)")
	fs.StringVar(&o.source, "source", "https://github.com/kaudit/kaudit", "source label (org.opencontainers.image.source)")
	fs.StringVar(&created, "created", "", "image and file time, RFC 3339 or Unix seconds (default SOURCE_DATE_EPOCH, else 1970-01-01)")
	fs.StringVar(&o.caCerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to ship at "+caPath+` ("" for none)`)
	fs.StringVar(&o.layout, "layout", "", "write an OCI image layout to this directory (replaced)")
	fs.StringVar(&o.tarball, "tarball", "", "write a tarball for docker load / podman load (one platform)")
	fs.StringVar(&o.tag, "tag", "ghcr.io/kaudit/kaudit:dev", "image reference recorded in the layout and the tarball")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.binaries = bins
	if created == "" {
		created = os.Getenv("SOURCE_DATE_EPOCH")
	}
	var err error
	if o.created, err = parseTime(created); err != nil {
		return err
	}
	idx, err := build(o)
	if err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, desc := range m.Manifests {
		fmt.Fprintf(stdout, "%s %s %s\n", o.tag, desc.Platform, desc.Digest)
	}
	fmt.Fprintf(stdout, "index %s\n", d)
	return nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--created %q: want RFC 3339 or Unix seconds", s)
	}
	return t.UTC(), nil
}

// build assembles one image per binary and writes the outputs asked for.
func build(o options) (v1.ImageIndex, error) {
	if len(o.binaries) == 0 {
		return nil, errors.New("--binary is required")
	}
	if o.layout == "" && o.tarball == "" {
		return nil, errors.New("--layout or --tarball is required")
	}
	if o.tarball != "" && len(o.binaries) > 1 {
		return nil, errors.New("--tarball holds one platform: give one --binary, or use --layout for several")
	}
	ref, err := name.NewTag(o.tag)
	if err != nil {
		return nil, fmt.Errorf("--tag: %w", err)
	}
	base, err := baseLayer(o)
	if err != nil {
		return nil, err
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]bool{}
	var images []v1.Image
	for _, b := range o.binaries {
		plat, file, err := platformOf(b)
		if err != nil {
			return nil, err
		}
		if seen[plat.String()] {
			return nil, fmt.Errorf("two binaries for %s", plat)
		}
		seen[plat.String()] = true
		img, err := image(o, base, plat, file)
		if err != nil {
			return nil, err
		}
		images = append(images, img)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: plat, Annotations: map[string]string{"org.opencontainers.image.ref.name": ref.String()}},
		})
	}
	if o.layout != "" {
		if err := writeLayout(o.layout, idx, images, ref); err != nil {
			return nil, err
		}
	}
	if o.tarball != "" {
		if err := tarball.WriteToFile(o.tarball, ref, images[0]); err != nil {
			return nil, fmt.Errorf("write %s: %w", o.tarball, err)
		}
	}
	return idx, nil
}

// writeLayout replaces dir with an OCI image layout holding the images:
// one index entry per platform, each annotated with the reference, so that
// `skopeo copy oci:DIR:TAG` and `podman run oci:DIR` find it.
func writeLayout(dir string, idx v1.ImageIndex, images []v1.Image, ref name.Tag) error {
	if _, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				return fmt.Errorf("--layout %s exists and is not an OCI layout: not replacing it", dir)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for i, img := range images {
		desc := m.Manifests[i]
		opts := []layout.Option{layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.TagStr()})}
		if desc.Platform != nil {
			opts = append(opts, layout.WithPlatform(*desc.Platform))
		}
		if err := p.AppendImage(img, opts...); err != nil {
			return fmt.Errorf("write %s: %w", dir, err)
		}
	}
	return nil
}

// platformOf reads "[OS/ARCH=]PATH" and checks that the binary is a static
// Linux executable: a dynamically linked one would not start in an image
// that has no C library.
func platformOf(arg string) (*v1.Platform, string, error) {
	var want *v1.Platform
	file := arg
	if p, f, ok := strings.Cut(arg, "="); ok {
		var err error
		if want, err = v1.ParsePlatform(p); err != nil {
			return nil, "", fmt.Errorf("--binary %s: %w", arg, err)
		}
		file = f
	}
	ef, err := elf.Open(file)
	if err != nil {
		return nil, "", fmt.Errorf("--binary %s: %w", file, err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, "", fmt.Errorf("--binary %s is dynamically linked: build it with CGO_ENABLED=0", file)
		}
	}
	arch := map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64", elf.EM_PPC64: "ppc64le", elf.EM_S390: "s390x", elf.EM_RISCV: "riscv64"}[ef.Machine]
	if arch == "" || ef.OSABI != elf.ELFOSABI_NONE && ef.OSABI != elf.ELFOSABI_LINUX {
		return nil, "", fmt.Errorf("--binary %s: not a Linux executable kaudit-image knows (%s)", file, ef.Machine)
	}
	got := &v1.Platform{OS: "linux", Architecture: arch}
	if want != nil && (want.OS != got.OS || want.Architecture != got.Architecture) {
		return nil, "", fmt.Errorf("--binary %s is %s, not %s", file, got, want)
	}
	if want != nil {
		got.Variant = want.Variant
	}
	return got, file, nil
}

// image is the base layer, the binary's layer and the configuration.
func image(o options, base v1.Layer, plat *v1.Platform, binFile string) (v1.Image, error) {
	bin, err := os.ReadFile(binFile)
	if err != nil {
		return nil, err
	}
	binLayer, err := layer(o.created, []entry{
		dir("usr/", 0, 0755), dir("usr/local/", 0, 0755), dir("usr/local/bin/", 0, 0755),
		{name: strings.TrimPrefix(binaryPath, "/"), mode: 0555, data: bin},
	})
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	created := v1.Time{Time: o.created}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "kaudit-image: passwd, group, CA certificates, spool directory", Comment: "base"}},
		mutate.Addendum{Layer: binLayer, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "kaudit-image: " + binaryPath, Comment: o.version}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = created
	cf.Author = ""
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, gid),
		Entrypoint: []string{binaryPath},
		Cmd:        []string{"serve", "--config", configPath},
		Env:        []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + caPath},
		WorkingDir: "/",
		ExposedPorts: map[string]struct{}{
			"8443/tcp": {}, // webhook.listen
			"9443/tcp": {}, // api.listen
		},
		Volumes:    map[string]struct{}{spoolDir: {}},
		StopSignal: "SIGTERM",
		Labels: map[string]string{
			"org.opencontainers.image.title":       "kaudit",
			"org.opencontainers.image.description": "Kubernetes audit-log forensics: the kube-apiserver audit webhook backend, detection rules and query API",
			"org.opencontainers.image.source":      o.source,
			"org.opencontainers.image.version":     o.version,
			"org.opencontainers.image.revision":    o.revision,
			"org.opencontainers.image.created":     o.created.Format(time.RFC3339),
		},
	}
	if o.caCerts == "" {
		cf.Config.Env = cf.Config.Env[:1]
	}
	return mutate.ConfigFile(img, cf)
}

// baseLayer holds what every platform shares.
func baseLayer(o options) (v1.Layer, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:kaudit:/var/lib/kaudit:/sbin/nologin\n", userName, uid, gid)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, gid)
	es := []entry{
		dir("etc/", 0, 0755),
		{name: "etc/passwd", mode: 0644, data: []byte(passwd)},
		{name: "etc/group", mode: 0644, data: []byte(group)},
		dir("etc/kaudit/", 0, 0755),
		dir("var/", 0, 0755), dir("var/lib/", 0, 0755),
		dir("var/lib/kaudit/", 0, 0755),
		dir(strings.TrimPrefix(spoolDir, "/")+"/", uid, 0700),
	}
	if o.caCerts != "" {
		ca, err := os.ReadFile(o.caCerts)
		if err != nil {
			return nil, fmt.Errorf("--ca-certs: %w (install Debian's ca-certificates, or pass --ca-certs \"\")", err)
		}
		es = append(es, dir("etc/ssl/", 0, 0755), dir("etc/ssl/certs/", 0, 0755),
			entry{name: strings.TrimPrefix(caPath, "/"), mode: 0644, data: ca})
	}
	return layer(o.created, es)
}

type entry struct {
	name  string // relative, directories end in /
	owner int
	mode  int64
	data  []byte
}

func dir(name string, owner int, mode int64) entry {
	return entry{name: name, owner: owner, mode: mode}
}

// layer writes the entries, parents first, with fixed times and owners.
func layer(mtime time.Time, es []entry) (v1.Layer, error) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].name < es[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.owner, Gid: e.owner, ModTime: mtime, Format: tar.FormatPAX}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if p := path.Dir(strings.TrimSuffix(e.name, "/")); p != "." && !containsDir(es, p+"/") {
			return nil, fmt.Errorf("layer: %s has no parent entry", e.name)
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
}

func containsDir(es []entry, name string) bool {
	for _, e := range es {
		if e.name == name {
			return true
		}
	}
	return false
}

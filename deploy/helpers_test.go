package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// repo is the repository's root (tests run in deploy/).
var repo = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(wd)
}()

var (
	chartDir         = filepath.Join(repo, "deploy/helm/kaudit")
	fullValues       = filepath.Join(chartDir, "ci/full-values.yaml")
	forwardValues    = filepath.Join(chartDir, "ci/forward-values.yaml")
	manifestValues   = filepath.Join(repo, "deploy/kubernetes/values.yaml")
	staticManifest   = filepath.Join(repo, "deploy/kubernetes/kaudit.yaml")
	generateScript   = filepath.Join(repo, "deploy/kubernetes/generate.sh")
	helmScript       = filepath.Join(repo, "deploy/dev/helm.sh")
	clusterBuildSh   = filepath.Join(repo, "deploy/dev/cluster/build.sh")
	clusterUpSh      = filepath.Join(repo, "deploy/dev/cluster/up.sh")
	clusterDownSh    = filepath.Join(repo, "deploy/dev/cluster/down.sh")
	releaseName      = "kaudit"
	releaseNS        = "kaudit"
	helmBinOnce      sync.Once
	helmBin, helmErr = "", error(nil)
)

// helm returns the path of the helm binary, building it on first use (the
// test command builds it beforehand; see deploy/dev/helm.sh).
func helm(t testing.TB) string {
	t.Helper()
	helmBinOnce.Do(func() {
		start := time.Now()
		out, err := exec.Command("bash", helmScript, "--path").Output()
		if err != nil {
			helmErr = fmt.Errorf("deploy/dev/helm.sh --path: %v\n%s", err, stderrOf(err))
			return
		}
		helmBin = strings.TrimSpace(string(out))
		if d := time.Since(start); d > 5*time.Second {
			fmt.Fprintf(os.Stderr, "deploy: built helm in %s\n", d.Round(time.Second))
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmBin
}

// run runs a command and returns its standard output; on failure the error
// holds its standard error.
func run(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// helmTemplate renders the chart as `helm template kaudit -n kaudit` with
// the values files and --set flags given.
func helmTemplate(t testing.TB, valuesFiles []string, sets ...string) (string, error) {
	t.Helper()
	args := []string{"template", releaseName, chartDir, "--namespace", releaseNS}
	for _, f := range valuesFiles {
		args = append(args, "-f", f)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return run(repo, helmEnv(), helm(t), args...)
}

// helmEnv keeps helm's state out of the user's home.
func helmEnv() []string {
	cache := os.Getenv("KAUDIT_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "kaudit")
	}
	h := filepath.Join(cache, "helm-home")
	return []string{"HELM_CACHE_HOME=" + h + "/cache", "HELM_CONFIG_HOME=" + h + "/config", "HELM_DATA_HOME=" + h + "/data"}
}

func mustRender(t testing.TB, valuesFiles []string, sets ...string) string {
	t.Helper()
	out, err := helmTemplate(t, valuesFiles, sets...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return out
}

// objects is a rendering parsed into objects.
type objects []*unstructured.Unstructured

func parseObjects(t testing.TB, manifest string) objects {
	t.Helper()
	var out objects
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("parse rendering: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func (objs objects) find(kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	return nil
}

func (objs objects) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func convert[T any](t testing.TB, o *unstructured.Unstructured) *T {
	t.Helper()
	if o == nil {
		t.Fatalf("missing %T in the rendering", *new(T))
	}
	v := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, v); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return v
}

func (objs objects) statefulSet(t testing.TB) *appsv1.StatefulSet {
	return convert[appsv1.StatefulSet](t, objs.find("StatefulSet", ""))
}

func (objs objects) service(t testing.TB, name string) *corev1.Service {
	return convert[corev1.Service](t, objs.find("Service", name))
}

func (objs objects) networkPolicies(t testing.TB) []networkingv1.NetworkPolicy {
	var out []networkingv1.NetworkPolicy
	for _, o := range objs.all("NetworkPolicy") {
		out = append(out, *convert[networkingv1.NetworkPolicy](t, o))
	}
	return out
}

// kauditConfig is the kaudit.yaml of the rendered ConfigMap.
func (objs objects) kauditConfig(t testing.TB) string {
	t.Helper()
	cm := convert[corev1.ConfigMap](t, objs.find("ConfigMap", ""))
	cfg, ok := cm.Data["kaudit.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no kaudit.yaml", cm.Name)
	}
	return cfg
}

package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// TestChartLint: `helm lint --strict` is clean with the default values and
// with every values file the tests use.
func TestChartLint(t *testing.T) {
	for _, vf := range [][]string{nil, {fullValues}, {forwardValues}, {manifestValues}} {
		args := []string{"lint", "--strict", chartDir, "--namespace", releaseNS}
		for _, f := range vf {
			args = append(args, "-f", f)
		}
		out, err := run(repo, helmEnv(), helm(t), args...)
		if err != nil {
			t.Errorf("helm lint with %v: %v\n%s", vf, err, out)
			continue
		}
		if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm lint with %v:\n%s", vf, out)
		}
		// INFO lines are advice; WARNING and ERROR lines are not clean.
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "[WARNING]") || strings.Contains(l, "[ERROR]") {
				t.Errorf("helm lint with %v: %s", vf, l)
			}
		}
	}
}

// TestChartRenderTime: rendering the chart (the whole `helm template` run,
// process start included) takes under 2 s.
func TestChartRenderTime(t *testing.T) {
	helm(t) // built before timing
	var best time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		mustRender(t, []string{fullValues})
		if d := time.Since(start); i == 0 || d < best {
			best = d
		}
	}
	t.Logf("helm template with full values: %s (best of 3)", best.Round(time.Millisecond))
	if best > 2*time.Second {
		t.Errorf("helm template took %s, want under 2 s", best)
	}
}

// TestChartRejectsBadValues: values.schema.json (and the template's own
// checks for what a schema cannot say) stop a bad install before anything
// reaches the cluster, with a message naming the value.
func TestChartRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		set  []string
		want string // in helm's error
	}{
		{[]string{"webhook.listen=8443"}, "webhook.listen"},
		{[]string{"webhook.listn=:8443"}, "listn"},
		{[]string{"webhook.forward=kafak"}, "webhook.forward"},
		{[]string{"spool.max_bytes=lots"}, "spool.max_bytes"},
		{[]string{"spool.persistence.size=big"}, "size"},
		{[]string{"networkPolicy.apiserverCIDRs={10.0.0.0/33}"}, "apiserverCIDRs"},
		{[]string{"networkPolicy.apiserverCIDRs={10.0.0.1}"}, "apiserverCIDRs"},
		{[]string{"image.digest=latest"}, "digest"},
		{[]string{"image.pullPolicy=Sometimes"}, "pullPolicy"},
		{[]string{"replicas=-1"}, "replicas"},
		{[]string{"securityContext.readOnlyRootFilesystem=false"}, "readOnlyRootFilesystem"},
		{[]string{"terminationGracePeriodSeconds=5"}, "terminationGracePeriodSeconds"},
		{[]string{"kafka.brokers={kafka-0}"}, "brokers"},
		{[]string{"kafka.sasl.mechanism=md5"}, "mechanism"},
		{[]string{"kafka.batch_wait=soon"}, "batch_wait"},
		{[]string{"store.retention_days=forever"}, "retention_days"},
		{[]string{"extraConfig.webhoook.listen=:1"}, "extraConfig"},
		{[]string{"webhook.service.clusterIP=not-an-ip"}, "clusterIP"},
		{[]string{"webhook.tls.certManager.enabled=true"}, "issuerRef"},
		{[]string{"webhook.forward=kafka"}, "kafka.brokers"},
		{[]string{"webhook.tokens=false"}, "clientCA"},
		{[]string{"api.listen=:8443"}, "own listeners"},
		{[]string{"createSecrets.enabled=true"}, "createSecrets"},
	} {
		_, err := helmTemplate(t, nil, c.set...)
		if err == nil {
			t.Errorf("helm template --set %v rendered; want it refused", c.set)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("helm template --set %v: the error does not name %q:\n%v", c.set, c.want, err)
		}
	}
}

// TestStaticManifestUpToDate: deploy/kubernetes/kaudit.yaml is what the
// chart renders with deploy/kubernetes/values.yaml.
func TestStaticManifestUpToDate(t *testing.T) {
	helm(t)
	want, err := run(repo, nil, "bash", generateScript)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(staticManifest)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("deploy/kubernetes/kaudit.yaml is not the chart's rendering of deploy/kubernetes/values.yaml: regenerate it with `make manifests` (first difference at line %d)", firstDiffLine(string(got), want))
	}
}

func firstDiffLine(a, b string) int {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

// renderings are the chart's renderings the tests check and the cluster
// test applies: name, values files, --set flags.
var renderings = []struct {
	name   string
	values []string
	sets   []string
}{
	{"default values", nil, nil},
	{"full values", []string{fullValues}, nil},
	{"forwarding receiver", []string{forwardValues}, nil},
	{"static manifest values", []string{manifestValues}, nil},
}

// TestRenderedConfigKeysAreKaudits: every key of every rendered kaudit.yaml
// is a configuration key kaudit's code names. viper ignores unknown keys,
// so a misspelt key would otherwise be silently without effect.
func TestRenderedConfigKeysAreKaudits(t *testing.T) {
	known := kauditKeys(t)
	if len(known) < 20 {
		t.Fatalf("found only %d configuration keys in kaudit's code: %v", len(known), known)
	}
	for _, r := range renderings {
		objs := parseObjects(t, mustRender(t, r.values, r.sets...))
		var cfg map[string]any
		if err := yaml.Unmarshal([]byte(objs.kauditConfig(t)), &cfg); err != nil {
			t.Fatalf("%s: kaudit.yaml: %v", r.name, err)
		}
		for _, k := range flatten("", cfg) {
			if !known[k] {
				t.Errorf("%s: kaudit.yaml has %s, which kaudit does not read", r.name, k)
			}
		}
	}
}

// kauditKeys collects the string constants of kaudit's non-test Go code
// that look like configuration keys ("webhook.tls.cert").
func kauditKeys(t testing.TB) map[string]bool {
	re := regexp.MustCompile(`^(webhook|api|store|spool|kafka|redact|rules|incident)(\.[a-z_]+)+$`)
	keys := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && re.MatchString(s) {
					keys[s] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func flatten(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			out = append(out, flatten(key, sub)...)
			continue
		}
		out = append(out, key)
	}
	sort.Strings(out)
	return out
}

// TestChartWebhookReachableFromControlPlane: in every rendering, the
// NetworkPolicy lets each configured control-plane address reach the port
// the webhook Service targets; an address outside them is refused when
// CIDRs are set.
func TestChartWebhookReachableFromControlPlane(t *testing.T) {
	for _, r := range renderings {
		var vals struct {
			NetworkPolicy struct {
				Enabled        *bool    `json:"enabled"`
				APIServerCIDRs []string `json:"apiserverCIDRs"`
			} `json:"networkPolicy"`
		}
		for _, f := range r.values {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(b, &vals); err != nil {
				t.Fatal(err)
			}
		}
		objs := parseObjects(t, mustRender(t, r.values, r.sets...))
		if len(objs.networkPolicies(t)) == 0 {
			t.Errorf("%s: no NetworkPolicy rendered (networkPolicy.enabled is true by default)", r.name)
		}
		var srcs []string // an address in each CIDR; any address when none is set (open)
		for _, c := range vals.NetworkPolicy.APIServerCIDRs {
			ip, _, err := net.ParseCIDR(c)
			if err != nil {
				t.Fatal(err)
			}
			srcs = append(srcs, ip.String())
		}
		if len(srcs) == 0 {
			srcs = []string{"10.0.0.10"}
		}
		for _, s := range srcs {
			if ok, why := webhookReachable(t, objs, net.ParseIP(s)); !ok {
				t.Errorf("%s: the control plane (%s) cannot reach the webhook: %s", r.name, s, why)
			}
		}
		if len(vals.NetworkPolicy.APIServerCIDRs) > 0 {
			if ok, why := webhookReachable(t, objs, net.ParseIP("203.0.113.7")); ok {
				t.Errorf("%s: 203.0.113.7 (outside networkPolicy.apiserverCIDRs) reaches the webhook: %s", r.name, why)
			}
		}
	}
	// And the check has teeth: CIDRs that leave the control plane out.
	objs := parseObjects(t, mustRender(t, nil, "networkPolicy.apiserverCIDRs={192.168.0.0/16}"))
	if ok, _ := webhookReachable(t, objs, net.ParseIP("10.0.0.10")); ok {
		t.Errorf("a NetworkPolicy for 192.168.0.0/16 admits 10.0.0.10")
	}
}

// TestChartStatefulSet: what the pods must have whatever the values: a
// read-only root, a non-root numeric user, the spool (and only it)
// writable, a volume per replica, the tokens as two files.
func TestChartStatefulSet(t *testing.T) {
	for _, r := range renderings {
		objs := parseObjects(t, mustRender(t, r.values, r.sets...))
		sts := objs.statefulSet(t)
		pod := sts.Spec.Template.Spec
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers", r.name, len(pod.Containers))
		}
		c := pod.Containers[0]
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: the root filesystem is not read-only", r.name)
		}
		if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: pods do not run as a numeric non-root user", r.name)
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s: the service account token is mounted; kaudit never calls the API", r.name)
		}
		var writable []string
		for _, m := range c.VolumeMounts {
			if !m.ReadOnly {
				writable = append(writable, m.MountPath)
			}
		}
		forward := strings.Contains(objs.kauditConfig(t), "forward: kafka")
		switch {
		case forward && len(writable) != 0:
			t.Errorf("%s: a forwarding receiver writes nowhere, yet mounts %v writable", r.name, writable)
		case !forward && !slices.Equal(writable, []string{"/var/lib/kaudit/spool"}):
			t.Errorf("%s: writable mounts %v, want the spool only", r.name, writable)
		}
		if !forward && (len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "spool") {
			t.Errorf("%s: want one volumeClaimTemplate named spool (a spool per replica)", r.name)
		}
		if sts.Spec.Template.Annotations["checksum/config"] == "" {
			t.Errorf("%s: no checksum/config annotation: a changed configuration would not roll the pods", r.name)
		}
		if fmt.Sprint(c.Args) != "[serve --config /etc/kaudit/kaudit.yaml]" {
			t.Errorf("%s: args %v", r.name, c.Args)
		}
	}
}

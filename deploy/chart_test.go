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

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest/webhook"
	"github.com/kaudit/kaudit/investigate"
	"github.com/kaudit/kaudit/live/notify"
	"github.com/kaudit/kaudit/store/clickhouse"
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
// reaches the cluster, with a message naming the value (helm's message, the
// schema's /a/b paths read as a.b).
func TestChartRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		set    []string
		want   string   // in helm's error
		values []string // values files, before set
	}{
		{[]string{"webhook.listen=8443"}, "webhook.listen", nil},
		{[]string{"webhook.listn=:8443"}, "listn", nil},
		{[]string{"webhook.forward=kafak"}, "webhook.forward", nil},
		{[]string{"spool.max_bytes=lots"}, "spool.max_bytes", nil},
		{[]string{"spool.persistence.size=big"}, "size", nil},
		{[]string{"networkPolicy.apiserverCIDRs={10.0.0.0/33}"}, "apiserverCIDRs", nil},
		{[]string{"networkPolicy.apiserverCIDRs={10.0.0.1}"}, "apiserverCIDRs", nil},
		{[]string{"image.digest=latest"}, "digest", nil},
		{[]string{"image.pullPolicy=Sometimes"}, "pullPolicy", nil},
		{[]string{"replicas=-1"}, "replicas", nil},
		{[]string{"securityContext.readOnlyRootFilesystem=false"}, "readOnlyRootFilesystem", nil},
		{[]string{"terminationGracePeriodSeconds=5"}, "terminationGracePeriodSeconds", nil},
		{[]string{"kafka.brokers={kafka-0}"}, "brokers", nil},
		{[]string{"kafka.sasl.mechanism=md5"}, "mechanism", nil},
		{[]string{"kafka.batch_wait=soon"}, "batch_wait", nil},
		{[]string{"store.retention_days=forever"}, "retention_days", nil},
		{[]string{"extraConfig.webhoook.listen=:1"}, "extraConfig", nil},
		{[]string{"webhook.service.clusterIP=not-an-ip"}, "clusterIP", nil},
		{[]string{"webhook.tls.certManager.enabled=true"}, "issuerRef", nil},
		{[]string{"webhook.forward=kafka"}, "kafka.brokers", nil},
		{[]string{"webhook.tokens=false"}, "clientCA", nil},
		{[]string{"api.listen=:8443"}, "own listeners", nil},
		{[]string{"createSecrets.enabled=true"}, "createSecrets", nil},
		// The settings kaudit gained after the chart's first version.
		{[]string{"webhook.max_in_flight_bytes=lots"}, "webhook.max_in_flight_bytes", nil},
		{[]string{"webhook.max_client_in_flight_bytes=1.5GB"}, "webhook.max_client_in_flight_bytes", nil},
		{[]string{"webhook.min_body_rate=fast"}, "webhook.min_body_rate", nil},
		{[]string{"webhook.tls.client_subjects={kube-apiserver}"}, "webhook.tls.client_subjects", nil},
		{[]string{"webhook.tls.clientCA.secretName=ca", "webhook.tls.client_subjects={ kube-apiserver}"}, "webhook.tls.client_subjects.0", nil},
		{[]string{"webhook.tls.clientCA.secretName=ca", "webhook.insecure_http=true", "webhook.tls.client_subjects={kube-apiserver}"}, "webhook.tls.client_subjects", nil},
		{[]string{"api.max_queries_per_analyst=0"}, "api.max_queries_per_analyst", nil},
		{[]string{"tokens.metricsKey=metrics/tokens"}, "tokens.metricsKey", nil},
		{[]string{"tokens.metricsKey=api.tokens"}, "tokens.metricsKey", nil},
		{[]string{"createSecrets.metricsTokens="}, "createSecrets.metricsTokens", []string{manifestValues}},
		{[]string{"ingest.max_clock_skew=later"}, "ingest.max_clock_skew", nil},
		{[]string{"ingest.max_skew=5m"}, "max_skew", nil},
		{[]string{"store.query_max_memory_bytes=plenty"}, "store.query_max_memory_bytes", nil},
		{[]string{"store.query_max_time=1 minute"}, "store.query_max_time", nil},
		{[]string{"store.query_max_rows_read=-1"}, "store.query_max_rows_read", nil},
		{[]string{"notify.receivers[0].type=pagerduty", "notify.receivers[0].url=https://pd.example.com"}, "notify.receivers.0.type", nil},
		{[]string{"notify.receivers[0].url=https://am.example.com"}, "notify.receivers.0': missing property 'type'", nil},
		{[]string{"notify.receivers[0].type=alertmanager", "notify.receivers[0].url=am.example.com"}, "notify.receivers.0.url", nil},
		{[]string{"notify.receivers[0].type=alertmanager", "notify.receivers[0].url=https://am.example.com", "notify.receivers[0].token=abc"}, "token", nil},
		{[]string{"notify.receivers[0].type=alertmanager", "notify.receivers[0].url=https://am.example.com", "notify.receivers[0].min_severity=urgent"}, "notify.receivers.0.min_severity", nil},
		{[]string{"notify.receivers[0].type=alertmanager", "notify.receivers[0].url=https://am.example.com", "notify.receivers[0].timeout=0s"}, "notify.receivers.0.timeout", nil},
		{[]string{"notify.receivers[0].type=alertmanager", "notify.receivers[0].url=https://am.example.com", "notify.receivers[0].match.verbs={delete}"}, "verbs", nil},
		{[]string{"notify.receivers[0].type=alertmanager", "notify.receivers[0].url=https://am.example.com", "notify.receivers[0].secret_file=hmac.key", "notify.secretName=n"}, "notify.receivers.0.secret_file", nil},
		{[]string{"notify.receivers[0].type=webhook", "notify.receivers[0].url=https://soc.example.com"}, "secret_file", nil},
		{[]string{"notify.receivers[0].type=slack", "notify.receivers[0].url=https://hooks.slack.com/x", "notify.receivers[0].url_file=slack.url", "notify.secretName=n"}, "notify.receivers.0.url", nil},
		{[]string{"notify.receivers[0].type=slack"}, "url_file", nil},
		{[]string{"notify.receivers[0].type=webhook", "notify.receivers[0].url=https://soc.example.com", "notify.receivers[0].secret_file=hmac.key"}, "notify.secretName", nil},
		{[]string{"notify.receivers[0].type=alertmanager", "notify.receivers[0].url=https://a.example.com", "notify.receivers[1].type=alertmanager", "notify.receivers[1].url=https://b.example.com", "notify.receivers[1].name=alertmanager-0"}, "notify.receivers[1].name", nil},
		{[]string{"notify.receivers[0].type=alertmanager", "notify.receivers[0].url=https://a.example.com"}, "webhook.forward is kafka", []string{forwardValues}},
		{[]string{"notify.secretName=Notify_Secret"}, "notify.secretName", nil},
		{[]string{"notify.min_severity=urgent"}, "notify.min_severity", nil},
		{[]string{"notify.resolve_after=0s"}, "notify.resolve_after", nil},
		{[]string{"notify.give_up_after=1d"}, "notify.give_up_after", nil},
		{[]string{"notify.resend_every=often"}, "notify.resend_every", nil},
		{[]string{"notify.external_url=kaudit.example.com"}, "notify.external_url", nil},
		{[]string{"notify.receiver[0].type=slack"}, "receiver", nil},
	} {
		_, err := helmTemplate(t, c.values, c.set...)
		if err == nil {
			t.Errorf("helm template %v --set %v rendered; want it refused", c.values, c.set)
			continue
		}
		// What helm said (not the command line, which holds the values), with
		// the schema's paths (/webhook/listen) as dotted names.
		msg := err.Error()
		if _, said, ok := strings.Cut(msg, "\n"); ok {
			msg = said
		}
		if !strings.Contains(strings.ReplaceAll(msg, "/", "."), c.want) {
			t.Errorf("helm template %v --set %v: the error does not name %q:\n%v", c.values, c.set, c.want, err)
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
	re := regexp.MustCompile(`^(webhook|api|metrics|store|spool|kafka|redact|rules|incident|ingest|notify)(\.[a-z_]+)+$`)
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

// renderedConfig is the kaudit.yaml of a rendering, parsed.
func renderedConfig(t testing.TB, valuesFiles []string, sets ...string) map[string]any {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(parseObjects(t, mustRender(t, valuesFiles, sets...)).kauditConfig(t)), &cfg); err != nil {
		t.Fatalf("kaudit.yaml: %v", err)
	}
	return cfg
}

// lookup finds a dotted key ("webhook.tls.client_subjects") in a parsed
// YAML document.
func lookup(m map[string]any, key string) (any, bool) {
	var v any = m
	for _, k := range strings.Split(key, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// TestChartDefaultsAreKaudits: the chart's defaults of kaudit's limits are
// kaudit's own defaults (the Go constants), and what kaudit leaves unset
// by default the chart leaves unset.
func TestChartDefaultsAreKaudits(t *testing.T) {
	cfg := renderedConfig(t, nil)
	get := func(key string) string {
		v, ok := lookup(cfg, key)
		if !ok {
			t.Errorf("the default kaudit.yaml has no %s", key)
			return ""
		}
		return fmt.Sprint(v)
	}
	for key, want := range map[string]int64{
		"webhook.max_body_bytes":             webhook.DefaultMaxBodyBytes,
		"webhook.max_in_flight_bytes":        webhook.DefaultMaxInFlightBytes,
		"webhook.max_client_in_flight_bytes": webhook.DefaultMaxClientInFlightBytes,
		"webhook.min_body_rate":              webhook.DefaultMinBodyRate,
		"store.query_max_memory_bytes":       clickhouse.DefaultQueryMaxMemory,
	} {
		s := get(key)
		if s == "" {
			continue
		}
		q, err := resource.ParseQuantity(s)
		if n, ok := q.AsInt64(); err != nil || !ok || n != want {
			t.Errorf("chart default %s: %s, kaudit's default is %d bytes", key, s, want)
		}
	}
	for key, want := range map[string]time.Duration{
		"store.query_max_time":  clickhouse.DefaultQueryMaxTime,
		"ingest.max_clock_skew": detect.DefaultMaxClockSkew,
	} {
		if s := get(key); s != "" {
			if d, err := time.ParseDuration(s); err != nil || d != want {
				t.Errorf("chart default %s: %s, kaudit's default is %s", key, s, want)
			}
		}
	}
	for key, want := range map[string]int64{
		"api.max_queries_per_analyst": investigate.DefaultMaxQueriesPerAnalyst,
		"store.query_max_rows_read":   clickhouse.DefaultQueryMaxRowsRead,
	} {
		if v, ok := lookup(cfg, key); !ok {
			t.Errorf("the default kaudit.yaml has no %s", key)
		} else if n, ok := v.(float64); !ok || int64(n) != want || float64(int64(n)) != n {
			t.Errorf("chart default %s: %v, kaudit's default is %d", key, v, want)
		}
	}
	for _, key := range []string{"webhook.tls.client_ca", "webhook.tls.client_subjects", "metrics", "notify"} {
		if v, ok := lookup(cfg, key); ok {
			t.Errorf("the default kaudit.yaml sets %s (%v), which kaudit leaves unset", key, v)
		}
	}
}

// TestChartRendersKauditSettings: every kaudit setting the chart has a
// value of the same name for is set by ci/full-values.yaml and lands in
// kaudit.yaml as it is; the files of the metrics tokens and the notify
// receivers become paths of their mounts; kaudit's own decoder takes the
// receivers.
func TestChartRendersKauditSettings(t *testing.T) {
	b, err := os.ReadFile(fullValues)
	if err != nil {
		t.Fatal(err)
	}
	var vals map[string]any
	if err := yaml.Unmarshal(b, &vals); err != nil {
		t.Fatal(err)
	}
	cfg := renderedConfig(t, []string{fullValues})
	for _, key := range []string{
		"webhook.listen", "webhook.max_body_bytes",
		"webhook.max_in_flight_bytes", "webhook.max_client_in_flight_bytes", "webhook.min_body_rate",
		"webhook.tls.client_subjects",
		"api.listen", "api.max_queries_per_analyst",
		"ingest.max_clock_skew",
		"store.retention_days", "store.query_max_memory_bytes", "store.query_max_time", "store.query_max_rows_read",
		"spool.max_bytes",
		"notify.min_severity", "notify.resolve_after", "notify.external_url", "notify.give_up_after", "notify.resend_every",
	} {
		want, ok := lookup(vals, key)
		if !ok {
			t.Errorf("ci/full-values.yaml does not set %s", key)
			continue
		}
		got, ok := lookup(cfg, key)
		if !ok {
			t.Errorf("full values: kaudit.yaml has no %s", key)
		} else if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("full values: kaudit.yaml's %s is %v, the value %v", key, got, want)
		}
	}
	if got, _ := lookup(cfg, "metrics.tokens_file"); got != "/etc/kaudit/tokens/metrics.tokens" {
		t.Errorf("full values: metrics.tokens_file is %v, want /etc/kaudit/tokens/metrics.tokens", got)
	}

	raw, _ := lookup(cfg, "notify.receivers")
	rcs, err := notify.DecodeReceivers(raw)
	if err != nil {
		t.Fatalf("full values: kaudit refuses the rendered notify.receivers: %v", err)
	}
	valRcs, _ := lookup(vals, "notify.receivers")
	if l, _ := valRcs.([]any); len(rcs) != len(l) || len(rcs) != 3 {
		t.Fatalf("full values: %d receivers rendered, values have %v", len(rcs), valRcs)
	}
	for i, want := range []notify.ReceiverConfig{
		{Name: "alertmanager", Type: "alertmanager", URL: "https://alertmanager.monitoring:9093", TLSCA: "/etc/kaudit/notify/am-ca.crt", TokenFile: "/etc/kaudit/notify/am.token", MinSeverity: "critical"},
		{Name: "soc", Type: "webhook", URL: "https://soc.example.com/hooks/kaudit", SecretFile: "/etc/kaudit/notify/soc-hmac.key", Timeout: 15 * time.Second,
			Match: notify.Match{Tactics: []string{"Privilege Escalation", "Persistence"}, Namespaces: []string{"kube-*", "payments"}, Actors: []string{"system:serviceaccount:*"}}},
		{Name: "slack-2", Type: "slack", URLFile: "/etc/kaudit/notify/slack-webhook.url"},
	} {
		if got := rcs[i]; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			t.Errorf("full values: receiver %d is\n%+v, want\n%+v", i, got, want)
		}
	}
}

// TestChartConfigFilesMounted: in every rendering, each path kaudit.yaml
// names is in a volume the container mounts (for a Secret mounted by
// items, one of its items), so kaudit finds at start what it is told to
// read.
func TestChartConfigFilesMounted(t *testing.T) {
	all := append(slices.Clone(renderings), struct {
		name   string
		values []string
		sets   []string
	}{"static manifest values with a notify Secret", []string{manifestValues}, []string{
		"notify.secretName=kaudit-notify", "notify.receivers[0].type=webhook", "notify.receivers[0].url=https://soc.example.com/", "notify.receivers[0].secret_file=hmac.key"}})
	for _, r := range all {
		objs := parseObjects(t, mustRender(t, r.values, r.sets...))
		var cfg map[string]any
		if err := yaml.Unmarshal([]byte(objs.kauditConfig(t)), &cfg); err != nil {
			t.Fatal(err)
		}
		sts := objs.statefulSet(t)
		var paths []string
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for _, x := range v {
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			case string:
				if strings.HasPrefix(v, "/") {
					paths = append(paths, v)
				}
			}
		}
		walk(cfg)
		if len(paths) < 3 {
			t.Errorf("%s: only %v in kaudit.yaml look like paths", r.name, paths)
		}
		for _, p := range paths {
			if err := mounted(sts, p); err != nil {
				t.Errorf("%s: kaudit.yaml names %s: %v", r.name, p, err)
			}
		}
	}
}

// mounted says whether path p is provided by a volume mount of the
// StatefulSet's container.
func mounted(sts *appsv1.StatefulSet, p string) error {
	pod := sts.Spec.Template.Spec
	for _, m := range pod.Containers[0].VolumeMounts {
		if p != m.MountPath && !strings.HasPrefix(p, m.MountPath+"/") {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, m.MountPath), "/")
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			if rel == "" || v.Secret == nil || len(v.Secret.Items) == 0 {
				return nil
			}
			for _, it := range v.Secret.Items {
				if it.Path == rel {
					return nil
				}
			}
			return fmt.Errorf("volume %s (Secret %s) mounted at %s has no item %s", v.Name, v.Secret.SecretName, m.MountPath, rel)
		}
		for _, pvc := range sts.Spec.VolumeClaimTemplates {
			if pvc.Name == m.Name {
				return nil
			}
		}
		return fmt.Errorf("mount %s has no volume", m.Name)
	}
	return fmt.Errorf("no volume is mounted there")
}

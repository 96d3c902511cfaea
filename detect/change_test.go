package detect

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
)

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const webhookV1 = `{"metadata":{"name":"w","resourceVersion":"1"},"webhooks":[
 {"name":"a.example.com","clientConfig":{"service":{"namespace":"op","name":"svc"},"caBundle":"AAA"},"rules":[{"apiGroups":["apps"],"resources":["deployments"]}],"failurePolicy":"Ignore"},
 {"name":"b.example.com","clientConfig":{"service":{"namespace":"op","name":"svc"},"caBundle":"AAA"},"rules":[{"apiGroups":["apps"],"resources":["deployments"]}]}]}`

func TestDiffCaBundleRotation(t *testing.T) {
	// Rotated, and the webhooks listed in another order: items are matched
	// by name, bookkeeping is no change.
	v2 := `{"metadata":{"name":"w","resourceVersion":"2"},"webhooks":[
 {"name":"b.example.com","clientConfig":{"service":{"namespace":"op","name":"svc"},"caBundle":"BBB"},"rules":[{"apiGroups":["apps"],"resources":["deployments"]}]},
 {"name":"a.example.com","clientConfig":{"service":{"namespace":"op","name":"svc"},"caBundle":"BBB"},"rules":[{"apiGroups":["apps"],"resources":["deployments"]}],"failurePolicy":"Ignore"}]}`
	cs := diff(obj(t, webhookV1), obj(t, v2))
	if len(cs) != 2 {
		t.Fatalf("changes %+v, want the two caBundles", cs)
	}
	for _, c := range cs {
		if c.Path != "webhooks.*.clientConfig.caBundle" {
			t.Errorf("change at %s", c.Path)
		}
	}
}

func TestDiffWidenedRulesAndURL(t *testing.T) {
	v2 := `{"metadata":{"name":"w"},"webhooks":[
 {"name":"a.example.com","clientConfig":{"url":"https://203.0.113.9/mutate","caBundle":"AAA"},"rules":[{"apiGroups":["apps",""],"resources":["deployments","secrets"]}],"failurePolicy":"Fail"},
 {"name":"b.example.com","clientConfig":{"service":{"namespace":"op","name":"svc"},"caBundle":"AAA"},"rules":[{"apiGroups":["apps"],"resources":["deployments"]}]}]}`
	cs := diff(obj(t, webhookV1), obj(t, v2))
	if got := newValues(cs, "webhooks.*.rules.*.resources.*"); len(got) != 1 || got[0] != "secrets" {
		t.Errorf("new resources %v, want [secrets]", got)
	}
	if len(changesMatching(cs, []string{"webhooks.*.clientConfig.url", "webhooks.*.clientConfig.service.**"})) == 0 {
		t.Error("the endpoint change is not seen")
	}
	if d := describeChanges(changesMatching(cs, []string{"webhooks.*.clientConfig.url"})); d != "webhooks.clientConfig.url → https://203.0.113.9/mutate" {
		t.Errorf("described %q", d)
	}
	if len(changesMatching(cs, []string{"webhooks.*.failurePolicy"})) != 1 {
		t.Error("the failure policy change is not seen")
	}
}

// Without the earlier version, a patch shows what it sets: a strategic
// merge patch naming each webhook by its merge key and setting caBundle
// changes the caBundle only; a JSON patch changes its paths.
func TestPatchChanges(t *testing.T) {
	smp := obj(t, `{"webhooks":[{"name":"a.example.com","clientConfig":{"caBundle":"BBB"}}],"metadata":{"resourceVersion":"9"}}`)
	cs := patchChanges(smp, nil)
	if len(cs) != 1 || cs[0].Path != "webhooks.*.clientConfig.caBundle" {
		t.Errorf("strategic merge patch changes %+v", cs)
	}
	ops := []any{map[string]any{"op": "replace", "path": "/webhooks/0/clientConfig/url", "value": "https://x"}}
	cs = patchChanges(nil, ops)
	if len(cs) != 1 || cs[0].Path != "webhooks.*.clientConfig.url" {
		t.Errorf("JSON patch changes %+v", cs)
	}
}

func TestMatchPath(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"webhooks.*.clientConfig.caBundle", "webhooks.*.clientConfig.caBundle", true},
		{"metadata.annotations.**", "metadata.annotations.a", true},
		{"webhooks.*.rules.**", "webhooks.*.rules.*.resources.*", true},
		{"webhooks.*.rules.**", "webhooks.*.clientConfig.url", false},
		{"data.Corefile", "data.Corefile", true},
	} {
		if got := matchPath(c.pattern, c.path); got != c.want {
			t.Errorf("matchPath(%q, %q) = %v", c.pattern, c.path, got)
		}
	}
}

// equalJSON's typed comparisons agree with comparing how leaves print, the
// rule it had before them.
func TestEqualJSONAgreesWithPrinting(t *testing.T) {
	leaves := []any{"", "1", "true", "a", float64(1), float64(0), math.Copysign(0, -1), 1.5, 1e21, true, false,
		map[string]any{"a": 1.0}, []any{1.0}, []any{"1"}}
	for _, a := range leaves {
		for _, b := range leaves {
			if got, want := equalJSON(a, b), fmt.Sprint(a) == fmt.Sprint(b); got != want {
				t.Errorf("equalJSON(%#v, %#v) = %v, printing says %v", a, b, got, want)
			}
		}
	}
}

// Changes worked out only when an expression about to run reads them
// change no finding: every fixture event gives the same findings (messages
// and grades included) as with changes worked out before every condition
// of a rule that knows the previous version; and some findings do read
// them after the condition, so the lazy path is exercised.
func TestChangesWorkedOutWhenReadChangeNoFinding(t *testing.T) {
	evs := fixtureEvents(t)
	lazy, eager := library(t), library(t)
	later := map[string]bool{} // rules that read changes only after their condition
	for _, c := range eager.rules {
		if c.changesLater && !c.changes {
			later[c.rule.ID] = true
		}
		c.changes = c.changes || c.previous
	}
	fired := 0
	for _, f := range sameFindings(t, evs, "lazy", evaluator(lazy), "eager", evaluator(eager)) {
		if later[f.Rule] {
			fired++
		}
	}
	if fired == 0 {
		t.Fatalf("no rule of %v fired: the test compares nothing", later)
	}
	t.Logf("%d findings of rules reading changes after their condition", fired)
}

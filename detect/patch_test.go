package detect

import (
	"reflect"
	"testing"
)

func TestApplyPatch(t *testing.T) {
	prev := map[string]any{
		"kind":  "ClusterRole",
		"rules": []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"get"}}},
	}
	secrets := map[string]any{"apiGroups": []any{""}, "resources": []any{"secrets"}, "verbs": []any{"get", "list"}}
	cases := []struct {
		name string
		body string
		want []any // the rules of the patched role; nil: the patch does not apply
	}{
		{"JSON patch appending a rule", `[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list"]}}]`,
			[]any{prev["rules"].([]any)[0], secrets}},
		{"merge patch replacing the rules", `{"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list"]}]}`,
			[]any{secrets}},
		{"JSON patch testing a value it does not hold", `[{"op":"test","path":"/kind","value":"Role"}]`, nil},
		{"not a patch", `"x"`, nil},
	}
	for _, c := range cases {
		got := applyPatch(prev, []byte(c.body))
		if c.want == nil {
			if got != nil {
				t.Errorf("%s: got %v, want nothing", c.name, got)
			}
			continue
		}
		if got == nil || !reflect.DeepEqual(got["rules"], c.want) {
			t.Errorf("%s: rules %v, want %v", c.name, got["rules"], c.want)
		}
	}
	if applyPatch(nil, []byte(`{"a":1}`)) != nil {
		t.Error("a patch of an unknown version gave an object")
	}
	if len(prev["rules"].([]any)) != 1 {
		t.Error("applyPatch changed the version it was given")
	}
}

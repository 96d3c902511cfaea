package notify

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The documented schema (deploy/notify/webhook.schema.json) names every
// field of the notification JSON, each required, and nothing else.
func TestSchemaDocumentsEveryField(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/notify/webhook.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	check(t, "notification", schema, reflect.TypeFor[Notification]())
}

func check(t *testing.T, at string, node map[string]any, typ reflect.Type) {
	t.Helper()
	props, _ := node["properties"].(map[string]any)
	var req []string
	for _, r := range node["required"].([]any) {
		req = append(req, r.(string))
	}
	var fields []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		fields = append(fields, name)
		sub, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s.%s is not in the schema", at, name)
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			items, _ := sub["items"].(map[string]any)
			check(t, at+"."+name+"[]", items, ft.Elem())
		} else if ft.Kind() == reflect.Struct {
			check(t, at+"."+name, sub, ft)
		}
	}
	var names []string
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	sort.Strings(req)
	sort.Strings(fields)
	if !slices.Equal(names, fields) || !slices.Equal(req, fields) {
		t.Errorf("%s: schema properties %v, required %v; the Go type has %v", at, names, req, fields)
	}
}

package detect

import (
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
)

// What a write changed. Rules grade a change by its content, not its verb:
// cert-manager's cainjector rewriting a webhook's caBundle is not a new
// webhook. The engine remembers the last version of the objects such rules
// read (objects.go), so that an update is compared with what it replaced;
// without that version a patch still shows what it sets, its body.
//
// Paths are dotted, with list items written "*" ("webhooks.*.clientConfig.
// caBundle"); items of lists of named objects (webhooks, containers) are
// matched by name, so that reordering them is no change.

// bookkeeping are the metadata fields the apiserver changes on every write.
var bookkeeping = map[string]bool{
	"metadata.resourceVersion": true, "metadata.generation": true, "metadata.managedFields": true,
	"metadata.creationTimestamp": true, "metadata.uid": true, "metadata.selfLink": true,
	"metadata.annotations.kubectl.kubernetes.io/last-applied-configuration": true,
}

// Change is one leaf that differs between two versions of an object.
type Change struct {
	Path string `expr:"path"`
	Old  any    `expr:"old"`
	New  any    `expr:"new"`
}

// diff lists the leaves that differ between old and new, in path order.
func diff(old, new any) []Change {
	var out []Change
	walkDiff("", old, new, &out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func walkDiff(p string, old, new any, out *[]Change) {
	if bookkeeping[p] {
		return
	}
	om, oIsMap := old.(map[string]any)
	nm, nIsMap := new.(map[string]any)
	if oIsMap && nIsMap {
		// Most leaves of an update are as they were: those are passed
		// over before their path is even written.
		for k, o := range om {
			n := nm[k]
			if isScalar(o) && equalJSON(o, n) {
				continue
			}
			walkDiff(join(p, k), o, n, out)
		}
		for k, n := range nm {
			if _, ok := om[k]; !ok {
				walkDiff(join(p, k), nil, n, out)
			}
		}
		return
	}
	ol, oIsList := old.([]any)
	nl, nIsList := new.([]any)
	if oIsList && nIsList {
		diffLists(p, ol, nl, out)
		return
	}
	if !equalJSON(old, new) {
		*out = append(*out, Change{Path: p, Old: old, New: new})
	}
}

// diffLists compares list items by name when every item is a named object,
// else by position.
func diffLists(p string, old, new []any, out *[]Change) {
	item := join(p, "*")
	if on, ok := byName(old); ok {
		if nn, ok := byName(new); ok {
			for name, o := range on {
				walkDiff(item, o, nn[name], out)
			}
			for name, n := range nn {
				if _, ok := on[name]; !ok {
					walkDiff(item, nil, n, out)
				}
			}
			return
		}
	}
	for i := 0; i < max(len(old), len(new)); i++ {
		var o, n any
		if i < len(old) {
			o = old[i]
		}
		if i < len(new) {
			n = new[i]
		}
		walkDiff(item, o, n, out)
	}
}

func byName(list []any) (map[string]any, bool) {
	out := make(map[string]any, len(list))
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, false
		}
		name, ok := m["name"].(string)
		if !ok {
			return nil, false
		}
		out[name] = m
	}
	return out, len(list) > 0
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

// equalJSON reports whether two leaves read the same. Leaves of one type
// are compared as such; others by how they print (a number and the string
// of it are the same leaf), as before the common case had its own path.
func equalJSON(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return x == y
		}
	case float64:
		if y, ok := b.(float64); ok {
			return x == y && math.Signbit(x) == math.Signbit(y) // fmt prints -0 and 0 apart
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y
		}
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// isScalar reports whether v is a leaf: not an object, not a list.
func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// patchChanges lists what a patch body sets when the object it patches is
// not known: the leaves of a merge, strategic-merge or apply patch (list
// items' merge keys and the patch directives are not changes), or the
// paths of a JSON patch's operations.
func patchChanges(body map[string]any, ops []any) []Change {
	var out []Change
	if ops != nil {
		for _, op := range ops {
			m, _ := op.(map[string]any)
			p, _ := m["path"].(string)
			out = append(out, Change{Path: jsonPointerPath(p), New: m["value"]})
		}
		return out
	}
	walkPatch("", body, &out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func walkPatch(p string, v any, out *[]Change) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if strings.HasPrefix(k, "$") || (p == "" && (k == "apiVersion" || k == "kind")) || join(p, k) == "metadata.name" {
				continue
			}
			if strings.HasSuffix(p, ".*") && k == "name" {
				continue // the merge key that finds the item, not a change
			}
			walkPatch(join(p, k), val, out)
		}
	case []any:
		for _, item := range x {
			walkPatch(join(p, "*"), item, out)
		}
	default:
		if !bookkeeping[p] {
			*out = append(*out, Change{Path: p, New: x})
		}
	}
}

// jsonPointerPath turns "/webhooks/0/clientConfig/caBundle" into
// "webhooks.*.clientConfig.caBundle".
func jsonPointerPath(ptr string) string {
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, s := range parts {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(s); err == nil || s == "-" {
			s = "*"
		}
		parts[i] = s
	}
	return strings.Join(parts, ".")
}

// matchPath reports whether a change's path matches a pattern, "*" standing
// for one segment and a trailing ".**" for any below.
func matchPath(pattern, p string) bool {
	if prefix, ok := strings.CutSuffix(pattern, ".**"); ok {
		return matchPath(prefix, p) || matchPrefix(prefix, p)
	}
	ok, _ := path.Match(strings.ReplaceAll(pattern, ".", "/"), strings.ReplaceAll(p, ".", "/"))
	return ok
}

func matchPrefix(prefix, p string) bool {
	ps, xs := strings.Split(prefix, "."), strings.Split(p, ".")
	if len(xs) <= len(ps) {
		return false
	}
	return matchPath(prefix, strings.Join(xs[:len(ps)], "."))
}

// changeFunctions are the expr functions over the changes field: nil when
// what changed is not known, empty when nothing did.
func changeFunctions() []expr.Option {
	return []expr.Option{
		// only_changed(changes, patterns): the change is known and every
		// changed leaf matches a pattern ("webhooks.*.clientConfig.caBundle").
		expr.Function("only_changed", func(p ...any) (any, error) {
			cs, _ := p[0].([]Change)
			if cs == nil {
				return false, nil
			}
			pats := stringsOf(p[1])
			for _, c := range cs {
				if !anyPattern(pats, c.Path) {
					return false, nil
				}
			}
			return true, nil
		}, new(func([]Change, []any) bool)),
		// changed_any(changes, patterns): some changed leaf matches a
		// pattern.
		expr.Function("changed_any", func(p ...any) (any, error) {
			cs, _ := p[0].([]Change)
			return len(changesMatching(cs, stringsOf(p[1]))) > 0, nil
		}, new(func([]Change, []any) bool)),
		// describe_changes(changes, patterns): "clientConfig.url →
		// https://…" for the changed leaves matching the patterns.
		expr.Function("describe_changes", func(p ...any) (any, error) {
			cs, _ := p[0].([]Change)
			return describeChanges(changesMatching(cs, stringsOf(p[1]))), nil
		}, new(func([]Change, []any) string)),
		// new_values(changes, pattern): values of the leaves matching
		// pattern in the new version that the old one did not hold (rules
		// widened to "secrets", a namespace added).
		expr.Function("new_values", func(p ...any) (any, error) {
			cs, _ := p[0].([]Change)
			return newValues(cs, str(p[1])), nil
		}, new(func([]Change, string) []any)),
	}
}

func anyPattern(pats []string, p string) bool {
	for _, pat := range pats {
		if matchPath(pat, p) {
			return true
		}
	}
	return false
}

func changesMatching(cs []Change, pats []string) []Change {
	var out []Change
	for _, c := range cs {
		if anyPattern(pats, c.Path) {
			out = append(out, c)
		}
	}
	return out
}

func newValues(cs []Change, pattern string) []any {
	var out []any
	seen := map[string]bool{}
	for _, c := range cs {
		if !matchPath(pattern, c.Path) || c.New == nil {
			continue
		}
		v := fmt.Sprint(c.New)
		if seen[v] || (c.Old != nil && fmt.Sprint(c.Old) == v) {
			continue
		}
		seen[v] = true
		out = append(out, c.New)
	}
	return out
}

// describeChanges writes changes for a person: "a.b → new", "a.b removed".
func describeChanges(cs []Change) string {
	var parts []string
	for _, c := range cs {
		p := strings.ReplaceAll(c.Path, ".*.", ".")
		switch {
		case c.New == nil:
			parts = append(parts, p+" removed")
		default:
			parts = append(parts, p+" → "+short(fmt.Sprint(c.New)))
		}
	}
	return strings.Join(parts, ", ")
}

func short(s string) string {
	if len(s) > 80 {
		return s[:77] + "…"
	}
	return s
}

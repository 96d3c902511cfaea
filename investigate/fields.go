package investigate

import (
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/kaudit/kaudit/detect/rulefile"
)

// A field path is where a value sits in an audit event's JSON, one key (or
// "*" for any item of a list) a step: ["objectRef", "name"],
// ["annotations", "authorization.k8s.io/reason"]. The event view
// highlights the fields a finding's rule looked at.
type fieldPath = []string

// envPaths maps the names a rule's condition reads (detect.Env) to the
// event fields they come from.
var envPaths = map[string][]fieldPath{
	"audit_id":            {{"auditID"}},
	"stage":               {{"stage"}},
	"level":               {{"level"}},
	"verb":                {{"verb"}},
	"request_uri":         {{"requestURI"}},
	"query":               {{"requestURI"}},
	"command":             {{"requestURI"}},
	"user":                {{"user", "username"}},
	"uid":                 {{"user", "uid"}},
	"groups":              {{"user", "groups"}},
	"extra":               {{"user", "extra"}},
	"impersonated_user":   {{"impersonatedUser", "username"}},
	"impersonated_groups": {{"impersonatedUser", "groups"}},
	"actor":               {{"user", "username"}, {"impersonatedUser", "username"}},
	"source_ips":          {{"sourceIPs"}},
	"source_ip":           {{"sourceIPs"}},
	"user_agent":          {{"userAgent"}},
	"api_group":           {{"objectRef", "apiGroup"}},
	"api_version":         {{"objectRef", "apiVersion"}},
	"resource":            {{"objectRef", "resource"}},
	"subresource":         {{"objectRef", "subresource"}},
	"namespace":           {{"objectRef", "namespace"}},
	"name":                {{"objectRef", "name"}},
	"code":                {{"responseStatus", "code"}},
	"decision":            {{"annotations", "authorization.k8s.io/decision"}},
	"denied":              {{"responseStatus", "code"}, {"annotations", "authorization.k8s.io/decision"}},
	"allowed":             {{"responseStatus", "code"}, {"annotations", "authorization.k8s.io/decision"}},
	"annotations":         {{"annotations"}},
	"request":             {{"requestObject"}},
	"patch":               {{"requestObject"}},
	"response":            {{"responseObject"}},
	"object":              {{"responseObject"}, {"requestObject"}},
	"change":              {{"requestObject"}, {"responseObject"}},
}

// objectRoots are the names that hold a whole object: alone (passed to a
// helper such as containers(object)) they stand for its spec, not for
// every field of it.
var objectRoots = map[string]bool{"request": true, "patch": true, "response": true, "object": true, "change": true}

// ruleFields lists the event fields a rule looks at: those its match names
// and those its condition and fallback read.
func ruleFields(r *rulefile.Rule) []fieldPath {
	var out []fieldPath
	add := func(ps ...fieldPath) {
		for _, p := range ps {
			if !slices.ContainsFunc(out, func(q fieldPath) bool { return slices.Equal(p, q) }) {
				out = append(out, p)
			}
		}
	}
	m := &r.Match
	if len(m.Verbs) > 0 {
		add(fieldPath{"verb"})
	}
	if len(m.Resources) > 0 {
		add(fieldPath{"objectRef", "resource"})
	}
	if len(m.APIGroups) > 0 {
		add(fieldPath{"objectRef", "apiGroup"})
	}
	if len(m.Users) > 0 || len(m.NotUsers) > 0 {
		add(fieldPath{"user", "username"})
	}
	if len(m.Groups) > 0 {
		add(fieldPath{"user", "groups"})
	}
	if len(m.Namespaces) > 0 {
		add(fieldPath{"objectRef", "namespace"})
	}
	if len(m.Names) > 0 {
		add(fieldPath{"objectRef", "name"})
	}
	if m.Impersonated {
		add(fieldPath{"impersonatedUser", "username"})
	}
	if m.ExternalSource {
		add(fieldPath{"sourceIPs"})
	}
	for _, src := range []string{r.Condition, r.Fallback} {
		add(conditionFields(src)...)
	}
	return out
}

// conditionFields reads the fields an expr condition refers to. A path
// that another one extends is dropped (object alone when the condition
// reads object.data.Corefile).
func conditionFields(src string) []fieldPath {
	if strings.TrimSpace(src) == "" {
		return nil
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	c := &fieldCollector{}
	ast.Walk(&tree.Node, c)
	var out []fieldPath
	for _, p := range c.paths {
		longer := slices.ContainsFunc(c.paths, func(q []string) bool { return len(q) > len(p) && slices.Equal(q[:len(p)], p) })
		if longer {
			continue
		}
		if len(p) == 1 && objectRoots[p[0]] {
			p = []string{p[0], "spec"}
		}
		out = append(out, expand(p)...)
	}
	return out
}

// expand turns a path over condition names (["object", "data",
// "Corefile"]) into the event fields it reads.
func expand(p []string) []fieldPath {
	roots, ok := envPaths[p[0]]
	if !ok {
		return nil
	}
	var out []fieldPath
	for _, r := range roots {
		out = append(out, append(slices.Clone(r), p[1:]...))
	}
	return out
}

// fieldCollector gathers every name path of a condition: identifiers,
// member chains (object.spec.hostPID), and get(x, "dotted.path") and
// annotation(x, "key") calls.
type fieldCollector struct {
	paths [][]string
}

func (c *fieldCollector) Visit(n *ast.Node) {
	if p := namePath(*n); p != nil {
		if _, ok := envPaths[p[0]]; ok {
			c.paths = append(c.paths, p)
		}
	}
}

// namePath is the path a node reads, or nil when it reads none.
func namePath(n ast.Node) []string {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return []string{n.Value}
	case *ast.ChainNode:
		return namePath(n.Node)
	case *ast.MemberNode:
		base := namePath(n.Node)
		prop, ok := n.Property.(*ast.StringNode)
		if base == nil || !ok {
			return base
		}
		return append(base, prop.Value)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			return callPath(id.Value, n.Arguments)
		}
	case *ast.BuiltinNode:
		return callPath(n.Name, n.Arguments)
	}
	return nil
}

func callPath(fn string, args []ast.Node) []string {
	if len(args) != 2 || (fn != "get" && fn != "annotation") {
		return nil
	}
	base := namePath(args[0])
	s, ok := args[1].(*ast.StringNode)
	if base == nil || !ok {
		return nil
	}
	if fn == "annotation" {
		return append(base, "metadata", "annotations", s.Value)
	}
	return append(base, strings.Split(s.Value, ".")...)
}

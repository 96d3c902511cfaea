package detect

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// Running a rule's condition costs the expression VM 200 ns or more even
// when it is a single flag, and many rules start with tests that are
// almost always false ("clock_skewed", "denied && …", `verb == "update"
// && subresource == "status"`). quickTest reads such leading conjuncts
// straight from the environment: when one is false, so is the condition
// (&& stops there), and the VM is not run. It reads fields, so it changes
// no state.

// quickTest is a condition's leading conjuncts, read without the VM.
type quickTest func(*Env) bool

// envFields maps the expr names of Env's boolean and string fields to
// their index, by kind: what a quick test may read.
var envFields = func() map[reflect.Kind]map[string]int {
	m := map[reflect.Kind]map[string]int{reflect.Bool: {}, reflect.String: {}}
	t := reflect.TypeFor[Env]()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name := f.Tag.Get("expr"); name != "" && f.IsExported() && m[f.Type.Kind()] != nil {
			m[f.Type.Kind()][name] = i
		}
	}
	return m
}()

// compileQuick returns the quick test of a condition's leading conjuncts
// of the shapes read directly (a flag, its negation, a field compared
// with a string or tested against a list of strings), or nil when the
// first is none of them. It stops at the first conjunct of another shape:
// that one may fail at run time, and its error must still be reported.
func compileQuick(condition string) quickTest {
	var tests []quickTest
	for _, n := range conjuncts(condition) {
		t := conjunctTest(n)
		if t == nil {
			break
		}
		tests = append(tests, t)
	}
	switch len(tests) {
	case 0:
		return nil
	case 1:
		return tests[0]
	}
	return func(e *Env) bool {
		for _, t := range tests {
			if !t(e) {
				return false
			}
		}
		return true
	}
}

// conjunctTest is the quick test of one conjunct, or nil. The test is
// the conjunct's exact value, so that tests combine: a negation of one
// (`verb not in [...]`), and a disjunction of two (`resource == "secrets"
// || subresource != ""`, which sequence rules start with and which ran the
// VM for most events).
func conjunctTest(n ast.Node) quickTest {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return flagTest(n.Value, false)
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil
		}
		if id, ok := n.Node.(*ast.IdentifierNode); ok {
			return flagTest(id.Value, true)
		}
		if t := conjunctTest(n.Node); t != nil {
			return func(e *Env) bool { return !t(e) }
		}
	case *ast.BinaryNode:
		if n.Operator == "||" || n.Operator == "or" {
			left, right := conjunctTest(n.Left), conjunctTest(n.Right)
			if left == nil || right == nil {
				return nil
			}
			return func(e *Env) bool { return left(e) || right(e) }
		}
		id, ok := n.Left.(*ast.IdentifierNode)
		if !ok {
			return nil
		}
		i, ok := envFields[reflect.String][id.Value]
		if !ok {
			return nil
		}
		field := func(e *Env) string { return reflect.ValueOf(e).Elem().Field(i).String() }
		switch n.Operator {
		case "==", "!=":
			lit, ok := n.Right.(*ast.StringNode)
			if !ok {
				return nil
			}
			want, equal := lit.Value, n.Operator == "=="
			return func(e *Env) bool { return (field(e) == want) == equal }
		case "in":
			arr, ok := n.Right.(*ast.ArrayNode)
			if !ok {
				return nil
			}
			set := make(map[string]bool, len(arr.Nodes))
			for _, el := range arr.Nodes {
				lit, ok := el.(*ast.StringNode)
				if !ok {
					return nil
				}
				set[lit.Value] = true
			}
			return func(e *Env) bool { return set[field(e)] }
		}
	}
	return nil
}

// flagTest reads a boolean field, negated when not is set.
func flagTest(name string, not bool) quickTest {
	i, ok := envFields[reflect.Bool][name]
	if !ok {
		return nil
	}
	return func(e *Env) bool { return reflect.ValueOf(e).Elem().Field(i).Bool() != not }
}

// conjuncts are the operands of a condition's chain of && in the order
// they run (the whole condition when it is no such chain), or nil
// when it does not parse.
func conjuncts(condition string) []ast.Node {
	tree, err := parser.Parse(condition)
	if err != nil {
		return nil
	}
	var rights []ast.Node
	n := tree.Node
	for {
		b, ok := n.(*ast.BinaryNode)
		if !ok || (b.Operator != "&&" && b.Operator != "and") {
			break
		}
		rights = append(rights, b.Right)
		n = b.Left
	}
	out := []ast.Node{n}
	for i := len(rights) - 1; i >= 0; i-- {
		out = append(out, rights[i])
	}
	return out
}

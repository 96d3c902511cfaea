package detect

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// Running a rule's condition costs the expression VM 200 ns or more even
// when it is a single flag, and some rules that match every request start
// with one that is almost always false ("clock_skewed", "denied && …").
// quickTest reads such a first conjunct straight from the environment:
// when it is false, so is the condition (&& stops there), and the VM is
// not run. It reads a field, so it changes no state.

// quickTest is a condition's first conjunct, read without the VM.
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

// compileQuick returns the quick test of a condition's first conjunct, or
// nil when it is not one of the shapes read directly: a flag, its
// negation, or a field compared with a string.
func compileQuick(condition string) quickTest {
	switch n := firstConjunct(condition).(type) {
	case *ast.IdentifierNode:
		return flagTest(n.Value, false)
	case *ast.UnaryNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && (n.Operator == "!" || n.Operator == "not") {
			return flagTest(id.Value, true)
		}
	case *ast.BinaryNode:
		id, ok := n.Left.(*ast.IdentifierNode)
		lit, ok2 := n.Right.(*ast.StringNode)
		if !ok || !ok2 || (n.Operator != "==" && n.Operator != "!=") {
			return nil
		}
		i, ok := envFields[reflect.String][id.Value]
		if !ok {
			return nil
		}
		want, equal := lit.Value, n.Operator == "=="
		return func(e *Env) bool { return (reflect.ValueOf(e).Elem().Field(i).String() == want) == equal }
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

// firstConjunct is the leftmost operand of a condition's chain of &&
// (the whole condition when it is no such chain), or nil when it does
// not parse.
func firstConjunct(condition string) ast.Node {
	tree, err := parser.Parse(condition)
	if err != nil {
		return nil
	}
	first := tree.Node
	for {
		b, ok := first.(*ast.BinaryNode)
		if !ok || (b.Operator != "&&" && b.Operator != "and") {
			return first
		}
		first = b.Left
	}
}

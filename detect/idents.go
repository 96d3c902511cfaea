package detect

import (
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// namesRequest reports whether any of a rule's expressions names the
// request body itself (request, or patch, the request as a JSON patch), or
// the whole environment ($env). Judged on their syntax trees, not on
// their text: "request" is in request_uri, and in most messages' words.
// An expression that does not parse here counts as naming it.
func namesRequest(srcs []string) bool {
	for _, src := range srcs {
		if strings.TrimSpace(src) == "" {
			continue
		}
		if strings.Contains(src, "$env") {
			return true
		}
		tree, err := parser.Parse(src)
		if err != nil {
			return true
		}
		v := requestNamer{}
		ast.Walk(&tree.Node, &v)
		if v.names {
			return true
		}
	}
	return false
}

// requestNamer walks a syntax tree for the identifiers namesRequest looks
// for.
type requestNamer struct{ names bool }

// Visit notes an identifier request or patch.
func (v *requestNamer) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok && (id.Value == "request" || id.Value == "patch") {
		v.names = true
	}
}

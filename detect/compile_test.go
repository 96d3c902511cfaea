package detect

import (
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"
)

// Every variable a built-in rule reads compiles to its field's index in
// Env (OpLoadField), never to a lookup by name at run time (OpLoadConst),
// which expr emits when it cannot see Env's fields: as it does when given
// the environment as a pointer.
func TestRulesReadVariablesByFieldIndex(t *testing.T) {
	e := library(t)
	fields := 0
	for _, c := range e.rules {
		progs := []*vm.Program{c.cond, c.fallback, c.msg}
		for _, g := range c.grades {
			progs = append(progs, g.when, g.reason)
		}
		for _, p := range progs {
			if p == nil {
				continue
			}
			for _, line := range strings.Split(p.Disassemble(), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 {
					continue
				}
				switch f[1] {
				case "OpLoadConst":
					t.Errorf("rule %s reads a variable by name at run time: %s", c.rule.ID, strings.Join(f[1:], " "))
				case "OpLoadField":
					fields++
				}
			}
		}
	}
	if fields < 100 {
		t.Fatalf("the rules read %d variables by field index; the library reads hundreds", fields)
	}
}

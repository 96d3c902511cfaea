package detect

import (
	"testing"
)

// Quick tests change what is computed, never what fires: every fixture
// event gives the same findings, in the same order, with them and without.
func TestQuickTestsChangeNoFinding(t *testing.T) {
	evs := fixtureEvents(t)
	quick, plain := library(t), library(t)
	n := 0
	for _, c := range plain.rules {
		if c.quick != nil {
			n++
		}
		c.quick = nil
	}
	if n < 5 {
		t.Fatalf("%d rules have a quick test; the library's rules on every request start with a flag", n)
	}
	if len(sameFindings(t, evs, "with quick tests", evaluator(quick), "without", evaluator(plain))) == 0 {
		t.Fatal("no findings: the test compares nothing")
	}
}

// Only leading conjuncts that read fields (one each, or several joined by
// || or negated) are read without the VM, up to the first that does not.
func TestQuickTestShapes(t *testing.T) {
	env := &Env{Denied: true, AllowedBy: "ClusterRoleBinding x", Verb: "get"}
	for cond, want := range map[string]int{ // -1: no quick test; else its answer on env
		`clock_skewed`: 0,
		`denied && count_in("a", actor, "1m") > 2`:          1,
		`!denied && verb == "get"`:                          0,
		`not denied`:                                        0,
		`allowed_by != "" && seen("x", "y", "1h")`:          1,
		`verb == "list" && denied`:                          0,
		`denied && verb == "list"`:                          0,
		`denied && code >= 400 && verb == "list"`:           1,
		`verb in ["get", "list"] && !denied`:                0,
		`verb in ["list"]`:                                  0,
		`verb in ["get", "list"] && denied`:                 1,
		`verb in ["get", allowed_by]`:                       -1,
		`code in ["get"]`:                                   -1,
		`"get" == verb`:                                     -1,
		`code >= 400`:                                       -1,
		`(denied || failed) && verb == "get"`:               1,
		`(denied || seen("x", "y", "1h")) && verb == "get"`: -1,
		`!(denied && failed)`:                               -1,
		`!(verb == "list")`:                                 1,
		`verb not in ["get", "list"] && denied`:             0,
		`verb not in ["list"] && denied`:                    1,
		`(resource == "secrets" || verb not in ["get"] || subresource != "") && seen("x", actor, "1h")`:  0,
		`(resource == "secrets" || verb not in ["list"] || subresource != "") && seen("x", actor, "1h")`: 1,
		`get(object, "x") == true`:          -1,
		`request_uri matches "x" && denied`: -1,
		`let d = denied; d`:                 -1,
		`groups == "x"`:                     -1,
		`denied || clock_skewed`:            1,
		`clock_skewed or failed`:            0,
	} {
		q := compileQuick(cond)
		switch {
		case want == -1 && q != nil:
			t.Errorf("%s: read without the VM, but it is not one field", cond)
		case want != -1 && q == nil:
			t.Errorf("%s: no quick test", cond)
		case want != -1 && q(env) != (want == 1):
			t.Errorf("%s: quick test says %v on %+v", cond, q(env), env)
		}
	}
}

package detect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// rbacReason is what allowedBy parses, as a regular expression: the
// reference the hand-written parser is held to.
var rbacReason = regexp.MustCompile(`allowed by (ClusterRoleBinding|RoleBinding) "([^"]*)" of (ClusterRole|Role) "([^"]*)" to (\w+) "([^"]*)"`)

func allowedByReference(reason string) (binding, role, roleName, subject string) {
	m := rbacReason.FindStringSubmatch(reason)
	if m == nil {
		return "", "", "", ""
	}
	name := m[2]
	if m[1] == "RoleBinding" {
		if i := lastSlash(name); i >= 0 {
			name = name[i+1:] + "/" + name[:i]
		}
	}
	return m[1] + " " + name, m[3] + " " + m[4], m[4], m[5] + " " + m[6]
}

// TestAllowedByAgreesWithReference: the parser gives the reference's answer
// on every reason of the real apiserver's fixtures and on near misses.
func TestAllowedByAgreesWithReference(t *testing.T) {
	reasons := []string{
		`RBAC: allowed by ClusterRoleBinding "mallory-admin" of ClusterRole "cluster-admin" to User "mallory"`,
		`RBAC: allowed by RoleBinding "edit/team-a" of ClusterRole "edit" to ServiceAccount "ci/team-a"`,
		`RBAC: allowed by RoleBinding "plain" of Role "r" to Group "system:authenticated"`,
		`allowed by ClusterRoleBinding "" of ClusterRole "" to User ""`,
		// Near misses: each breaks one part of the form.
		``, `RBAC: allowed by`, `allowed by Binding "x" of ClusterRole "y" to User "z"`,
		`allowed by ClusterRoleBinding "x" of Roles "y" to User "z"`,
		`allowed by ClusterRoleBinding "x" of ClusterRole "y" to User-Kind "z"`,
		`allowed by ClusterRoleBinding "x" of ClusterRole "y" to  "z"`,
		`allowed by ClusterRoleBinding "x of ClusterRole "y" to User "z"`,
		`allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "z`,
		`allowed by ClusterRoleBinding "x" ClusterRole "y" to User "z"`,
		// A broken first mention, then a good one.
		`allowed by nothing; allowed by ClusterRoleBinding "b" of ClusterRole "c" to User "u"`,
	}
	files, _ := filepath.Glob("../testdata/*.log")
	if len(files) == 0 {
		t.Fatal("no fixtures in ../testdata")
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var ev struct {
				Annotations map[string]string `json:"annotations"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Annotations["authorization.k8s.io/reason"] != "" {
				reasons = append(reasons, ev.Annotations["authorization.k8s.io/reason"])
			}
		}
		fh.Close()
	}
	parsed := 0
	var cache grantCache // what the engine reads reasons through, each twice
	for _, r := range append(reasons, reasons...) {
		b, ro, rn, s := allowedBy(r)
		wb, wro, wrn, ws := allowedByReference(r)
		if b != wb || ro != wro || rn != wrn || s != ws {
			t.Fatalf("allowedBy(%q) = %q %q %q %q; want %q %q %q %q", r, b, ro, rn, s, wb, wro, wrn, ws)
		}
		if g := cache.of(r); g != (grant{wb, wro, wrn, ws}) {
			t.Fatalf("grantCache.of(%q) = %+v; want %q %q %q %q", r, g, wb, wro, wrn, ws)
		}
		if b != "" {
			parsed++
		}
	}
	if parsed < 100 {
		t.Fatalf("only %d of %d reasons named a binding; the fixtures should hold hundreds", parsed, len(reasons))
	}
	for i := range 3 * maxCacheKeys { // reasons name what clients created: the cache stays bounded
		cache.of(fmt.Sprintf(`RBAC: allowed by RoleBinding "b%d/ns" of Role "r" to User "u"`, i))
	}
	if len(cache.m) > maxCacheKeys {
		t.Fatalf("the cache holds %d reasons, more than %d", len(cache.m), maxCacheKeys)
	}
	t.Logf("%d reasons, %d naming a binding", len(reasons), parsed)
}

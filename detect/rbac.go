package detect

import (
	"slices"
	"strings"

	"github.com/expr-lang/expr"
)

// What a Role or ClusterRole grants, as "verb group/resource" lines (the
// core group written "core"), so that a write can be judged by what it adds
// and whether what it adds lets its holder reach further: secrets, pods'
// shells, the kubelet, tokens, certificates, other identities, RBAC itself.

// grants expands a role's rules into "verb group/resource" lines.
func grants(role any) []string {
	rules, _ := getPath(role, "rules").([]any)
	var out []string
	for _, r := range rules {
		groups := stringsOf(getPath(r, "apiGroups"))
		if len(groups) == 0 {
			continue // a nonResourceURLs rule
		}
		for _, g := range groups {
			if g == "" {
				g = "core"
			}
			for _, res := range stringsOf(getPath(r, "resources")) {
				for _, v := range stringsOf(getPath(r, "verbs")) {
					if line := v + " " + g + "/" + res; !slices.Contains(out, line) {
						out = append(out, line)
					}
				}
			}
		}
	}
	return out
}

// sensitiveGrant reports whether a grant reaches beyond reading ordinary
// objects.
func sensitiveGrant(line string) bool {
	verb, target, _ := strings.Cut(line, " ")
	_, res, _ := strings.Cut(target, "/")
	switch verb {
	case "escalate", "bind", "impersonate", "approve":
		return true
	}
	switch res {
	case "*", "secrets", "pods/exec", "pods/attach", "nodes/proxy", "serviceaccounts/token",
		"certificatesigningrequests/approval", "clusterroles", "clusterrolebindings", "roles", "rolebindings",
		"mutatingwebhookconfigurations", "validatingwebhookconfigurations":
		return verb != "list" || res == "secrets" || res == "*"
	}
	return false
}

// rbacFunctions are the expr functions over Roles and ClusterRoles.
func rbacFunctions() []expr.Option {
	return []expr.Option{
		// sensitive_grants_added(previous, object): the grants of object that
		// previous (nil when unknown: all of them) did not hold, those
		// reaching beyond ordinary objects only.
		expr.Function("sensitive_grants_added", func(p ...any) (any, error) {
			before := grants(p[0])
			var out []any
			for _, g := range grants(p[1]) {
				if sensitiveGrant(g) && !slices.Contains(before, g) {
					out = append(out, g)
				}
			}
			return out, nil
		}, new(func(any, any) []any)),
	}
}

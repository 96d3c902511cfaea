package detect

import (
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// What RBAC says allowed a request, read from the authorizer's reason
// annotation:
//
//	RBAC: allowed by ClusterRoleBinding "mallory-admin" of ClusterRole "cluster-admin" to User "mallory"
//	RBAC: allowed by RoleBinding "edit/team-a" of ClusterRole "edit" to ServiceAccount "ci/team-a"
//
// On a cluster that logs bindings at the Metadata level, this is how kaudit
// learns what a binding granted: from the requests it later allowed.
//
// allowedBy parses the reason annotation: the binding ("ClusterRoleBinding
// NAME" or "RoleBinding NAMESPACE/NAME"), the role ("ClusterRole NAME",
// with the role's name alone in roleName) and the subject it was granted to
// ("Group system:authenticated"). It reads every request, so it parses by
// hand: the regular expression it replaces (kept in bindings_test.go, the
// reference the parser is held to) was 5% of replay's CPU.
func allowedBy(reason string) (binding, role, roleName, subject string) {
	const by = "allowed by "
	for rest := reason; ; {
		i := strings.Index(rest, by)
		if i < 0 {
			return "", "", "", ""
		}
		rest = rest[i+len(by):]
		if b, r, rn, s, ok := parseGrant(rest); ok {
			return b, r, rn, s
		}
	}
}

// grant is what allowedBy reads from a reason.
type grant struct{ binding, role, roleName, subject string }

// grantCache remembers what allowedBy read from the reasons seen last.
// Every request has a reason, and the same few bindings allow most of
// them: reading one anew cost a tenth of filling the environment, and the
// names it builds were an allocation or three per request. It holds at
// most maxCacheKeys reasons (they come from the apiserver, but name what
// clients created). Not safe for concurrent use: the engine's evaluation
// owns it.
type grantCache struct{ m map[string]grant }

// of returns what allowedBy reads from reason.
func (c *grantCache) of(reason string) grant {
	if reason == "" {
		return grant{}
	}
	if g, ok := c.m[reason]; ok {
		return g
	}
	var g grant
	g.binding, g.role, g.roleName, g.subject = allowedBy(reason)
	if c.m == nil || len(c.m) >= maxCacheKeys {
		c.m = make(map[string]grant)
	}
	c.m[reason] = g
	return g
}

// parseGrant reads `KIND "NAME" of ROLEKIND "ROLE" to SUBJECTKIND "SUBJECT"`
// at the start of s, as RBAC words what allowed a request.
func parseGrant(s string) (binding, role, roleName, subject string, ok bool) {
	kind, s, _ := strings.Cut(s, " ")
	if kind != "ClusterRoleBinding" && kind != "RoleBinding" {
		return
	}
	name, s, ok := quoted(s)
	if !ok {
		return
	}
	if s, ok = strings.CutPrefix(s, " of "); !ok {
		return
	}
	roleKind, s, _ := strings.Cut(s, " ")
	if roleKind != "ClusterRole" && roleKind != "Role" {
		return "", "", "", "", false
	}
	if roleName, s, ok = quoted(s); !ok {
		return
	}
	if s, ok = strings.CutPrefix(s, " to "); !ok {
		return
	}
	subjectKind, s, _ := strings.Cut(s, " ")
	if subjectKind == "" || strings.IndexFunc(subjectKind, notWordChar) >= 0 {
		return "", "", "", "", false
	}
	subjectName, _, ok := quoted(s)
	if !ok {
		return
	}
	if kind == "RoleBinding" {
		// RBAC writes a RoleBinding as "name/namespace".
		if i := lastSlash(name); i >= 0 {
			name = name[i+1:] + "/" + name[:i]
		}
	}
	return kind + " " + name, roleKind + " " + roleName, roleName, subjectKind + " " + subjectName, true
}

// quoted reads a double-quoted string without escapes at the start of s.
func quoted(s string) (inner, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", s, false
	}
	return s[1 : 1+end], s[2+end:], true
}

// notWordChar is true outside regexp's \w: ASCII letters, digits and '_'.
func notWordChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// writeKey names the objects whose writes late findings are made of, the
// way allowedBy names bindings: "ClusterRoleBinding NAME", "RoleBinding
// NS/NAME", "Secret NS/NAME"; "" for other objects.
func writeKey(ref *auditv1.ObjectReference) string {
	if ref == nil || ref.Subresource != "" || ref.Name == "" {
		return ""
	}
	switch {
	case ref.APIGroup == "rbac.authorization.k8s.io" && ref.Resource == "clusterrolebindings":
		return "ClusterRoleBinding " + ref.Name
	case ref.APIGroup == "rbac.authorization.k8s.io" && ref.Resource == "rolebindings":
		return "RoleBinding " + ref.Namespace + "/" + ref.Name
	case ref.APIGroup == "" && ref.Resource == "secrets":
		return "Secret " + ref.Namespace + "/" + ref.Name
	case ref.APIGroup == "" && ref.Resource == "serviceaccounts":
		return "ServiceAccount " + ref.Namespace + "/" + ref.Name
	}
	return ""
}

// maxWrites bounds the writes remembered for late findings.
const maxWrites = 10000

// write is a request that wrote an object, and whether rules could judge
// it there (its body was logged): a late finding is made only of the writes
// they could not.
type write struct {
	Finding
	judged bool
}

// writes remembers the requests that created or changed bindings and
// created secrets, so that a later request can make a finding of them: a
// request allowed by a binding shows what the binding granted; the token
// controller filling a Secret shows it was a service-account token Secret.
type writes map[string]write

// remember keeps a successful write (bindings: create, update, patch;
// secrets: create), or forgets a deleted object.
func (w writes) remember(ev *auditv1.Event, env *Env, location string) {
	k := writeKey(ev.ObjectRef)
	if k == "" || env.Failed {
		return
	}
	switch {
	case ev.Verb == "delete":
		delete(w, k)
	case ev.Verb == "create" || (ev.ObjectRef.APIGroup == "rbac.authorization.k8s.io" && (ev.Verb == "update" || ev.Verb == "patch")):
		if _, ok := w[k]; !ok && len(w) >= maxWrites {
			for old := range w {
				delete(w, old)
				break
			}
		}
		w[k] = write{Finding: eventFinding(env, ev, location), judged: ev.RequestObject != nil || ev.ResponseObject != nil}
	}
}

// createdBy returns who created the object named by key (writeKey's form),
// or "" when kaudit did not see it created.
func (w writes) createdBy(key string) string {
	if c, ok := w[key]; ok && c.Verb == "create" {
		return c.User
	}
	return ""
}

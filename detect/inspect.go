package detect

import (
	"net/netip"
	"path"
	"regexp"
	"strings"

	"github.com/expr-lang/expr"
)

// inspectFunctions are helpers that answer the questions rules ask of pod
// specs and clients: which capabilities a container adds, whether a host
// path reaches a sensitive place, where an image comes from, which program
// sent a request. Each works on any workload kind through podSpecs.
func inspectFunctions() []expr.Option {
	return []expr.Option{
		expr.Function("path_touches", func(p ...any) (any, error) {
			v, _ := p[0].(string)
			return pathTouches(v, stringsOf(p[1])), nil
		}, new(func(string, []any) bool)),
		expr.Function("capabilities", func(p ...any) (any, error) {
			return addedCapabilities(p[0]), nil
		}, new(func(any) []any)),
		expr.Function("host_namespaces", func(p ...any) (any, error) { return hostNamespaces(p[0]), nil }, new(func(any) []any)),
		expr.Function("commands", func(p ...any) (any, error) { return commands(p[0]), nil }, new(func(any) []any)),
		expr.Function("ports", func(p ...any) (any, error) { return containerPorts(p[0]), nil }, new(func(any) []any)),
		expr.Function("image_registry", func(p ...any) (any, error) {
			s, _ := p[0].(string)
			reg, _, _ := splitImage(s)
			return reg, nil
		}, new(func(string) string)),
		expr.Function("image_tag", func(p ...any) (any, error) {
			s, _ := p[0].(string)
			_, _, tag := splitImage(s)
			return tag, nil
		}, new(func(string) string)),
		expr.Function("is_ip", func(p ...any) (any, error) { return isIP(str(p[0])), nil }, new(func(string) bool)),
		expr.Function("is_cloud_identity", func(p ...any) (any, error) {
			s, _ := p[0].(string)
			return IsCloudIdentity(s), nil
		}, new(func(string) bool)),
		expr.Function("label", func(p ...any) (any, error) {
			key, _ := p[1].(string)
			m, _ := getPath(p[0], "metadata.labels").(map[string]any)
			return m[key], nil
		}, new(func(any, string) any)),
		expr.Function("annotation", func(p ...any) (any, error) {
			key, _ := p[1].(string)
			m, _ := getPath(p[0], "metadata.annotations").(map[string]any)
			return m[key], nil
		}, new(func(any, string) any)),
		expr.Function("ref", func(p ...any) (any, error) {
			ns, _ := p[0].(string)
			name, _ := p[1].(string)
			return Ref(ns, name), nil
		}, new(func(string, string) string)),
		expr.Function("kind", func(p ...any) (any, error) {
			s, _ := p[0].(string)
			return Kind(s), nil
		}, new(func(string) string)),
		expr.Function("client", func(p ...any) (any, error) {
			s, _ := p[0].(string)
			return Client(s), nil
		}, new(func(string) string)),
	}
}

// hostNamespaces lists the host namespaces (hostPID, hostIPC, hostNetwork)
// any pod spec of obj shares.
func hostNamespaces(obj any) []any {
	var out []any
	for _, s := range podSpecs(obj) {
		spec := s.(map[string]any)
		for _, k := range []string{"hostPID", "hostIPC", "hostNetwork"} {
			if b, _ := spec[k].(bool); b {
				out = append(out, k)
			}
		}
	}
	return out
}

// commands lists each container's command and args, joined by spaces.
func commands(obj any) []any {
	var out []any
	for _, c := range containers(obj) {
		m, _ := c.(map[string]any)
		var parts []string
		for _, k := range []string{"command", "args"} {
			parts = append(parts, stringsOf(m[k])...)
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

// containerPorts lists every containerPort of every container.
func containerPorts(obj any) []any {
	var out []any
	for _, c := range containers(obj) {
		m, _ := c.(map[string]any)
		list, _ := m["ports"].([]any)
		for _, pt := range list {
			pm, _ := pt.(map[string]any)
			if n, ok := pm["containerPort"].(float64); ok {
				out = append(out, int(n))
			}
		}
	}
	return out
}

// isIP reports whether a host (with or without a port) is an IP address:
// images pulled from a registry named by its address.
func isIP(s string) bool {
	if h, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(s, "::") {
		s = h
	}
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

// Client names the program behind a user agent: its product token, the
// part before the first "/" or space ("kubectl", "python-requests"). A new
// version of the same program is the same client.
func Client(ua string) string {
	if i := strings.IndexAny(ua, "/ "); i >= 0 {
		ua = ua[:i]
	}
	return strings.ToLower(ua)
}

// pathTouches reports whether a host path reaches any of the places listed:
// it is one of them, lies under one, or is a parent that holds one ("/var"
// holds "/var/lib/kubelet"). Paths are cleaned first, so "/etc/../" is "/".
func pathTouches(p string, places []string) bool {
	if p == "" {
		return false
	}
	p = path.Clean("/" + p)
	for _, x := range places {
		x = path.Clean("/" + x)
		if p == x || p == "/" || strings.HasPrefix(p, x+"/") || strings.HasPrefix(x, p+"/") {
			return true
		}
	}
	return false
}

// addedCapabilities returns the capabilities every container of obj adds,
// upper-cased and without the CAP_ prefix the runtime accepts.
func addedCapabilities(obj any) []any {
	var out []any
	seen := map[string]bool{}
	for _, c := range containers(obj) {
		caps := stringsOf(getPath(c, "securityContext.capabilities.add"))
		for _, cp := range caps {
			cp = strings.TrimPrefix(strings.ToUpper(cp), "CAP_")
			if !seen[cp] {
				seen[cp] = true
				out = append(out, cp)
			}
		}
	}
	return out
}

// splitImage splits an image reference into registry (docker.io when the
// reference names none), repository and tag ("latest" when it names none,
// "@digest" when pinned by digest).
func splitImage(ref string) (registry, repo, tag string) {
	rest := ref
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		tag = rest[i:]
		rest = rest[:i]
	}
	registry = "docker.io"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		first := rest[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			registry = first
			rest = rest[i+1:]
		}
	}
	repo = rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		repo = rest[:i]
		if tag == "" {
			tag = rest[i+1:]
		}
	}
	if tag == "" {
		tag = "latest"
	}
	return registry, repo, tag
}

// cloudIdentity matches usernames that cloud authenticators give: AWS IAM
// ARNs (EKS), Google accounts and service accounts (GKE), Azure AD
// object ids and issuer-prefixed names (AKS, OIDC).
var cloudIdentity = regexp.MustCompile(`^(arn:aws[a-z-]*:(iam|sts)::|aws-iam-authenticator:|eks:|oidc:|aad:|azure:|https://sts\.windows\.net/)|@[a-z0-9.-]*\.iam\.gserviceaccount\.com$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// IsCloudIdentity reports whether a username comes from a cloud provider's
// authenticator rather than from the cluster's own tokens or certificates.
func IsCloudIdentity(u string) bool { return cloudIdentity.MatchString(u) }

// Ref writes an object's namespace and name for a message: "ns/name",
// "name" when cluster-scoped, and says so when the name was not recorded (a
// refused create carries no body to take it from).
func Ref(namespace, name string) string {
	if name == "" {
		name = "(name not recorded)"
	}
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// kinds names the object kinds of the resources rules report on.
var kinds = map[string]string{
	"pods": "Pod", "deployments": "Deployment", "daemonsets": "DaemonSet", "statefulsets": "StatefulSet",
	"replicasets": "ReplicaSet", "jobs": "Job", "cronjobs": "CronJob", "replicationcontrollers": "ReplicationController",
	"podtemplates": "PodTemplate", "configmaps": "ConfigMap", "secrets": "Secret", "services": "Service",
	"ingresses": "Ingress", "networkpolicies": "NetworkPolicy", "namespaces": "Namespace", "events": "Event",
	"persistentvolumes": "PersistentVolume", "persistentvolumeclaims": "PersistentVolumeClaim",
	"roles": "Role", "clusterroles": "ClusterRole", "rolebindings": "RoleBinding", "clusterrolebindings": "ClusterRoleBinding",
	"mutatingwebhookconfigurations": "MutatingWebhookConfiguration", "validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
	"serviceaccounts": "ServiceAccount", "nodes": "Node", "certificatesigningrequests": "CertificateSigningRequest",
}

// Kind names the kind of a resource ("daemonsets" is DaemonSet), or returns
// the resource itself when it is not one rules report on.
func Kind(resource string) string {
	if k, ok := kinds[resource]; ok {
		return k
	}
	return resource
}

package detect

import (
	"net/netip"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/kaudit/kaudit/detect/rulefile"
)

// objectFunctions are the pure helpers rules use to read Kubernetes objects
// of any workload kind without spelling out each kind's path to its pods.
func objectFunctions() []expr.Option {
	opts := []expr.Option{
		expr.Function("get", func(p ...any) (any, error) {
			path, _ := p[1].(string)
			return getPath(p[0], path), nil
		}, new(func(any, string) any)),
		expr.Function("pod_specs", func(p ...any) (any, error) {
			return podSpecs(p[0]), nil
		}, new(func(any) []any)),
		expr.Function("containers", func(p ...any) (any, error) {
			return containers(p[0]), nil
		}, new(func(any) []any)),
		expr.Function("host_paths", func(p ...any) (any, error) {
			return hostPaths(p[0]), nil
		}, new(func(any) []any)),
		expr.Function("images", func(p ...any) (any, error) {
			var out []any
			for _, c := range containers(p[0]) {
				if m, ok := c.(map[string]any); ok {
					if img, ok := m["image"].(string); ok {
						out = append(out, img)
					}
				}
			}
			return out, nil
		}, new(func(any) []any)),
		expr.Function("in_cidr", func(p ...any) (any, error) {
			ip, _ := p[0].(string)
			cidr, _ := p[1].(string)
			return inCIDR(ip, cidr), nil
		}, new(func(string, string) bool)),
		expr.Function("is_loopback", func(p ...any) (any, error) {
			ip, _ := p[0].(string)
			a, err := netip.ParseAddr(ip)
			return err == nil && a.IsLoopback(), nil
		}, new(func(string) bool)),
		expr.Function("is_private", func(p ...any) (any, error) {
			ip, _ := p[0].(string)
			a, err := netip.ParseAddr(ip)
			return err == nil && (a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()), nil
		}, new(func(string) bool)),
		expr.Function("is_system", func(p ...any) (any, error) {
			u, _ := p[0].(string)
			return IsSystemIdentity(u), nil
		}, new(func(string) bool)),
		expr.Function("is_service_account", func(p ...any) (any, error) {
			u, _ := p[0].(string)
			return strings.HasPrefix(u, "system:serviceaccount:"), nil
		}, new(func(string) bool)),
		// sa_namespace(user): the namespace of a service account's username,
		// "" for any other user.
		expr.Function("sa_namespace", func(p ...any) (any, error) {
			ns, _, _ := ServiceAccountOf(str(p[0]))
			return ns, nil
		}, new(func(string) string)),
		// past(verb): the verb in the past tense ("created", "read").
		expr.Function("past", func(p ...any) (any, error) { return PastTense(str(p[0])), nil }, new(func(string) string)),
	}
	return append(opts, inspectFunctions()...)
}

// ServiceAccountOf splits a service account's username
// (system:serviceaccount:NS:NAME) into its namespace and name; ok is false
// for any other user.
func ServiceAccountOf(user string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ":")
}

// IsSystemIdentity reports whether a username is one of Kubernetes' own
// components (system:kube-*, system:apiserver, nodes), not a person or a
// service account, which attackers can create.
func IsSystemIdentity(u string) bool {
	switch {
	case u == "system:apiserver", u == "system:kube-controller-manager", u == "system:kube-scheduler", u == "system:kube-proxy":
		return true
	case strings.HasPrefix(u, "system:node:"):
		return true
	}
	return false
}

// getPath walks a dotted path ("spec.template.spec") through nested maps;
// a numeric element indexes a list.
func getPath(v any, path string) any {
	if path == "" {
		return v
	}
	for _, part := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			v = t[part]
		case []any:
			i := 0
			for _, ch := range part {
				if ch < '0' || ch > '9' {
					return nil
				}
				i = i*10 + int(ch-'0')
			}
			if i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

// podSpecPaths are where pod specs sit in the kinds that hold them: Pod,
// the workload controllers' templates, CronJob's job template.
var podSpecPaths = []string{"spec", "spec.template.spec", "spec.jobTemplate.spec.template.spec", "template.spec"}

// podSpecs returns the pod specs an object holds, for any workload kind,
// for lists of them, and for patch bodies that carry part of one.
func podSpecs(obj any) []any {
	m, ok := obj.(map[string]any)
	if !ok {
		return nil
	}
	if items, ok := m["items"].([]any); ok {
		var out []any
		for _, it := range items {
			out = append(out, podSpecs(it)...)
		}
		return out
	}
	var out []any
	for _, p := range podSpecPaths {
		spec, ok := getPath(m, p).(map[string]any)
		if !ok {
			continue
		}
		if isPodSpec(spec) {
			out = append(out, spec)
		}
	}
	return out
}

func isPodSpec(spec map[string]any) bool {
	for _, k := range []string{"containers", "initContainers", "ephemeralContainers", "volumes", "hostPID", "hostNetwork", "hostIPC"} {
		if _, ok := spec[k]; ok {
			return true
		}
	}
	return false
}

// containers returns every container, init container and ephemeral
// container of every pod spec in obj.
func containers(obj any) []any {
	var out []any
	for _, s := range podSpecs(obj) {
		spec := s.(map[string]any)
		for _, k := range []string{"containers", "initContainers", "ephemeralContainers"} {
			if list, ok := spec[k].([]any); ok {
				out = append(out, list...)
			}
		}
	}
	return out
}

// hostPaths returns one map per hostPath volume in obj: {"name", "path",
// "writable"}; writable is true unless every mount of it is readOnly.
func hostPaths(obj any) []any {
	var out []any
	for _, s := range podSpecs(obj) {
		spec := s.(map[string]any)
		vols, _ := spec["volumes"].([]any)
		for _, v := range vols {
			vm, ok := v.(map[string]any)
			if !ok {
				continue
			}
			hp, ok := vm["hostPath"].(map[string]any)
			if !ok {
				continue
			}
			name, _ := vm["name"].(string)
			path, _ := hp["path"].(string)
			out = append(out, map[string]any{"name": name, "path": path, "writable": mountedWritable(spec, name)})
		}
	}
	return out
}

func mountedWritable(spec map[string]any, volume string) bool {
	mounted := false
	for _, k := range []string{"containers", "initContainers", "ephemeralContainers"} {
		list, _ := spec[k].([]any)
		for _, c := range list {
			cm, _ := c.(map[string]any)
			mounts, _ := cm["volumeMounts"].([]any)
			for _, m := range mounts {
				mm, _ := m.(map[string]any)
				if mm["name"] != volume {
					continue
				}
				mounted = true
				if ro, _ := mm["readOnly"].(bool); !ro {
					return true
				}
			}
		}
	}
	// A volume no container mounts yet (a partial patch) is judged writable:
	// the mount may come in the next patch.
	return !mounted
}

func inCIDR(ip, cidr string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	p, err := rulefile.ParseNetwork(cidr)
	if err != nil {
		return false
	}
	return p.Contains(a.Unmap())
}

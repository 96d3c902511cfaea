package detect

import (
	"slices"
	"strings"

	"github.com/expr-lang/expr"
)

// The CoreDNS Corefile, read as far as grading an edit needs: which of its
// directives can answer the cluster's names with addresses someone chose
// (rewrite, hosts, template, file, forward or proxy to anything but the
// node's resolv.conf), and which directives an edit added or removed. The
// standard plugins a kubeadm upgrade edits (errors, health, ready, cache,
// loop, reload, prometheus, loadbalance, kubernetes, forward . to
// /etc/resolv.conf) redirect nothing.

// plugins are CoreDNS's plugin names: a directive starts with one. A
// Corefile written on one line (as `kubectl create configmap
// --from-literal` makes it) is cut into directives at these names.
var plugins = map[string]bool{
	"acl": true, "any": true, "auto": true, "autopath": true, "azure": true, "bind": true, "bufsize": true, "cache": true,
	"cancel": true, "chaos": true, "clouddns": true, "debug": true, "dns64": true, "dnssec": true, "dnstap": true,
	"erratic": true, "errors": true, "etcd": true, "file": true, "forward": true, "geoip": true, "grpc": true,
	"header": true, "health": true, "hosts": true, "k8s_external": true, "kubernetes": true, "loadbalance": true,
	"local": true, "log": true, "loop": true, "metadata": true, "minimal": true, "multisite": true, "nsid": true,
	"pprof": true, "prometheus": true, "proxy": true, "ready": true, "reload": true, "rewrite": true, "root": true,
	"route53": true, "secondary": true, "sign": true, "template": true, "timeouts": true, "tls": true, "trace": true,
	"transfer": true, "tsig": true, "view": true, "whoami": true,
}

// corefileDirectives lists the Corefile's directives as "KEY plugin
// args...", KEY the server block's (".:53"), a directive's own block kept
// in it ("{ pods insecure }"), comments dropped and spaces squeezed, so that
// two Corefiles compare directive by directive.
func corefileDirectives(corefile string) []string {
	var out []string
	var key string
	var cur []string
	depth := 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, key+" "+strings.Join(cur, " "))
			cur = nil
		}
	}
	for _, line := range strings.Split(corefile, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, f := range strings.Fields(strings.ReplaceAll(strings.ReplaceAll(line, "{", " { "), "}", " } ")) {
			switch {
			case depth == 0 && f == "{":
				key, depth = strings.Join(cur, " "), 1
				cur = nil
			case depth == 0:
				cur = append(cur, f)
			case f == "{":
				depth++
				cur = append(cur, f)
			case f == "}":
				if depth--; depth == 0 {
					flush()
					key = ""
				} else {
					cur = append(cur, f)
				}
			case depth == 1 && plugins[f]:
				flush()
				cur = append(cur, f)
			default:
				cur = append(cur, f)
			}
		}
		if depth == 1 {
			flush() // a line ends a directive
		}
	}
	return out
}

// redirects reports whether a directive can answer names with addresses
// someone chose.
func redirects(directive string) bool {
	fields := strings.Fields(directive)
	if len(fields) < 2 {
		return false
	}
	switch fields[1] {
	case "rewrite", "hosts", "template", "file":
		return true
	case "forward", "proxy":
		for _, to := range fields[3:] {
			if to == "{" {
				break // the directive's own options
			}
			if to != "/etc/resolv.conf" {
				return true
			}
		}
	}
	return false
}

// corefileRedirects lists the Corefile's directives that redirect names.
func corefileRedirects(corefile string) []any {
	var out []any
	for _, d := range corefileDirectives(corefile) {
		if redirects(d) {
			out = append(out, d)
		}
	}
	return out
}

// corefileEdit lists the directives an edit added ("+ ...") and removed
// ("- ..."), and those of the added that redirect names.
func corefileEdit(old, new string) (edit, addedRedirects []any) {
	o, n := corefileDirectives(old), corefileDirectives(new)
	for _, d := range o {
		if !slices.Contains(n, d) {
			edit = append(edit, "- "+shown(d))
		}
	}
	for _, d := range n {
		if !slices.Contains(o, d) {
			edit = append(edit, "+ "+shown(d))
			if redirects(d) {
				addedRedirects = append(addedRedirects, d)
			}
		}
	}
	return edit, addedRedirects
}

// shown drops the server block key of the common ".:53" block from a
// directive, for messages.
func shown(d string) string { return strings.TrimPrefix(d, ".:53 ") }

// corefileFunctions are the expr functions over Corefiles.
func corefileFunctions() []expr.Option {
	return []expr.Option{
		// corefile_redirects(corefile): its directives that redirect names.
		expr.Function("corefile_redirects", func(p ...any) (any, error) {
			return corefileRedirects(str(p[0])), nil
		}, new(func(string) []any)),
		// corefile_edit(old, new): the directives added ("+ ...") and
		// removed ("- ...").
		expr.Function("corefile_edit", func(p ...any) (any, error) {
			edit, _ := corefileEdit(str(p[0]), str(p[1]))
			return edit, nil
		}, new(func(string, string) []any)),
		// corefile_added_redirects(old, new): directives the edit added
		// that redirect names (all of new's when old is "").
		expr.Function("corefile_added_redirects", func(p ...any) (any, error) {
			_, added := corefileEdit(str(p[0]), str(p[1]))
			return added, nil
		}, new(func(string, string) []any)),
	}
}

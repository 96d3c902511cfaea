package detect

import (
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
)

// What an admission webhook configuration does, for the rules that grade
// one: what it intercepts and where it sends what it intercepts.

// webhooks returns the webhooks of a Mutating- or
// ValidatingWebhookConfiguration.
func webhooks(obj any) []map[string]any {
	list, _ := getPath(obj, "webhooks").([]any)
	out := make([]map[string]any, 0, len(list))
	for _, w := range list {
		if m, ok := w.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// intercepts reports whether some rule of some webhook covers a resource
// of an API group, "*" in the configuration matching anything.
func intercepts(obj any, group string, resources ...string) bool {
	for _, w := range webhooks(obj) {
		rules, _ := w["rules"].([]any)
		for _, r := range rules {
			groups := stringsOf(getPath(r, "apiGroups"))
			if !slices.Contains(groups, "*") && !slices.Contains(groups, group) {
				continue
			}
			for _, res := range stringsOf(getPath(r, "resources")) {
				if res == "*" || res == "*/*" || slices.Contains(resources, res) {
					return true
				}
			}
		}
	}
	return false
}

// interceptsEverything reports whether some webhook rule covers every
// resource of every API group.
func interceptsEverything(obj any) bool {
	for _, w := range webhooks(obj) {
		rules, _ := w["rules"].([]any)
		for _, r := range rules {
			res := stringsOf(getPath(r, "resources"))
			if slices.Contains(stringsOf(getPath(r, "apiGroups")), "*") && (slices.Contains(res, "*") || slices.Contains(res, "*/*")) {
				return true
			}
		}
	}
	return false
}

// webhookTargets lists where the webhooks send what they intercept: their
// URL, or "service NS/NAME" for an in-cluster service.
func webhookTargets(obj any) []any {
	var out []any
	for _, w := range webhooks(obj) {
		if u, ok := getPath(w, "clientConfig.url").(string); ok && u != "" {
			out = append(out, u)
			continue
		}
		ns, _ := getPath(w, "clientConfig.service.namespace").(string)
		name, _ := getPath(w, "clientConfig.service.name").(string)
		if ns != "" || name != "" {
			out = append(out, "service "+ns+"/"+name)
		}
	}
	return out
}

// outsideWebhookURLs lists the webhooks' URLs (clientConfig.url) that
// point outside the cluster: a public address, or a name that is not a
// cluster service's (*.svc, *.cluster.local) or the host itself.
func outsideWebhookURLs(obj any) []any {
	var out []any
	for _, w := range webhooks(obj) {
		u, ok := getPath(w, "clientConfig.url").(string)
		if !ok || u == "" {
			continue
		}
		if outsideURL(u) {
			out = append(out, u)
		}
	}
	return out
}

func outsideURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return true
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		return !(a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast())
	}
	return !(host == "localhost" || strings.HasSuffix(host, ".svc") || strings.HasSuffix(host, ".cluster.local"))
}

// webhookServiceNamespaces lists the namespaces of the services the
// webhooks call: an operator managing its own webhook acts from there.
func webhookServiceNamespaces(obj any) []any {
	var out []any
	for _, w := range webhooks(obj) {
		if ns, ok := getPath(w, "clientConfig.service.namespace").(string); ok && !slices.Contains(out, any(ns)) {
			out = append(out, ns)
		}
	}
	return out
}

// admissionFunctions are the expr functions over webhook configurations.
func admissionFunctions() []expr.Option {
	return []expr.Option{
		// intercepts_secrets(object): some webhook receives Secrets.
		expr.Function("intercepts_secrets", func(p ...any) (any, error) {
			return intercepts(p[0], "", "secrets", "secrets/*"), nil
		}, new(func(any) bool)),
		// intercepts_everything(object): some webhook covers every
		// resource of every group.
		expr.Function("intercepts_everything", func(p ...any) (any, error) {
			return interceptsEverything(p[0]), nil
		}, new(func(any) bool)),
		expr.Function("webhook_targets", func(p ...any) (any, error) { return webhookTargets(p[0]), nil }, new(func(any) []any)),
		expr.Function("outside_webhook_urls", func(p ...any) (any, error) { return outsideWebhookURLs(p[0]), nil }, new(func(any) []any)),
		expr.Function("webhook_service_namespaces", func(p ...any) (any, error) {
			return webhookServiceNamespaces(p[0]), nil
		}, new(func(any) []any)),
	}
}

package detect

import (
	"net/url"
	"strings"

	json "github.com/goccy/go-json"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Env is what a rule's condition and message see of one audit event. Field
// names in expr are the snake_case names of the tags.
type Env struct {
	AuditID          string            `expr:"audit_id"`
	Stage            string            `expr:"stage"`
	Level            string            `expr:"level"`
	Verb             string            `expr:"verb"`
	RequestURI       string            `expr:"request_uri"`
	User             string            `expr:"user"`
	UID              string            `expr:"uid"`
	Groups           []string          `expr:"groups"`
	ImpersonatedUser string            `expr:"impersonated_user"`
	ImpersonatedGrps []string          `expr:"impersonated_groups"`
	Actor            string            `expr:"actor"` // the impersonated user when there is one, else the user
	SourceIPs        []string          `expr:"source_ips"`
	SourceIP         string            `expr:"source_ip"` // the first of source_ips: the client as far as X-Forwarded-For tells
	UserAgent        string            `expr:"user_agent"`
	APIGroup         string            `expr:"api_group"`
	APIVersion       string            `expr:"api_version"`
	Resource         string            `expr:"resource"`
	Subresource      string            `expr:"subresource"`
	Namespace        string            `expr:"namespace"`
	Name             string            `expr:"name"`
	Code             int               `expr:"code"`
	Decision         string            `expr:"decision"` // authorization.k8s.io/decision: allow or forbid
	Allowed          bool              `expr:"allowed"`  // the cluster authorized and did not refuse it
	Denied           bool              `expr:"denied"`
	Annotations      map[string]string `expr:"annotations"`
	// Extra is the user's extra attributes: the token's credential id, the
	// pod and node a service-account token is bound to.
	Extra map[string][]string `expr:"extra"`
	// Request and Response are the request and response objects as maps
	// (nil when the audit level did not record them). Object is the
	// response object when present, else the request object.
	Request  map[string]any `expr:"request"`
	Response map[string]any `expr:"response"`
	Object   map[string]any `expr:"object"`
	// Change is what the request changes: the patch body for a patch (the
	// parts it sets), else Object. Rules judging pod specs read it, so that
	// patching an image of a workload that was privileged all along does
	// not report the privilege again; a JSON patch, which holds no object,
	// is judged on the patched object.
	Change map[string]any `expr:"change"`
	// Patch is the request body when it is a JSON patch (a list of
	// operations), which Request cannot hold.
	Patch []any `expr:"patch"`
	// Query holds the requestURI's query parameters (exec's command=…),
	// parsed only for requests that have any.
	Query map[string][]string `expr:"query"`
	// Command is the exec command (query's command= values, in order);
	// empty for other requests.
	Command []string `expr:"command"`
	// ClockSkewed says the event is dated further ahead of kaudit's clock
	// than ingest.max_clock_skew allows; AheadSeconds is by how much (0
	// for an event dated in the past).
	ClockSkewed  bool `expr:"clock_skewed"`
	AheadSeconds int  `expr:"ahead_seconds"`

	objectsLoaded bool
	queryLoaded   bool
}

// fillEnv fills e from an event's metadata, overwriting what it held (the
// engine reuses one Env). Objects and the query string are parsed only when
// a rule that needs them is about to run (loadObjects, loadQuery).
func fillEnv(e *Env, ev *auditv1.Event) {
	*e = Env{
		AuditID:     string(ev.AuditID),
		Stage:       string(ev.Stage),
		Level:       string(ev.Level),
		Verb:        ev.Verb,
		RequestURI:  ev.RequestURI,
		User:        ev.User.Username,
		UID:         ev.User.UID,
		Groups:      ev.User.Groups,
		SourceIPs:   ev.SourceIPs,
		UserAgent:   ev.UserAgent,
		Annotations: ev.Annotations,
	}
	if len(ev.User.Extra) > 0 {
		e.Extra = make(map[string][]string, len(ev.User.Extra))
		for k, v := range ev.User.Extra {
			e.Extra[k] = []string(v)
		}
	}
	e.Actor = e.User
	if iu := ev.ImpersonatedUser; iu != nil {
		e.ImpersonatedUser = iu.Username
		e.ImpersonatedGrps = iu.Groups
		if iu.Username != "" {
			e.Actor = iu.Username
		}
	}
	if len(ev.SourceIPs) > 0 {
		e.SourceIP = ev.SourceIPs[0]
	}
	if ref := ev.ObjectRef; ref != nil {
		e.APIGroup, e.APIVersion = ref.APIGroup, ref.APIVersion
		e.Resource, e.Subresource = ref.Resource, ref.Subresource
		e.Namespace, e.Name = ref.Namespace, ref.Name
	}
	if ev.ResponseStatus != nil {
		e.Code = int(ev.ResponseStatus.Code)
	}
	e.Decision = ev.Annotations["authorization.k8s.io/decision"]
	e.Denied = IsDenied(ev)
	e.Allowed = !e.Denied
}

// loadQuery parses the requestURI's query string, once.
func (e *Env) loadQuery() {
	if e.queryLoaded {
		return
	}
	e.queryLoaded = true
	if i := strings.IndexByte(e.RequestURI, '?'); i >= 0 {
		if q, err := url.ParseQuery(e.RequestURI[i+1:]); err == nil {
			e.Query = q
			e.Command = q["command"]
		}
	}
}

// loadObjects parses the request and response objects, once.
func (e *Env) loadObjects(ev *auditv1.Event) {
	if e.objectsLoaded {
		return
	}
	e.objectsLoaded = true
	if ev.RequestObject != nil {
		e.Request = parseObject(ev.RequestObject.Raw)
		if raw := ev.RequestObject.Raw; len(raw) > 0 && raw[0] == '[' {
			_ = json.Unmarshal(raw, &e.Patch)
		}
	}
	if ev.ResponseObject != nil {
		e.Response = parseObject(ev.ResponseObject.Raw)
	}
	e.Object = e.Response
	if e.Object == nil || isStatus(e.Object) {
		e.Object = e.Request
	}
	e.Change = e.Object
	if e.Verb == "patch" && e.Request != nil {
		e.Change = e.Request
	}
}

func isStatus(m map[string]any) bool { return m["kind"] == "Status" }

func parseObject(raw []byte) map[string]any {
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	// Numbers decode as float64 so that conditions can compare them.
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

package detect

import (
	"net/url"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Env is what a rule's condition and message see of one audit event. Field
// names in expr are the snake_case names of the tags.
type Env struct {
	AuditID          string   `expr:"audit_id"`
	Stage            string   `expr:"stage"`
	Level            string   `expr:"level"`
	Verb             string   `expr:"verb"`
	RequestURI       string   `expr:"request_uri"`
	User             string   `expr:"user"`
	UID              string   `expr:"uid"`
	Groups           []string `expr:"groups"`
	ImpersonatedUser string   `expr:"impersonated_user"`
	ImpersonatedGrps []string `expr:"impersonated_groups"`
	Actor            string   `expr:"actor"` // the impersonated user when there is one, else the user
	SourceIPs        []string `expr:"source_ips"`
	SourceIP         string   `expr:"source_ip"` // the first of source_ips: the client as far as X-Forwarded-For tells
	UserAgent        string   `expr:"user_agent"`
	APIGroup         string   `expr:"api_group"`
	APIVersion       string   `expr:"api_version"`
	Resource         string   `expr:"resource"`
	Subresource      string   `expr:"subresource"`
	Namespace        string   `expr:"namespace"`
	Name             string   `expr:"name"`
	Code             int      `expr:"code"`
	Decision         string   `expr:"decision"` // authorization.k8s.io/decision: allow or forbid
	Allowed          bool     `expr:"allowed"`  // the cluster authorized and did not refuse it
	Denied           bool     `expr:"denied"`
	// Failed is set when the request did not happen: refused (denied) or
	// failed (a 4xx or 5xx code). Messages must never tell it as done:
	// Did is the verb in the past tense ("created") for a request that
	// happened, "tried to create" for one that did not, and Outcome is
	// what to append (" (denied)", " (failed: 400)", or nothing).
	Failed bool `expr:"failed"`
	// StatusMessage is the response status's message: what refused the
	// request, in the apiserver's words ("cannot impersonate-on:…", "use
	// of … signer with system:masters group is not allowed").
	StatusMessage string `expr:"status_message"`
	// RefusedByAdmission is set for a request RBAC allowed and that was
	// refused all the same (403 with decision allow): admission
	// (CertificateSubjectRestriction) or RBAC's own escalation check.
	RefusedByAdmission bool   `expr:"refused_by_admission"`
	Did                string `expr:"did"`
	Outcome            string `expr:"outcome"`
	// AllowedBy names the binding RBAC allowed the request by
	// ("ClusterRoleBinding mallory-admin", "RoleBinding team-a/edit"), and
	// AllowedRole its role ("ClusterRole cluster-admin"; AllowedRoleName
	// "cluster-admin"): empty when RBAC did not allow it.
	AllowedBy       string `expr:"allowed_by"`
	AllowedRole     string `expr:"allowed_role"`
	AllowedRoleName string `expr:"allowed_role_name"`
	AllowedTo       string `expr:"allowed_to"` // the binding's subject: "User mallory", "Group system:authenticated"
	// AllowedByAge is how long before this request the binding that allowed
	// it was written, in seconds; -1 when kaudit did not see it written.
	AllowedByAge float64           `expr:"allowed_by_age"`
	Annotations  map[string]string `expr:"annotations"`
	// Extra is the user's extra attributes: the token's credential id, the
	// pod and node a service-account token is bound to.
	Extra map[string][]string `expr:"extra"`
	// PodBound is set for a service-account token the kubelet minted for a
	// pod (it carries the pod's claims), and InCluster when such a token is
	// used from private addresses only: a workload of the cluster acting as
	// itself, as operators do. A token used from outside is neither.
	PodBound  bool `expr:"pod_bound"`
	InCluster bool `expr:"in_cluster"`
	// Credential is the token's id (the credential-id claim, "JTI=…"), and
	// Route the way the request came (detect.Route: the addresses of the
	// source chain for a pod's token, their networks for another): one
	// token used over two routes has been copied.
	Credential string `expr:"credential"`
	Route      string `expr:"route"`
	// CredentialRoutes are the routes the baseline saw the token use.
	CredentialRoutes []string `expr:"credential_routes"`
	// Request and Response are the request and response objects as maps
	// (nil when the audit level did not record them). Object is the
	// response object when present, else the request object; for a patch
	// logged without its response (refused, or at the Request level) it is
	// the last version seen with the patch applied, when the engine knows
	// that version.
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
	// Previous is the last version of the object the engine saw, for the
	// objects whose changes rules grade (nil when unknown).
	Previous map[string]any `expr:"previous"`
	// patched is Previous with the request's patch applied, when the
	// response did not show the new version.
	patched map[string]any
	// newVersion is the object as the write left it, as far as the event
	// shows (loadPrevious): what Changes are worked out against.
	newVersion map[string]any
	// Changes are the leaves a write changed (change.go): nil when that
	// cannot be told, empty when nothing changed.
	Changes []Change `expr:"changes"`
	// Routine says why the request is routine for its actor, from the
	// baseline (empty when it is not, or there is no baseline).
	Routine string `expr:"routine"`
	// NewNetworks are the networks of the source chain the actor was never
	// seen acting from, and NewClient whether its client is new to it; both
	// need a baseline with a history of the actor.
	NewNetworks []string `expr:"new_networks"`
	NewClient   bool     `expr:"new_client"`
	// HasHistory is set when the baseline has a history of the actor, so
	// that the two above mean something.
	HasHistory bool `expr:"has_history"`
	// ClockSkewed says the event is dated further ahead of kaudit's clock
	// than ingest.max_clock_skew allows; AheadSeconds is by how much (0
	// for an event dated in the past).
	ClockSkewed  bool `expr:"clock_skewed"`
	AheadSeconds int  `expr:"ahead_seconds"`

	// parsed is the event's bodies parsed beforehand (Engine.Parse), if
	// they were.
	parsed *Parsed

	objectsLoaded  bool
	requestLoaded  bool
	queryLoaded    bool
	previousLoaded bool
	changesLoaded  bool
}

// fillEnv fills e from an event's metadata, overwriting what it held (the
// engine reuses one Env). Objects and the query string are parsed only when
// a rule that needs them is about to run (loadObjects, loadQuery).
func fillEnv(e *Env, ev *auditv1.Event, grants *grantCache) {
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
		e.StatusMessage = ev.ResponseStatus.Message
	}
	e.PodBound = IsPodBound(ev)
	if c := ev.User.Extra["authentication.kubernetes.io/credential-id"]; len(c) > 0 {
		e.Credential = c[0]
	}
	e.Route = Route(ev.SourceIPs, e.PodBound)
	e.InCluster = e.PodBound && len(ev.SourceIPs) > 0 && !ExternalSource(ev.SourceIPs)
	g := grants.of(ev.Annotations["authorization.k8s.io/reason"])
	e.AllowedBy, e.AllowedRole, e.AllowedRoleName, e.AllowedTo = g.binding, g.role, g.roleName, g.subject
	e.Decision = ev.Annotations["authorization.k8s.io/decision"]
	e.Denied = IsDenied(ev)
	e.Allowed = !e.Denied
	e.Failed = e.Denied || e.Code >= 400
	e.RefusedByAdmission = e.Code == 403 && e.Decision == "allow"
	e.Did, e.Outcome = PastTense(e.Verb), ""
	switch {
	case e.Denied:
		e.Did, e.Outcome = "tried to "+e.Verb, " (denied)"
	case e.Failed:
		e.Did, e.Outcome = "tried to "+e.Verb, " (failed: "+strconv.Itoa(e.Code)+")"
	}
}

// PastTense puts an API verb in the past tense for a sentence: "created",
// "read" for get, "listed".
func PastTense(verb string) string {
	switch verb {
	case "get":
		return "read"
	case "list":
		return "listed"
	case "watch":
		return "watched"
	case "deletecollection":
		return "deleted all"
	case "create":
		return "created" // the common verbs without building a string for each event
	case "update":
		return "updated"
	case "patch":
		return "patched"
	case "delete":
		return "deleted"
	case "":
		return ""
	}
	if strings.HasSuffix(verb, "e") {
		return verb + "d"
	}
	return verb + "ed"
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

// loadObjects parses the response object, and the request object when
// request is set (a rule names it) or the response cannot stand for the
// object (there is none, it is a Status, the request is a patch); each
// once. Most rules read only object: parsing a create's request as well
// as its response was half of parsing bodies.
func (e *Env) loadObjects(ev *auditv1.Event, request bool) {
	if !e.objectsLoaded {
		e.objectsLoaded = true
		if p := e.parsed; p != nil {
			e.Response = p.response
		} else {
			e.Response = parseResponse(ev)
		}
		e.Object, e.Change = e.Response, e.Response
		request = request || needsRequest(ev, e.Response)
	}
	if !request || e.requestLoaded {
		return
	}
	e.requestLoaded = true
	if p := e.parsed; p != nil && p.hasRequest {
		e.Request, e.Patch = p.request, p.patch
	} else {
		e.Request, e.Patch = parseRequest(ev)
	}
	if e.Object == nil || isStatus(e.Object) {
		e.Object, e.Change = e.Request, e.Request
	}
	if e.Verb == "patch" && e.Request != nil {
		e.Change = e.Request
	}
}

// needsRequest reports whether an event's request body must be parsed
// whatever the rules name: the response, parsed, cannot stand for the
// object, or the request is a patch (what it changes).
func needsRequest(ev *auditv1.Event, response map[string]any) bool {
	return response == nil || isStatus(response) || ev.Verb == "patch"
}

func isStatus(m map[string]any) bool { return m["kind"] == "Status" }

func parseObject(raw []byte) map[string]any {
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	// Numbers decode as float64 so that conditions can compare them.
	// Strings refer into raw (DecodeNoCopyString) instead of being a copy
	// each: they were a third of detection's allocations. raw, an event's
	// body, is never written once decoded (redaction replaces a body
	// whole, before detection), and what keeps a string of a body (an
	// object's last version) keeps most of it anyway.
	var m map[string]any
	if json.UnmarshalWithOption(raw, &m, json.DecodeNoCopyString()) != nil {
		return nil
	}
	return m
}

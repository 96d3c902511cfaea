package detect

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// The facts of an audit event that every stage reads the same way: who it is
// about, whether the cluster refused it, when it happened, and whether
// detection judges this stage of it. The store, the correlator, the Kafka
// facts and the web view (through the entries' actor and denied fields) all
// take them from here.

// Actor is who a request is about: the impersonated user when there is one,
// else the authenticated user.
func Actor(user, impersonated string) string {
	if impersonated != "" {
		return impersonated
	}
	return user
}

// ActorOf is Actor for an event.
func ActorOf(ev *auditv1.Event) string {
	imp := ""
	if ev.ImpersonatedUser != nil {
		imp = ev.ImpersonatedUser.Username
	}
	return Actor(ev.User.Username, imp)
}

// decisionAnnotation is where the authorizer writes allow or forbid.
const decisionAnnotation = "authorization.k8s.io/decision"

// Denied reports whether a request with this response code and
// authorization decision was refused for want of authentication or
// authorization: 401, 403, or a forbid decision. Other failures (404, 409,
// 422, 500) were allowed and failed for their own reasons.
func Denied(code int, decision string) bool {
	return decision == "forbid" || code == 401 || code == 403
}

// IsDenied is Denied for an event.
func IsDenied(ev *auditv1.Event) bool {
	code := 0
	if ev.ResponseStatus != nil {
		code = int(ev.ResponseStatus.Code)
	}
	return Denied(code, ev.Annotations[decisionAnnotation])
}

// Network is the network an address is seen as part of: its /24 (IPv4) or
// /64 (IPv6), "loopback" for the host itself, "" for what is not an
// address. Baselines and the token-theft rules compare networks, not
// addresses: a pod restarted elsewhere on its node keeps its network.
func Network(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	if a.IsLoopback() {
		return "loopback"
	}
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// SourceNetworks writes the networks of a source chain (the X-Forwarded-For
// addresses, then the peer) as one string, "10.244.0.0/24 > loopback":
// the route a request took, as far as the apiserver can tell.
func SourceNetworks(ips []string) string {
	var parts []string
	for _, ip := range ips {
		if n := Network(ip); n != "" && (len(parts) == 0 || parts[len(parts)-1] != n) {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, " > ")
}

// Route is the route a token's request took, for telling a copied token
// from its owner: the addresses of the source chain for a token bound to a
// pod (a pod keeps its address for the life of its token), their networks
// for any other token.
func Route(ips []string, podBound bool) string {
	if podBound {
		return strings.Join(ips, " > ")
	}
	return SourceNetworks(ips)
}

// IsPodBound reports whether an event's token was minted by a kubelet for
// a pod (it carries the pod's claims).
func IsPodBound(ev *auditv1.Event) bool {
	return len(ev.User.Extra["authentication.kubernetes.io/pod-name"]) > 0
}

// TimeFormat is how times are written in findings, incidents and timelines:
// RFC 3339 with the microseconds the apiserver records.
const TimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// EventTime is the time kaudit files an event under: when the apiserver
// received the request.
func EventTime(ev *auditv1.Event) time.Time { return ev.RequestReceivedTimestamp.Time.UTC() }

// ParseTime reads a time written in TimeFormat (or any RFC 3339 time) back,
// in UTC: the inverse of Format(TimeFormat) for findings and incidents read
// back from the store, the spool or Kafka.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// IsLongRunning reports whether a request may run for a long time after its
// response started: watches and the streaming pod subresources.
func IsLongRunning(ev *auditv1.Event) bool {
	if ev.Verb == "watch" {
		return true
	}
	if ev.ObjectRef != nil {
		switch ev.ObjectRef.Subresource {
		case "exec", "attach", "portforward", "proxy":
			return true
		}
	}
	return false
}

// Judgeable reports whether detection looks at this stage of a request:
// ResponseComplete or Panic, or ResponseStarted of a long-running request,
// whose completion may come much later or never. A long-running request
// judged at ResponseStarted is not judged again at completion (the Engine
// remembers); every other stage is stored but never judged.
func Judgeable(ev *auditv1.Event) bool {
	switch ev.Stage {
	case auditv1.StageResponseComplete, auditv1.StagePanic:
		return true
	case auditv1.StageResponseStarted:
		return IsLongRunning(ev)
	}
	return false
}

// statusPrefix is how the apiserver serializes a Status: kind first.
var statusPrefix = []byte(`{"kind":"Status"`)

// hasBody reports whether the event shows an object the request wrote or
// read: a request object, or a response object other than the Status of
// a refusal (a 403 logged at RequestResponse carries only that Status).
func hasBody(ev *auditv1.Event) bool {
	if ev.RequestObject != nil {
		return true
	}
	return ev.ResponseObject != nil && !bytes.HasPrefix(ev.ResponseObject.Raw, statusPrefix)
}

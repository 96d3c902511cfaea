package incident

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/rulefile"
)

// The narrative tells an incident in the order it happened, one step per
// request that drew a finding: who (and, at every change of identity or of
// source, as whom and from where), what they did or only tried to do, and how the
// identities got their rights. Steps of medium severity or more are always
// told; runs of low ones are folded into a count.

// step is one request of the story: a request that drew findings (with
// the worst of them), or a write or a secret read of the incident's actors
// that drew none, which the story tells too, as a lesser step.
type step struct {
	actor    string
	at       time.Time
	auditID  string
	phrase   string
	severity int    // rank of the worst finding; 0 for a request without one
	source   string // first source address, "" when unknown
	client   string
}

// steps folds findings and the actors' other telling requests into one
// step per request, in time order.
func steps(fs []detect.Finding, touches []Touch) []step {
	var out []step
	at := map[string]int{}
	for _, f := range fs {
		sev := rulefile.SeverityRank(f.Severity)
		if i, ok := at[f.AuditID]; ok {
			if sev > out[i].severity {
				out[i].severity, out[i].phrase = sev, stepPhrase(&f)
			}
			continue
		}
		at[f.AuditID] = len(out)
		s := step{actor: f.Actor(), at: f.At, auditID: f.AuditID, phrase: stepPhrase(&f), severity: sev, client: detect.Client(f.UserAgent)}
		if len(f.SourceIPs) > 0 {
			s.source = f.SourceIPs[0]
		}
		out = append(out, s)
	}
	for _, t := range touches {
		if _, ok := at[t.AuditID]; ok || !telling(t) {
			continue
		}
		at[t.AuditID] = len(out)
		f := detect.Finding{Verb: t.Verb, Resource: t.Resource, Subresource: t.Sub, Namespace: t.Namespace, Name: t.Name, Code: t.Code}
		out = append(out, step{actor: t.Actor, at: t.At, auditID: t.AuditID, phrase: stepPhrase(&f)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].at.Equal(out[j].at) {
			return out[i].at.Before(out[j].at)
		}
		return out[i].auditID < out[j].auditID
	})
	return out
}

// telling reports whether a request without a finding belongs in the
// story: a change that happened, or a secret read.
func telling(t Touch) bool {
	if t.Denied || t.Code >= 400 || t.Resource == "" || t.Sub != "" || t.Resource == "events" {
		return false
	}
	switch t.Verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	case "get":
		return t.Resource == "secrets"
	}
	return false
}

// lowRun is how many lesser steps in a row are told one by one before the
// rest of the run is folded into a count.
const lowRun = 3

// narrative writes the incident's story.
func narrative(inc *Incident, fs []detect.Finding, touches []Touch) string {
	ss := steps(fs, touches)
	if len(ss) == 0 {
		return ""
	}
	var b strings.Builder
	prev := ss[0]
	b.WriteString(identity(prev.actor))
	if src := origin(prev); src != "" {
		b.WriteString(", " + src + ",")
	}
	folded, lows, first := 0, 0, true
	flush := func() {
		if folded > 0 {
			fmt.Fprintf(&b, ", and %s", plural(folded, "lesser step"))
			folded = 0
		}
	}
	for _, s := range ss {
		if s.actor != prev.actor {
			flush()
			b.WriteString("; then, as " + identity(s.actor))
			switch {
			case s.source != "" && s.source == prev.source && s.client == prev.client:
				b.WriteString(", from the same address and client,")
			case origin(s) != "":
				b.WriteString(", " + origin(s) + ",")
			}
			first, lows = true, 0
		} else if s.source != "" && prev.source != "" && (s.source != prev.source || s.client != prev.client) {
			// The same identity from somewhere else: its token or
			// certificate in other hands, or the same person moving.
			flush()
			b.WriteString("; then, " + origin(s) + ",")
			first, lows = true, 0
		}
		if s.source != "" {
			prev = s
		} else {
			prev.actor = s.actor
		}
		if s.severity <= rulefile.SeverityRank(rulefile.SeverityLow) {
			if lows++; lows > lowRun {
				folded++
				continue
			}
		} else {
			flush()
			lows = 0
		}
		if !first {
			b.WriteString(",")
		}
		b.WriteString(" " + s.phrase)
		first = false
	}
	flush()
	writeLinks(&b, inc.Links, ss)
	return b.String()
}

// identity names an actor for a sentence: service accounts as "the service
// account NS/NAME".
func identity(actor string) string {
	if ns, name, ok := detect.ServiceAccountOf(actor); ok {
		return "the service account " + ns + "/" + name
	}
	if actor == "" {
		return "someone"
	}
	return actor
}

// origin says where a step came from and with what: "from 203.0.113.5
// with curl".
func origin(s step) string {
	var parts []string
	if s.source != "" {
		parts = append(parts, "from "+s.source)
	}
	if s.client != "" {
		parts = append(parts, "with "+s.client)
	}
	return strings.Join(parts, " ")
}

// stepPhrase tells one request: what was done, on what, and how it ended.
// A request the cluster refused, or that failed, is told as tried.
func stepPhrase(f *detect.Finding) string {
	denied := detect.Denied(f.Code, "")
	failed := denied || f.Code >= 400
	verb := detect.PastTense(f.Verb)
	if failed {
		verb = "tried to " + f.Verb
	}
	what := object(f)
	switch {
	case f.Subresource == "exec" || f.Subresource == "attach":
		what = "into pod " + detect.Ref(f.Namespace, f.Name)
		if cmd := execCommand(f.RequestURI); cmd != "" {
			what += " (" + cmd + ")"
		}
		verb = f.Subresource + "ed"
		if failed {
			verb = "tried to " + f.Subresource
		}
	case f.Resource == "selfsubjectrulesreviews" || f.Resource == "selfsubjectaccessreviews":
		verb, what = "listed", "its own permissions"
		if failed {
			verb = "tried to list"
		}
	case f.Resource == "serviceaccounts" && f.Subresource == "token":
		verb, what = "minted", "a token for service account "+detect.Ref(f.Namespace, f.Name)
		if failed {
			verb = "tried to mint"
		}
	case f.Resource == "certificatesigningrequests" && f.Subresource == "approval":
		verb, what = "approved", "CertificateSigningRequest "+f.Name
		if failed {
			verb = "tried to approve"
		}
	case f.Resource == "nodes" && f.Subresource == "proxy":
		verb, what = "called", "the kubelet of node "+f.Name
		if i := strings.Index(f.RequestURI, "/proxy"); i >= 0 {
			what += " (" + f.RequestURI[i+len("/proxy"):] + ")"
		}
		if failed {
			verb = "tried to call"
		}
	}
	out := verb + " " + what
	switch {
	case denied:
		out += " (denied)"
	case failed:
		out += fmt.Sprintf(" (failed: %d)", f.Code)
	}
	return out
}

// object names what a request was about: a kind and its name, a resource
// across namespaces, or the path of a request that names no resource.
func object(f *detect.Finding) string {
	if f.Resource == "" {
		path := f.RequestURI
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if path == "" {
			return "the API"
		}
		return path
	}
	res := f.Resource
	if f.Subresource != "" {
		res += "/" + f.Subresource
	}
	if f.Name == "" {
		if f.Namespace == "" {
			return res + " in all namespaces"
		}
		return res + " in " + f.Namespace
	}
	kind := detect.Kind(f.Resource)
	if f.Subresource != "" {
		kind += " " + f.Subresource
	}
	return kind + " " + detect.Ref(f.Namespace, f.Name)
}

// execCommand returns the command of an exec request ("sh -c id").
func execCommand(uri string) string {
	i := strings.IndexByte(uri, '?')
	if i < 0 {
		return ""
	}
	q, err := url.ParseQuery(uri[i+1:])
	if err != nil {
		return ""
	}
	return strings.Join(q["command"], " ")
}

// writeLinks ends the story with how its actors got their rights and why
// identities were joined: bindings, tokens, a shared source.
func writeLinks(b *strings.Builder, links []Link, ss []step) {
	sorted := append([]Link(nil), links...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].at.Before(sorted[j].at) })
	told := map[string]bool{}
	for _, l := range sorted {
		// A role granted through a ClusterRoleBinding and a RoleBinding of
		// the same name, or one binding written twice, is told once.
		k := l.Kind + "|" + l.From + "|" + l.To + "|" + l.Role
		if told[k] {
			continue
		}
		told[k] = true
		when := ""
		for _, s := range ss {
			if s.actor == l.To && s.at.After(l.at) && s.severity > 0 {
				when = " " + humanDuration(s.at.Sub(l.at)) + " earlier"
				break
			}
		}
		switch l.Kind {
		case "binding":
			fmt.Fprintf(b, "; %s had been granted to %s by %s%s", l.Role, identity(l.To), identity(l.From), when)
		case "token":
			if l.From == l.To {
				fmt.Fprintf(b, "; %s had minted a token for itself%s", identity(l.To), when)
			} else {
				fmt.Fprintf(b, "; a token for %s had been minted by %s%s", identity(l.To), identity(l.From), when)
			}
		case "certificate":
			fmt.Fprintf(b, "; a certificate naming %s had been requested by %s%s", identity(l.To), identity(l.From), when)
		}
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "one " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

var smallNumbers = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}

// humanDuration says a duration the way a person would in a sentence.
func humanDuration(d time.Duration) string {
	unit, n := "second", int(d.Round(time.Second)/time.Second)
	switch {
	case d >= 2*time.Hour:
		unit, n = "hour", int(d.Round(time.Hour)/time.Hour)
	case d >= 2*time.Minute:
		unit, n = "minute", int(d.Round(time.Minute)/time.Minute)
	case d < time.Second:
		return "less than a second"
	}
	word := fmt.Sprint(n)
	if n < len(smallNumbers) {
		word = smallNumbers[n]
	}
	if n != 1 {
		unit += "s"
	}
	return word + " " + unit
}

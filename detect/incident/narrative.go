package incident

import (
	"fmt"
	"strings"
	"time"

	"github.com/kaudit/kaudit/detect"
)

// maxActs bounds the narrative: it is a summary, the timeline has the rest.
const maxActs = 8

// narrative writes the incident's story in one sentence a person can read:
// who, from where and with what, what they did in order, and how they got
// the rights to do it.
func narrative(inc *Incident, fs []detect.Finding, touches []Touch) string {
	actor := primaryActor(fs)
	var src, ua string
	for _, f := range fs {
		if f.Actor() == actor {
			if len(f.SourceIPs) > 0 {
				src = f.SourceIPs[0]
			}
			ua = shortAgent(f.UserAgent)
			break
		}
	}
	findingAt := map[string]bool{}
	for _, f := range fs {
		if f.Actor() == actor {
			findingAt[f.AuditID] = true
		}
	}
	var acts []string
	var actTimes []time.Time
	for _, t := range touches {
		p := phrase(t, findingAt[t.AuditID])
		if p == "" || (len(acts) > 0 && acts[len(acts)-1] == p) {
			continue
		}
		acts = append(acts, p)
		actTimes = append(actTimes, t.At)
	}
	if len(acts) == 0 {
		for _, f := range fs {
			if f.Actor() == actor {
				acts = append(acts, f.Message)
				actTimes = append(actTimes, f.At)
			}
		}
	}
	if len(acts) > maxActs {
		extra := len(acts) - maxActs
		acts = append(acts[:maxActs], fmt.Sprintf("%d more", extra))
	}
	var b strings.Builder
	b.WriteString(actor)
	if src != "" || ua != "" {
		b.WriteString(",")
		if src != "" {
			b.WriteString(" from " + src)
		}
		if ua != "" {
			b.WriteString(" with " + ua)
		}
		b.WriteString(",")
	}
	b.WriteString(" ")
	for i, a := range acts {
		switch {
		case i == 0:
		case i == len(acts)-1:
			b.WriteString(", then ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(a)
	}
	for _, l := range inc.Links {
		if l.To != actor || l.From == actor {
			continue
		}
		var next time.Time
		for _, at := range actTimes {
			if at.After(l.at) {
				next = at
				break
			}
		}
		when := ""
		if !next.IsZero() {
			when = " " + humanDuration(next.Sub(l.at)) + " earlier"
		}
		switch l.Kind {
		case "binding":
			fmt.Fprintf(&b, "; %s had been granted to %s by %s%s", l.Role, actor, l.From, when)
		case "token":
			fmt.Fprintf(&b, "; a token for %s had been minted by %s%s", actor, l.From, when)
		}
	}
	var others []string
	for _, a := range inc.Actors {
		if a != actor && !grantedBy(inc.Links, a, actor) {
			others = append(others, a)
		}
	}
	if len(others) > 0 {
		b.WriteString("; also involved: " + strings.Join(others, ", "))
	}
	return b.String()
}

func grantedBy(links []Link, from, to string) bool {
	for _, l := range links {
		if l.From == from && l.To == to {
			return true
		}
	}
	return false
}

// phrase describes one request in a few words, or "" for requests not
// worth a place in the story (reads of ordinary objects, failures).
func phrase(t Touch, finding bool) string {
	obj := t.Name
	if t.Namespace != "" {
		obj = t.Namespace + "/" + t.Name
	}
	kind := KindOf(t.Resource)
	if t.Denied {
		if !finding {
			return ""
		}
		return "tried to " + plainVerb(t) + " (denied)"
	}
	switch {
	case t.Sub == "exec" || t.Sub == "attach" || t.Sub == "portforward":
		return t.Sub + " into pod " + obj
	case t.Resource == "selfsubjectrulesreviews" || t.Resource == "selfsubjectaccessreviews":
		return "enumerated its permissions"
	case t.Resource == "secrets" && (t.Verb == "list" || t.Verb == "watch"):
		return pastTense(t.Verb) + " secrets " + scope(t.Namespace)
	case t.Resource == "secrets" && t.Verb == "get":
		return "read " + obj
	case t.Verb == "create":
		return "created " + kind + " " + obj
	case t.Verb == "update" || t.Verb == "patch":
		if t.Namespace != "" {
			return pastTense(t.Verb) + " " + obj
		}
		return pastTense(t.Verb) + " " + kind + " " + obj
	case t.Verb == "delete":
		return "deleted " + kind + " " + obj
	case t.Verb == "deletecollection":
		return "deleted all " + t.Resource + " " + scope(t.Namespace)
	case finding:
		return pastTense(t.Verb) + " " + t.Resource + " " + scope(t.Namespace)
	}
	return ""
}

func plainVerb(t Touch) string {
	switch t.Verb {
	case "list", "watch":
		return t.Verb + " " + t.Resource + " " + scope(t.Namespace)
	}
	obj := t.Name
	if t.Namespace != "" {
		obj = t.Namespace + "/" + t.Name
	}
	return strings.TrimSpace(t.Verb + " " + t.Resource + " " + obj)
}

func scope(ns string) string {
	if ns == "" {
		return "in all namespaces"
	}
	return "in " + ns
}

func pastTense(verb string) string {
	switch verb {
	case "get":
		return "read"
	case "list":
		return "listed"
	case "watch":
		return "watched"
	case "patch":
		return "patched"
	case "update":
		return "updated"
	case "create":
		return "created"
	case "delete":
		return "deleted"
	}
	return verb
}

// shortAgent keeps the client's name: "kubectl" of "kubectl/v1.32.4 (…)".
func shortAgent(ua string) string {
	if i := strings.IndexAny(ua, "/ "); i > 0 {
		return ua[:i]
	}
	return ua
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

// kinds maps resources to their kinds for the resources stories name most.
var kinds = map[string]string{
	"mutatingwebhookconfigurations":   "MutatingWebhookConfiguration",
	"validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
	"clusterrolebindings":             "ClusterRoleBinding",
	"rolebindings":                    "RoleBinding",
	"clusterroles":                    "ClusterRole",
	"roles":                           "Role",
	"configmaps":                      "ConfigMap",
	"secrets":                         "Secret",
	"pods":                            "Pod",
	"deployments":                     "Deployment",
	"daemonsets":                      "DaemonSet",
	"statefulsets":                    "StatefulSet",
	"replicasets":                     "ReplicaSet",
	"jobs":                            "Job",
	"cronjobs":                        "CronJob",
	"services":                        "Service",
	"serviceaccounts":                 "ServiceAccount",
	"namespaces":                      "Namespace",
	"networkpolicies":                 "NetworkPolicy",
	"ingresses":                       "Ingress",
	"nodes":                           "Node",
	"events":                          "Event",
	"persistentvolumes":               "PersistentVolume",
	"persistentvolumeclaims":          "PersistentVolumeClaim",
	"certificatesigningrequests":      "CertificateSigningRequest",
}

// KindOf names the kind of a resource ("configmaps" → "ConfigMap").
func KindOf(resource string) string {
	if k, ok := kinds[resource]; ok {
		return k
	}
	return resource
}

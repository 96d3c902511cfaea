package investigate

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/store"
)

// How things are said to a person, the same in the reports and the CLI:
// source addresses with how they were learnt, tactics in the order they
// occurred, objects, spans and times.

// SourceAddr is one address requests came from, and how the apiserver
// learnt it: the last of an event's sourceIPs is the peer that connected
// to it; the ones before come from the X-Forwarded-For (or X-Real-Ip)
// header, which the client or a proxy wrote.
type SourceAddr struct {
	IP        string `json:"ip"`
	Peer      bool   `json:"peer"`
	Forwarded bool   `json:"forwarded"`
}

// Role says how the address was seen: "peer", "X-Forwarded-For" or both.
func (s SourceAddr) Role() string {
	switch {
	case s.Peer && s.Forwarded:
		return "peer and X-Forwarded-For"
	case s.Forwarded:
		return "X-Forwarded-For"
	}
	return "peer"
}

// SourceAddrs lists the addresses of requests' sourceIPs lists in order of
// first appearance, each with how it was seen.
func SourceAddrs(lists ...[]string) []SourceAddr {
	var out []SourceAddr
	at := map[string]int{}
	for _, l := range lists {
		for i, ip := range l {
			k, ok := at[ip]
			if !ok {
				k = len(out)
				at[ip] = k
				out = append(out, SourceAddr{IP: ip})
			}
			if i == len(l)-1 {
				out[k].Peer = true
			} else {
				out[k].Forwarded = true
			}
		}
	}
	return out
}

// SourcesText writes one request's sourceIPs for a person: "203.0.113.5
// (X-Forwarded-For) via 127.0.0.1 (peer)", or the peer alone.
func SourcesText(ips []string) string {
	switch len(ips) {
	case 0:
		return ""
	case 1:
		return ips[0]
	}
	return strings.Join(ips[:len(ips)-1], ", ") + " (X-Forwarded-For) via " + ips[len(ips)-1] + " (peer)"
}

// TacticStep is a tactic of an incident at its first occurrence.
type TacticStep struct {
	Tactic     string
	FirstSeen  string
	Techniques []incident.Technique
}

// TacticsByFirstSeen orders an incident's tactics by when each first
// occurred (its techniques' first_seen), the order of the story; tactics
// no technique dates keep their order, after the others.
func TacticsByFirstSeen(inc *incident.Incident) []TacticStep {
	var out []TacticStep
	idx := map[string]int{}
	techs := slices.Clone(inc.Techniques)
	sort.SliceStable(techs, func(i, j int) bool { return seenAt(techs[i].FirstSeen).Before(seenAt(techs[j].FirstSeen)) })
	for _, t := range techs {
		k, ok := idx[t.Tactic]
		if !ok {
			k = len(out)
			idx[t.Tactic] = k
			out = append(out, TacticStep{Tactic: t.Tactic, FirstSeen: t.FirstSeen})
		}
		out[k].Techniques = append(out[k].Techniques, t)
	}
	for _, t := range inc.Tactics {
		if _, ok := idx[t]; !ok {
			idx[t] = len(out)
			out = append(out, TacticStep{Tactic: t})
		}
	}
	return out
}

// seenAt parses a first_seen time; unparsable times sort last.
func seenAt(s string) time.Time {
	t, err := detect.ParseTime(s)
	if err != nil {
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t
}

// ObjectLabel names what a request acted on: "configmaps
// kube-system/coredns", "secrets (all namespaces)" for a list across the
// cluster, the request URI for a request on no resource.
func ObjectLabel(verb, resource, subresource, namespace, name, uri string) string {
	if resource == "" {
		return uri
	}
	res := resource
	if subresource != "" {
		res += "/" + subresource
	}
	collection := verb == "list" || verb == "watch" || verb == "deletecollection"
	switch {
	case name != "" && namespace != "":
		return res + " " + namespace + "/" + name
	case name != "":
		return res + " " + name
	case namespace != "" && collection:
		return res + " " + namespace + "/*"
	case namespace != "":
		return res + " in " + namespace
	case collection:
		return res + " (all namespaces)"
	}
	return res
}

// entryObject and findingObject are ObjectLabel of a request and of a
// finding's request.
func entryObject(e *store.Entry) string {
	return ObjectLabel(e.Verb, e.Resource, e.Subresource, e.Namespace, e.Name, e.RequestURI)
}

func findingObject(f *detect.Finding) string {
	return ObjectLabel(f.Verb, f.Resource, f.Subresource, f.Namespace, f.Name, f.RequestURI)
}

// spanText says an incident's span: "2026-11-22 09:53:40.908806 →
// 09:53:45.427654 UTC (4.5 s)".
func spanText(inc *incident.Incident) string {
	start, end := inc.StartTime.UTC(), inc.EndTime.UTC()
	endFmt := "15:04:05.000000"
	if start.Format(time.DateOnly) != end.Format(time.DateOnly) {
		endFmt = "2006-01-02 15:04:05.000000"
	}
	return fmt.Sprintf("%s → %s UTC (%s)", start.Format("2006-01-02 15:04:05.000000"), end.Format(endFmt), HumanSpan(end.Sub(start)))
}

// HumanSpan says a duration briefly: "850 ms", "4.5 s", "12 min", "3 h 5 min".
func HumanSpan(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute).Minutes()))
	}
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Round(time.Minute).Minutes())%60)
}

// clock is an RFC 3339 time's time of day with microseconds, for rows
// inside one incident.
func clock(ts string) string {
	t, err := detect.ParseTime(ts)
	if err != nil {
		return ts
	}
	return t.UTC().Format("15:04:05.000000")
}

// pathText writes a field path: data.Corefile, spec.containers[0].image.
func pathText(p []string) string {
	var b strings.Builder
	for i, k := range p {
		switch {
		case isIndex(k):
			b.WriteString("[" + k + "]")
		case i > 0:
			b.WriteString("." + k)
		default:
			b.WriteString(k)
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// findingsText lists the rules that fired on a request, for a timeline row.
func findingsText(fs []store.EntryFinding) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, strings.ToUpper(f.Severity)+" "+f.Rule)
	}
	return strings.Join(parts, "; ")
}

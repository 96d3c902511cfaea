package investigate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/store"
)

// Report formats: a self-contained document an analyst attaches to a
// ticket (Markdown or HTML), or the same data as JSON.
const (
	ReportMarkdown = "md"
	ReportHTML     = "html"
	ReportJSON     = "json"
)

// ReportFormats lists the formats WriteReport writes.
var ReportFormats = []string{ReportMarkdown, ReportHTML, ReportJSON}

// Report is an incident as it is exported: its detail (the incident,
// findings and its actors' timeline, the timeline's requests marked with
// their findings) and what its findings' updates and patches changed. Its
// JSON form extends store.IncidentDetail's.
type Report struct {
	store.IncidentDetail
	// Changes are the diffs of the updates and patches findings fired on.
	Changes []*EventDiff `json:"changes"`

	// Locate rewrites an evidence location (file:line) for the reader
	// (the CLI makes paths relative to the argument given); nil keeps it.
	Locate func(string) string `json:"-"`
}

// BuildReport gathers incident id's report from st.
func BuildReport(ctx context.Context, st store.Reader, id string) (*Report, error) {
	d, err := st.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	rep := &Report{IncidentDetail: *d, Changes: []*EventDiff{}}
	rep.Findings = nonNil(rep.Findings)
	rep.Timeline = nonNil(rep.Timeline)
	store.AttachFindings(rep.Timeline, rep.Findings)
	seen := map[string]bool{}
	for _, f := range rep.Findings {
		if (f.Verb != "update" && f.Verb != "patch") || seen[f.AuditID] {
			continue
		}
		seen[f.AuditID] = true
		stages, err := st.Event(ctx, f.AuditID)
		if err != nil || len(stages) == 0 {
			continue // evidence aged out of the store: the finding still says what happened
		}
		diff, err := diffEvent(ctx, st, stages[len(stages)-1])
		if err != nil {
			return nil, err
		}
		rep.Changes = append(rep.Changes, diff)
	}
	return rep, nil
}

// WriteReport writes the report in one of ReportFormats.
func WriteReport(w io.Writer, rep *Report, format string) error {
	switch format {
	case ReportMarkdown:
		return writeMarkdown(w, rep)
	case ReportHTML:
		return writeHTML(w, rep)
	case ReportJSON:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(rep)
	}
	return fmt.Errorf("report format %q: want %s", format, strings.Join(ReportFormats, ", "))
}

// location is where a finding or request was read, for the report.
func (rep *Report) location(loc string) string {
	if rep.Locate != nil && loc != "" {
		return rep.Locate(loc)
	}
	return loc
}

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

// incidentSources are the addresses of an incident's findings and
// timeline; the incident's own list (which says nothing of roles) fills
// in any that neither shows.
func (rep *Report) incidentSources() []SourceAddr {
	var lists [][]string
	for _, f := range rep.Findings {
		lists = append(lists, f.SourceIPs)
	}
	for _, e := range rep.Timeline {
		lists = append(lists, e.SourceIPs)
	}
	out := SourceAddrs(lists...)
	for _, ip := range rep.Incident.SourceIPs {
		if !slices.ContainsFunc(out, func(s SourceAddr) bool { return s.IP == ip }) {
			out = append(out, SourceAddr{IP: ip, Peer: true})
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

func (h *Handler) report(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkKnown(q, []string{"format"}); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	format := q.Get("format")
	if format == "" {
		format = ReportMarkdown
	}
	if !slices.Contains(ReportFormats, format) {
		writeError(w, http.StatusBadRequest, (&paramError{"format", fmt.Sprintf("%q: want %s", format, strings.Join(ReportFormats, ", "))}).Error())
		return
	}
	id := r.PathValue("id")
	rep, err := BuildReport(r.Context(), h.st, id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no incident "+id)
		return
	}
	if err != nil {
		h.storeError(w, r, "report", err)
		return
	}
	var b strings.Builder
	if err := WriteReport(&b, rep, format); err != nil {
		writeError(w, http.StatusInternalServerError, "write report: "+err.Error())
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", map[string]string{
		ReportMarkdown: "text/markdown; charset=utf-8", ReportHTML: "text/html; charset=utf-8", ReportJSON: "application/json; charset=utf-8",
	}[format])
	hd.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", safeFileName(id)+"."+format))
	hd.Set("Cache-Control", "no-store")
	// A saved report opens with no script and nothing fetched.
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	_, _ = io.WriteString(w, b.String())
}

// safeFileName keeps an id's letters, digits, - and _ for a file name.
func safeFileName(id string) string {
	s := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, id)
	if s == "" {
		return "incident"
	}
	return s
}

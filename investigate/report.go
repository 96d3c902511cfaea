package investigate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/kaudit/kaudit/store"
)

// Report formats: a self-contained document an analyst attaches to a
// ticket (Markdown or HTML), the same data as JSON, or the incident's
// timeline as CSV for a spreadsheet.
const (
	ReportMarkdown = "md"
	ReportHTML     = "html"
	ReportJSON     = "json"
	ReportCSV      = "csv"
)

// ReportFormats lists the formats WriteReport writes.
var ReportFormats = []string{ReportMarkdown, ReportHTML, ReportJSON, ReportCSV}

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
	case ReportCSV:
		return writeCSV(w, rep)
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
		ReportCSV: "text/csv; charset=utf-8",
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

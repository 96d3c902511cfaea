package investigate

import (
	"html/template"
	"io"
	"strings"

	"github.com/kaudit/kaudit/detect/incident"
)

// reportPage is the HTML report: one self-contained file, its style
// inline, no script and nothing fetched. html/template escapes every value.
var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"upper": strings.ToUpper,
	"clock": clock,
	"join":  strings.Join,
	"path":  pathText,
	"clean": stripControl,
	"str":   func(b []byte) string { return stripControl(string(b)) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Incident {{.Inc.ID}} — {{upper .Inc.Severity}}</title>
<style>
:root { color-scheme: light dark; --fg:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#fff; --head:#f1f5f9; --add:#dcfce7; --del:#fee2e2; }
@media (prefers-color-scheme: dark) { :root { --fg:#e2e8f0; --muted:#94a3b8; --line:#334155; --bg:#0f172a; --head:#1e293b; --add:#14532d; --del:#7f1d1d; } }
body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 24px; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 16px; margin-top: 28px; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
th { background: var(--head); font-size: 12px; color: var(--muted); }
code, pre { font-family: ui-monospace, monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.sev { font-weight: 700; } .muted { color: var(--muted); } .story { font-size: 15px; }
.add { background: var(--add); } .del { background: var(--del); }
table.facts th { width: 12em; background: none; }
</style></head><body>
<h1>Incident <code>{{.Inc.ID}}</code> — <span class="sev">{{upper .Inc.Severity}}</span></h1>
{{with .Inc.Summary}}<p class="story">{{clean .}}</p>{{end}}
<table class="facts">
<tr><th>Span</th><td>{{.Span}}</td></tr>
<tr><th>Findings</th><td>{{.Inc.FindingCount}}</td></tr>
<tr><th>Actors</th><td>{{range $i, $a := .Inc.Actors}}{{if $i}}, {{end}}{{clean $a}}{{end}}</td></tr>
<tr><th>Sources</th><td>{{range .Sources}}<div><code>{{.IP}}</code> <span class="muted">({{.Role}})</span></div>{{end}}</td></tr>
<tr><th>Clients</th><td>{{range .Inc.UserAgents}}<div>{{clean .}}</div>{{end}}</td></tr>
<tr><th>Requests of its actors</th><td>{{len .Timeline}}</td></tr>
</table>
<h2>Tactics and techniques, in order of first occurrence</h2>
<ol>{{range .Tactics}}<li><strong>{{.Tactic}}</strong>{{with .FirstSeen}} — first at {{clock .}}{{end}}
<ul>{{range .Techniques}}<li><code>{{.ID}}</code> {{.Name}}, first at {{clock .FirstSeen}}</li>{{end}}</ul></li>{{end}}</ol>
<h2>Identities and why they are joined</h2>
{{if .Links}}<ul>{{range .Links}}<li><strong>{{.Kind}}</strong>: {{clean .From}} {{.Verb}} {{clean .To}}{{with .Object}} via {{clean .}}{{end}} at {{clock .Time}} <span class="muted">(audit id <code>{{.AuditID}}</code>)</span></li>{{end}}</ul>
{{else}}<p>One identity, no link to another.</p>{{end}}
<h2>Findings ({{len .Findings}})</h2>
<table><thead><tr><th>Time (UTC)</th><th>Severity</th><th>Rule</th><th>Technique</th><th>Actor</th><th>Request</th><th>Message</th><th>Evidence</th></tr></thead><tbody>
{{range .Findings}}<tr><td>{{clock .Time}}</td><td class="sev">{{upper .Severity}}</td><td><code>{{.Rule}}</code></td><td><code>{{.TechniqueID}}</code> {{.Technique}}</td><td>{{clean .Actor}}</td><td>{{.Verb}} {{clean .Object}}</td><td>{{clean .Message}}</td><td>{{with .Location}}{{clean .}}<br>{{end}}<code>{{.AuditID}}</code></td></tr>
{{end}}</tbody></table>
{{if .Changes}}<h2>What the changes changed</h2>
{{range .Changes}}<h3>{{.Verb}} {{clean .Object}}{{with .After}} by {{clean .Actor}} at {{clock .Time}}{{end}} <span class="muted">(audit id <code>{{.AuditID}}</code>)</span></h3>
{{with .Before}}<p>Before: as {{.Verb}} by {{clean .Actor}} at {{clock .Time}} showed it <span class="muted">(audit id <code>{{.AuditID}}</code>)</span>.</p>{{end}}
{{with .Note}}<p class="muted">{{.}}.</p>{{end}}
<ul>{{range .Changes}}{{if not .Noise}}<li><code>{{path .Path}}</code> {{.Op}}{{if .Lines}}<pre>{{range .Lines}}<span class="{{if eq .Op "+"}}add{{else if eq .Op "-"}}del{{end}}">{{.Op}}{{clean .Text}}</span>
{{end}}</pre>{{else}}{{with .Before}}: <code>{{str .}}</code>{{end}}{{with .After}} → <code>{{str .}}</code>{{end}}{{end}}</li>{{end}}{{end}}</ul>
{{with .Patch}}<p>The patch:</p><pre>{{str .}}</pre>{{end}}
{{end}}{{end}}
<h2>Objects touched ({{len .Inc.Touched}})</h2>
<table><thead><tr><th>Object</th><th>Verbs</th><th>Requests</th></tr></thead><tbody>
{{range .Touched}}<tr><td>{{clean .Label}}</td><td>{{join .Verbs ", "}}</td><td>{{.Count}}</td></tr>
{{end}}</tbody></table>
<h2>Timeline ({{len .Timeline}} requests of its actors)</h2>
<table><thead><tr><th>Time (UTC)</th><th>Actor</th><th>Verb</th><th>Object</th><th>Code</th><th>Source</th><th>Findings</th><th>Evidence</th></tr></thead><tbody>
{{range .Timeline}}<tr><td>{{clock .Time}}</td><td>{{clean .Actor}}</td><td>{{.Verb}}</td><td>{{clean .Object}}</td><td>{{.Code}}</td><td>{{.Sources}}</td><td>{{.Findings}}</td><td>{{with .Location}}{{clean .}}<br>{{end}}<code>{{.AuditID}}</code></td></tr>
{{end}}</tbody></table>
<p class="muted">Written by kaudit from redacted audit events: secrets appear only as keyed hashes.</p>
</body></html>
`))

// htmlView is what the HTML template reads.
type htmlView struct {
	Inc      *incident.Incident
	Span     string
	Sources  []SourceAddr
	Tactics  []TacticStep
	Links    []htmlLink
	Findings []htmlFinding
	Changes  []htmlDiff
	Touched  []htmlTouched
	Timeline []htmlEntry
}

type htmlLink struct{ Kind, From, Verb, To, Object, Time, AuditID string }

type htmlFinding struct {
	Time, Severity, Rule, TechniqueID, Technique, Actor, Verb, Object, Message, Location, AuditID string
}

type htmlDiff struct {
	*EventDiff
	Object string
}

type htmlTouched struct {
	Label string
	Verbs []string
	Count int
}

type htmlEntry struct {
	Time, Actor, Verb, Object, Sources, Findings, Location, AuditID string
	Code                                                            int
}

// writeHTML writes the report as one HTML file.
func writeHTML(w io.Writer, rep *Report) error {
	inc := &rep.Incident
	v := htmlView{Span: spanText(inc), Sources: rep.incidentSources(), Tactics: TacticsByFirstSeen(inc)}
	v.Inc = inc
	for _, l := range inc.Links {
		v.Links = append(v.Links, htmlLink{l.Kind, l.From, linkVerb(l), l.To, l.Object, l.Time, l.AuditID})
	}
	for i := range rep.Findings {
		f := &rep.Findings[i]
		v.Findings = append(v.Findings, htmlFinding{f.Time, f.Severity, f.Rule, f.TechniqueID, f.Technique, f.Actor(), f.Verb,
			findingObject(f), f.Message, rep.location(f.Location), f.AuditID})
	}
	for _, d := range rep.Changes {
		v.Changes = append(v.Changes, htmlDiff{d, ObjectLabel(d.Verb, d.Object.Resource, "", d.Object.Namespace, d.Object.Name, "")})
	}
	for _, t := range inc.Touched {
		v.Touched = append(v.Touched, htmlTouched{touchedLabel(t), t.Verbs, t.Count})
	}
	for i := range rep.Timeline {
		e := &rep.Timeline[i]
		v.Timeline = append(v.Timeline, htmlEntry{e.Time, e.Actor, e.Verb, entryObject(e), SourcesText(e.SourceIPs),
			findingsText(e.Findings), rep.location(e.Location), e.AuditID, e.Code})
	}
	return reportPage.Execute(w, &v)
}

package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/investigate"
	"github.com/kaudit/kaudit/store"
)

// textView is how the text formats are written: fitted to textWidth
// (text) or with nothing cut and more columns (wide), in colour on a
// terminal, with locations relative to the arguments.
type textView struct {
	wide bool
	all  bool // list info findings too (replay --all)
	pal  palette
	loc  *locator
}

// newTextView is the view of a text format ("text" or "wide").
func (a *app) newTextView(format string, loc *locator) textView {
	return textView{wide: format == "wide", pal: a.pal, loc: loc}
}

// width is the width tables are fitted into (0: no limit).
func (v textView) width() int {
	if v.wide {
		return 0
	}
	return textWidth
}

// timeColumn chooses how a table shows times: the time of day alone, the
// day in the header, when every time is on one day (and the view is not
// wide); else the date too.
func (v textView) timeColumn(times []string) (column, func(string) string) {
	day := ""
	for _, ts := range times {
		t, err := detect.ParseTime(ts)
		if err != nil {
			day = "-"
			break
		}
		d := t.UTC().Format(time.DateOnly)
		if day != "" && day != d {
			day = "-"
			break
		}
		day = d
	}
	if v.wide || day == "" || day == "-" {
		return column{name: "TIME (UTC)"}, func(ts string) string { return timeText(ts, "2006-01-02 15:04:05.000") }
	}
	return column{name: "UTC " + day}, func(ts string) string { return timeText(ts, "15:04:05.000") }
}

func timeText(ts, layout string) string {
	t, err := detect.ParseTime(ts)
	if err != nil {
		return fieldText(ts)
	}
	return t.UTC().Format(layout)
}

// severityCell is a severity in capitals, coloured.
func severityCell(sev string) cell {
	return cell{text: strings.ToUpper(fieldText(sev)), style: severityStyle(sev)}
}

// sourcesCell writes a request's sourceIPs: "203.0.113.5 via 127.0.0.1"
// when X-Forwarded-For named a client before the peer that connected.
func sourcesCell(ips []string) string {
	switch len(ips) {
	case 0:
		return ""
	case 1:
		return fieldText(ips[0])
	}
	return fieldList(ips[:len(ips)-1], ",") + " via " + fieldText(ips[len(ips)-1])
}

// sourcesNote explains "A via B" under a table where it appears.
const sourcesNote = "SOURCE \"A via B\": A came from the X-Forwarded-For header, B is the peer that connected to the apiserver."

func anyForwarded(lists ...[]string) bool {
	for _, l := range lists {
		if len(l) > 1 {
			return true
		}
	}
	return false
}

// tacticsText lists an incident's tactics in the order they first
// occurred.
func tacticsText(inc *incident.Incident) string {
	var names []string
	for _, s := range investigate.TacticsByFirstSeen(inc) {
		names = append(names, fieldText(s.Tactic))
	}
	return strings.Join(names, " > ")
}

// incidentTable writes incidents one a line, like kubectl get.
func (v textView) incidentTable(w io.Writer, incs []incident.Incident) {
	cols := []column{{name: "ID"}, {name: "SEVERITY"}, {name: "START (UTC)"}, {name: "SPAN"}, {name: "FINDINGS", right: true},
		{name: "ACTORS", min: 12, mid: true}, {name: "TACTICS (IN ORDER)", min: 20}}
	if v.wide {
		cols = append(cols, column{name: "SOURCES"}, column{name: "CLIENTS"})
	}
	t := newTable(cols...)
	for i := range incs {
		inc := &incs[i]
		cells := []cell{{text: fieldText(inc.ID)}, severityCell(inc.Severity), {text: timeText(inc.Start, "2006-01-02 15:04:05")},
			{text: investigate.HumanSpan(inc.EndTime.Sub(inc.StartTime))}, {text: fmt.Sprint(inc.FindingCount)},
			{text: fieldList(inc.Actors, ", ")}, {text: tacticsText(inc)}}
		if v.wide {
			cells = append(cells, cell{text: fieldList(inc.SourceIPs, ", ")}, cell{text: fieldList(inc.UserAgents, "; ")})
		}
		t.styled(cells...)
	}
	t.write(w, v.width(), v.pal, "")
}

// stories writes each incident's summary under its id, wrapped.
func (v textView) stories(w io.Writer, incs []incident.Incident) {
	idWidth := 0
	for _, inc := range incs {
		idWidth = max(idWidth, runeLen(inc.ID))
	}
	for _, inc := range incs {
		writeHanging(w, fieldText(inc.ID), idWidth, fieldText(inc.Summary), v.width())
	}
}

// writeHanging writes a label and text wrapped beside it, later lines
// indented under the text's start.
func writeHanging(w io.Writer, label string, labelWidth int, text string, width int) {
	indent := max(labelWidth, runeLen(label)) + 2
	lines := []string{text}
	if width > 0 {
		lines = wrap(text, width-indent)
	}
	if len(lines) == 0 {
		lines = []string{""}
	}
	for i, l := range lines {
		head := strings.Repeat(" ", indent)
		if i == 0 {
			head = label + strings.Repeat(" ", indent-runeLen(label))
		}
		fmt.Fprintln(w, strings.TrimRight(head+l, " "))
	}
}

// findingTable writes findings one a line: in text, when, how bad, which
// rule, whose, what it says and where it was read; wide adds the
// technique, the request and the audit id.
func (v textView) findingTable(w io.Writer, fs []detect.Finding, indent string) {
	times := make([]string, len(fs))
	for i := range fs {
		times[i] = fs[i].Time
	}
	tcol, tfmt := v.timeColumn(times)
	cols := []column{tcol, {name: "SEVERITY"}, {name: "RULE", min: 24}, {name: "ACTOR", min: 14, mid: true}, {name: "MESSAGE", min: 24}, v.loc.column()}
	if v.wide {
		cols = append(cols, column{name: "TECHNIQUE"}, column{name: "REQUEST"}, column{name: "AUDIT ID"})
	}
	t := newTable(cols...)
	for i := range fs {
		f := &fs[i]
		cells := []cell{{text: tfmt(f.Time)}, severityCell(f.Severity), {text: fieldText(f.Rule)},
			{text: fieldText(f.Actor())}, {text: fieldText(f.Message)}, {text: v.loc.cell(f.Location)}}
		if v.wide {
			req := fieldText(f.Verb) + " " + fieldText(investigate.ObjectLabel(f.Verb, f.Resource, f.Subresource, f.Namespace, f.Name, f.RequestURI))
			cells = append(cells, cell{text: fieldText(f.TechniqueID) + " " + fieldText(f.Technique)}, cell{text: req}, cell{text: fieldText(f.AuditID)})
		}
		t.styled(cells...)
	}
	t.write(w, v.width(), v.pal, indent)
}

// entryTable writes requests one a line, marked with the rules that fired
// on them.
func (v textView) entryTable(w io.Writer, entries []store.Entry, indent string) {
	times := make([]string, len(entries))
	var srcs [][]string
	for i := range entries {
		times[i] = entries[i].Time
		srcs = append(srcs, entries[i].SourceIPs)
	}
	tcol, tfmt := v.timeColumn(times)
	cols := []column{tcol, {name: "ACTOR", min: 16, mid: true}, {name: "VERB"}, {name: "OBJECT", min: 20, mid: true}, {name: "CODE", right: true},
		{name: "SOURCE"}, {name: "FINDINGS", min: 14}}
	if v.wide {
		cols = append(cols, column{name: "CLIENT"}, v.loc.column(), column{name: "AUDIT ID"})
	}
	t := newTable(cols...)
	for i := range entries {
		e := &entries[i]
		actor := fieldText(e.Actor)
		if e.ImpersonatedUser != "" {
			actor += " (as by " + fieldText(e.User) + ")"
		}
		code := cell{text: fmt.Sprint(e.Code)}
		if e.Denied {
			code.style = styleDenied
		}
		var marks []string
		worst := ""
		for _, f := range e.Findings {
			marks = append(marks, strings.ToUpper(fieldText(f.Severity))+" "+fieldText(f.Rule))
			if worst == "" || rulefile.SeverityRank(f.Severity) > rulefile.SeverityRank(worst) {
				worst = f.Severity
			}
		}
		cells := []cell{{text: tfmt(e.Time)}, {text: actor}, {text: fieldText(e.Verb)},
			{text: fieldText(investigate.ObjectLabel(e.Verb, e.Resource, e.Subresource, e.Namespace, e.Name, e.RequestURI))},
			code, {text: sourcesCell(e.SourceIPs)}, {text: strings.Join(marks, ", "), style: severityStyle(worst)}}
		if worst == "" {
			cells[6].style = ""
		}
		if v.wide {
			cells = append(cells, cell{text: fieldText(e.UserAgent)}, cell{text: v.loc.cell(e.Location)}, cell{text: fieldText(e.AuditID)})
		}
		t.styled(cells...)
	}
	t.write(w, v.width(), v.pal, indent)
	if anyForwarded(srcs...) {
		fmt.Fprintln(w, indent+sourcesNote)
	}
}

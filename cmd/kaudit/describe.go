package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/kaudit/kaudit/investigate"
)

// describeWidth is the width of a describe's field names.
const describeWidth = 12

// describe writes one incident like kubectl describe: its facts, story,
// tactics in order, identities and why they are joined, findings, the
// changes its updates and patches made, the objects touched, and its
// actors' requests over its span.
//
// It writes the description top to bottom, one section after another in the
// order the reader sees them: split, the order would be scattered over
// functions.
func (v textView) describe(w io.Writer, rep *investigate.Report) {
	inc := &rep.Incident
	field := func(name, value string) {
		writeHanging(w, name+":", describeWidth, value, v.width())
	}
	field("Name", fieldText(inc.ID))
	field("Severity", v.pal.paint(severityStyle(inc.Severity), strings.ToUpper(fieldText(inc.Severity))))
	field("Span", timeText(inc.Start, "2006-01-02 15:04:05.000000")+" → "+timeText(inc.End, "15:04:05.000000")+" UTC ("+
		investigate.HumanSpan(inc.EndTime.Sub(inc.StartTime))+")")
	field("Findings", fmt.Sprint(inc.FindingCount))
	field("Summary", fieldText(inc.Summary))
	field("Actors", fieldList(inc.Actors, ", "))
	var srcs []string
	var lists [][]string
	for _, f := range rep.Findings {
		lists = append(lists, f.SourceIPs)
	}
	for _, e := range rep.Timeline {
		lists = append(lists, e.SourceIPs)
	}
	for _, s := range investigate.SourceAddrs(lists...) {
		srcs = append(srcs, fieldText(s.IP)+" ("+s.Role()+")")
	}
	field("Sources", strings.Join(srcs, ", "))
	field("Clients", fieldList(inc.UserAgents, "; "))
	field("Tactics", tacticsText(inc)+" (in order of first occurrence)")

	fmt.Fprintln(w, "\nTechniques, in order of first occurrence:")
	tt := newTable(column{name: "FIRST SEEN (UTC)"}, column{name: "ID"}, column{name: "TECHNIQUE", min: 16}, column{name: "TACTIC", min: 12})
	for _, s := range investigate.TacticsByFirstSeen(inc) {
		for _, t := range s.Techniques {
			tt.row(timeText(t.FirstSeen, "15:04:05.000000"), fieldText(t.ID), fieldText(t.Name), fieldText(t.Tactic))
		}
	}
	tt.write(w, v.width(), v.pal, "  ")

	fmt.Fprintln(w, "\nIdentities and why they are joined:")
	if len(inc.Links) == 0 {
		fmt.Fprintf(w, "  one identity, no link to another: %s\n", fieldList(inc.Actors, ", "))
	}
	for _, l := range inc.Links {
		s := fmt.Sprintf("%s %s %s", fieldText(l.From), linkWords(l.Kind, l.Role), fieldText(l.To))
		if l.Object != "" {
			s += " via " + fieldText(l.Object)
		}
		s += " at " + timeText(l.Time, "15:04:05.000000")
		if v.wide {
			s += " (audit id " + fieldText(l.AuditID) + ")"
		}
		writeHanging(w, "  "+fieldText(l.Kind), describeWidth, s, v.width())
	}

	fmt.Fprintf(w, "\nFindings (%d):\n", len(rep.Findings))
	v.findingTable(w, rep.Findings, "  ")

	if len(rep.Changes) > 0 {
		fmt.Fprintln(w, "\nChanges:")
		for _, d := range rep.Changes {
			v.writeDiff(w, d)
		}
	}

	fmt.Fprintf(w, "\nObjects touched (%d):\n", len(inc.Touched))
	ot := newTable(column{name: "OBJECT", min: 20}, column{name: "VERBS", min: 10}, column{name: "REQUESTS", right: true})
	for _, t := range inc.Touched {
		verb := ""
		if len(t.Verbs) > 0 {
			verb = t.Verbs[0]
		}
		ot.row(fieldText(investigate.ObjectLabel(verb, t.Resource, "", t.Namespace, t.Name, "(no resource)")), fieldList(t.Verbs, ","), fmt.Sprint(t.Count))
	}
	ot.write(w, v.width(), v.pal, "  ")

	fmt.Fprintf(w, "\nTimeline (%d requests of its actors):\n", len(rep.Timeline))
	v.entryTable(w, rep.Timeline, "  ")
}

// indented writes text after indent, wrapped to the view's width.
func (v textView) indented(w io.Writer, indent, text string) {
	lines := []string{text}
	if v.width() > 0 {
		lines = wrap(text, v.width()-len(indent))
	}
	for _, l := range lines {
		fmt.Fprintln(w, indent+l)
	}
}

// linkWords says how a link joins two identities.
func linkWords(kind, role string) string {
	switch kind {
	case "binding":
		if role == "" {
			role = "a role"
		}
		return "granted " + fieldText(role) + " to"
	case "token":
		return "minted a token for"
	case "source":
		return "acted from the same source and client as"
	}
	return fieldText(kind)
}

// writeDiff writes what one update or patch changed.
func (v textView) writeDiff(w io.Writer, d *investigate.EventDiff) {
	obj := investigate.ObjectLabel(d.Verb, d.Object.Resource, "", d.Object.Namespace, d.Object.Name, "")
	head := fieldText(d.Verb) + " " + fieldText(obj)
	if d.After != nil {
		head += " by " + fieldText(d.After.Actor) + " at " + timeText(d.After.Time, "15:04:05.000000")
	}
	v.indented(w, "  ", head)
	if d.Before != nil {
		v.indented(w, "    ", fmt.Sprintf("before: as a %s by %s at %s showed it", fieldText(d.Before.Verb), fieldText(d.Before.Actor), timeText(d.Before.Time, "15:04:05.000000")))
	}
	if d.Note != "" {
		v.indented(w, "    ", d.Note)
	}
	for _, c := range d.Changes {
		if c.Noise && !v.wide {
			continue
		}
		path := fieldText(strings.Join(c.Path, "."))
		if c.Lines == nil {
			var line string
			switch c.Op {
			case "added":
				line = path + " added: " + fieldText(string(c.After))
			case "removed":
				line = path + " removed: " + fieldText(string(c.Before))
			default:
				line = path + " changed: " + fieldText(string(c.Before)) + " → " + fieldText(string(c.After))
			}
			if !v.wide {
				line = cut(line, textWidth-4, false)
			}
			fmt.Fprintln(w, "    "+line)
			continue
		}
		fmt.Fprintf(w, "    %s %s:\n", path, c.Op)
		for _, l := range c.Lines {
			style := map[string]string{"+": "32", "-": "31"}[l.Op]
			text := l.Op + " " + fieldText(l.Text)
			if !v.wide {
				text = cut(text, textWidth-6, false)
			}
			fmt.Fprintln(w, "      "+v.pal.paint(style, text))
		}
	}
}

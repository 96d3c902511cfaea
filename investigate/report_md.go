package investigate

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/kaudit/kaudit/detect/incident"
)

// writeMarkdown writes the report as Markdown (GitHub's dialect): every
// value from the audit log is escaped, so that a name cannot add a link,
// an image or a table cell.
//
// It writes the report top to bottom, one section after another in the order
// the reader sees them: split, the order would be scattered over functions.
func writeMarkdown(w io.Writer, rep *Report) error {
	b := bufio.NewWriter(w)
	inc := &rep.Incident
	fmt.Fprintf(b, "# Incident %s — %s\n\n", md(inc.ID), strings.ToUpper(md(inc.Severity)))
	if inc.Summary != "" {
		fmt.Fprintf(b, "> %s\n\n", md(inc.Summary))
	}
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(b, "| Severity | %s |\n", md(inc.Severity))
	fmt.Fprintf(b, "| Span | %s |\n", md(spanText(inc)))
	fmt.Fprintf(b, "| Findings | %d |\n", inc.FindingCount)
	fmt.Fprintf(b, "| Actors | %s |\n", mdJoin(inc.Actors, ", "))
	var src []string
	for _, s := range rep.incidentSources() {
		src = append(src, md(s.IP)+" ("+s.Role()+")")
	}
	fmt.Fprintf(b, "| Sources | %s |\n", strings.Join(src, "<br>"))
	fmt.Fprintf(b, "| Clients | %s |\n", mdJoin(inc.UserAgents, "<br>"))
	fmt.Fprintf(b, "| Requests of its actors | %d |\n\n", len(rep.Timeline))

	b.WriteString("## Tactics and techniques, in order of first occurrence\n\n")
	for i, st := range TacticsByFirstSeen(inc) {
		fmt.Fprintf(b, "%d. **%s**", i+1, md(st.Tactic))
		if st.FirstSeen != "" {
			fmt.Fprintf(b, " — first at %s", md(clock(st.FirstSeen)))
		}
		b.WriteString("\n")
		for _, t := range st.Techniques {
			fmt.Fprintf(b, "   - `%s` %s, first at %s\n", mdCode(t.ID), md(t.Name), md(clock(t.FirstSeen)))
		}
	}
	b.WriteString("\n## Identities and why they are joined\n\n")
	if len(inc.Links) == 0 {
		fmt.Fprintf(b, "One identity, no link to another: %s.\n", mdJoin(inc.Actors, ", "))
	}
	for _, l := range inc.Links {
		fmt.Fprintf(b, "- **%s**: %s %s %s", md(l.Kind), md(l.From), md(linkVerb(l)), md(l.To))
		if l.Object != "" {
			fmt.Fprintf(b, " via %s", md(l.Object))
		}
		fmt.Fprintf(b, " at %s (audit id `%s`)\n", md(clock(l.Time)), mdCode(l.AuditID))
	}

	fmt.Fprintf(b, "\n## Findings (%d)\n\n", len(rep.Findings))
	b.WriteString("| Time (UTC) | Severity | Rule | Technique | Actor | Request | Message | Evidence |\n|---|---|---|---|---|---|---|---|\n")
	for i := range rep.Findings {
		f := &rep.Findings[i]
		fmt.Fprintf(b, "| %s | %s | `%s` | `%s` %s | %s | %s %s | %s | %s |\n",
			md(clock(f.Time)), strings.ToUpper(md(f.Severity)), mdCode(f.Rule), mdCode(f.TechniqueID), md(f.Technique),
			md(f.Actor()), md(f.Verb), md(findingObject(f)), md(f.Message), mdEvidence(rep.location(f.Location), f.AuditID))
	}

	if len(rep.Changes) > 0 {
		b.WriteString("\n## What the changes changed\n")
		for _, d := range rep.Changes {
			writeDiffMarkdown(b, d)
		}
	}

	fmt.Fprintf(b, "\n## Objects touched (%d)\n\n", len(inc.Touched))
	b.WriteString("| Object | Verbs | Requests |\n|---|---|---|\n")
	for _, t := range inc.Touched {
		fmt.Fprintf(b, "| %s | %s | %d |\n", md(touchedLabel(t)), mdJoin(t.Verbs, ", "), t.Count)
	}

	fmt.Fprintf(b, "\n## Timeline (%d requests of its actors)\n\n", len(rep.Timeline))
	b.WriteString("| Time (UTC) | Actor | Verb | Object | Code | Source | Findings | Evidence |\n|---|---|---|---|---|---|---|---|\n")
	for i := range rep.Timeline {
		e := &rep.Timeline[i]
		fmt.Fprintf(b, "| %s | %s | %s | %s | %d | %s | %s | %s |\n",
			md(clock(e.Time)), md(e.Actor), md(e.Verb), md(entryObject(e)), e.Code, md(SourcesText(e.SourceIPs)),
			md(findingsText(e.Findings)), mdEvidence(rep.location(e.Location), e.AuditID))
	}
	b.WriteString("\n---\nWritten by kaudit from redacted audit events: secrets appear only as keyed hashes.\n")
	return b.Flush()
}

// writeDiffMarkdown writes one update's or patch's changes.
func writeDiffMarkdown(b *bufio.Writer, d *EventDiff) {
	obj := ObjectLabel(d.Verb, d.Object.Resource, "", d.Object.Namespace, d.Object.Name, "")
	fmt.Fprintf(b, "\n### %s %s", md(d.Verb), md(obj))
	if d.After != nil {
		fmt.Fprintf(b, " by %s at %s", md(d.After.Actor), md(clock(d.After.Time)))
	}
	fmt.Fprintf(b, " (audit id `%s`)\n\n", mdCode(d.AuditID))
	if d.Before != nil {
		fmt.Fprintf(b, "Before: as %s by %s at %s showed it (audit id `%s`).\n\n", md(pastVerb(d.Before.Verb)), md(d.Before.Actor), md(clock(d.Before.Time)), mdCode(d.Before.AuditID))
	}
	if d.Note != "" {
		fmt.Fprintf(b, "%s.\n\n", md(d.Note))
	}
	for _, c := range d.Changes {
		if c.Noise {
			continue
		}
		fmt.Fprintf(b, "- `%s` %s", mdCode(pathText(c.Path)), c.Op)
		if c.Lines == nil {
			if c.Before != nil {
				fmt.Fprintf(b, ": `%s`", mdCode(string(c.Before)))
			}
			if c.After != nil {
				sep := ": "
				if c.Before != nil {
					sep = " → "
				}
				fmt.Fprintf(b, "%s`%s`", sep, mdCode(string(c.After)))
			}
			b.WriteString("\n")
			continue
		}
		var text strings.Builder
		for _, l := range c.Lines {
			text.WriteString(l.Op + stripControl(l.Text) + "\n")
		}
		fence := fenceFor(text.String())
		fmt.Fprintf(b, ":\n\n  %sdiff\n", fence)
		for _, line := range strings.SplitAfter(strings.TrimSuffix(text.String(), "\n"), "\n") {
			b.WriteString("  " + strings.TrimSuffix(line, "\n") + "\n")
		}
		fmt.Fprintf(b, "  %s\n", fence)
	}
	if len(d.Patch) > 0 && d.After == nil {
		fence := fenceFor(string(d.Patch))
		fmt.Fprintf(b, "The patch:\n\n%sjson\n%s\n%s\n", fence, stripControl(string(d.Patch)), fence)
	}
}

// linkVerb says how a link joins two identities.
func linkVerb(l incident.Link) string {
	switch l.Kind {
	case "binding":
		role := l.Role
		if role == "" {
			role = "a role"
		}
		return "granted " + role + " to"
	case "token":
		return "minted a token for"
	case "source":
		return "acted from the same source and client as"
	}
	return l.Kind
}

func pastVerb(v string) string {
	switch v {
	case "get":
		return "a read"
	case "create":
		return "the creation"
	case "update":
		return "an update"
	case "patch":
		return "a patch"
	}
	return v
}

func touchedLabel(t incident.Touched) string {
	verb := ""
	if len(t.Verbs) > 0 {
		verb = t.Verbs[0]
	}
	return ObjectLabel(verb, t.Resource, "", t.Namespace, t.Name, "(no resource)")
}

// mdEscaper escapes what Markdown (and the HTML it allows) would read as
// markup, and keeps a value on its table row.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "|", `\|`, "#", `\#`, "!", `\!`,
	"<", "&lt;", ">", "&gt;", "&", "&amp;", "~", `\~`,
	"\r\n", "<br>", "\n", "<br>", "\r", "<br>", "\t", " ",
)

// md escapes a value for Markdown text.
func md(s string) string { return mdEscaper.Replace(stripControl(s)) }

// mdCode keeps a value inside `code`: backticks and pipes would end it.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", `\|`, "\n", " ", "\r", " ").Replace(stripControl(s))
}

func mdJoin(ss []string, sep string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = md(s)
	}
	return strings.Join(out, sep)
}

// mdEvidence is where a row was read: file:line and the audit id.
func mdEvidence(loc, auditID string) string {
	if loc == "" {
		return "`" + mdCode(auditID) + "`"
	}
	return md(loc) + "<br>`" + mdCode(auditID) + "`"
}

// fenceFor returns a code fence longer than any run of backticks in s.
func fenceFor(s string) string {
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// stripControl drops control characters (terminal escapes, NULs) but
// newlines and tabs from a value of the log.
func stripControl(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r == '\r' {
			return r
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}

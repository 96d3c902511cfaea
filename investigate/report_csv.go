package investigate

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/kaudit/kaudit/detect/rulefile"
)

// csvHeader names the columns of the CSV report: one row per request of the
// incident's actors within its span, with the findings it drew.
var csvHeader = []string{
	"time", "severity", "rules", "techniques", "actor", "user", "impersonated_user", "source_ips", "user_agent",
	"verb", "api_group", "resource", "subresource", "namespace", "name", "code", "decision", "request_uri",
	"audit_id", "location",
}

// writeCSV writes the incident's timeline as CSV for a spreadsheet. Every
// value is what a client sent: one that a spreadsheet would run as a
// formula (=, +, -, @, a tab or a carriage return first) is written behind
// a quote, as OWASP's advice on CSV injection has it.
func writeCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for i := range rep.Timeline {
		e := &rep.Timeline[i]
		worst := ""
		var rules, techniques []string
		for _, f := range e.Findings {
			if worst == "" || rulefile.SeverityRank(f.Severity) > rulefile.SeverityRank(worst) {
				worst = f.Severity
			}
			rules = append(rules, f.Rule)
			techniques = append(techniques, f.TechniqueID)
		}
		row := []string{
			e.Time, worst, strings.Join(rules, ";"), strings.Join(techniques, ";"), e.Actor, e.User, e.ImpersonatedUser,
			strings.Join(e.SourceIPs, ";"), e.UserAgent, e.Verb, e.APIGroup, e.Resource, e.Subresource, e.Namespace, e.Name,
			strconv.Itoa(e.Code), e.Decision, e.RequestURI, e.AuditID, rep.location(e.Location),
		}
		for j := range row {
			row[j] = csvCell(row[j])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvCell keeps a value from being read as a formula.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

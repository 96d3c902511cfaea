package store

import (
	"context"

	"github.com/kaudit/kaudit/detect"
)

// annotateChunk is how many audit ids one Findings call asks for.
const annotateChunk = 1000

// AttachFindings sets each entry's Findings from fs (one per rule).
func AttachFindings(entries []Entry, fs []detect.Finding) {
	by := make(map[string][]EntryFinding, len(fs))
	for _, f := range fs {
		list := by[f.AuditID]
		dup := false
		for _, x := range list {
			if x.Rule == f.Rule {
				dup = true
				break
			}
		}
		if !dup {
			by[f.AuditID] = append(list, EntryFinding{Rule: f.Rule, Severity: f.Severity, Title: f.Title, TechniqueID: f.TechniqueID})
		}
	}
	for i := range entries {
		if list := by[entries[i].AuditID]; len(list) > 0 {
			entries[i].Findings = list
		}
	}
}

// AnnotateFindings reads the findings on the entries' requests from r and
// attaches them, for a timeline that shows which requests a rule fired on.
func AnnotateFindings(ctx context.Context, r Reader, entries []Entry) error {
	for lo := 0; lo < len(entries); lo += annotateChunk {
		part := entries[lo:min(lo+annotateChunk, len(entries))]
		ids := make([]string, len(part))
		for i := range part {
			ids[i] = part[i].AuditID
		}
		fs, err := r.Findings(ctx, ids)
		if err != nil {
			return err
		}
		AttachFindings(part, fs)
	}
	return nil
}

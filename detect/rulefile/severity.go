package rulefile

import (
	"fmt"
	"strings"
)

// Severities, in increasing order. A finding's severity is one of these.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
	// SeverityNone, as a rule's denied_severity, means "no finding when the
	// cluster denied the request".
	SeverityNone = "none"
)

var severityRank = map[string]int{SeverityInfo: 1, SeverityLow: 2, SeverityMedium: 3, SeverityHigh: 4, SeverityCritical: 5}

// Severities lists the severities in increasing order.
var Severities = []string{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// SeverityRank orders severities: 0 for unknown, 1 for info … 5 for critical.
func SeverityRank(s string) int { return severityRank[s] }

// ParseSeverity reads a severity as a person types it ("high", "HIGH",
// " High "). Anything else is an error that lists the severities, so that a
// filter never silently matches everything.
func ParseSeverity(s string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if severityRank[v] == 0 {
		return "", fmt.Errorf("severity %q: want one of %s", s, strings.Join(Severities, ", "))
	}
	return v, nil
}

// Audit levels a rule may need to see what it looks for.
const (
	LevelMetadata        = "Metadata"
	LevelRequest         = "Request"
	LevelRequestResponse = "RequestResponse"
)

// LevelRank orders audit levels: 0 for None or unknown, 1 Metadata, 2
// Request, 3 RequestResponse.
func LevelRank(level string) int {
	switch level {
	case LevelMetadata:
		return 1
	case LevelRequest:
		return 2
	case LevelRequestResponse:
		return 3
	}
	return 0
}

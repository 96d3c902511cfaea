package rules

import (
	"os"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/rules/ruletest"
)

// TestBenignActorsQuiet replays the basic-intrusion sample and a cluster's
// ordinary life (benign.sh against a real apiserver) through the whole
// library: benign actors (alice, admin's ordinary setup) and the cluster's
// own components must not draw a finding of medium or above. The one
// exception is the attack's own step taken with admin's stolen token: the
// cluster-admin binding for mallory.
func TestBenignActorsQuiet(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, log := range []string{"apiserver-1.36-basic-intrusion.log", "apiserver-1.36-benign.log"} {
		t.Run(log, func(t *testing.T) {
			fs, err := ruletest.NewRunner(set).LogFindings(os.DirFS("../testdata"), log)
			if err != nil {
				t.Fatal(err)
			}
			mallory := 0
			for _, f := range fs {
				if f.Actor() == "mallory" {
					mallory++
				}
				if rulefile.SeverityRank(f.Severity) < rulefile.SeverityRank(rulefile.SeverityMedium) || !benignActor(f.Actor()) {
					continue
				}
				if f.User == "admin" && f.Rule == "cluster-admin-binding" && f.Name == "mallory-admin" {
					continue
				}
				t.Errorf("%s finding for benign actor %s: %s: %s (%s)", f.Severity, f.Actor(), f.Rule, f.Message, f.Location)
			}
			if strings.Contains(log, "intrusion") && mallory == 0 {
				t.Error("no finding for mallory: the library no longer sees the intrusion")
			}
		})
	}
}

func benignActor(a string) bool {
	return a == "alice" || a == "admin" || strings.HasPrefix(a, "system:") && a != "system:anonymous"
}

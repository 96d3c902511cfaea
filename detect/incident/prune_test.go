package incident

import (
	"fmt"
	"testing"
	"time"

	"github.com/kaudit/kaudit/detect"
)

func TestPruneBoundsState(t *testing.T) {
	c := New(time.Minute, nil)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		at := base.Add(time.Duration(i) * time.Second)
		c.touches["mallory"] = append(c.touches["mallory"], Touch{Actor: "mallory", At: at, AuditID: fmt.Sprint(i)})
		c.Add(detect.Finding{Rule: "r", AuditID: fmt.Sprint(i), User: "mallory", At: at, Time: at.Format(detect.TimeFormat), Severity: "high"})
		c.links = append(c.links, Link{From: "admin", To: "mallory", AuditID: fmt.Sprint(i), at: at})
	}
	c.touches["old"] = []Touch{{Actor: "old", At: base}}
	c.Prune(Limits{Window: 10 * time.Minute, MaxFindings: 100, MaxTouchesPerActor: 50, MaxLinks: 20})
	f, tc, l := c.Size()
	if f != 100 || tc != 50 || l != 20 {
		t.Fatalf("after prune: %d findings, %d touches, %d links", f, tc, l)
	}
	if _, ok := c.touches["old"]; ok {
		t.Fatal("an actor outside the window was kept")
	}
	fs := c.Findings()
	if fs[0].AuditID != "900" || fs[len(fs)-1].AuditID != "999" {
		t.Fatalf("kept findings %s..%s, want the newest", fs[0].AuditID, fs[len(fs)-1].AuditID)
	}
	if got := c.byAudit["999"]; len(got) != 1 || c.links[got[0]].AuditID != "999" {
		t.Fatal("link index not rebuilt")
	}
	if incs := c.Incidents(); len(incs) != 1 || incs[0].FindingCount != 100 {
		t.Fatalf("incidents after prune: %+v", incs)
	}
}

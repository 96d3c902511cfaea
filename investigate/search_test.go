package investigate

import (
	"net/url"
	"strings"
	"testing"
)

func TestTimelineSearchFindingsAndHint(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	var page TimelinePage
	q := url.Values{"q": {"-system:* object:configmaps*coredns"}, "limit": {"1000"}}
	if res := get(t, srv, "GET", "/api/v1/timeline?"+q.Encode(), analystToken, &page); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if len(page.Entries) == 0 {
		t.Fatal("no request on coredns outside system:*")
	}
	marked := 0
	for _, e := range page.Entries {
		if strings.HasPrefix(e.User, "system:") || e.Name != "coredns" {
			t.Errorf("entry %s %s %s passed the search", e.User, e.Resource, e.Name)
		}
		if e.AuditID == sampleCoreDNSPatch {
			marked = len(e.Findings)
		}
	}
	if marked != 2 {
		t.Errorf("the patch carries %d findings, want 2", marked)
	}
	// An actor glob; a bad search is a 400 naming q.
	get(t, srv, "GET", "/api/v1/timeline?actor="+url.QueryEscape("mall*"), analystToken, &page)
	if len(page.Entries) == 0 || page.Entries[0].User != "mallory" {
		t.Errorf("actor glob: %+v", page.Entries)
	}
	var apiErr apiError
	if res := get(t, srv, "GET", "/api/v1/timeline?q=-", analystToken, &apiErr); res.StatusCode != 400 || !strings.Contains(apiErr.Error, "query parameter q") {
		t.Errorf("bad q: %d %q", res.StatusCode, apiErr.Error)
	}
	// Nothing found: the hint names the longer name and the times covered.
	page = TimelinePage{}
	get(t, srv, "GET", "/api/v1/timeline?actor=replicaset-controller", analystToken, &page)
	if len(page.Entries) != 0 || page.Hint == nil || len(page.Hint.Actors) != 1 || page.Hint.Actors[0] != "system:serviceaccount:kube-system:replicaset-controller" || page.Hint.First.IsZero() {
		t.Errorf("hint: %+v", page.Hint)
	}
}

package investigate

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/store"
)

// blockingStore holds every query until release is closed.
type blockingStore struct {
	store.Store
	started chan struct{}
	release chan struct{}
}

func (b *blockingStore) Incidents(ctx context.Context, q store.IncidentQuery) ([]incident.Incident, error) {
	b.started <- struct{}{}
	<-b.release
	return b.Store.Incidents(ctx, q)
}

// One analyst runs at most MaxQueriesPerAnalyst store queries at once;
// more get 429 with Retry-After, while another analyst is not held up.
func TestQueriesCappedPerAnalyst(t *testing.T) {
	const other = "another-analyst-token-0123456789"
	bs := &blockingStore{Store: loadSample(t), started: make(chan struct{}, 16), release: make(chan struct{})}
	toks, _ := auth.NewTokens(analystToken, other)
	srv := newServerWith(t, bs, toks, Options{MaxQueriesPerAnalyst: 2})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := get(t, srv, "GET", "/api/v1/incidents", analystToken, nil); res.StatusCode != 200 {
				t.Errorf("a query within the cap: %d", res.StatusCode)
			}
		}()
	}
	<-bs.started
	<-bs.started
	var e apiError
	res := get(t, srv, "GET", "/api/v1/timeline", analystToken, &e)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || e.Status != 429 {
		t.Fatalf("a third query at once: %d %+v, want 429 with Retry-After", res.StatusCode, e)
	}
	// Another analyst's query is not held up by the first one's.
	if res := get(t, srv, "GET", "/api/v1/timeline", other, nil); res.StatusCode != 200 {
		t.Fatalf("another analyst: %d", res.StatusCode)
	}
	close(bs.release)
	wg.Wait()
	if res := get(t, srv, "GET", "/api/v1/timeline", analystToken, nil); res.StatusCode != 200 {
		t.Fatalf("after the queries ended: %d", res.StatusCode)
	}
}

// limitStore stops every query as ClickHouse does past a limit.
type limitStore struct{ store.Store }

func (limitStore) Timeline(context.Context, store.Query) ([]store.Entry, error) {
	return nil, fmt.Errorf("timeline query: %w (ClickHouse: Memory limit (for query) exceeded)", store.ErrQueryLimit)
}

// A query stopped by the store's limits is the analyst's to narrow: 422
// naming the settings.
func TestQueryLimitIs422(t *testing.T) {
	srv := newTestServer(t, limitStore{loadSample(t)}, Options{})
	var e apiError
	res := get(t, srv, "GET", "/api/v1/timeline", analystToken, &e)
	if res.StatusCode != http.StatusUnprocessableEntity || e.Status != 422 {
		t.Fatalf("%d %+v, want 422", res.StatusCode, e)
	}
}

// Cursor paging gives the entries offset paging gives, and a bad cursor is
// a 400 naming it.
func TestTimelineCursorPaging(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	var all TimelinePage
	get(t, srv, "GET", "/api/v1/timeline?limit=1000", analystToken, &all)
	var paged []store.Entry
	cursor := ""
	for {
		var p TimelinePage
		path := "/api/v1/timeline?limit=7"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if res := get(t, srv, "GET", path, analystToken, &p); res.StatusCode != 200 {
			t.Fatalf("%s: %d", path, res.StatusCode)
		}
		paged = append(paged, p.Entries...)
		if !p.More {
			if p.NextCursor != "" {
				t.Fatal("next_cursor on the last page")
			}
			break
		}
		if p.NextCursor == "" || p.NextOffset == 0 {
			t.Fatalf("a page with more has next_cursor %q and next_offset %d", p.NextCursor, p.NextOffset)
		}
		cursor = p.NextCursor
	}
	if len(paged) != len(all.Entries) {
		t.Fatalf("cursor paging gave %d entries, want %d", len(paged), len(all.Entries))
	}
	for i := range paged {
		if paged[i].AuditID != all.Entries[i].AuditID {
			t.Fatalf("entry %d differs when paged by cursor", i)
		}
	}
	for _, bad := range []string{"nope!", base64.RawURLEncoding.EncodeToString([]byte("x.")), base64.RawURLEncoding.EncodeToString([]byte("12."))} {
		var e apiError
		if res := get(t, srv, "GET", "/api/v1/timeline?cursor="+url.QueryEscape(bad), analystToken, &e); res.StatusCode != 400 || e.Error == "" {
			t.Errorf("cursor %q: %d %+v", bad, res.StatusCode, e)
		}
	}
}

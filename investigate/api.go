package investigate

import (
	"context"
	"errors"
	"net/http"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/store"
)

// TimelinePage is the answer of GET /api/v1/timeline: one page of entries
// in time order. More says whether another page follows: at NextCursor
// (cursor=NEXT_CURSOR, as cheap as the first page however deep), or at
// NextOffset (offset=NEXT_OFFSET with the same cursor, kept for clients of
// offset paging, up to an offset of 1,000,000). The store is asked for one
// entry beyond the page to know it without a count.
type TimelinePage struct {
	Entries    []store.Entry `json:"entries"`
	Limit      int           `json:"limit"`
	Offset     int           `json:"offset"`
	Cursor     string        `json:"cursor,omitempty"`
	More       bool          `json:"more"`
	NextOffset int           `json:"next_offset,omitempty"`
	// Hint, on a first page that found nothing, says why a near miss
	// would have found something (a longer actor name, another time) and
	// which times the store covers.
	Hint *store.Hint `json:"hint,omitempty"`
	// NextCursor fetches the next page by keyset (the cursor parameter),
	// which stays exact while events arrive.
	NextCursor string `json:"next_cursor,omitempty"`
}

// IncidentList is the answer of GET /api/v1/incidents, most severe first,
// then by start time.
type IncidentList struct {
	Incidents []incident.Incident `json:"incidents"`
}

// TacticList is the answer of GET /api/v1/tactics: the matrix's tactics in
// kill-chain order (rules/matrix.yaml), the order the page lists them in.
type TacticList struct {
	Tactics []string `json:"tactics"`
}

func (h *Handler) tactics(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		writeError(w, http.StatusBadRequest, "this endpoint takes no query parameters")
		return
	}
	writeJSON(w, r, http.StatusOK, TacticList{Tactics: rules.Tactics()})
}

func (h *Handler) timeline(w http.ResponseWriter, r *http.Request) {
	q, err := parseTimelineQuery(r.URL.Query(), h.opts.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page := TimelinePage{Limit: q.Limit, Offset: q.Offset, Cursor: r.URL.Query().Get("cursor")}
	q.Limit++
	entries, err := h.st.Timeline(r.Context(), q)
	if err != nil {
		h.storeError(w, r, "timeline", err)
		return
	}
	if len(entries) > page.Limit {
		entries = entries[:page.Limit]
		page.More, page.NextOffset = true, page.Offset+page.Limit
		if c, err := store.CursorOf(&entries[len(entries)-1]); err == nil {
			page.NextCursor = encodeCursor(c)
		}
	}
	if err := store.AnnotateFindings(r.Context(), h.st, entries); err != nil {
		h.storeError(w, r, "timeline findings", err)
		return
	}
	if len(entries) == 0 && page.Offset == 0 {
		hint, err := store.HintFor(r.Context(), h.st, q)
		if err != nil {
			h.storeError(w, r, "timeline hint", err)
			return
		}
		page.Hint = &hint
	}
	page.Entries = nonNil(entries)
	writeJSON(w, r, http.StatusOK, page)
}

func (h *Handler) incidents(w http.ResponseWriter, r *http.Request) {
	q, err := parseIncidentQuery(r.URL.Query(), h.opts.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	incs, err := h.st.Incidents(r.Context(), q)
	if err != nil {
		h.storeError(w, r, "incidents", err)
		return
	}
	writeJSON(w, r, http.StatusOK, IncidentList{Incidents: nonNil(incs)})
}

func (h *Handler) incident(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		writeError(w, http.StatusBadRequest, "this endpoint takes no query parameters")
		return
	}
	id := r.PathValue("id")
	d, err := h.st.Incident(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d == nil) {
		writeError(w, http.StatusNotFound, "no incident "+id)
		return
	}
	if err != nil {
		h.storeError(w, r, "incident", err)
		return
	}
	d.Findings = nonNil(d.Findings)
	d.Timeline = nonNil(d.Timeline)
	writeJSON(w, r, http.StatusOK, d)
}

// storeError answers a failed store query and logs it; a client that went
// away is not an error worth a line. A query stopped by the store's limits
// (store.query_max_*) is the analyst's to narrow: 422. Anything else is the
// store failing: 503, whose body says so without the error, which can name
// internal addresses (the ClickHouse it dialled); the log has it.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	if errors.Is(err, store.ErrQueryLimit) {
		h.log.Warn("store query stopped by a limit", "query", what, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusUnprocessableEntity, what+": the query needs more than the store allows one query (store.query_max_memory_bytes, store.query_max_time, store.query_max_rows_read): narrow the time window or add a filter")
		return
	}
	h.log.Error("store query failed", "query", what, "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, what+": the store could not answer; try again later (the server's log says why)")
}

// nonNil turns a nil slice into an empty one, so JSON shows [] not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

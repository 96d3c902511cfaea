package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/webhook"
	"github.com/kaudit/kaudit/investigate"
	"github.com/kaudit/kaudit/live"
	"github.com/kaudit/kaudit/live/spool"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/redact"
	"github.com/kaudit/kaudit/redact/redacttest"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/clickhouse/chtest"
)

// downStore fails writes while down is set, so that batches go to the
// spool first.
type downStore struct {
	*clickhouse.Store
	down atomic.Bool
}

func (d *downStore) Write(ctx context.Context, evs []ingest.Record, fs []detect.Finding) error {
	if d.down.Load() {
		return io.ErrUnexpectedEOF
	}
	return d.Store.Write(ctx, evs, fs)
}

// The redaction corpus goes through the webhook into the live acceptor,
// first to the spool (store down) and then into ClickHouse; no planted
// value, in clear or in base64, may be found in the spool's files, in any
// ClickHouse table, in the logs, in the query API's answers or in replay's
// output.
func TestRedactionCorpusEndToEnd(t *testing.T) {
	ctx := context.Background()
	ch := chtest.Start(t)
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	st, err := clickhouse.Open(ctx, clickhouse.Config{DSN: ch.DSN("corpus"), BatchAge: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds := &downStore{Store: st}
	ds.down.Store(true)
	spoolDir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(spoolDir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	r, err := redact.New([]byte("corpus-key"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine(set)
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New(r, eng, incident.New(0, rules.Tactics()))
	acc, err := live.New(live.Config{Pipeline: p, Store: ds, Spool: sp, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close(ctx)
	whTokens, _ := auth.NewTokens("corpus-webhook-token")
	wh, err := webhook.NewHandler(webhook.Config{Acceptor: acc, Tokens: whTokens, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	whSrv := httptest.NewServer(wh)
	defer whSrv.Close()

	check := func(where, out string) {
		t.Helper()
		for _, leak := range redacttest.Leaks(out) {
			t.Errorf("%s holds %q", where, leak)
		}
	}

	req, _ := http.NewRequest(http.MethodPost, whSrv.URL, bytes.NewReader(redacttest.EventList()))
	req.Header.Set("Authorization", "Bearer corpus-webhook-token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %d %s", res.StatusCode, body)
	}
	check("the webhook's answer", string(body))
	if n, _ := sp.Stats(); n == 0 {
		t.Fatal("the batch did not go to the spool")
	}
	var spooled bytes.Buffer
	if err := filepath.WalkDir(spoolDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		spooled.Write(b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(spooled.String(), "corpus-escaped-env") {
		t.Fatal("the spool's files do not hold the corpus")
	}
	check("the spool", spooled.String())

	ds.down.Store(false)
	deadline := time.Now().Add(60 * time.Second)
	for n, _ := sp.Stats(); n > 0; n, _ = sp.Stats() {
		if time.Now().After(deadline) {
			t.Fatal("the spool was not drained")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := (&live.Publisher{Pipeline: p, Store: st, Logger: logger}).Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	client := func(q string) string {
		out, err := exec.Command("clickhouse-client", append(ch.ClientArgs(), "--database", "corpus", "--query", q)...).CombinedOutput()
		if err != nil {
			t.Fatalf("clickhouse-client %q: %v: %s", q, err, out)
		}
		return string(out)
	}
	tables := strings.Fields(client("SELECT name FROM system.tables WHERE database = 'corpus'"))
	if len(tables) < 7 {
		t.Fatalf("tables %v", tables)
	}
	for _, table := range tables {
		check("ClickHouse table "+table, client("SELECT * FROM "+table+" FORMAT TSVRaw"))
	}
	if !strings.Contains(client("SELECT event FROM events FORMAT TSVRaw"), "corpus-base64") {
		t.Fatal("the corpus is not in ClickHouse")
	}

	apiTokens, _ := auth.NewTokens("corpus-analyst-token")
	api := httptest.NewServer(investigate.NewHandler(st, apiTokens, investigate.Options{Logger: logger}))
	defer api.Close()
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, api.URL+path, nil)
		req.Header.Set("Authorization", "Bearer corpus-analyst-token")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
		return string(b)
	}
	check("the timeline", get("/api/v1/timeline?limit=1000"))
	for _, c := range redacttest.Cases() {
		check("event "+c.AuditID, get("/api/v1/events/"+c.AuditID))
	}
	var incs investigate.IncidentList
	incsJSON := get("/api/v1/incidents")
	check("the incident list", incsJSON)
	if err := json.Unmarshal([]byte(incsJSON), &incs); err != nil {
		t.Fatal(err)
	}
	for _, inc := range incs.Incidents {
		check("incident "+inc.ID, get("/api/v1/incidents/"+inc.ID))
	}
	check("the logs", logs.String())

	// Replay's output, over the corpus as a log file.
	var lines strings.Builder
	for _, c := range redacttest.Cases() {
		lines.WriteString(c.Event + "\n")
	}
	path := filepath.Join(t.TempDir(), "corpus.log")
	writeFile(t, path, lines.String())
	t.Setenv("KAUDIT_REDACT_KEY", "corpus-key")
	for _, format := range []string{"json", "text"} {
		code, out, stderr := kaudit(t, "", "replay", "--format", format, path)
		if code != exitOK {
			t.Fatalf("replay: exit %d %s", code, stderr)
		}
		check("replay --format "+format, out+stderr)
	}
	code, out, stderr := kaudit(t, "", "timeline", "--format", "json", path)
	if code != exitOK {
		t.Fatalf("timeline: exit %d %s", code, stderr)
	}
	check("timeline PATH", out+stderr)
}

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/store/clickhouse/chtest"
)

// TestTimelineFromFileEqualsFromStore replays the sample into ClickHouse and
// checks that timeline and incidents read from the store print the same
// bytes as when they read the file through the in-memory store.
func TestTimelineFromFileEqualsFromStore(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	srv := chtest.Start(t)
	dsn := srv.DSN("kaudit_cli")
	code, report, stderr := kaudit(t, "", "replay", "--store", dsn, sample)
	if code != 0 || !strings.Contains(report, "INCIDENTS") {
		t.Fatalf("replay --store: exit %d\n%s\n%s", code, report, stderr)
	}
	// Replaying the same file again changes nothing any query shows.
	if code, _, stderr := kaudit(t, "", "replay", "--store", dsn, sample); code != 0 {
		t.Fatalf("second replay --store: exit %d: %s", code, stderr)
	}
	for _, args := range [][]string{
		{"timeline", "--format", "json"},
		{"timeline", "--format", "json", "--actor", "mallory"},
		{"timeline", "--format", "text", "--resource", "configmaps", "--namespace", "kube-system", "--name", "coredns"},
		{"timeline", "--format", "json", "--since", "2026-11-22T09:53:40Z", "--until", "2026-11-22T09:53:45.3Z", "--limit", "7", "--offset", "2"},
		{"incidents", "--format", "json"},
	} {
		code, fromFile, stderr := kaudit(t, "", append(append([]string{}, args...), sample)...)
		if code != 0 || fromFile == "" {
			t.Fatalf("%v PATH: exit %d, %d bytes: %s", args, code, len(fromFile), stderr)
		}
		code, fromStore, stderr := kaudit(t, "", append(append([]string{}, args...), "--store", dsn)...)
		if code != 0 {
			t.Fatalf("%v --store: exit %d: %s", args, code, stderr)
		}
		if fromFile != fromStore {
			t.Fatalf("%v: file and store differ\nfile:\n%s\nstore:\n%s", args, fromFile, fromStore)
		}
	}

	// The JSON lines carry the documented keys.
	_, out, _ := kaudit(t, "", "timeline", "--format", "json", "--actor", "mallory", "--store", dsn)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 5 {
		t.Fatalf("mallory's timeline: %d lines", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range strings.Fields("time audit_id user impersonated_user source_ips user_agent verb api_group resource subresource namespace name code request_uri") {
		if _, ok := m[k]; !ok {
			t.Errorf("timeline JSON lacks %q: %s", k, lines[0])
		}
	}

	// One incident, with its findings and timeline, the same from both.
	_, incs, _ := kaudit(t, "", "incidents", "--format", "json", "--store", dsn)
	var inc struct{ ID string }
	if err := json.Unmarshal([]byte(strings.SplitN(incs, "\n", 2)[0]), &inc); err != nil || inc.ID == "" {
		t.Fatalf("incident id: %v in %q", err, incs)
	}
	_, fromFile, _ := kaudit(t, "", "incidents", "--format", "json", sample, inc.ID)
	code, fromStore, stderr := kaudit(t, "", "incidents", "--format", "json", "--store", dsn, inc.ID)
	if code != 0 || fromFile != fromStore || !strings.Contains(fromStore, `"timeline":[{`) {
		t.Fatalf("incident %s: exit %d %s\nfile:  %s\nstore: %s", inc.ID, code, stderr, fromFile, fromStore)
	}
	if code, _, _ := kaudit(t, "", "incidents", "--store", dsn, "inc-000000000000"); code != exitInput {
		t.Fatalf("unknown incident: exit %d", code)
	}
}

func TestStorePasswordOnCommandLineRefused(t *testing.T) {
	for _, args := range [][]string{
		{"timeline", "--store", "clickhouse://kaudit:s3cret@127.0.0.1:1/kaudit"},
		{"incidents", "--store", "clickhouse://127.0.0.1:1/kaudit?username=kaudit&password=s3cret"},
		{"replay", "--store", "clickhouse://kaudit:s3cret@127.0.0.1:1/kaudit", sample},
	} {
		code, _, stderr := kaudit(t, "", args...)
		if code != exitUsage || !strings.Contains(stderr, "KAUDIT_STORE_DSN") || !strings.Contains(stderr, "store.dsn") || strings.Contains(stderr, "s3cret") {
			t.Errorf("%v: exit %d, stderr %q", args[0], code, stderr)
		}
	}
}

func TestTimelineUsage(t *testing.T) {
	t.Setenv("KAUDIT_STORE_DSN", "")
	if code, _, stderr := kaudit(t, "", "timeline"); code != exitUsage || !strings.Contains(stderr, "PATH") {
		t.Errorf("no source: exit %d, %q", code, stderr)
	}
	if code, _, stderr := kaudit(t, "", "timeline", "--since", "yesterday", sample); code != exitUsage || !strings.Contains(stderr, "RFC 3339") {
		t.Errorf("bad --since: exit %d, %q", code, stderr)
	}
	code, out, _ := kaudit(t, "", "timeline", "--actor", "mallory", "--since", "87600h", sample)
	if code != 0 || !strings.Contains(out, "mallory") {
		t.Errorf("--since as a duration: exit %d, %q", code, out)
	}
}

package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readAll reads paths with a FileReader and returns records and bad inputs.
func readAll(t *testing.T, r *FileReader, paths ...string) ([]Record, []BadInput) {
	t.Helper()
	inputs, err := Expand(paths)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	var bad []BadInput
	for _, in := range inputs {
		err := r.ReadPath(context.Background(), in, func(b Batch) error {
			recs = append(recs, b.Records...)
			bad = append(bad, b.Bad...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return recs, bad
}

func sampleLines(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

func TestReadSampleKeepsOrderAcrossWorkers(t *testing.T) {
	lines := sampleLines(t)
	for _, workers := range []int{1, 2, 7} {
		recs, bad := readAll(t, &FileReader{Workers: workers}, sample)
		if len(bad) != 0 || len(recs) != len(lines) {
			t.Fatalf("workers=%d: %d records, %d bad; want %d, 0", workers, len(recs), len(bad), len(lines))
		}
		for i, r := range recs {
			want := fmt.Sprintf("%s:%d", sample, i+1)
			if r.Location != want {
				t.Fatalf("workers=%d: record %d at %s, want %s", workers, i, r.Location, want)
			}
		}
	}
}

func TestBadLinesAreReportedAndSkipped(t *testing.T) {
	lines := sampleLines(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "mixed.log")
	content := lines[0] + "\n" + `{"kind":"Event", broken` + "\n\n" + lines[1] + "\n" + `{"kind":"Pod","apiVersion":"v1"}` + "\n" + lines[2] + "\n"
	os.WriteFile(path, []byte(content), 0o644)
	recs, bad := readAll(t, &FileReader{}, path)
	if len(recs) != 3 {
		t.Errorf("%d good records, want 3", len(recs))
	}
	if len(bad) != 2 {
		t.Fatalf("%d bad lines, want 2: %v", len(bad), bad)
	}
	if bad[0].Location != path+":2" || !strings.Contains(bad[0].Reason, "malformed JSON") {
		t.Errorf("first bad = %v", bad[0])
	}
	if bad[1].Location != path+":5" || !strings.Contains(bad[1].Reason, `kind "Pod"`) {
		t.Errorf("second bad = %v", bad[1])
	}
	if recs[1].Location != path+":4" {
		t.Errorf("record after the blank line located at %s, want line 4", recs[1].Location)
	}
}

func TestGzipDetectedByMagic(t *testing.T) {
	lines := sampleLines(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(strings.Join(lines[:50], "\n") + "\n"))
	zw.Close()
	path := filepath.Join(t.TempDir(), "audit.log") // no .gz: detection is by content
	os.WriteFile(path, buf.Bytes(), 0o644)
	recs, bad := readAll(t, &FileReader{}, path)
	if len(recs) != 50 || len(bad) != 0 {
		t.Errorf("gzip: %d records, %d bad", len(recs), len(bad))
	}
}

func TestDirectoryInNameOrder(t *testing.T) {
	lines := sampleLines(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "audit-2.log"), []byte(lines[1]+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "audit-1.log"), []byte(lines[0]+"\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	recs, _ := readAll(t, &FileReader{}, dir)
	if len(recs) != 2 || !strings.HasSuffix(recs[0].Location, "audit-1.log:1") || !strings.HasSuffix(recs[1].Location, "audit-2.log:1") {
		t.Errorf("directory read as %v", recs)
	}
}

func TestStdin(t *testing.T) {
	lines := sampleLines(t)
	recs, _ := readAll(t, &FileReader{Stdin: strings.NewReader(lines[3] + "\n" + lines[4])}, "-")
	if len(recs) != 2 || recs[1].Location != "stdin:2" {
		t.Errorf("stdin read as %v", recs)
	}
}

func TestPrettyPrintedEventListDocument(t *testing.T) {
	doc := `{
  "kind": "EventList",
  "apiVersion": "audit.k8s.io/v1",
  "metadata": {},
  "items": [
    {"level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},"requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z","stageTimestamp":"2026-11-22T09:53:17.903735Z"},
    {"level":"Metadata","auditID":"a2","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"}},
    {"level":"Metadata","auditID":"a3","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},"requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z","stageTimestamp":"2026-11-22T09:53:17.903735Z"}
  ]
}
`
	path := filepath.Join(t.TempDir(), "body.json")
	os.WriteFile(path, []byte(doc), 0o644)
	recs, bad := readAll(t, &FileReader{}, path)
	if len(recs) != 2 || recs[0].Location != path+":1#0" || recs[1].Location != path+":1#2" {
		t.Errorf("records = %+v", recs)
	}
	if len(bad) != 1 || bad[0].Location != path+":1#1" {
		t.Errorf("bad = %+v", bad)
	}
}

func TestLongLines(t *testing.T) {
	lines := sampleLines(t)
	// A 17 MiB requestObject must decode; a line over MaxLine is a bad line
	// and the lines around it still count.
	big := strings.Replace(lines[0], `"level":"Metadata"`, `"level":"RequestResponse","requestObject":{"kind":"ConfigMap","data":{"blob":"`+strings.Repeat("x", 17<<20)+`"}}`, 1)
	path := filepath.Join(t.TempDir(), "long.log")
	os.WriteFile(path, []byte(lines[1]+"\n"+big+"\n"+lines[2]+"\n"), 0o644)
	recs, bad := readAll(t, &FileReader{}, path)
	if len(recs) != 3 || len(bad) != 0 {
		t.Fatalf("17 MiB line: %d records, %d bad (%v)", len(recs), len(bad), bad)
	}
	recs, bad = readAll(t, &FileReader{MaxLine: 1 << 20}, path)
	if len(recs) != 2 || len(bad) != 1 || bad[0].Location != path+":2" || !strings.Contains(bad[0].Reason, "longer than") {
		t.Errorf("over MaxLine: %d records, bad %v", len(recs), bad)
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Expand([]string{"/nonexistent/audit.log"}); err == nil {
		t.Error("a missing file expanded without error")
	}
}

func BenchmarkDecodeSample(b *testing.B) {
	data, err := os.ReadFile(sample)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, l := range lines {
			if _, err := DecodeEvent(l); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(lines)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeListSample decodes the sample as the webhook receives it:
// EventLists of 400 events, as the apiserver's batches are.
func BenchmarkDecodeListSample(b *testing.B) {
	data, err := os.ReadFile(sample)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	var bodies [][]byte
	for lo := 0; lo < len(lines); lo += 400 {
		body := []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
		body = append(body, bytes.Join(lines[lo:min(lo+400, len(lines))], []byte(","))...)
		bodies = append(bodies, append(body, "]}"...))
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range bodies {
			if _, _, err := DecodeBatch(body, "webhook"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(len(lines)*b.N), "ns/event")
}

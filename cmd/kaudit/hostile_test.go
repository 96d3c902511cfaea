package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
)

const hostileToken = "hostile-but-valid-webhook-token"

// hostileDuration is how long the hostile clients keep at it
// (KAUDIT_HOSTILE_SECONDS overrides it when measuring).
func hostileDuration() time.Duration {
	if s := os.Getenv("KAUDIT_HOSTILE_SECONDS"); s != "" {
		if d, err := time.ParseDuration(s + "s"); err == nil {
			return d
		}
	}
	return 15 * time.Second
}

// tinyItemsBomb is the review's gzip body: about 830 KB that inflate to
// 31 MiB of tiny valid events.
func tinyItemsBomb(t *testing.T) []byte {
	var raw bytes.Buffer
	raw.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i := 0; raw.Len() < 31<<20; i++ {
		if i > 0 {
			raw.WriteByte(',')
		}
		fmt.Fprintf(&raw, `{"auditID":"hostile-%d","stage":"ResponseComplete","requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z"}`, i)
	}
	raw.WriteString("]}")
	var zb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
	zw.Write(raw.Bytes())
	zw.Close()
	return zb.Bytes()
}

// slowBody sends a body a few bytes at a time until stop.
type slowBody struct {
	left int
	stop <-chan struct{}
}

func (s *slowBody) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	select {
	case <-s.stop:
		return 0, io.ErrUnexpectedEOF
	case <-time.After(200 * time.Millisecond):
	}
	n := min(len(p), 8, s.left)
	copy(p, `{"kind":`[:n])
	s.left -= n
	return n, nil
}

// Eight hostile clients, holding a valid token, send the review's gzip
// bodies of tiny items over and over while eight more trickle chunked
// bodies; kaudit serve runs under the deploy manifest's GOMEMLIMIT. Its
// memory stays under the manifest's 2Gi limit, and the apiserver (its own
// token) gets every batch taken at once.
//
// Figures: go test -run TestServeHostileClientsMemory -v ./cmd/kaudit/
// (KAUDIT_HOSTILE_SECONDS=60 for a longer run).
func TestServeHostileClientsMemory(t *testing.T) {
	const manifestLimit = 2 << 30
	e := newServeEnv(t, "serve_hostile")
	writeFile(t, filepath.Join(e.dir, "webhook.tokens"), testWebhookToken+"\n"+hostileToken+"\n")
	e.env = []string{"GOMEMLIMIT=1500MiB"} // deploy/kubernetes/kaudit.yaml
	p := e.start()
	bomb := tinyItemsBomb(t)
	evs := webhooktest.Sample(t, sample)
	batch, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": map[string]any{}, "items": evs[:400]})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bombs, slow sync.Map
	count := func(m *sync.Map, code int) {
		v, _ := m.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	post := func(body io.Reader, length int64, gz bool) int {
		req, _ := http.NewRequest(http.MethodPost, p.webhook, body)
		req.ContentLength = length
		req.Header.Set("Authorization", "Bearer "+hostileToken)
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := p.client.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				count(&bombs, post(bytes.NewReader(bomb), int64(len(bomb)), true))
			}
		}()
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				count(&slow, post(&slowBody{left: 1 << 20, stop: stop}, -1, false))
			}
		}()
	}

	var peakRSS int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if rss, _ := p.memory(); rss > peakRSS {
				peakRSS = rss
			}
		}
	}()
	var worst time.Duration
	sent := 0
	for deadline := time.Now().Add(hostileDuration()); time.Now().Before(deadline); sent++ {
		t0 := time.Now()
		code, _, body := p.post(batch, testWebhookToken, nil)
		if code != http.StatusOK {
			t.Errorf("the apiserver's batch %d among hostile clients: %d %s", sent, code, body)
		}
		worst = max(worst, time.Since(t0))
		time.Sleep(250 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	<-sampled
	_, hwm := p.memory()
	codes := func(m *sync.Map) string {
		var parts []string
		m.Range(func(k, v any) bool {
			parts = append(parts, fmt.Sprintf("%d×%d", v.(*atomic.Int64).Load(), k))
			return true
		})
		return strings.Join(parts, " ")
	}
	load, _ := exec.Command("uptime").Output()
	t.Logf("hostile clients for %s: gzip bodies of tiny items (%d bytes each) answered %s; slow bodies answered %s", hostileDuration(), len(bomb), codes(&bombs), codes(&slow))
	t.Logf("apiserver: %d batches of 400 events, slowest answer %s", sent, worst.Round(time.Millisecond))
	t.Logf("kaudit serve (GOMEMLIMIT=1500MiB): peak RSS sampled %d MiB, VmHWM %d MiB; manifest limit %d MiB; uptime: %s",
		peakRSS>>20, hwm>>20, manifestLimit>>20, strings.TrimSpace(string(load)))
	if hwm >= manifestLimit {
		t.Fatalf("kaudit serve peaked at %d MiB, over the manifest's %d MiB limit", hwm>>20, manifestLimit>>20)
	}
	if _, ok := bombs.Load(http.StatusOK); ok {
		t.Error("a gzip body of 31 MiB of tiny items was accepted")
	}
}

package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
)

// gate is an acceptor that holds every batch until released.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func (g *gate) Accept(context.Context, ingest.Batch) error {
	g.entered <- struct{}{}
	<-g.release
	return nil
}

// weight is what a body holds of the in-flight budget once read and
// decoded: its items weighed one by one, which is what a list decoded in
// one pass keeps once settled (TestOnePassKeepsTheItemsWeight).
func weight(t *testing.T, body []byte) int64 {
	t.Helper()
	s := &itemScale{w: int64(len(body))}
	if _, _, err := ingest.DecodeBatchFunc(body, "w", s); err != nil {
		t.Fatal(err)
	}
	return s.w
}

// itemScale weighs items one by one, as the handler's weigher does, and
// never a list at once.
type itemScale struct{ w int64 }

func (s *itemScale) Item(raw []byte) error { s.w += itemWeight(len(raw)); return nil }
func (s *itemScale) List(int, int) bool    { return false }
func (s *itemScale) Settle(int, int)       {}

const otherToken = "second-apiserver-token"

// twoClients is a fixture whose tokens are two client identities.
func twoClients(t *testing.T, mutate func(*Config)) *fixture {
	return newFixture(t, func(c *Config) {
		c.Tokens, _ = auth.NewTokens(token, otherToken)
		mutate(c)
	})
}

func postAsync(fx *fixture, tok string, body io.Reader, length int64, hdr ...string) chan int {
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, fx.srv.URL+Path, body)
		req.ContentLength = length
		req.Header.Set("Authorization", "Bearer "+tok)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := fx.srv.Client().Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}

// Requests in flight are bounded, all clients together: past the budget a
// request waits unread, then gets 429 with Retry-After.
func TestInFlightBudget(t *testing.T) {
	g := &gate{entered: make(chan struct{}, 1), release: make(chan struct{})}
	body := eventList(sampleItems(t, 20))
	w := weight(t, body)
	fx := twoClients(t, func(c *Config) {
		c.Acceptor = g
		c.MaxInFlightBytes = w // room for one request
		c.QueueWait = 50 * time.Millisecond
	})
	first := postAsync(fx, token, bytes.NewReader(body), int64(len(body)))
	<-g.entered // the first request holds the whole budget
	code, resp, hdr := fx.post(t, otherToken, body, nil)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "1" || resp.Error == "" {
		t.Fatalf("second request past the budget: %d %q %+v", code, hdr.Get("Retry-After"), resp)
	}
	close(g.release)
	if c := <-first; c != http.StatusOK {
		t.Fatalf("first request: %d", c)
	}
	if fx.rejected(reasonBusy) != 1 {
		t.Fatal("busy not counted")
	}
	if code, _, _ := fx.post(t, token, body, nil); code != http.StatusOK {
		t.Fatalf("after the budget freed: %d", code)
	}
}

// One client holding all of its share leaves the rest of the budget to the
// others: the apiserver's batch goes through while another token's
// requests wait.
func TestClientBudgetLeavesRoomForOthers(t *testing.T) {
	g := &gate{entered: make(chan struct{}, 8), release: make(chan struct{})}
	body := eventList(sampleItems(t, 20))
	w := weight(t, body)
	fx := twoClients(t, func(c *Config) {
		c.Acceptor = g
		c.MaxInFlightBytes = 4 * w
		c.MaxClientInFlightBytes = w
		c.QueueWait = 50 * time.Millisecond
	})
	first := postAsync(fx, otherToken, bytes.NewReader(body), int64(len(body)))
	<-g.entered
	if code, _, _ := fx.post(t, otherToken, body, nil); code != http.StatusTooManyRequests {
		t.Fatalf("a second request of the client at its share: %d, want 429", code)
	}
	done := postAsync(fx, token, bytes.NewReader(body), int64(len(body)))
	<-g.entered // the apiserver's batch reached the acceptor
	close(g.release)
	if c := <-done; c != http.StatusOK {
		t.Fatalf("the apiserver's batch: %d", c)
	}
	if c := <-first; c != http.StatusOK {
		t.Fatalf("first request: %d", c)
	}
	// A batch that cannot fit a client's share at all is 413, not a wait.
	big := eventList(sampleItems(t, 200))
	if code, resp, _ := fx.post(t, token, big, nil); code != http.StatusRequestEntityTooLarge || !strings.Contains(resp.Error, "max_client_in_flight_bytes") {
		t.Fatalf("a batch larger than a client's share: %d %+v", code, resp)
	}
}

// trickle sends a body a few bytes at a time.
type trickle struct {
	data  []byte
	every time.Duration
	stop  chan struct{}
}

func (tr *trickle) Read(p []byte) (int, error) {
	if len(tr.data) == 0 {
		return 0, io.EOF
	}
	select {
	case <-tr.stop:
		return 0, io.ErrUnexpectedEOF
	case <-time.After(tr.every):
	}
	n := copy(p[:min(len(p), 16)], tr.data)
	tr.data = tr.data[n:]
	return n, nil
}

// Slow chunked bodies from one client are cut at the minimum rate (408),
// and while they trickle they hold only what they sent: the apiserver's
// batches are taken at once.
func TestSlowBodiesAreCutAndDoNotStarve(t *testing.T) {
	body := eventList(sampleItems(t, 20))
	fx := twoClients(t, func(c *Config) {
		c.MinBodyRate = 4 << 10
		c.MinBodyRateGrace = 500 * time.Millisecond
		c.QueueWait = 200 * time.Millisecond
		c.MaxInFlightBytes = 1 << 20
		c.MaxClientInFlightBytes = 8 * readChunk // each slow body holds the chunk it reads into
	})
	stop := make(chan struct{})
	defer close(stop)
	var slow []chan int
	for range 8 {
		slow = append(slow, postAsync(fx, otherToken, &trickle{data: body, every: 50 * time.Millisecond, stop: stop}, -1))
	}
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	if code, resp, _ := fx.post(t, token, body, nil); code != http.StatusOK {
		t.Fatalf("the apiserver's batch among eight slow bodies: %d %+v\n%s", code, resp, fx.logs.String())
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("the apiserver's batch took %s among slow bodies", d)
	}
	for i, c := range slow {
		select {
		case code := <-c:
			if code != http.StatusRequestTimeout {
				t.Errorf("slow body %d: %d, want 408", i, code)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("slow body %d was not cut", i)
		}
	}
	if got := fx.rejected(reasonSlow); got != 8 {
		t.Errorf("slow_body counter %v, want 8", got)
	}
}

// A gzip body is counted as it inflates, before it is decoded, and its
// decoded items before each is decoded: a small body of a million tiny
// items is refused without ever becoming a million events, and the heap
// stays near the budget.
func TestGzipOfTinyItemsIsBounded(t *testing.T) {
	var raw bytes.Buffer
	raw.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[`)
	for i := 0; raw.Len() < 31<<20; i++ {
		if i > 0 {
			raw.WriteByte(',')
		}
		fmt.Fprintf(&raw, `{"auditID":"t-%d","stage":"ResponseComplete","requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z"}`, i)
	}
	raw.WriteString("]}")
	bomb := gz(t, raw.Bytes())
	t.Logf("%d bytes of gzip, %d decompressed", len(bomb), raw.Len())
	raw = bytes.Buffer{}
	var accepted atomic.Int64
	acc := acceptorFunc(func(_ context.Context, b ingest.Batch) error { accepted.Add(int64(len(b.Records))); return nil })
	fx := newFixture(t, func(c *Config) {
		c.Acceptor = acc
		c.MaxBodyBytes = 32 << 20
		c.MaxInFlightBytes = 64 << 20
		c.MaxClientInFlightBytes = 32 << 20
		c.QueueWait = time.Second
	})
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
		}
	}()
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = <-postAsync(fx, token, bytes.NewReader(bomb), int64(len(bomb)), "Content-Encoding", "gzip")
		}()
	}
	wg.Wait()
	close(stop)
	t.Logf("answers %v", codes)
	for i, c := range codes {
		if c != http.StatusRequestEntityTooLarge && c != http.StatusTooManyRequests {
			t.Errorf("gzip of tiny items %d: %d, want 413 (or 429 while another held the share)", i, c)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d events of the refused bodies were accepted", n)
	}
	t.Logf("heap peak %d MiB with four such bodies at once", peak.Load()>>20)
	if p := peak.Load(); p > 400<<20 {
		t.Errorf("heap peaked at %d MiB, want it near the 64 MiB budget", p>>20)
	}
}

type acceptorFunc func(context.Context, ingest.Batch) error

func (f acceptorFunc) Accept(ctx context.Context, b ingest.Batch) error { return f(ctx, b) }

// webhook.tls.client_subjects restricts which certificates of the client CA
// authenticate.
func TestClientSubjects(t *testing.T) {
	pki := webhooktest.NewPKI(t)
	for _, c := range []struct {
		subjects []string
		want     int
	}{
		{nil, http.StatusOK},
		{[]string{"kube-apiserver"}, http.StatusOK},
		{[]string{"kubelet", "system:node:node-1"}, http.StatusUnauthorized},
	} {
		h, err := NewHandler(Config{Acceptor: &recorder{}, ClientCerts: true, ClientSubjects: c.subjects, Metrics: NewMetrics(prometheus.NewRegistry())})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(h)
		cert, _ := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
		caPEM, _ := os.ReadFile(pki.CAFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
		srv.StartTLS()
		cc, _ := tls.LoadX509KeyPair(pki.ClientCert, pki.ClientKey)
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cc}}}}
		resp, err := cl.Post(srv.URL+Path, "application/json", bytes.NewReader(eventList(sampleItems(t, 2))))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != c.want {
			t.Errorf("client_subjects %v, certificate CN=kube-apiserver: %d, want %d", c.subjects, resp.StatusCode, c.want)
		}
	}
}

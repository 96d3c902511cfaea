// Command kaudit-load drives `kaudit serve` the way a fleet of apiservers
// does: many senders at once, each posting EventLists of 400 events (the
// apiserver's batch size) to POST /audit/webhook and waiting for the answer
// before the next (as the buffered backend's delegate does). It reports the
// events per second acknowledged, the answers by status, and, given the
// server's pid, its resident memory over time and at peak.
//
// Bodies are made from a real apiserver log. Every request carries fresh
// audit IDs (the first 12 characters of each are overwritten with a
// counter in place), so that the store, which collapses duplicates, holds
// every event sent.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "https://127.0.0.1:8443/audit/webhook", "webhook URL")
	token := flag.String("token", "", "bearer token (or set KAUDIT_LOAD_TOKEN)")
	sample := flag.String("sample", "testdata/apiserver-1.36-basic-intrusion.log", "apiserver audit log (JSON lines) the events are taken from")
	senders := flag.Int("senders", 32, "concurrent senders (apiservers)")
	batch := flag.Int("batch", 400, "events per request")
	duration := flag.Duration("duration", time.Minute, "how long to send")
	interval := flag.Duration("interval", 10*time.Second, "progress report interval")
	pid := flag.Int("pid", 0, "pid of kaudit serve, to report its memory and CPU time")
	chPid := flag.Int("clickhouse-pid", 0, "pid of clickhouse-server, to report its CPU time, page faults and peak memory")
	profURL := flag.String("profile-url", "", "pprof CPU profile URL of kaudit (debug.pprof_listen): a 30 s profile is taken half-way")
	profOut := flag.String("profile-out", "kaudit.cpu.pprof", "where --profile-url's profile is written")
	compare := flag.Bool("compare", false, "print a before/after table of the RESULT lines in the two files given as arguments, and exit")
	flag.Parse()
	if *compare {
		if err := compareResults(flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "kaudit-load:", err)
			os.Exit(1)
		}
		return
	}
	cpuPids = map[string]int{"kaudit": *pid, "clickhouse": *chPid, "load": os.Getpid()}
	if *profURL != "" {
		go takeProfile(*profURL, *profOut, *duration)
		defer takeHeap(strings.TrimSuffix(*profURL, "/profile")+"/heap", strings.TrimSuffix(*profOut, ".pprof")+".heap.pprof")
	}
	if *token == "" {
		*token = os.Getenv("KAUDIT_LOAD_TOKEN")
	}
	if err := run(*url, *token, *sample, *senders, *batch, *duration, *interval, *pid); err != nil {
		fmt.Fprintln(os.Stderr, "kaudit-load:", err)
		os.Exit(1)
	}
}

// template is one request body with the byte offsets of its audit IDs and
// timestamps.
type template struct {
	body    []byte
	offsets []int // where each auditID value starts (after the quote)
	times   []int // where each timestamp of wireTimeFormat's width starts
	events  int
}

// wireTimeFormat is how the apiserver writes its timestamps (MicroTime):
// always 27 bytes, so a send can stamp the current time in place.
const wireTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// timeFields are the timestamps of an event, stamped with the time of each
// send: the engine's windows and the correlator's pruning follow event
// time, and a load whose events all carry the sample's few minutes would
// never let them expire, so memory would grow for that reason alone.
var timeFields = [][]byte{[]byte(`"requestReceivedTimestamp":"`), []byte(`"stageTimestamp":"`)}

func run(url, token, sample string, senders, batch int, duration, interval time.Duration, pid int) error {
	tmpls, err := templates(sample, batch)
	if err != nil {
		return err
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // a load test against a throwaway certificate
		MaxIdleConnsPerHost: senders,
	}
	l := &load{client: &http.Client{Transport: tr, Timeout: 60 * time.Second}, url: url, token: token, tmpls: tmpls,
		senders: senders, batch: batch, pid: pid, status: map[int]int{}, usage0: map[string]usage{}}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	for name, p := range cpuPids {
		l.usage0[name] = usageOf(p)
	}
	l.start = time.Now()
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) { defer wg.Done(); l.send(ctx, s) }(s)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-tick.C:
			l.progress()
		case <-done:
			l.progress()
			l.result()
			return nil
		}
	}
}

// load is one run of the generator: its senders' shared counters.
type load struct {
	client          *http.Client
	url, token      string
	tmpls           []template
	senders, batch  int
	pid             int
	acked, requests atomic.Int64
	seq             atomic.Uint64
	mu              sync.Mutex
	status          map[int]int
	lat             []time.Duration
	usage0          map[string]usage // at the start, by cpuPids' names
	start           time.Time
	peakRSS         int64
	// rssMin and rssMax are kaudit's RSS range after the first minute
	// (warm-up): flat memory means a narrow range.
	rssMin, rssMax int64
}

// send is one sender: it posts batches one after another until ctx ends,
// backing off a second on 429, 503 or a failed request, as the apiserver
// does on Retry-After.
func (l *load) send(ctx context.Context, s int) {
	buf := make([]byte, 0, 1<<20)
	for i := s; ctx.Err() == nil; i++ {
		t := &l.tmpls[i%len(l.tmpls)]
		buf = append(buf[:0], t.body...)
		stamp(buf, t.offsets, l.seq.Add(1))
		stampTime(buf, t.times, time.Now())
		t0 := time.Now()
		code, err := post(ctx, l.client, l.url, l.token, buf)
		d := time.Since(t0)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			code = -1
		}
		l.requests.Add(1)
		if code == http.StatusOK {
			l.acked.Add(int64(t.events))
		}
		l.mu.Lock()
		l.status[code]++
		if len(l.lat) < 1_000_000 {
			l.lat = append(l.lat, d)
		}
		l.mu.Unlock()
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable || code == -1 {
			time.Sleep(time.Second)
		}
	}
}

// progress prints one line of throughput and memory so far.
func (l *load) progress() {
	el := time.Since(l.start).Seconds()
	rss, hwm := memory(l.pid)
	l.peakRSS = max(l.peakRSS, hwm)
	if el >= 60 && rss > 0 {
		if l.rssMin == 0 || rss < l.rssMin {
			l.rssMin = rss
		}
		l.rssMax = max(l.rssMax, rss)
	}
	line := fmt.Sprintf("t=%4.0fs acked=%d events (%.0f events/s) requests=%d", el, l.acked.Load(), float64(l.acked.Load())/el, l.requests.Load())
	if l.pid > 0 {
		line += fmt.Sprintf(" kaudit_rss=%dMiB peak=%dMiB", rss>>20, hwm>>20)
	}
	fmt.Println(line)
}

// result prints the RESULT line: throughput, answers by status, latency
// percentiles, peak memory and CPU per event.
func (l *load) result() {
	el := time.Since(l.start).Seconds()
	l.mu.Lock()
	defer l.mu.Unlock()
	codes := make([]int, 0, len(l.status))
	for c := range l.status {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d:%d", c, l.status[c]))
	}
	sort.Slice(l.lat, func(i, j int) bool { return l.lat[i] < l.lat[j] })
	p := func(q float64) time.Duration {
		if len(l.lat) == 0 {
			return 0
		}
		return l.lat[int(q*float64(len(l.lat)-1))].Round(time.Millisecond)
	}
	acked := l.acked.Load()
	fmt.Printf("RESULT senders=%d batch=%d duration=%s events_acked=%d events_per_s=%.0f statuses=%s latency_p50=%s p99=%s",
		l.senders, l.batch, time.Since(l.start).Round(time.Second), acked, float64(acked)/el, strings.Join(parts, ","), p(0.5), p(0.99))
	if l.pid > 0 {
		fmt.Printf(" kaudit_peak_rss=%dMiB", l.peakRSS>>20)
		if l.rssMax > 0 {
			fmt.Printf(" kaudit_rss_after_1m=%d..%dMiB", l.rssMin>>20, l.rssMax>>20)
		}
	}
	for _, name := range []string{"kaudit", "clickhouse", "load"} {
		now := usageOf(cpuPids[name])
		if used := now.cpu - l.usage0[name].cpu; used > 0 && acked > 0 {
			fmt.Printf(" %s_cpu=%.1fs (%.1fus/event)", name, used.Seconds(), float64(used.Microseconds())/float64(acked))
		}
		// Page faults cost much more on some virtual machines than the
		// CPU profile of the process shows: ClickHouse's allocator
		// returning and refaulting memory was a third of its CPU on one.
		if faults := now.minorFaults - l.usage0[name].minorFaults; faults > 0 && acked > 0 && name != "load" {
			fmt.Printf(" %s_page_faults=%d (%.2f/event)", name, faults, float64(faults)/float64(acked))
		}
	}
	if _, hwm := memory(cpuPids["clickhouse"]); hwm > 0 {
		fmt.Printf(" clickhouse_peak_rss=%dMiB", hwm>>20)
	}
	fmt.Printf(" loadavg=%s\n", loadAvg())
}

func post(ctx context.Context, c *http.Client, url, token string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"?timeout=30s", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// stamp writes n, as 12 hex digits, over the first 12 characters of every
// audit ID: a fresh identity per request without re-encoding the body.
func stamp(body []byte, offsets []int, n uint64) {
	var d [12]byte
	const hex = "0123456789abcdef"
	for i := 11; i >= 0; i-- {
		d[i] = hex[n&0xf]
		n >>= 4
	}
	for _, o := range offsets {
		copy(body[o:o+12], d[:])
	}
}

// completeWatches gives every long-running request that the recording
// caught open (a watch whose ResponseStarted is the last stage logged) the
// ResponseComplete it would have had, and returns how many it added. On a
// cluster a watch ends within the hour; replayed with fresh IDs, each open
// one would stay in kaudit's memory of started requests for a day, and
// memory would grow for the generator's sake alone.
func completeWatches(requests [][][]byte) int {
	started, complete := []byte(`"stage":"ResponseStarted"`), []byte(`"stage":"ResponseComplete"`)
	added := 0
	for i, stages := range requests {
		var open []byte
		for _, line := range stages {
			switch {
			case bytes.Contains(line, started):
				open = line
			case bytes.Contains(line, complete):
				open = nil
			}
		}
		if open != nil {
			requests[i] = append(stages, bytes.Replace(open, started, complete, 1))
			added++
		}
	}
	return added
}

// stampTime writes now over every timestamp of a body.
func stampTime(body []byte, offsets []int, now time.Time) {
	var d [32]byte
	ts := now.UTC().AppendFormat(d[:0], wireTimeFormat)
	for _, o := range offsets {
		copy(body[o:o+len(ts)], ts)
	}
}

// templates builds request bodies of about batch events each from the
// sample, cycling through it. Every stage of a request goes in the same
// body, as the apiserver's batches mostly do: a request whose stages were
// split between bodies would get two audit IDs, and the engine would wait
// for a stage that never comes.
func templates(path string, batch int) ([]template, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var requests [][][]byte // each request's stages, in the order of its first
	index := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	events := 0
	for sc.Scan() {
		var head struct {
			AuditID string `json:"auditID"`
		}
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil || len(head.AuditID) < 12 {
			continue
		}
		i, ok := index[head.AuditID]
		if !ok {
			i = len(requests)
			index[head.AuditID] = i
			requests = append(requests, nil)
		}
		requests[i] = append(requests[i], append([]byte(nil), sc.Bytes()...))
		events++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if events == 0 {
		return nil, errors.New("no usable event in " + path)
	}
	events += completeWatches(requests)
	n := max(events/batch, 1) * 4
	out := make([]template, 0, n)
	next := 0
	for t := 0; t < n; t++ {
		var b bytes.Buffer
		b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
		var tm template
		for tm.events < batch {
			for _, line := range requests[next%len(requests)] {
				if tm.events > 0 {
					b.WriteByte(',')
				}
				k := bytes.Index(line, []byte(`"auditID":"`))
				tm.offsets = append(tm.offsets, b.Len()+k+len(`"auditID":"`))
				for _, field := range timeFields {
					if k := bytes.Index(line, field); k >= 0 {
						v := line[k+len(field):]
						if end := bytes.IndexByte(v, '"'); end == len("2006-01-02T15:04:05.000000Z") {
							tm.times = append(tm.times, b.Len()+k+len(field))
						}
					}
				}
				b.Write(line)
				tm.events++
			}
			next++
		}
		b.WriteString("]}")
		tm.body = b.Bytes()
		out = append(out, tm)
	}
	return out, nil
}

// memory returns a process's resident memory and its peak (VmRSS, VmHWM).
func memory(pid int) (rss, hwm int64) {
	if pid <= 0 {
		return 0, 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// cpuPids names the processes whose CPU time the result reports.
var cpuPids map[string]int

// usage is what the result reports of a process: its user+system CPU time
// and its minor page faults so far.
type usage struct {
	cpu         time.Duration
	minorFaults int64
}

// usageOf reads a process's usage from /proc/PID/stat; zero when unknown.
func usageOf(pid int) usage {
	if pid <= 0 {
		return usage{}
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return usage{}
	}
	return parseStat(string(b))
}

// parseStat reads minflt, utime and stime (fields 10, 14 and 15 of
// proc(5)) from the text of /proc/PID/stat. Fields are counted after the
// command's closing parenthesis, since the command may hold spaces.
func parseStat(s string) usage {
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return usage{}
	}
	minflt, _ := strconv.ParseInt(f[7], 10, 64)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return usage{cpu: time.Duration(ut+st) * time.Second / 100, minorFaults: minflt} // USER_HZ
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/redact"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/store/clickhouse"
)

// replayFlagKeys maps replay's flags to configuration keys.
var replayFlagKeys = map[string]string{
	"format":  "format",
	"strict":  "strict",
	"fail-on": "fail_on",
	"rules":   "rules.dir",
	"gap":     "incident.gap",
	"store":   "store.dsn",
	"workers": "workers",
}

func newReplayCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay [flags] PATH...",
		Short: "Run audit log files through the rules and report findings and incidents",
		Long: `Replay reads audit.k8s.io/v1 events from files of JSON lines (--audit-log-format=json),
from files holding an EventList or Event document (a webhook body), gzip or not, from
directories (their files in name order) and from standard input ("-"), and reports the
findings of the rules and the incidents they form.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("replay needs at least one PATH (a file, a directory, or - for standard input)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.configure(cmd, replayFlagKeys); err != nil {
				return err
			}
			if err := checkStoreFlag(cmd); err != nil {
				return err
			}
			return a.replay(cmd.Context(), args)
		},
	}
	f := cmd.Flags()
	f.String("format", "text", "output format: text (for a person) or json (JSON lines)")
	f.Bool("strict", false, "stop at the first bad line")
	f.String("fail-on", "", "exit 3 when a finding at or above this severity exists (info, low, medium, high, critical)")
	f.String("rules", "", "directory of rule files adding to, overriding or disabling built-in rules")
	f.Duration("gap", incident.DefaultGap, "longest quiet time inside one incident")
	f.String("store", "", "store DSN (clickhouse://host:9000/db); the password belongs in KAUDIT_STORE_DSN or the config file")
	f.Int("workers", 0, "decoding goroutines (default: one per core)")
	return cmd
}

// options are replay's settings, checked.
type replayOptions struct {
	format string
	strict bool
	failOn string
}

func (a *app) replayOptions() (replayOptions, error) {
	o := replayOptions{format: a.v.GetString("format"), strict: a.v.GetBool("strict"), failOn: a.v.GetString("fail_on")}
	if o.format == "" {
		o.format = "text"
	}
	if o.format != "text" && o.format != "json" {
		return o, usageError("--format %q: want text or json", o.format)
	}
	if o.failOn != "" && detect.SeverityRank(o.failOn) == 0 {
		return o, usageError("--fail-on %q: want info, low, medium, high or critical", o.failOn)
	}
	return o, nil
}

// newRedactor builds the redaction stage from redact.key, or a random
// per-run key with a warning.
func (a *app) newRedactor() (*redact.Redactor, error) {
	key := a.v.GetString("redact.key")
	if key == "" {
		fmt.Fprintln(a.stderr, "kaudit: warning: redact.key (KAUDIT_REDACT_KEY) is not set; secrets are hashed with a random per-run key, so hashes match only within this run")
		return redact.NewRandom(), nil
	}
	return redact.New([]byte(key))
}

// newPipeline builds the shared pipeline from configuration.
func (a *app) newPipeline(sinks ...pipeline.Sink) (*pipeline.Pipeline, error) {
	r, err := a.newRedactor()
	if err != nil {
		return nil, usageError("%v", err)
	}
	set, err := rules.Load(a.v.GetString("rules.dir"))
	if err != nil {
		return nil, usageError("%v", err)
	}
	eng, err := detect.NewEngine(set)
	if err != nil {
		return nil, usageError("%v", err)
	}
	gap := a.v.GetDuration("incident.gap")
	return pipeline.New(r, eng, incident.New(gap), sinks...), nil
}

// errStrict stops reading at the first bad line under --strict.
var errStrict = errors.New("bad line under --strict")

func (a *app) replay(ctx context.Context, paths []string) error {
	opts, err := a.replayOptions()
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	sinks, closeSinks, err := a.replaySinks(ctx)
	if err != nil {
		return err
	}
	p, err := a.newPipeline(sinks...)
	if err != nil {
		closeSinks()
		return err
	}
	readErrs := a.readInputs(ctx, p, paths, opts.strict)
	if err := closeSinks(); err != nil {
		readErrs = append(readErrs, err)
	}
	if errors.Is(errors.Join(readErrs...), errStrict) {
		return &exitError{code: exitInput, err: errors.New("stopped at the first bad line (--strict)")}
	}
	findings := p.Findings()
	incidents := p.Incidents()
	if err := a.persistIncidents(ctx, incidents); err != nil {
		readErrs = append(readErrs, err)
	}
	stats := p.Stats(len(incidents))
	var werr error
	if opts.format == "json" {
		werr = writeJSON(a.stdout, findings, incidents, stats)
	} else {
		werr = writeText(a.stdout, findings, incidents, stats)
	}
	if werr != nil {
		return &exitError{code: exitInput, err: fmt.Errorf("write output: %w", werr)}
	}
	if len(readErrs) > 0 {
		return &exitError{code: exitInput, err: errors.Join(readErrs...)}
	}
	if opts.failOn != "" {
		for _, f := range findings {
			if detect.SeverityRank(f.Severity) >= detect.SeverityRank(opts.failOn) {
				return &exitError{code: exitSeverity, err: fmt.Errorf("findings at or above %s", opts.failOn)}
			}
		}
	}
	return nil
}

// readInputs reads every input through p, reporting bad lines on stderr as
// FILE:LINE: reason. It returns one error per input that could not be read.
func (a *app) readInputs(ctx context.Context, p *pipeline.Pipeline, paths []string, strict bool) []error {
	var errs []error
	var inputs []string
	for _, path := range paths {
		ex, err := ingest.Expand([]string{path})
		if err != nil {
			fmt.Fprintln(a.stderr, "kaudit:", err)
			errs = append(errs, err)
			continue
		}
		inputs = append(inputs, ex...)
	}
	progress := newProgress(a.stderr)
	reader := &ingest.FileReader{Prepare: p.Prepare, Stdin: a.stdin, Workers: a.v.GetInt("workers"), Progress: progress.update}
	for _, in := range inputs {
		progress.start(in)
		err := reader.ReadPath(ctx, in, func(b ingest.Batch) error {
			for _, bad := range b.Bad {
				fmt.Fprintln(a.stderr, bad.Error())
				if strict {
					b.Bad = b.Bad[:1]
					b.Records = nil
					_, _ = p.Process(ctx, b)
					return errStrict
				}
			}
			if _, err := p.Process(ctx, b); err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				fmt.Fprintln(a.stderr, "kaudit:", err)
			}
			return nil
		})
		progress.done()
		if errors.Is(err, errStrict) {
			return append(errs, err)
		}
		if err != nil {
			fmt.Fprintln(a.stderr, "kaudit:", err)
			errs = append(errs, err)
			continue
		}
		p.AddInputs(1)
	}
	return errs
}

// replaySinks opens the sinks replay writes to besides its report: the
// store when --store (store.dsn) is set.
// Writes are asynchronous (buffered into large batches while reading goes
// on); the returned func flushes them and reports a batch that could not be
// stored. The store stays open for persistIncidents, which closes it.
func (a *app) replaySinks(ctx context.Context) ([]pipeline.Sink, func() error, error) {
	if a.v.GetString(keyStoreDSN) == "" {
		return nil, func() error { return nil }, nil
	}
	s, err := a.openStore(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	replayStores.Store(a, s)
	return []pipeline.Sink{s}, func() error { return s.Flush(context.WithoutCancel(ctx)) }, nil
}

// persistIncidents writes the incidents to the store when one is open, and
// closes it.
func (a *app) persistIncidents(ctx context.Context, incs []incident.Incident) error {
	v, ok := replayStores.LoadAndDelete(a)
	if !ok {
		return nil
	}
	s := v.(*clickhouse.Store)
	err := s.WriteIncidents(context.WithoutCancel(ctx), incs)
	if cerr := s.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// progress prints a progress line on stderr while large inputs are read,
// only when stderr is a terminal.
type progress struct {
	w       io.Writer
	on      bool
	mu      sync.Mutex
	name    string
	size    int64
	last    time.Time
	printed bool
}

const progressMinBytes = 64 << 20

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	on := false
	if ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	return &progress{w: w, on: on}
}

func (p *progress) start(name string) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name, p.size, p.printed = name, -1, false
	if st, err := os.Stat(name); err == nil {
		p.size = st.Size()
	}
}

func (p *progress) update(_ string, read int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if (p.size >= 0 && p.size < progressMinBytes) || time.Since(p.last) < 500*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.printed = true
	if p.size > 0 {
		fmt.Fprintf(p.w, "\r%s: %d%% (%d MiB)", p.name, read*100/p.size, read>>20)
	} else {
		fmt.Fprintf(p.w, "\r%s: %d MiB", p.name, read>>20)
	}
}

func (p *progress) done() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.printed {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", 60)+"\r")
	}
}

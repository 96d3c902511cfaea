package main

import (
	"bytes"
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
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/memory"
)

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
			if err := a.configure(cmd); err != nil {
				return err
			}
			return a.replay(cmd.Context(), args)
		},
	}
	f := cmd.Flags()
	f.StringP("format", "o", "text", "output format: text (for a person, 120 columns), wide (nothing cut) or json (JSON lines)")
	f.Bool("strict", false, "stop at the first bad line")
	f.String("fail-on", "", "exit 3 when a finding at or above this severity exists (info, low, medium, high, critical)")
	f.String("store", "", "store DSN (clickhouse://host:9000/db); the password belongs in KAUDIT_STORE_DSN or the config file")
	f.StringSlice("baseline", nil, "earlier logs of the same cluster (files, directories) or a snapshot written by kaudit baseline build: findings of routine requests are kept at info")
	f.Bool("all", false, "text output: also list info findings (routine requests, changes graded down); JSON output always has them")
	f.Bool("notify", false, "send the incidents found to the receivers of notify.receivers (--config) before exiting")
	addPipelineFlags(cmd)
	return cmd
}

// addPipelineFlags adds the flags that shape how inputs are judged.
func addPipelineFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("rules", "", "directory of rule files adding to, overriding or disabling built-in rules")
	f.Duration("gap", incident.DefaultGap, "longest quiet time inside one incident")
	f.Int("workers", 0, "decoding goroutines (default: one per core)")
}

func (a *app) replay(ctx context.Context, paths []string) error {
	format, failOn, notifyOn, err := a.replayFlags()
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	replayGC()

	// With --store, events are written asynchronously in large batches
	// while reading goes on; closing the store flushes them.
	var st *clickhouse.Store
	var w store.Writer
	if a.v.GetString(keyStoreDSN) != "" {
		if st, err = a.openStore(ctx, true); err != nil {
			return err
		}
		w = st
	}
	j, err := a.judgeFiles(ctx, paths, a.v.GetBool(keyStrict), w)
	var notifyErr error
	// Like the report, notifications go out only for a run that read every input.
	if err == nil && notifyOn && len(j.errs) == 0 {
		var ob store.Outbox = memory.New()
		if st != nil {
			ob = st
		}
		notifyErr = a.replayNotify(ctx, j, ob)
	}
	if st != nil {
		if cerr := st.Close(); cerr != nil {
			j.errs = append(j.errs, cerr)
		}
	}
	if err != nil {
		return err
	}
	if errors.Is(errors.Join(j.errs...), errStrict) {
		return inputError(errors.New("stopped at the first bad line (--strict)"))
	}
	// An input that could not be read, or is no audit log, fails the run
	// before anything is written: a partial report would pass for a whole.
	if len(j.errs) > 0 {
		return inputErrors(j.errs)
	}
	if err := a.writeReport(format, j, newLocator(paths, j.inputs)); err != nil {
		return inputError(fmt.Errorf("write output: %w", err))
	}
	if notifyErr != nil {
		return notifyErr
	}
	return failOnSeverity(j.pipeline.Findings(), failOn)
}

// replayFlags checks replay's output format, --fail-on severity and
// --notify (which needs receivers) before anything is read.
func (a *app) replayFlags() (format, failOn string, notifyOn bool, err error) {
	if format, err = a.outputFormat("text", "wide", "json"); err != nil {
		return "", "", false, err
	}
	if failOn = a.v.GetString(keyFailOn); failOn != "" {
		if failOn, err = parseSeverity("fail-on", failOn); err != nil {
			return "", "", false, err
		}
	}
	if notifyOn = a.v.GetBool(keyReplayNotify); notifyOn {
		nc, err := a.notifyConfig()
		if err != nil {
			return "", "", false, err
		}
		if nc == nil {
			return "", "", false, usageError("--notify needs receivers: set %s in the --config file", keyNotifyReceivers)
		}
	}
	return format, failOn, notifyOn, nil
}

// writeReport writes replay's findings, incidents and summary.
func (a *app) writeReport(format string, j *judged, loc *locator) error {
	findings := j.pipeline.Findings()
	stats := j.pipeline.Stats(len(j.incidents))
	if format == "json" {
		return writeJSON(a.stdout, findings, j.incidents, stats)
	}
	var buf bytes.Buffer
	v := a.newTextView(format, loc)
	v.all = a.v.GetBool(keyAll)
	v.writeText(&buf, findings, j.incidents, stats)
	return a.show(buf.Bytes())
}

// failOnSeverity is --fail-on: exit 3 when a finding at or above sev exists.
func failOnSeverity(findings []detect.Finding, sev string) error {
	if sev == "" {
		return nil
	}
	for _, f := range findings {
		if rulefile.SeverityRank(f.Severity) >= rulefile.SeverityRank(sev) {
			return &exitError{code: exitSeverity, err: fmt.Errorf("findings at or above %s", sev)}
		}
	}
	return nil
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

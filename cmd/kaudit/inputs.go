package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/pipeline"
)

// errStrict stops reading at the first bad line under --strict.
var errStrict = errors.New("bad line under --strict")

// heldBadLines is how many bad lines of an input are held back until the
// input shows an audit event: a file that is no audit log at all gets one
// line saying so, not a line per line of it.
const heldBadLines = 20

// tally counts what one input file held.
type tally struct {
	name    string
	events  int
	items   int // events and bad lines or documents
	allJSON bool
	held    []string
	dropped int    // bad lines beyond the held ones
	first   string // the first bad line's reason
}

// argument is one PATH of the command line and the files it stands for.
type argument struct {
	path  string
	dir   bool
	files []string
}

// expandArgs checks every argument before anything is read: a missing
// one is reported once, by its path, and nothing runs.
func expandArgs(paths []string) ([]argument, []error) {
	var args []argument
	var errs []error
	for _, p := range paths {
		ex, err := ingest.Expand([]string{p})
		if err != nil {
			errs = append(errs, inputError(fmt.Errorf("%s: %v", p, rootCause(err))))
			continue
		}
		st, _ := os.Stat(p)
		args = append(args, argument{path: p, dir: st != nil && st.IsDir(), files: ex})
	}
	return args, errs
}

// rootCause is what went wrong without the paths wrapped around it: "no
// such file or directory".
func rootCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readInputs reads every input into acc (which judges and stores),
// reporting bad lines on stderr as FILE:LINE: reason. It returns one error
// per argument that could not be read or holds no audit event, and the
// files read. An argument with no audit event in it is an error (exit 2):
// "x.json: 0 audit events in 1 JSON document: not an audit log"; an empty
// one a warning (an error under --strict).
func (a *app) readInputs(ctx context.Context, p *pipeline.Pipeline, acc ingest.Acceptor, paths []string, strict bool) ([]error, []string) {
	args, errs := expandArgs(paths)
	if len(errs) > 0 {
		return errs, nil
	}
	var files []string
	progress := newProgress(a.stderr)
	for _, arg := range args {
		var tallies []*tally
		for _, in := range arg.files {
			files = append(files, in)
			t := &tally{name: in, allJSON: true}
			tallies = append(tallies, t)
			reader := &ingest.FileReader{Prepare: p.Prepare, Stdin: a.stdin, Workers: a.v.GetInt(keyWorkers), Progress: progress.update}
			progress.start(in)
			err := reader.ReadPath(ctx, in, func(b ingest.Batch) error { return a.accept(ctx, acc, b, strict, t) })
			progress.done()
			if errors.Is(err, errStrict) {
				return append(errs, err), files
			}
			if err != nil {
				errs = append(errs, inputError(fmt.Errorf("%s: %v", in, rootCause(err))))
				continue
			}
			p.AddInputs(1)
		}
		errs = append(errs, a.judgeArgument(arg, tallies, strict)...)
	}
	return errs, files
}

// judgeArgument says what an argument held: nothing (a warning, an error
// under --strict), no audit event (an error), or files without one among
// files with some (a warning each).
func (a *app) judgeArgument(arg argument, ts []*tally, strict bool) []error {
	events, items := 0, 0
	for _, t := range ts {
		events += t.events
		items += t.items
	}
	name := arg.path
	if name == "-" {
		name = "stdin"
	}
	switch {
	case events == 0 && items == 0:
		what := "empty"
		if arg.dir {
			what = fmt.Sprintf("%d files, all empty", len(ts))
			if len(ts) == 0 {
				what = "no files"
			}
		}
		if strict {
			return []error{inputError(fmt.Errorf("%s: %s: no audit events (--strict)", name, what))}
		}
		fmt.Fprintf(a.stderr, "kaudit: warning: %s: %s: no audit events\n", name, what)
	case events == 0:
		return []error{usageError("%s: %s", name, notAuditLog(arg, ts))}
	default:
		for _, t := range ts {
			if t.events == 0 && t.items > 0 {
				fmt.Fprintf(a.stderr, "kaudit: warning: skipped %s: %s\n", t.name, notAuditLog(argument{path: t.name}, []*tally{t}))
			}
		}
	}
	return nil
}

// notAuditLog says why an input is no audit log: "0 audit events in 1
// JSON document: not an audit log (x.json:1: missing auditID)", or "0
// audit events in 2 files, not JSON: not an audit log (…)".
func notAuditLog(arg argument, ts []*tally) string {
	items, allJSON, first := 0, true, ""
	for _, t := range ts {
		items += t.items
		allJSON = allJSON && t.allJSON
		if first == "" {
			first = t.first
		}
	}
	msg := "0 audit events"
	switch {
	case allJSON:
		msg += " in " + plural(items, "JSON document", "JSON documents")
		if arg.dir {
			msg += " of " + plural(len(ts), "file", "files")
		}
	case arg.dir:
		msg += " in " + plural(len(ts), "file", "files") + ", not JSON"
	default:
		msg += ", not JSON"
	}
	msg += ": not an audit log"
	if first != "" {
		msg += " (" + fieldText(first) + ")"
	}
	return msg
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// accept counts a batch into its input's tally, reports its bad lines
// (held back while the input has shown no audit event) and hands it to
// acc. Under --strict the first bad line is counted and stops the run.
func (a *app) accept(ctx context.Context, acc ingest.Acceptor, b ingest.Batch, strict bool, t *tally) error {
	t.events += len(b.Records)
	t.items += len(b.Records) + len(b.Bad)
	for _, bad := range b.Bad {
		if t.first == "" {
			t.first = bad.Error()
		}
		if strings.HasPrefix(bad.Reason, "malformed JSON") || strings.HasPrefix(bad.Reason, "line longer") {
			t.allJSON = false
		}
		if strict {
			fmt.Fprintln(a.stderr, fieldText(bad.Error()))
			_ = acc.Accept(ctx, ingest.Batch{Bad: b.Bad[:1]})
			return errStrict
		}
	}
	a.reportBad(t, b.Bad)
	if err := acc.Accept(ctx, b); err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		fmt.Fprintln(a.stderr, "kaudit:", err)
	}
	return nil
}

// reportBad writes bad lines on stderr once their input has shown an
// audit event; until then it holds up to heldBadLines of them.
func (a *app) reportBad(t *tally, bad []ingest.BadInput) {
	if t.events == 0 {
		for _, b := range bad {
			if len(t.held) < heldBadLines {
				t.held = append(t.held, b.Error())
			} else {
				t.dropped++
			}
		}
		return
	}
	for _, line := range t.held {
		fmt.Fprintln(a.stderr, fieldText(line))
	}
	if t.dropped > 0 {
		fmt.Fprintf(a.stderr, "kaudit: %s: %d more bad lines before its first audit event\n", fieldText(t.name), t.dropped)
	}
	t.held, t.dropped = nil, 0
	for _, b := range bad {
		fmt.Fprintln(a.stderr, fieldText(b.Error()))
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/detect/baseline"
	"github.com/kaudit/kaudit/ingest"
)

func newBaselineCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Learn what each identity of a cluster normally does, from its earlier audit logs",
	}
	build := &cobra.Command{
		Use:   "build -o FILE PATH...",
		Short: "Write a baseline snapshot learned from audit log files, for replay --baseline FILE",
		Long: `build reads audit logs of a cluster (files, directories, - for standard input, the same
inputs as replay) and writes what each identity did, from which networks, with which clients,
as a compact snapshot. kaudit replay --baseline FILE downgrades to info (never drops) the
findings of requests that are routine for their actor, and reads what is new against it.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("baseline build needs at least one PATH")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.configure(cmd); err != nil {
				return err
			}
			out, _ := cmd.Flags().GetString("output")
			if out == "" {
				return usageError("baseline build: -o FILE is required")
			}
			b, err := a.learnBaseline(cmd.Context(), args)
			if err != nil {
				return err
			}
			if err := b.WriteFile(out); err != nil {
				return inputError(err)
			}
			fmt.Fprintf(a.stderr, "kaudit: baseline of %d requests by %d identities, %s to %s, written to %s\n",
				b.Events, len(b.Identities), b.Since.Format("2006-01-02T15:04:05Z"), b.Until.Format("2006-01-02T15:04:05Z"), out)
			return nil
		},
	}
	build.Flags().StringP("output", "o", "", "snapshot file to write")
	build.Flags().Int("workers", 0, "decoding goroutines (default: one per core)")
	cmd.AddCommand(build)
	return cmd
}

// loadBaseline reads --baseline: snapshots written by `baseline build`, or
// audit logs learned on the spot (the same inputs as replay), merged. nil
// when none is given.
func (a *app) loadBaseline(ctx context.Context) (*baseline.Baseline, error) {
	paths := a.v.GetStringSlice(keyBaseline)
	if len(paths) == 0 {
		return nil, nil
	}
	var logs []string
	var snap *baseline.Baseline
	for _, p := range paths {
		if !baseline.IsSnapshot(p) {
			logs = append(logs, p)
			continue
		}
		if snap != nil {
			return nil, usageError("--baseline: one snapshot at most (%s)", p)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, inputError(fmt.Errorf("--baseline: %w", err))
		}
		snap, err = baseline.Read(f)
		f.Close()
		if err != nil {
			return nil, inputError(fmt.Errorf("--baseline %s: %w", p, err))
		}
	}
	if len(logs) == 0 {
		return snap, nil
	}
	if snap != nil {
		return nil, usageError("--baseline: give a snapshot or logs, not both")
	}
	return a.learnBaseline(ctx, logs)
}

// learnBaseline learns a baseline from audit logs. Bad lines are reported
// and skipped, as replay does; an input that cannot be read is an error.
func (a *app) learnBaseline(ctx context.Context, paths []string) (*baseline.Baseline, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	b := baseline.New()
	if n := a.v.GetInt(keyBaselineMinCount); n > 0 {
		b.MinCount = n
	}
	inputs, err := ingest.Expand(paths)
	if err != nil {
		return nil, inputError(fmt.Errorf("baseline: %w", err))
	}
	reader := &ingest.FileReader{Stdin: a.stdin, Workers: a.v.GetInt(keyWorkers)}
	var errs []error
	for _, in := range inputs {
		err := reader.ReadPath(ctx, in, func(batch ingest.Batch) error {
			for _, bad := range batch.Bad {
				fmt.Fprintln(a.stderr, bad.Error())
			}
			for _, r := range batch.Records {
				b.LearnEvent(r.Event)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, inputError(fmt.Errorf("baseline: %w", errors.Join(errs...)))
	}
	return b, nil
}

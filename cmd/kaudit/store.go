package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/memory"
)

// Configuration keys of the store, besides store.dsn (KAUDIT_STORE_DSN).
const (
	keyStoreDSN        = "store.dsn"
	keyRetentionDays   = "store.retention_days"
	keyStoreBatchRows  = "store.batch_rows"
	keyStoreBatchBytes = "store.batch_bytes"
	keyStoreBatchAge   = "store.batch_age"
	keyStoreRetryFor   = "store.retry_for"
)

// checkStoreFlag refuses a --store DSN that carries a password: the command
// line is visible to every user of the machine (ps, /proc) and stays in
// shell history.
func checkStoreFlag(cmd *cobra.Command) error {
	fl := cmd.Flags().Lookup("store")
	if fl == nil || !fl.Changed {
		return nil
	}
	if clickhouse.HasPassword(fl.Value.String()) {
		return usageError("--store: refusing a DSN with a password on the command line, where other users can read it; put the DSN in the environment variable KAUDIT_STORE_DSN or in store.dsn of the --config file")
	}
	return nil
}

// storeConfig reads the ClickHouse settings from configuration.
func (a *app) storeConfig(async bool) clickhouse.Config {
	v := a.v
	return clickhouse.Config{
		DSN:           v.GetString(keyStoreDSN),
		RetentionDays: v.GetInt(keyRetentionDays),
		BatchRows:     v.GetInt(keyStoreBatchRows),
		BatchBytes:    v.GetInt(keyStoreBatchBytes),
		BatchAge:      v.GetDuration(keyStoreBatchAge),
		RetryFor:      v.GetDuration(keyStoreRetryFor),
		Async:         async,
		Logf:          func(format string, args ...any) { fmt.Fprintf(a.stderr, "kaudit: "+format+"\n", args...) },
	}
}

// openStore opens the ClickHouse store of store.dsn, migrating its schema.
func (a *app) openStore(ctx context.Context, async bool) (*clickhouse.Store, error) {
	s, err := clickhouse.Open(ctx, a.storeConfig(async))
	if err != nil {
		return nil, &exitError{code: exitInput, err: err}
	}
	return s, nil
}

// loadFiles reads log files through the pipeline (redaction, detection,
// correlation, exactly as replay does) into an in-memory store, with the
// incidents they form. Bad lines are reported on stderr and skipped; an
// input that cannot be read is an error.
func (a *app) loadFiles(ctx context.Context, paths []string) (store.Store, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	mem := memory.New()
	p, err := a.newPipeline(mem)
	if err != nil {
		return nil, err
	}
	if errs := a.readInputs(ctx, p, paths, false); len(errs) > 0 {
		return nil, &exitError{code: exitInput, err: errors.Join(errs...)}
	}
	if err := mem.WriteIncidents(ctx, p.Incidents()); err != nil {
		return nil, err
	}
	return mem, nil
}

// queryStore is the store a query command reads: the files given as
// arguments (through the in-memory store), else the ClickHouse store of
// --store / store.dsn.
func (a *app) queryStore(ctx context.Context, paths []string) (store.Store, error) {
	if len(paths) > 0 {
		return a.loadFiles(ctx, paths)
	}
	if a.v.GetString(keyStoreDSN) == "" {
		return nil, usageError("give log files (PATH...) or a store (--store DSN, KAUDIT_STORE_DSN, store.dsn)")
	}
	return a.openStore(ctx, false)
}

// replayStores remembers the store replay opened, between replaySinks
// (which opens it) and persistIncidents (which writes the incidents and
// closes it), without widening the app struct every command shares.
var replayStores sync.Map // *app -> *clickhouse.Store

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/memory"
)

// replayBatchAge is store.batch_age for replay --store when unset. Live
// ingest sends a batch 200 ms old so that queries see it soon; replay
// reads as fast as it can and nobody queries until it ends, and at 200 ms
// its batches were a few thousand events each: small parts, which
// ClickHouse spends its time merging. Batches then fill to
// store.batch_bytes: 0.21 -> 0.26-0.29 of ClickHouse's raw load
// (store/clickhouse/bench.sh write).
const replayBatchAge = 10 * time.Second

// storeConfig reads the ClickHouse settings from configuration, checked:
// a DSN that cannot name a server, or a limit that is not a number, is a
// usage error naming its key. async buffers writes into large batches
// (replay --store); Close flushes them.
func (a *app) storeConfig(async bool) (clickhouse.Config, error) {
	v := a.v
	cfg := clickhouse.Config{
		DSN:              v.GetString(keyStoreDSN),
		Cluster:          v.GetString(keyStoreCluster),
		RetentionDays:    v.GetInt(keyRetentionDays),
		BatchRows:        v.GetInt(keyStoreBatchRows),
		BatchBytes:       v.GetInt(keyStoreBatchBytes),
		BatchAge:         v.GetDuration(keyStoreBatchAge),
		RetryFor:         v.GetDuration(keyStoreRetryFor),
		QueryMaxTime:     v.GetDuration(keyStoreQueryMaxTime),
		QueryMaxRowsRead: v.GetInt64(keyStoreQueryMaxRows),
		Async:            async,
		Logf:             func(format string, args ...any) { fmt.Fprintf(a.stderr, "kaudit: "+format+"\n", args...) },
	}
	if async && cfg.BatchAge == 0 {
		cfg.BatchAge = replayBatchAge
	}
	if err := clickhouse.CheckDSN(cfg.DSN); err != nil {
		return cfg, usageError("%s: %v", keyStoreDSN, err)
	}
	var err error
	if cfg.QueryMaxMemory, err = byteSize(v.GetString(keyStoreQueryMaxMemory), keyStoreQueryMaxMemory); err != nil {
		return cfg, err
	}
	if cfg.QueryMaxTime < 0 || cfg.QueryMaxRowsRead < 0 {
		return cfg, usageError("%s and %s must not be negative", keyStoreQueryMaxTime, keyStoreQueryMaxRows)
	}
	return cfg, nil
}

// openStore opens the ClickHouse store of store.dsn, migrating its schema.
func (a *app) openStore(ctx context.Context, async bool) (*clickhouse.Store, error) {
	cfg, err := a.storeConfig(async)
	if err != nil {
		return nil, err
	}
	s, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		return nil, inputError(err)
	}
	return s, nil
}

// queryStore is the store a query command reads: the files given as
// arguments, judged into the in-memory store as replay judges them, else
// the ClickHouse store of --store / store.dsn. It returns the files read
// (none for a store).
func (a *app) queryStore(ctx context.Context, paths []string) (store.Store, []string, error) {
	if len(paths) == 0 {
		if a.v.GetString(keyStoreDSN) == "" {
			return nil, nil, usageError("give log files (PATH...) or a store (--store DSN, KAUDIT_STORE_DSN, store.dsn)")
		}
		st, err := a.openStore(ctx, false)
		if err != nil {
			return nil, nil, err
		}
		return st, nil, nil
	}
	mem := memory.New()
	j, err := a.judgeFiles(ctx, paths, false, mem)
	if err != nil {
		return nil, nil, err
	}
	if len(j.errs) > 0 {
		return nil, nil, inputErrors(j.errs)
	}
	return mem, j.inputs, nil
}

// inputErrors joins the errors of a run's inputs into one: exit 2 when an
// input was wrong (no audit log in it), else 1 (one could not be read).
func inputErrors(errs []error) error {
	code := exitInput
	for _, err := range errs {
		var ee *exitError
		if errors.As(err, &ee) && ee.code == exitUsage {
			code = exitUsage
		}
	}
	return &exitError{code: code, err: errors.Join(errs...)}
}

// dataName is what an empty answer says the data is: the log files given,
// or the store.
func dataName(paths []string) string {
	if len(paths) == 0 {
		return "the store"
	}
	return "the log"
}

package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/kaudit/kaudit/store"
)

// Limits of one analyst query, sent with it as ClickHouse settings
// (max_memory_usage, max_execution_time, max_rows_to_read: all three exist
// from 18.16.1 to current releases). Without them one unfiltered timeline
// page at a deep offset took 4.4 GB of ClickHouse's memory, and eight at
// once got it OOM-killed. A query past a limit fails with
// store.ErrQueryLimit instead, and the analyst narrows it. Writes are not
// limited: they are kaudit's own, batched and bounded.
const (
	DefaultQueryMaxMemory   = 1 << 30
	DefaultQueryMaxTime     = 60 * time.Second
	DefaultQueryMaxRowsRead = 200_000_000
)

// querySettings are the settings every analyst query carries (the driver
// sends int and string values only).
func (c *Config) querySettings() ch.Settings {
	return ch.Settings{
		"max_memory_usage":   int(c.QueryMaxMemory),
		"max_execution_time": max(int(c.QueryMaxTime/time.Second), 1),
		"max_rows_to_read":   int(c.QueryMaxRowsRead),
	}
}

// limited returns ctx carrying the analyst-query limits.
func (s *Store) limited(ctx context.Context) context.Context {
	return ch.Context(ctx, ch.WithSettings(s.settings))
}

// ClickHouse's codes for a query stopped by a limit: MEMORY_LIMIT_EXCEEDED,
// TOO_MANY_ROWS, TIMEOUT_EXCEEDED, TOO_SLOW, TOO_MANY_BYTES,
// TOO_MANY_ROWS_OR_BYTES.
var limitCodes = map[int32]bool{241: true, 158: true, 159: true, 160: true, 307: true, 396: true}

// queryError wraps a query's error with what it was, as store.ErrQueryLimit
// when a limit stopped it.
func queryError(what string, err error) error {
	var ex *ch.Exception
	if errors.As(err, &ex) && limitCodes[ex.Code] {
		return fmt.Errorf("%s: %w (ClickHouse: %s)", what, store.ErrQueryLimit, ex.Message)
	}
	return fmt.Errorf("%s: %w", what, err)
}

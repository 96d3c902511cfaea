package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// retentionEvery is how often a long-running kaudit drops expired days.
const retentionEvery = time.Hour

// ApplyRetention drops, from every table, the daily partitions older than
// RetentionDays before now: whole days go at once, without rewriting data
// (ClickHouse 18.16.1 has no TTL); on a cluster, from every replica of
// every shard (ON CLUSTER). It returns the dropped partitions as
// "table/YYYYMMDD". Two processes doing it at once is harmless: dropping a
// partition that is already gone is not an error.
func (s *Store) ApplyRetention(ctx context.Context, now time.Time) ([]string, error) {
	if s.cfg.RetentionDays <= 0 {
		return nil, nil
	}
	cutoff := now.UTC().AddDate(0, 0, -s.cfg.RetentionDays)
	// Keep the cutoff's own day: a partition goes only when all of it is
	// older than RetentionDays.
	oldest, _ := strconv.Atoi(cutoff.Format("20060102"))
	var dropped []string
	for _, table := range retainedTables {
		parts, err := s.partitions(ctx, table)
		if err != nil {
			return dropped, err
		}
		for _, p := range parts {
			day, err := strconv.Atoi(p)
			if err != nil || day >= oldest {
				continue
			}
			if err := s.dropPartition(ctx, table, day); err != nil {
				return dropped, fmt.Errorf("retention: drop %s partition %d: %w", table, day, err)
			}
			dropped = append(dropped, fmt.Sprintf("%s/%d", table, day))
		}
	}
	return dropped, nil
}

// partitions lists a table's partitions that hold data.
func (s *Store) partitions(ctx context.Context, table string) ([]string, error) {
	q, args := s.partitionsQuery(table)
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("retention: list partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("retention: list partitions of %s: %w", table, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *Store) retentionLoop() {
	defer s.bgDone.Done()
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if dropped, err := s.ApplyRetention(ctx, time.Now()); err != nil {
				s.cfg.Logf("%v", err)
			} else if len(dropped) > 0 {
				s.cfg.Logf("retention: dropped %v", dropped)
			}
			cancel()
		}
	}
}

package clickhouse

import (
	"context"
	"fmt"
	"time"
)

// Migrate brings the schema up to date: it runs every migration not yet
// recorded in schema_migrations, then records it. Statements are
// idempotent, so two processes migrating at once, or a migration that
// stopped half-way, are harmless: the work is done again and recorded once
// (the table collapses duplicate records).
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.execSchema(ctx, migrationsTable); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied, err := s.AppliedMigrations(ctx)
	if err != nil {
		return err
	}
	done := map[int]bool{}
	for _, v := range applied {
		done[v] = true
	}
	for _, m := range migrations {
		if done[m.version] {
			continue
		}
		for _, stmt := range m.statements {
			if err := s.execSchema(ctx, stmt); err != nil {
				return fmt.Errorf("migrate: version %d (%s): %w", m.version, m.name, err)
			}
		}
		// A batch insert, not INSERT ... VALUES through Exec: on 18.16.1
		// the latter waits for a data block that never comes.
		cols := []any{[]uint32{uint32(m.version)}, []string{m.name}, []time.Time{time.Now().Truncate(time.Second)}}
		if err := s.insertColumns(ctx, "schema_migrations", "version, name, applied", cols); err != nil {
			return fmt.Errorf("migrate: record version %d: %w", m.version, err)
		}
	}
	return nil
}

// execIdempotent runs an idempotent statement, again after a failure: two
// processes creating the same table at the same instant can both pass the
// IF NOT EXISTS check, and the loser's error means the table now exists,
// which the next try sees.
func (s *Store) execIdempotent(ctx context.Context, stmt string) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.conn.Exec(ctx, stmt); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
	return err
}

// AppliedMigrations lists the recorded migration versions, ascending, each
// once.
func (s *Store) AppliedMigrations(ctx context.Context) ([]int, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		out = append(out, int(v))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return out, nil
}

// LatestMigration is the version the schema reaches after Migrate.
func LatestMigration() int { return migrations[len(migrations)-1].version }

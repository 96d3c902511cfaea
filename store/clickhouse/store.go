// Package clickhouse is kaudit's production store: every audit event (all
// stages, redacted, as lossless JSON), every finding and every incident in
// ClickHouse, written in batches and read back by the analyst's queries
// (timelines by actor, object, source IP and time; incidents).
//
// It runs on the ClickHouse these machines can install (Debian's 18.16.1)
// and on current releases alike; see schema.go for what that rules out.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/kaudit/kaudit/store"
)

// Config configures a Store. Zero values take the defaults below.
type Config struct {
	// DSN is clickhouse://[user[:password]@]host:port/database[?options]
	// (clickhouse-go's form; host:port,host:port,… for several nodes of a
	// cluster, tried in order). The database is created when missing.
	DSN string
	// Cluster, when set, names the ClickHouse cluster (remote_servers) the
	// store lives on: tables are Replicated on every shard behind
	// Distributed ones, migrations and retention run ON CLUSTER, inserts
	// are synchronous on every shard (see cluster.go).
	Cluster string
	// RetentionDays drops daily partitions older than that many days, at
	// Open and then hourly; 0 keeps everything.
	RetentionDays int
	// BatchRows and BatchBytes seal a batch once it holds that many event
	// rows or bytes of event JSON; BatchAge sends a batch at most that long
	// after its first row arrived, however small.
	BatchRows  int
	BatchBytes int
	BatchAge   time.Duration
	// RetryFor is how long a failed batch is retried, with exponential
	// backoff from RetryMin up to RetryMax, before Write gives up and
	// returns the error (so that its caller can spool or refuse).
	RetryFor time.Duration
	RetryMin time.Duration
	RetryMax time.Duration
	// MaxQueued bounds the sealed batches waiting to be sent; writers
	// block beyond it (backpressure instead of unbounded memory).
	MaxQueued int
	// Async makes Write return once the rows are buffered; errors of
	// batches that failed for good are returned by a later Write, by
	// Flush and by Close. Replay uses it; the webhook and Kafka, which
	// acknowledge only what is durable, do not.
	Async bool
	// Logf reports retries; nil discards.
	Logf func(format string, args ...any)
	// QueryMaxMemory, QueryMaxTime and QueryMaxRowsRead limit each
	// analyst query (limits.go; store.query_max_memory_bytes,
	// store.query_max_time, store.query_max_rows_read).
	QueryMaxMemory   int64
	QueryMaxTime     time.Duration
	QueryMaxRowsRead int64
}

// Defaults for Config's zero values.
const (
	// A batch becomes one part per table (the driver streams it in blocks
	// of insertBlockRows, the server squashes them): about 50,000 events
	// (64 MB of JSON) make parts large enough that merging them costs
	// the server little, at a bounded memory cost (MaxQueued+2 batches).
	DefaultBatchRows  = 100000
	DefaultBatchBytes = 64 << 20
	DefaultBatchAge   = 200 * time.Millisecond
	DefaultRetryFor   = 2 * time.Minute
	DefaultRetryMin   = 100 * time.Millisecond
	DefaultRetryMax   = 5 * time.Second
	DefaultMaxQueued  = 2
)

func (c *Config) setDefaults() {
	if c.BatchRows <= 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.BatchAge <= 0 {
		c.BatchAge = DefaultBatchAge
	}
	if c.RetryFor <= 0 {
		c.RetryFor = DefaultRetryFor
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = DefaultMaxQueued
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.QueryMaxMemory <= 0 {
		c.QueryMaxMemory = DefaultQueryMaxMemory
	}
	if c.QueryMaxTime <= 0 {
		c.QueryMaxTime = DefaultQueryMaxTime
	}
	if c.QueryMaxRowsRead <= 0 {
		c.QueryMaxRowsRead = DefaultQueryMaxRowsRead
	}
}

// Store is a store.Store on ClickHouse. It is safe for concurrent use.
type Store struct {
	cfg      Config
	settings ch.Settings // of every analyst query
	conn     driver.Conn
	db       string
	w        *writer

	stop     chan struct{}
	bgDone   sync.WaitGroup
	closeErr error
	once     sync.Once
}

var _ store.Store = (*Store)(nil)

// HasPassword reports whether a DSN carries a password, in its user info
// or as a password= option. The CLI refuses such a DSN on the command line,
// where other users can read it in the process list and shell history.
func HasPassword(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil {
		return strings.Contains(dsn, "@") || strings.Contains(strings.ToLower(dsn), "password=")
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			return true
		}
	}
	return u.Query().Has("password")
}

// CheckDSN reports what keeps a DSN from naming a server kaudit can dial:
// a malformed URL, or an address without a host or a port from 1 to 65535.
// serve checks it at start, since it then opens the store in the
// background and would otherwise spool forever against an address that
// cannot exist. A password in the DSN never shows in the error.
func CheckDSN(dsn string) error {
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		return redactDSNError(err, dsn)
	}
	if len(opts.Addr) == 0 {
		return errors.New("no host:port in the DSN")
	}
	for _, addr := range opts.Addr {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("address %q: %w", addr, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return fmt.Errorf("address %q: want host:port with a port from 1 to 65535", addr)
		}
	}
	return nil
}

// Open connects, creates the database when missing, runs the migrations and
// applies retention. The returned store must be closed.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.setDefaults()
	opts, err := ch.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("store DSN: %w", redactDSNError(err, cfg.DSN))
	}
	if cfg.Cluster != "" {
		if err := setClusterOptions(cfg.Cluster, opts); err != nil {
			return nil, err
		}
	}
	db := opts.Auth.Database
	if db == "" {
		db = "default"
	}
	if db != "default" {
		if err := createDatabase(ctx, *opts, db, cfg.Cluster); err != nil {
			return nil, err
		}
	}
	opts.Auth.Database = db
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to ClickHouse: %w", err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to ClickHouse at %s: %w", strings.Join(opts.Addr, ","), err)
	}
	s := &Store{cfg: cfg, settings: cfg.querySettings(), conn: conn, db: db, stop: make(chan struct{})}
	if cfg.Cluster != "" {
		s.conn = failoverConn{conn}
		if err := s.checkCluster(ctx); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if err := s.Migrate(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if cfg.RetentionDays > 0 {
		if err := s.firstRetention(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		s.bgDone.Add(1)
		go s.retentionLoop()
	}
	s.w = newWriter(s)
	return s, nil
}

// createDatabase connects without a database (the server refuses a session
// in a database that does not exist) and creates it, on every node of a
// cluster unless the node it reached has it already.
func createDatabase(ctx context.Context, opts ch.Options, db, cluster string) error {
	opts.Auth.Database = ""
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	conn, err := ch.Open(&opts)
	if err != nil {
		return fmt.Errorf("connect to ClickHouse: %w", err)
	}
	defer conn.Close()
	if cluster != "" {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", db).Scan(&n); err != nil {
			return fmt.Errorf("connect to ClickHouse: %w", err)
		}
		if n > 0 {
			return nil
		}
		ctx = ddlContext(ctx)
	}
	if err := conn.Exec(ctx, createDatabaseStmt(db, cluster)); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// quoteIdent quotes a database name for DDL, which takes no bound
// parameters.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "`", "\\`") + "`"
}

// redactDSNError keeps a password in a malformed DSN out of error messages.
func redactDSNError(err error, dsn string) error {
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			return errors.New(strings.ReplaceAll(err.Error(), p, "xxxxx"))
		}
	}
	return err
}

// Flush sends everything buffered and waits until it is stored (or failed
// for good).
func (s *Store) Flush(ctx context.Context) error { return s.w.flush(ctx) }

// Close flushes pending writes, stops retention and closes the connection.
// It returns the error of any batch that could not be stored.
func (s *Store) Close() error {
	s.once.Do(func() {
		err := s.w.close()
		close(s.stop)
		s.bgDone.Wait()
		if cerr := s.conn.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close ClickHouse connection: %w", cerr)
		}
		s.closeErr = err
	})
	return s.closeErr
}

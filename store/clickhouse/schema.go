package clickhouse

// Times are DateTime('UTC'), so that daily partitions are UTC days (the
// days retention counts) whatever the server's time zone. A time outside
// the range every supported version partitions (1970 to 2105) is clamped to its nearest end in ts and
// the partition (datetime.go); time_us and the JSON keep it exact.
//
// The schema runs unchanged on ClickHouse 18.16.1 (Debian's package) and on
// current releases: no DateTime64, Map, JSON, Bool, LowCardinality, TTL or
// CODEC; times are a DateTime (seconds, for partitions) plus Int64 unix
// microseconds (for order and exact windows). Every statement is idempotent
// (IF NOT EXISTS), so two kaudit processes migrating at once both succeed.

// migration is one versioned step of the schema. Its statements must be
// safe to run again: a migration interrupted half-way, or run by two
// processes at once, is simply run again.
type migration struct {
	version    int
	name       string
	statements []string
}

// migrationsTable records applied migrations. ReplacingMergeTree keyed by
// version collapses the duplicate rows two concurrent migrators write.
const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version UInt32,
	name String,
	applied DateTime
) ENGINE = ReplacingMergeTree(applied)
ORDER BY version`

var migrations = []migration{
	{version: 1, name: "events, findings, incidents", statements: []string{
		// events: every stage of every request, with the redacted event as
		// JSON (lossless) beside the columns queries filter on.
		//
		// ORDER BY (user, time_us, audit_id, stage) serves the analyst's
		// first query, one actor's timeline: the rows of one user are
		// contiguous and already in time order, so the primary index reads
		// only that actor's granules. audit_id and stage end the key
		// because an event's identity is (audit_id, stage); user and
		// time_us are functions of the audit id (every stage of a request
		// has the same user and requestReceivedTimestamp), so duplicates of
		// one stage share the whole key and ReplacingMergeTree collapses
		// them, keeping the highest version (the latest write).
		//
		// PARTITION BY toYYYYMMDD(ts) serves time windows (a partition
		// outside the window is never opened; its min/max index prunes it)
		// and retention (store.retention_days drops whole days with ALTER
		// TABLE ... DROP PARTITION, which works on every version, unlike
		// TTL). Duplicates share ts, so they share a partition and still
		// collapse.
		//
		// One object's history and one source IP's requests filter on
		// resource/namespace/name and source_ips inside the partitions of
		// the window: narrow columns, read without the event JSON.
		//
		// index_granularity 1024 (not 8192): an actor's requests are spread
		// over every part of the window, a few dozen rows per part; a
		// smaller granule reads 8 times fewer rows around them, for a
		// primary index of one key per 1024 rows (about 100 MB of memory
		// per billion events).
		//
		// version is (stage rank << 56 | write time in microseconds):
		// queries take argMax(column, version) per audit id, which picks
		// the most telling stage of a request (Panic, ResponseComplete,
		// ResponseStarted, RequestReceived) and, among duplicates not yet
		// merged, the latest write, so every query shows each request once
		// before merges as after.
		`CREATE TABLE IF NOT EXISTS events (
	ts DateTime('UTC'),
	time_us Int64,
	audit_id String,
	stage String,
	user String,
	groups Array(String),
	impersonated_user String,
	source_ips Array(String),
	user_agent String,
	verb String,
	api_group String,
	resource String,
	subresource String,
	namespace String,
	name String,
	code Int32,
	request_uri String,
	decision String,
	location String,
	event String,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (user, time_us, audit_id, stage)
SETTINGS index_granularity = 1024`,
		// findings: one row per (rule, stage, request). ORDER BY starts
		// with audit_id because findings are read by the audit ids an
		// incident lists (its detail view). Partitioned by day like events,
		// for retention.
		`CREATE TABLE IF NOT EXISTS findings (
	ts DateTime('UTC'),
	time_us Int64,
	audit_id String,
	stage String,
	rule String,
	severity String,
	actor String,
	finding String,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (audit_id, rule, stage)`,
		// incidents: one row per version of an incident (replay and the
		// live correlator rewrite an incident as it grows). ORDER BY id so
		// versions of one incident collapse; queries take the latest with
		// argMax(incident, version). Partitioned by the day the incident
		// started, for retention.
		`CREATE TABLE IF NOT EXISTS incidents (
	start DateTime('UTC'),
	id String,
	severity String,
	actors Array(String),
	incident String,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(start)
ORDER BY id`,
	}},
	{version: 2, name: "events by impersonated user", statements: []string{
		// events_impersonated: the requests made as another user (kubectl
		// --as), without their JSON. An actor's timeline matches the user
		// or the impersonated user; a single OR over both columns cannot
		// use the events key (it would scan every row), so the timeline
		// reads events by user and this table by impersonated user, each
		// through its primary index, and merges them. Impersonation is
		// rare, so the table is small.
		`CREATE TABLE IF NOT EXISTS events_impersonated (
	ts DateTime('UTC'),
	time_us Int64,
	audit_id String,
	stage String,
	user String,
	groups Array(String),
	impersonated_user String,
	source_ips Array(String),
	user_agent String,
	verb String,
	api_group String,
	resource String,
	subresource String,
	namespace String,
	name String,
	code Int32,
	request_uri String,
	decision String,
	location String,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (impersonated_user, time_us, audit_id, stage)
SETTINGS index_granularity = 1024`,
	}},
	{version: 3, name: "events by object and by source, event index", statements: []string{
		// events_by_object: every request without its JSON, ordered for one
		// object's history (resource, then namespace and name, in time
		// order): "who touched kube-system/coredns?" reads only that
		// object's granules instead of every row of the window.
		//
		// It and events_by_source carry every column but the JSON, which
		// costs ClickHouse about a fifth of its insert and merge work
		// (BenchmarkCopyInsertCost). Holding only the key and where each
		// request is in events (user, time_us) would leave a page's
		// filters and columns to a second read of events; 18.16.1 does
		// not use events' key for a tuple IN, so that read scans every
		// row: 0.56 s against 13 ms for a page's first step on 10 million
		// events (BenchmarkCopyQueries, object/object_keys-then-events).
		`CREATE TABLE IF NOT EXISTS events_by_object (
	ts DateTime('UTC'),
	time_us Int64,
	audit_id String,
	stage String,
	user String,
	groups Array(String),
	impersonated_user String,
	source_ips Array(String),
	user_agent String,
	verb String,
	api_group String,
	resource String,
	subresource String,
	namespace String,
	name String,
	code Int32,
	request_uri String,
	decision String,
	location String,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (resource, namespace, name, time_us, audit_id, stage)
SETTINGS index_granularity = 1024`,
		// events_by_source: the same, one row per address of a request's
		// source_ips (the X-Forwarded-For chain and the peer), ordered for
		// one source's requests: "what else came from 203.0.113.7?".
		`CREATE TABLE IF NOT EXISTS events_by_source (
	source_ip String,
	ts DateTime('UTC'),
	time_us Int64,
	audit_id String,
	stage String,
	user String,
	groups Array(String),
	impersonated_user String,
	source_ips Array(String),
	user_agent String,
	verb String,
	api_group String,
	resource String,
	subresource String,
	namespace String,
	name String,
	code Int32,
	request_uri String,
	decision String,
	location String,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (source_ip, time_us, audit_id, stage)
SETTINGS index_granularity = 1024`,
		// event_index: where a request's rows are in events. Opening one
		// event by audit id (the UI's event view, timeline --audit-id)
		// finds (user, time_us) here through this table's key, then reads
		// events through its own key, instead of scanning every audit id.
		`CREATE TABLE IF NOT EXISTS event_index (
	ts DateTime('UTC'),
	time_us Int64,
	audit_id String,
	stage String,
	user String,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (audit_id, stage)
SETTINGS index_granularity = 1024`,
	}},
	{version: 4, name: "notification outbox and lease", statements: []string{
		// notifications: the outbox of live/notify, one row per version of
		// a delivery (a notification for one receiver). ORDER BY
		// (receiver, id) so that the versions of one delivery collapse;
		// version is (state rank << 56 | write time in microseconds), so
		// the kept version is the one furthest along (sent beats pending
		// whatever the clocks say), then the latest. Reads take
		// argMax(column, version). Partitioned by the day the notification
		// was decided (created never changes between versions), for
		// retention.
		`CREATE TABLE IF NOT EXISTS notifications (
	created DateTime('UTC'),
	created_us Int64,
	receiver String,
	id String,
	incident_id String,
	seq UInt32,
	state String,
	attempts UInt32,
	next_us Int64,
	last_error String,
	notification String,
	updated_us Int64,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(created)
ORDER BY (receiver, id)`,
		// notify_lease: who delivers notifications when several kaudit
		// processes share the store. A row per renewal; the latest version
		// (write time in microseconds) is the current holder.
		`CREATE TABLE IF NOT EXISTS notify_lease (
	name String,
	holder String,
	expires_us Int64,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY name`,
	}},
	{version: 5, name: "copies of events filled by the server", statements: []string{
		// The four copies of events are filled by ClickHouse from each
		// INSERT into events (a materialized view runs its SELECT over the
		// inserted block, not over the table), instead of kaudit sending the
		// same rows four more times: kaudit appends and encodes every
		// column once, and the server reads one block off the wire instead
		// of five. On one server an INSERT whose views fail part-way is
		// retried whole, and ReplacingMergeTree collapses the rows written
		// twice, as it does for kaudit's own retries.
		//
		// A cluster has no views (clusterStatements gives them no cluster
		// form) and kaudit inserts the copies itself: a Replicated table
		// drops a retried block it already holds, and ClickHouse then
		// skips its views too (by default), so a retry after a view failed
		// would leave the copies without those rows; and each copy is
		// sharded by its own key, which a view on a shard's events could
		// reach only through a second, nested Distributed insert.
		`CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_object_fill TO events_by_object AS
SELECT ` + narrowColumns + ` FROM events`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS event_index_fill TO event_index AS
SELECT ` + indexColumns + ` FROM events`,
		// One row per address of source_ips (ARRAY JOIN drops a request
		// without one); with the alias, source_ips is still the whole array.
		// The subquery leaves the JSON out before the ARRAY JOIN: joined
		// over the whole block, 18.16 copied every event's JSON once per
		// address, and the views cost ClickHouse 15% more than kaudit's
		// own inserts of the copies had (BenchmarkWriteRows). The
		// impersonated copy filters the same narrow block.
		`CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_source_fill TO events_by_source AS
SELECT source_ip, ` + narrowColumns + ` FROM (SELECT ` + narrowColumns + ` FROM events) ARRAY JOIN source_ips AS source_ip`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS events_impersonated_fill TO events_impersonated AS
SELECT ` + narrowColumns + ` FROM (SELECT ` + narrowColumns + ` FROM events) WHERE impersonated_user != ''`,
	}},
	{version: 6, name: "events_by_source filled without ARRAY JOIN for a request's first address", statements: []string{
		// The ARRAY JOIN of events_by_source_fill copied every narrow
		// column of the block once per address (ColumnString::replicate),
		// although nearly every request has exactly one: perf on the
		// server put a quarter of its CPU during kaudit's inserts in that
		// copy and the page faults of its fresh buffers. A request's first
		// address is now read in place (source_ips[1]), and a filter that
		// keeps every row copies nothing; only the few requests with more
		// addresses are joined, over their second address on. The new
		// views are created before the old one is dropped, so that no
		// insert meanwhile misses its rows: one that runs under both
		// writes some twice, which ReplacingMergeTree collapses.
		`CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_source_first_fill TO events_by_source AS
SELECT source_ips[1] AS source_ip, ` + narrowColumns + ` FROM (SELECT ` + narrowColumns + ` FROM events) WHERE notEmpty(source_ips)`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_source_rest_fill TO events_by_source AS
SELECT source_ip, ` + narrowColumns + ` FROM (SELECT ` + narrowColumns + ` FROM events WHERE length(source_ips) > 1) ARRAY JOIN arraySlice(source_ips, 2) AS source_ip`,
		`DROP TABLE IF EXISTS events_by_source_fill`,
	}},
}

// viewSuffix ends the name of every materialized view of the schema: a
// cluster has none (clusterStatements), so a migration dropping one is
// nothing there either.
const viewSuffix = "_fill"

// retainedTables are the tables whose daily partitions retention drops.
var retainedTables = []string{"events", "events_impersonated", "events_by_object", "events_by_source", "event_index", "findings", "incidents", "notifications"}

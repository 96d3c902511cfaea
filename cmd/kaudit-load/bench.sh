#!/usr/bin/env bash
# The webhook throughput benchmark: a private ClickHouse, `kaudit serve` on
# it, and kaudit-load posting batches of 400 real apiserver events from many
# senders at once (a fleet of apiservers). Prints progress every 10 s with
# kaudit's resident memory, then a RESULT line: events/s, answers, p50/p99
# acknowledgement latency, kaudit's RSS (peak, and its range after the
# first minute), kaudit's and ClickHouse's CPU and page faults per event,
# ClickHouse's peak RSS, the load average. ClickHouse runs with the allocator
# settings of deploy/README.md; CLICKHOUSE_MALLOC_CONF= (empty) runs it with
# jemalloc's defaults instead, KAUDIT_SPOOL_FLUSH_BYTES=28Mi (any kaudit
# setting) changes kaudit's.
#   cmd/kaudit-load/bench.sh [--rev REV] [--profile] [DURATION] [SENDERS]   (defaults: 5m, 32)
#     --rev REV   first runs the same benchmark on kaudit built from git
#                 revision REV (e.g. main), then on this tree, and prints
#                 both RESULT lines and a before/after table
#     --profile   takes a 30 s CPU profile of this tree's kaudit half-way
#                 (debug.pprof_listen), saves it in $LOGS and prints its top
#     --before-env NAME=VALUE   sets NAME for the --rev run only (repeatable):
#                 --before-env CLICKHOUSE_MALLOC_CONF= runs the earlier
#                 version on a ClickHouse with jemalloc's defaults
# The load's CPU figures (kaudit_cpu, clickhouse_cpu) cover the load only;
# the *_with_flushes ones count, per event stored, everything up to the end
# of the flushes that follow it: compare those when the spool may have
# taken on a backlog (the load outran ClickHouse).
#
# Issue 17's figures: cmd/kaudit-load/bench.sh --rev f4149eb --before-env CLICKHOUSE_MALLOC_CONF= 10m 32
set -euo pipefail
cd "$(dirname "$0")/../.."
REV=; PROFILE=; BEFORE_ENV=()
while [ $# -gt 0 ]; do
  case $1 in
    --rev) REV=$2; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    --before-env) BEFORE_ENV+=("$2"); shift 2 ;;
    *) break ;;
  esac
done
DURATION=${1:-5m}; SENDERS=${2:-32}
WORK=$(mktemp -d /tmp/kaudit-bench.XXXXXX)
. deploy/dev/clickhouse.sh
LOGS=${LOGS:-/tmp/kaudit-bench-logs}
mkdir -p "$LOGS"
KPID=
cleanup() {
  [ -n "${KPID:-}" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
  ch_stop
  rm -rf "$WORK"
  echo "logs in $LOGS"
}
trap cleanup EXIT

# One build at a time: the machine has two cores, shared.
mkdir -p "$WORK/cur" && go build -o "$WORK/cur/kaudit" ./cmd/kaudit
go build -o "$WORK/kaudit-load" ./cmd/kaudit-load
if [ -n "$REV" ]; then
  # An export of the revision, not a worktree: nothing is registered in
  # the repository.
  mkdir -p "$WORK/prev-src" "$WORK/prev" && git archive "$REV" | tar -x -C "$WORK/prev-src"
  (cd "$WORK/prev-src" && go build -o "$WORK/prev/kaudit" ./cmd/kaudit)
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/tls.key" -out "$WORK/tls.crt" \
  -days 1 -subj /CN=kaudit -addext subjectAltName=IP:127.0.0.1 2>/dev/null
TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
echo "$TOKEN" > "$WORK/webhook.tokens"; head -c 24 /dev/urandom | base64 > "$WORK/api.tokens"

# cpu_seconds PID: the user and system CPU the process has used.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }

# run LABEL BINDIR: one benchmark on a fresh ClickHouse and spool.
run() {
  local label=$1 bin=$2/kaudit pp=
  rm -rf "$WORK/ch" "$WORK/spool"
  ch_start "$WORK/ch"
  WH=$(free_port); API=$(free_port)
  [ -n "$PROFILE" ] && [ "$label" = new ] && pp=127.0.0.1:$(free_port)
  KAUDIT_DEBUG_PPROF_LISTEN=$pp KAUDIT_REDACT_KEY=bench KAUDIT_STORE_DSN="clickhouse://127.0.0.1:$CH_PORT/kaudit_bench" "$bin" serve \
    --webhook-listen "127.0.0.1:$WH" --api-listen "127.0.0.1:$API" \
    --webhook-tls-cert "$WORK/tls.crt" --webhook-tls-key "$WORK/tls.key" \
    --webhook-tokens-file "$WORK/webhook.tokens" --api-tokens-file "$WORK/api.tokens" \
    --spool-dir "$WORK/spool" 2> "$LOGS/kaudit-$label.log" &
  KPID=$!
  for _ in $(seq 60); do curl -skf "https://127.0.0.1:$API/readyz" >/dev/null && break; sleep 0.5; done
  # ClickHouse's CPU per event depends on the host's transparent huge
  # pages (deploy/README.md): say which mode the run had.
  echo "== $label: $("$bin" version 2>/dev/null | head -1); $(uptime); transparent huge pages: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)"
  local popts=()
  [ -n "$pp" ] && popts=(--profile-url "http://$pp/debug/pprof/profile" --profile-out "$LOGS/kaudit.cpu.pprof")
  KAUDIT_LOAD_TOKEN=$TOKEN "$WORK/kaudit-load" --url "https://127.0.0.1:$WH/audit/webhook" --senders "$SENDERS" \
    --duration "$DURATION" --pid "$KPID" --clickhouse-pid "$CH_PID" "${popts[@]}" | tee "$WORK/$label.out"
  if [ -n "$pp" ] && [ -s "$LOGS/kaudit.cpu.pprof" ]; then
    go tool pprof -top -nodecount=40 "$bin" "$LOGS/kaudit.cpu.pprof" 2>/dev/null > "$LOGS/kaudit.cpu.top" || true
    echo "CPU profile: $LOGS/kaudit.cpu.pprof (go tool pprof -http=: $bin $LOGS/kaudit.cpu.pprof); top in $LOGS/kaudit.cpu.top; heap at the end: $LOGS/kaudit.cpu.heap.pprof"
  fi
  # The write-ahead path flushes every few seconds: let the last flush land,
  # and the backlog the spool took on when the load outran ClickHouse.
  for _ in $(seq 600); do
    curl -sk "https://127.0.0.1:$API/metrics" | grep -q '^kaudit_spool_entries 0$' && break; sleep 0.5
  done
  # CPU per event stored, counting the flushes after the load: the load's
  # own figures leave out the writes of whatever the spool still held when
  # it ended. Both processes' CPU since they started (a second or two of
  # start-up), read from /proc.
  local m stored drained=no
  m=$(curl -sk "https://127.0.0.1:$API/metrics")
  grep -q '^kaudit_spool_entries 0$' <<<"$m" && drained=yes
  stored=$(sed -n 's/^kaudit_events_stored_total //p' <<<"$m")
  echo "$(grep '^RESULT ' "$WORK/$label.out" | tail -1) $(awk -v s="${stored:-0}" -v d="$drained" \
    -v k="$(cpu_seconds "$KPID")" -v c="$(cpu_seconds "$CH_PID")" 'BEGIN { if (s < 1) s = 1
      printf "events_stored=%d drained=%s kaudit_cpu_with_flushes=%.1fs (%.1fus/event) clickhouse_cpu_with_flushes=%.1fs (%.1fus/event)", s, d, k, k*1e6/s, c, c*1e6/s }')" |
    tee -a "$WORK/$label.out"
  echo "kaudit metrics:"
  curl -sk "https://127.0.0.1:$API/metrics" | grep -E '^kaudit_(events_(stored|spooled)_total|spool_entries|store_lag_seconds|correlator_[a-z]+|store_write_seconds_(sum|count)|webhook_rejected_total\{reason="(busy|spool_full|unavailable)"\})' || true
  echo "ClickHouse: rows (FINAL), active parts of events:"
  clickhouse-client --host 127.0.0.1 --port "$CH_PORT" --query "SELECT count() FROM kaudit_bench.events FINAL"
  clickhouse-client --host 127.0.0.1 --port "$CH_PORT" --query "SELECT count() FROM system.parts WHERE database = 'kaudit_bench' AND table = 'events' AND active"
  kill "$KPID"; wait "$KPID" 2>/dev/null || true; KPID=
  cp "$WORK/ch/server.err.log" "$LOGS/clickhouse-$label.err.log" 2>/dev/null || true
  ch_stop
}

if [ -n "$REV" ]; then
  # The earlier run's settings, undone before this tree's run.
  undo=()
  for kv in "${BEFORE_ENV[@]}"; do
    name=${kv%%=*}
    if [ -n "${!name+set}" ]; then undo+=("export $name=$(printf %q "${!name}")"); else undo+=("unset $name"); fi
    export "${kv?}"
  done
  run old "$WORK/prev"
  for u in "${undo[@]}"; do eval "$u"; done
fi
run new "$WORK/cur"
if [ -n "$PROFILE" ] && [ -f "$LOGS/kaudit.cpu.top" ]; then cat "$LOGS/kaudit.cpu.top"; fi
if [ -n "$REV" ]; then
  echo; echo "before ($REV) / after (this tree):"
  "$WORK/kaudit-load" --compare "$WORK/old.out" "$WORK/new.out"
fi

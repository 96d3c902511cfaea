#!/usr/bin/env bash
# The webhook throughput benchmark: a private ClickHouse, `kaudit serve` on
# it, and kaudit-load posting batches of 400 real apiserver events from many
# senders at once (a fleet of apiservers). Prints progress every 10 s with
# kaudit's resident memory, then a RESULT line.
#   cmd/kaudit-load/bench.sh [DURATION] [SENDERS]      (defaults: 5m, 32)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-5m}; SENDERS=${2:-32}
WORK=$(mktemp -d /tmp/kaudit-bench.XXXXXX)
. deploy/dev/clickhouse.sh
LOGS=${LOGS:-/tmp/kaudit-bench-logs}
cleanup() {
  [ -n "${KPID:-}" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
  ch_stop
  mkdir -p "$LOGS" && cp "$WORK/kaudit.log" "$WORK/ch/server.err.log" "$LOGS/" 2>/dev/null
  rm -rf "$WORK"
  echo "logs in $LOGS"
}
trap cleanup EXIT

go build -o "$WORK/kaudit" ./cmd/kaudit
go build -o "$WORK/kaudit-load" ./cmd/kaudit-load
ch_start "$WORK/ch"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/tls.key" -out "$WORK/tls.crt" \
  -days 1 -subj /CN=kaudit -addext subjectAltName=IP:127.0.0.1 2>/dev/null
TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
echo "$TOKEN" > "$WORK/webhook.tokens"; head -c 24 /dev/urandom | base64 > "$WORK/api.tokens"
WH=$(free_port); API=$(free_port)
KAUDIT_REDACT_KEY=bench KAUDIT_STORE_DSN="clickhouse://127.0.0.1:$CH_PORT/kaudit_bench" "$WORK/kaudit" serve \
  --webhook-listen "127.0.0.1:$WH" --api-listen "127.0.0.1:$API" \
  --webhook-tls-cert "$WORK/tls.crt" --webhook-tls-key "$WORK/tls.key" \
  --webhook-tokens-file "$WORK/webhook.tokens" --api-tokens-file "$WORK/api.tokens" \
  --spool-dir "$WORK/spool" 2> "$WORK/kaudit.log" &
KPID=$!
for _ in $(seq 60); do curl -skf "https://127.0.0.1:$API/readyz" >/dev/null && break; sleep 0.5; done
KAUDIT_LOAD_TOKEN=$TOKEN "$WORK/kaudit-load" --url "https://127.0.0.1:$WH/audit/webhook" --senders "$SENDERS" \
  --duration "$DURATION" --pid "$KPID" --clickhouse-pid "$CH_PID"
echo "kaudit metrics:"
curl -sk "https://127.0.0.1:$API/metrics" | grep -E '^kaudit_(events_(stored|spooled)_total|spool_entries|correlator_[a-z]+|store_write_seconds_(sum|count)|webhook_rejected_total\{reason="(busy|spool_full|unavailable)"\})'
echo "ClickHouse: rows (FINAL), active parts of events:"
clickhouse-client --host 127.0.0.1 --port "$CH_PORT" --query "SELECT count() FROM kaudit_bench.events FINAL"
clickhouse-client --host 127.0.0.1 --port "$CH_PORT" --query "SELECT count() FROM system.parts WHERE database = 'kaudit_bench' AND table = 'events' AND active"

#!/usr/bin/env bash
# End-to-end check with a real kube-apiserver: a private ClickHouse, `kaudit
# serve` on it (TLS, bearer token), the apiserver of ../shared/cluster/up.sh
# with its audit webhook pointed at kaudit, the benign then the attack
# scenario, and the mallory incident read back from kaudit's query API.
# It also compares the events the apiserver logged to disk with those
# kaudit stored: the webhook must not lose any. kaudit notifies a private
# Alertmanager (notify.receivers), and the script reports the delay from
# the attack step that opened the incident (its request on the apiserver)
# to the alert showing in Alertmanager's API (polled every 100 ms).
#
#   deploy/e2e-cluster.sh          (needs /tmp/k8sbin from ../shared/cluster/build.sh,
#                                   clickhouse-server, prometheus-alertmanager, etcd-server,
#                                   kubectl, openssl, jq)
# Exit status 0 when the incident arrived, was alerted, and no event was lost.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$REPO/../shared}
export BIN=${BIN:-/tmp/k8sbin}
export RUN=${RUN:-/tmp/kaudit-e2e-k8s}
WORK=$(mktemp -d /tmp/kaudit-e2e.XXXXXX)
. "$REPO/deploy/dev/clickhouse.sh"

for p in 6443 2379 2380; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "port $p is taken (another cluster running?): stop it first" >&2; exit 1
  fi
done
[ -x "$BIN/kube-apiserver" ] || { echo "$BIN/kube-apiserver missing: run $SHARED/cluster/build.sh" >&2; exit 1; }

cleanup() {
  "$SHARED/cluster/down.sh" >/dev/null 2>&1 || true
  if [ -n "${KPID:-}" ]; then kill -TERM "$KPID" 2>/dev/null; wait "$KPID" 2>/dev/null || true; fi
  if [ -n "${POLLPID:-}" ]; then kill "$POLLPID" 2>/dev/null || true; fi
  if [ -n "${AMPID:-}" ]; then kill -TERM "$AMPID" 2>/dev/null; wait "$AMPID" 2>/dev/null || true; fi
  ch_stop
  echo "logs kept in $WORK"
}
trap cleanup EXIT

echo "== building kaudit"
(cd "$REPO" && go build -o "$WORK/kaudit" ./cmd/kaudit)

echo "== starting ClickHouse"
ch_start "$WORK/clickhouse"

echo "== starting Alertmanager"
AM_PORT=$(free_port)
cat > "$WORK/alertmanager.yml" <<Y
route: {receiver: none, group_by: [incident_id], group_wait: 1s}
receivers: [{name: none}]
Y
prometheus-alertmanager --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/am" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= --log.level=warn > "$WORK/alertmanager.log" 2>&1 &
AMPID=$!
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$AM_PORT/-/ready" >/dev/null 2>&1 && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$AM_PORT/-/ready" >/dev/null || { cat "$WORK/alertmanager.log" >&2; exit 1; }

echo "== starting kaudit serve"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/tls.key" -out "$WORK/tls.crt" \
  -days 1 -subj /CN=kaudit -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
WEBHOOK_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
ANALYST_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
echo "$WEBHOOK_TOKEN" > "$WORK/webhook.tokens"
echo "$ANALYST_TOKEN" > "$WORK/api.tokens"
WH=$(free_port); API=$(free_port)
cat > "$WORK/kaudit.yaml" <<Y
webhook:
  listen: 127.0.0.1:$WH
  tls: {cert: $WORK/tls.crt, key: $WORK/tls.key}
  tokens_file: $WORK/webhook.tokens
api:
  listen: 127.0.0.1:$API
  tokens_file: $WORK/api.tokens
store:
  dsn: clickhouse://127.0.0.1:$CH_PORT/kaudit
spool:
  dir: $WORK/spool
  max_bytes: 1Gi
redact:
  key: e2e-redaction-key
notify:
  min_severity: medium
  external_url: https://127.0.0.1:$API/
  receivers:
    - {name: alertmanager, type: alertmanager, url: "http://127.0.0.1:$AM_PORT"}
Y
"$WORK/kaudit" serve --config "$WORK/kaudit.yaml" 2> "$WORK/kaudit.log" &
KPID=$!
for _ in $(seq 60); do curl -skf "https://127.0.0.1:$API/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -skf "https://127.0.0.1:$API/readyz" >/dev/null || { cat "$WORK/kaudit.log" >&2; exit 1; }

echo "== starting the cluster, audit webhook -> https://127.0.0.1:$WH/audit/webhook"
WEBHOOK_URL="https://127.0.0.1:$WH/audit/webhook" WEBHOOK_TOKEN="$WEBHOOK_TOKEN" "$SHARED/cluster/up.sh"

echo "== scenarios: benign, then attack-basic (Alertmanager polled every 100 ms meanwhile)"
"$SHARED/scenarios/benign.sh" > "$WORK/benign.out" 2>&1 || true
# The poller writes "<unix time> <incident_id>" when an incident's alert first shows.
( declare -A seen
  while :; do
    now=$(date +%s.%N)
    for id in $(curl -sf "http://127.0.0.1:$AM_PORT/api/v2/alerts?filter=alertname%3D%22KauditIncident%22" | jq -r '.[].labels.incident_id' 2>/dev/null); do
      [ -n "${seen[$id]:-}" ] && continue
      seen[$id]=1; echo "$now $id" >> "$WORK/alerts-seen"
    done
    sleep 0.1
  done ) &
POLLPID=$!
"$SHARED/scenarios/attack-basic.sh" > "$WORK/attack.out" 2>&1 || true

echo "== waiting for mallory's incident on the query API"
api() { curl -skf -H "Authorization: Bearer $ANALYST_TOKEN" "https://127.0.0.1:$API$1"; }
ID=""
for _ in $(seq 60); do
  ID=$(api /api/v1/incidents | jq -r '.incidents[] | select(.actors | index("mallory")) | .id' | head -1)
  [ -n "$ID" ] && break
  sleep 1
done
[ -n "$ID" ] || { echo "FAIL: no incident with mallory after 60 s" >&2; tail -20 "$WORK/kaudit.log" >&2; exit 1; }
api "/api/v1/incidents/$ID" > "$WORK/incident.json"
jq -r '.incident | "incident \(.id) [\(.severity)] \(.start) .. \(.end), \(.finding_count) findings\n  actors: \(.actors | join(", "))\n  tactics: \(.tactics | join(" > "))\n  \(.summary)"' "$WORK/incident.json"
jq -r '.incident.techniques[] | "  technique \(.id) \(.name) (\(.tactic)) first at \(.first_seen)"' "$WORK/incident.json"
echo "  timeline entries in the incident's span: $(jq '.timeline | length' "$WORK/incident.json")"
echo "== the alert in Alertmanager"
for _ in $(seq 60); do grep -q " $ID\$" "$WORK/alerts-seen" 2>/dev/null && break; sleep 1; done
SEEN=$(awk -v id="$ID" '$2 == id {print $1; exit}' "$WORK/alerts-seen" 2>/dev/null || true)
[ -n "$SEEN" ] || { echo "FAIL: no Alertmanager alert for incident $ID" >&2; tail -20 "$WORK/kaudit.log" >&2; exit 1; }
curl -sf "http://127.0.0.1:$AM_PORT/api/v2/alerts" | jq -c --arg id "$ID" '.[] | select(.labels.incident_id == $id) | {labels, startsAt, endsAt, state: .status.state}' | sed 's/^/  /'
# The step that opened the incident: its earliest finding at or above notify.min_severity.
STEP=$(jq -r '[.findings[] | select(.severity == "medium" or .severity == "high" or .severity == "critical")] | sort_by(.time) | .[0] | "\(.time) \(.rule)"' "$WORK/incident.json")
STEP_T=$(date -d "${STEP%% *}" +%s.%N)
echo "  opened by: $STEP"
echo "  alert first seen in Alertmanager: $(date -u -d "@$SEEN" +%Y-%m-%dT%H:%M:%S.%3NZ)"
awk -v a="$SEEN" -v b="$STEP_T" 'BEGIN { printf "  END-TO-END DELAY attack step -> alert in Alertmanager: %.2f s\n", a - b }'
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
curl -sk "https://127.0.0.1:$API/metrics" | grep -E '^kaudit_notify_(sent_total|failed_total|pending|delivery_seconds_(sum|count))' | sed 's/^/  /'
if [ "$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $WEBHOOK_TOKEN" "https://127.0.0.1:$API/api/v1/incidents")" != 401 ]; then
  echo "FAIL: the webhook token opened the query API" >&2; exit 1
fi

echo "== nothing lost: events the apiserver logged vs events kaudit stored"
# Stop the apiserver first (it flushes its webhook buffer on shutdown), so
# that both sides have seen the same events.
"$SHARED/cluster/down.sh"
sleep 2
LOGGED=$(jq -r '"\(.auditID)/\(.stage)"' "$RUN"/audit*.log | sort -u | wc -l)
STORED=$(clickhouse-client --host 127.0.0.1 --port "$CH_PORT" --query "SELECT uniqExact(audit_id, stage) FROM kaudit.events")
echo "  apiserver audit log: $LOGGED events; kaudit (ClickHouse): $STORED events"
curl -sk "https://127.0.0.1:$API/metrics" | grep -E '^kaudit_(events_stored_total|events_spooled_total|webhook_rejected_total\{reason="unauthenticated"\}|findings_total\{.*\} [1-9])' | sed 's/^/  /'
if [ "$STORED" -lt "$LOGGED" ]; then echo "FAIL: kaudit stored fewer events than the apiserver logged" >&2; exit 1; fi
echo "PASS"

#!/usr/bin/env bash
# Measures whole `kaudit replay` (every rule, JSON output) against jq with ONE
# filter over the same file: the bar an analyst has today. jq and kaudit run
# in turn, ROUNDS times each (default 3), and the ratio is taken between the
# best time of each: these machines are shared, and a run that another
# process slowed says nothing of either program. Each run also prints its CPU
# time (user + system) per event, which contention moves far less than the
# elapsed time, and the load average when it started.
#
# Usage: bash cmd/kaudit/bench_replay.sh [--rev REV] [COPIES]
#   COPIES      copies of the sample, each with audit ids of its own (default 200, ~226k events)
#   --rev REV   also runs the kaudit of git revision REV in each round, for a before/after
#   ROUNDS=N    rounds (default 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
REV=
if [ "${1:-}" = --rev ]; then REV=$2; shift 2; fi
copies=${1:-200}
rounds=${ROUNDS:-3}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/prev" 2>/dev/null || true; rm -rf "$work"' EXIT
command -v jq >/dev/null || { echo "jq is needed: apt-get install jq" >&2; exit 1; }
# Each copy gets audit ids of its own (the first 8 hex digits become the copy's
# number), so that copies are distinct requests, not redeliveries.
for i in $(seq "$copies"); do
  sed "s/\"auditID\":\"[0-9a-f]\{8\}/\"auditID\":\"$(printf %08x "$i")/" testdata/apiserver-1.36-basic-intrusion.log
done > "$work/big.log"
events=$(wc -l < "$work/big.log")
go build -o "$work/kaudit" ./cmd/kaudit
if [ -n "$REV" ]; then
  git worktree add -q "$work/prev" "$REV"
  (cd "$work/prev" && go build -o "$work/kaudit-old" ./cmd/kaudit)
fi
export KAUDIT_REDACT_KEY=bench
mkdir "$work/times"

# run LABEL CMD...: runs CMD once, prints its elapsed and CPU time, and adds
# the elapsed time to LABEL's list in $work/times/LABEL.
run() {
  local label=$1 load
  shift
  load=$(cut -d' ' -f1 /proc/loadavg)
  TIMEFORMAT='%R %U %S'
  { time "$@" > /dev/null 2> "$work/err"; } 2> "$work/time" || { cat "$work/err" >&2; exit 1; }
  read -r real user sys < "$work/time"
  echo "$real" >> "$work/times/$label"
  printf '  %-22s %6.2f s  %6.1f us CPU/event  load %s\n' "$label" "$real" \
    "$(echo "($user + $sys) * 1000000 / $events" | bc -l)" "$load"
}
best() { awk 'NR == 1 || $1 < m { m = $1 } END { print m }' "$work/times/$1"; }

printf 'events: %d (%s MB), cores: %s, %d rounds; %s\n' "$events" "$(( $(stat -c %s "$work/big.log") / 1000000 ))" \
  "$(nproc)" "$rounds" "$(uptime)"
for r in $(seq "$rounds"); do
  echo "round $r"
  run jq jq -c 'select(.objectRef.resource=="secrets")' "$work/big.log"
  [ -z "$REV" ] || run "kaudit-$REV" "$work/kaudit-old" replay --format json "$work/big.log"
  run kaudit "$work/kaudit" replay --format json "$work/big.log"
done
jq_best=$(best jq)
printf 'best of %d: jq (one filter) %.2f s, %.0f events/s\n' "$rounds" "$jq_best" "$(echo "$events / $jq_best" | bc -l)"
for label in ${REV:+"kaudit-$REV"} kaudit; do
  b=$(best "$label")
  printf 'best of %d: %-22s %.2f s, %.0f events/s; ratio to jq: %.2fx\n' "$rounds" "$label (all rules)" "$b" \
    "$(echo "$events / $b" | bc -l)" "$(echo "$jq_best / $b" | bc -l)"
done

#!/usr/bin/env bash
# Measures whole `kaudit replay` (every rule, JSON output) against jq with ONE
# filter over the same file, in the same run: the bar an analyst has today.
# Usage: bash cmd/kaudit/bench_replay.sh [COPIES]   (default 200 copies of the sample, ~226k events)
set -euo pipefail
cd "$(dirname "$0")/../.."
copies=${1:-200}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v jq >/dev/null || { echo "jq is needed: apt-get install jq" >&2; exit 1; }
# Each copy gets audit ids of its own (the first 8 hex digits become the copy's
# number), so that copies are distinct requests, not redeliveries.
for i in $(seq "$copies"); do
  sed "s/\"auditID\":\"[0-9a-f]\{8\}/\"auditID\":\"$(printf %08x "$i")/" testdata/apiserver-1.36-basic-intrusion.log
done > "$work/big.log"
events=$(wc -l < "$work/big.log")
go build -o "$work/kaudit" ./cmd/kaudit
export KAUDIT_REDACT_KEY=bench
secs() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
t_jq=$(secs jq -c 'select(.objectRef.resource=="secrets")' "$work/big.log")
t_k=$(secs "$work/kaudit" replay --format json "$work/big.log")
printf 'events: %d (%s MB), cores: %s\n' "$events" "$(( $(stat -c %s "$work/big.log") / 1000000 ))" "$(nproc)"
printf 'jq (one filter):        %8.2f s  %10.0f events/s\n' "$t_jq" "$(echo "$events / $t_jq" | bc -l)"
printf 'kaudit replay (all rules): %5.2f s  %10.0f events/s\n' "$t_k" "$(echo "$events / $t_k" | bc -l)"
printf 'ratio kaudit/jq: %.2fx\n' "$(echo "$t_jq / $t_k" | bc -l)"

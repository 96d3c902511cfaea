#!/usr/bin/env bash
# The per-operator noise table of issue 18: for each operator's service account in the scored window
# of the operators corpus, how many of its requests drew a finding at high or above, and at medium or
# above, judged without a baseline and with the history window as baseline.
#
#   testdata/scenarios/noise-table.sh [KAUDIT]     (KAUDIT: a kaudit binary; default: go run ./cmd/kaudit)
#
# Compare two versions by passing each one's binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
KAUDIT=${1:-}
run() { if [ -n "$KAUDIT" ]; then "$KAUDIT" "$@"; else go run ./cmd/kaudit "$@"; fi; }
T=testdata
scored=$T/apiserver-1.36-operators.log
export KAUDIT_REDACT_KEY=noise-table
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
run replay --format json "$scored" 2>/dev/null > "$tmp/none.json" || true
if run replay --help 2>/dev/null | grep -q -- --baseline; then
  run replay --format json --baseline $T/apiserver-1.36-operators-setup.log --baseline $T/apiserver-1.36-operators-history.log "$scored" 2>/dev/null > "$tmp/base.json" || true
else
  echo '{"type":"summary"}' > "$tmp/base.json"
fi
# Requests per operator (service accounts with pod-bound tokens), from the log itself.
jq -r 'select(.user.username|startswith("system:serviceaccount:")) | select(.user.extra["authentication.kubernetes.io/pod-name"]) |
  select(.stage=="ResponseComplete" or (.stage=="ResponseStarted" and .verb=="watch")) | [.user.username, .auditID] | @tsv' "$scored" |
  sort -u | awk -F'\t' '{n[$1]++} END {for (a in n) print a "\t" n[a]}' | sort > "$tmp/requests"
count() { # FILE MINRANK -> actor \t requests with a finding at or above
  jq -r --argjson min "$2" '
    def rank: {"info":1,"low":2,"medium":3,"high":4,"critical":5}[.];
    select(.type=="finding" and (.severity|rank) >= $min) | [(if (.impersonated_user // "") != "" then .impersonated_user else .user end), .audit_id] | @tsv' "$1" | sort -u | awk -F'\t' '{n[$1]++} END {for (a in n) print a "\t" n[a]}' | sort
}
count "$tmp/none.json" 4 > "$tmp/h0"; count "$tmp/none.json" 3 > "$tmp/m0"
count "$tmp/base.json" 4 > "$tmp/h1"; count "$tmp/base.json" 3 > "$tmp/m1"
get() { awk -F'\t' -v a="$1" '$1==a {print $2; f=1} END {if (!f) print 0}' "$2"; }
printf '%-62s %8s %14s %14s %16s %16s\n' OPERATOR REQUESTS "HIGH+ (none)" "MEDIUM+ (none)" "HIGH+ (history)" "MEDIUM+ (history)"
tr=0; th0=0; tm0=0; th1=0; tm1=0
while IFS=$'\t' read -r actor n; do
  h0=$(get "$actor" "$tmp/h0"); m0=$(get "$actor" "$tmp/m0"); h1=$(get "$actor" "$tmp/h1"); m1=$(get "$actor" "$tmp/m1")
  printf '%-62s %8d %14d %14d %16d %16d\n' "$actor" "$n" "$h0" "$m0" "$h1" "$m1"
  tr=$((tr+n)); th0=$((th0+h0)); tm0=$((tm0+m0)); th1=$((th1+h1)); tm1=$((tm1+m1))
done < "$tmp/requests"
printf '%-62s %8d %14d %14d %16d %16d\n' TOTAL "$tr" "$th0" "$tm0" "$th1" "$tm1"

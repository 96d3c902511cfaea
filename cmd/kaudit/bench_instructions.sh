#!/usr/bin/env bash
# Counts the instructions `kaudit replay` executes per event, under
# valgrind's callgrind: a count, not a time, so it is the same from run to
# run whatever else the machine is doing (these machines are shared and
# noisy, and their speed changes from one session to the next), and a
# change of 1% shows. Per event is the difference between two replays, of
# COPIES and of twice COPIES copies of the sample (distinct audit ids), over
# the events between them: start-up (compiling the rules, the decoders)
# cancels out, and is printed apart.
#
# Usage: bash cmd/kaudit/bench_instructions.sh [--rev REV] [COPIES]   (default 10 copies, ~11k events)
#   --rev REV   also counts the kaudit of git revision REV, and prints the ratio
#
# One core (GOMAXPROCS=1, --workers 1), no asynchronous preemption, which
# callgrind does not survive, and no garbage collection (GOGC=off): when
# the collector runs depends on how the goroutines interleaved, which
# moved the counts by 2-3% from run to run; without it two runs agree to
# 0.1%. What is counted is kaudit's own work, allocation included; the
# collector's marking, which allocation also costs, is not (go test
# -benchmem reports allocations). About a minute per revision.
set -euo pipefail
cd "$(dirname "$0")/../.."
REV=
if [ "${1:-}" = --rev ]; then REV=$2; shift 2; fi
copies=${1:-10}
command -v valgrind >/dev/null || {
  echo "installing valgrind from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/prev" 2>/dev/null || true; rm -rf "$work"' EXIT

# sample N: N copies of the sample, each with audit ids of its own.
sample() {
  for i in $(seq "$1"); do
    sed "s/\"auditID\":\"[0-9a-f]\{8\}/\"auditID\":\"$(printf %08x "$i")/" testdata/apiserver-1.36-basic-intrusion.log
  done
}
sample "$copies" > "$work/n.log"
sample $((2 * copies)) > "$work/2n.log"
events=$(($(wc -l < "$work/2n.log") - $(wc -l < "$work/n.log")))

go build -o "$work/cur" ./cmd/kaudit
if [ -n "$REV" ]; then
  git worktree add -q "$work/prev" "$REV"
  (cd "$work/prev" && go build -o "$work/old" ./cmd/kaudit)
fi

# instructions BIN LOG: what callgrind counted for one replay.
instructions() {
  KAUDIT_REDACT_KEY=bench GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 GOGC=off \
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" replay --workers 1 --format json "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# count LABEL BIN: prints per event and start-up, and sets PER.
count() {
  local n n2
  n=$(instructions "$2" "$work/n.log")
  n2=$(instructions "$2" "$work/2n.log")
  PER=$(( (n2 - n) / events ))
  printf '%-7s %9d instructions per event   start-up %6.0f M   (%d events: %d; %d events: %d)\n' \
    "$1" "$PER" "$(echo "($n - $PER * $(wc -l < "$work/n.log")) / 1000000" | bc -l)" \
    "$(wc -l < "$work/n.log")" "$n" "$(wc -l < "$work/2n.log")" "$n2"
}

echo "kaudit replay under callgrind, $copies and $((2 * copies)) copies of the sample; $(uptime)"
if [ -n "$REV" ]; then
  count "$REV" "$work/old"
  old=$PER
fi
count "this" "$work/cur"
if [ -n "$REV" ]; then
  printf 'ratio this/%s: %.3f\n' "$REV" "$(echo "$PER / $old" | bc -l)"
fi

#!/usr/bin/env bash
# Reproduces the store figures of issue 5, each against a private
# clickhouse-server started by the benchmark (Debian's 18.16.1 here):
#   write:    `kaudit replay --store` on the sample repeated 200 times (~225,800
#             events, fresh audit ids per copy) against
#             sed 's/\\/\\\\/g' FILE | clickhouse-client --query "INSERT INTO raw FORMAT TabSeparated"
#             into a one-String-column table, alternating in the same run;
#   timeline: analyst queries over 10 million events generated server-side
#             (INSERT ... SELECT FROM system.numbers), one actor's timeline first;
#   copies:   what each narrow copy of events costs ClickHouse at insert (CPU
#             per event, merge, disk) and buys at query time (the query on the
#             copy against the same query on events with PREWHERE), issue 17.
# Usage: bash store/clickhouse/bench.sh [write|timeline|copies|all]
# KAUDIT_BENCH_COPIES and KAUDIT_BENCH_EVENTS change the sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
echo "cores: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $what == write || $what == all ]]; then
  go test -run '^$' -bench ReplayStoreVsRawLoad -benchtime 3x -timeout 30m -v ./cmd/kaudit/ | grep -E 'Benchmark|events per run'
fi
if [[ $what == timeline || $what == all ]]; then
  go test -run '^$' -bench Timeline10M -benchtime 20x -timeout 60m -v ./store/clickhouse/ | grep -E 'Benchmark|generated|events:'
fi
if [[ $what == copies || $what == all ]]; then
  go test -run '^$' -bench 'CopyInsertCost|CopyQueries' -benchtime 5x -timeout 90m -v ./store/clickhouse/ | grep -E 'Benchmark|generated|events:|filling'
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

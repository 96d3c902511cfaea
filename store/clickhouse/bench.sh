#!/usr/bin/env bash
# Reproduces the store figures of issues 5, 14 and 17, each against private
# ClickHouse processes started by the benchmark (Debian's 18.16.1 here):
#   write:            `kaudit replay --store` on the sample repeated 200 times (~225,800
#                     events, fresh audit ids per copy) against
#                     sed 's/\\/\\\\/g' FILE | clickhouse-client --query "INSERT INTO raw FORMAT TabSeparated"
#                     into a one-String-column table, alternating in the same run;
#   timeline:         analyst queries over 10 million events generated server-side
#                     (INSERT ... SELECT FROM system.numbers), one actor's timeline first;
#   write-cluster:    `kaudit replay --store` of the same file into one server and into the
#                     test cluster (store.cluster: ZooKeeper, 2 shards x 2 replicas, four
#                     clickhouse-server on this machine), alternating in the same run;
#   timeline-cluster: the timeline queries over the same 10 million events, written
#                     through the cluster's Distributed tables and read through them;
#   copies:           what each narrow copy of events costs ClickHouse at insert (CPU
#                     per event, merge, disk) and buys at query time (the query on the
#                     copy against the same query on events with PREWHERE), issue 17.
# Usage: bash store/clickhouse/bench.sh [write|timeline|write-cluster|timeline-cluster|copies|all]
# KAUDIT_BENCH_COPIES and KAUDIT_BENCH_EVENTS change the sizes. The load average is
# printed before and after each: the machine is shared, report figures with it.
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
load() { echo "cores: $(nproc); $(uptime)"; }
if [[ $what == write || $what == all ]]; then
  load
  go test -run '^$' -bench 'ReplayStoreVsRawLoad$' -benchtime 3x -timeout 30m -v ./cmd/kaudit/ | grep -E 'Benchmark|events per run'
  load
fi
if [[ $what == timeline || $what == all ]]; then
  load
  go test -run '^$' -bench '^BenchmarkTimeline10M$' -benchtime 20x -timeout 60m -v ./store/clickhouse/ | grep -E 'Benchmark|generated|events:'
  load
fi
if [[ $what == write-cluster || $what == all ]]; then
  load
  go test -run '^$' -bench 'ReplayStoreClusterVsServer$' -benchtime 3x -timeout 30m -v ./cmd/kaudit/ | grep -E 'Benchmark|events per run|started'
  load
fi
if [[ $what == timeline-cluster || $what == all ]]; then
  load
  go test -run '^$' -bench '^BenchmarkClusterTimeline10M$' -benchtime 20x -timeout 60m -v ./store/clickhouse/ | grep -E 'Benchmark|generated|synchronised|events:|started'
  load
fi
if [[ $what == copies || $what == all ]]; then
  go test -run '^$' -bench 'CopyInsertCost|CopyQueries' -benchtime 5x -timeout 90m -v ./store/clickhouse/ | grep -E 'Benchmark|generated|events:|filling'
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

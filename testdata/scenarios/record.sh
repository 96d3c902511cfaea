#!/bin/bash
# Records the real fixtures of the rule tests: starts the shared cluster (../shared/cluster,
# binaries from build.sh in /tmp/k8sbin), runs the shared benign.sh and then this folder's
# scenarios, and keeps each one's slice of the apiserver's audit log (lines are written whole,
# in order; each slice also holds the cluster's own background traffic of that time):
#   testdata/apiserver-1.36-benign.log     ordinary life: benign.sh
#   testdata/apiserver-1.36-workloads.log  workloads.sh
#   testdata/apiserver-1.36-access.log     access.sh
# and gzip copies under rules/testdata/, which the rule tests embed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-/work/shared}
RUN=${RUN:-/tmp/k8srun}
export LIB=$SHARED/scenarios/lib.sh
bash "$SHARED/cluster/up.sh"
trap 'bash "$SHARED/cluster/down.sh"' EXIT
lines() { wc -l < "$RUN/audit.log"; }
keep() { # NAME FROM: the log's lines after FROM, once the apiserver has written them
  sleep 2
  local to; to=$(lines)
  sed -n "$(( $2 + 1 )),${to}p" "$RUN/audit.log" > "$REPO/testdata/apiserver-1.36-$1.log"
  gzip -9nc "$REPO/testdata/apiserver-1.36-$1.log" > "$REPO/rules/testdata/apiserver-1.36-$1.log.gz"
  echo "$1: $(( to - $2 )) events"
}
mkdir -p "$REPO/rules/testdata"
bash "$SHARED/scenarios/benign.sh" > "$RUN/benign.out" 2>&1
keep benign 0
n=$(lines); bash "$HERE/workloads.sh" > "$RUN/workloads.out" 2>&1 || true; keep workloads "$n"
n=$(lines); bash "$HERE/access.sh" > "$RUN/access.out" 2>&1 || true; keep access "$n"

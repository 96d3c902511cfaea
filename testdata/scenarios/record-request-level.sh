#!/bin/bash
# Records testdata/apiserver-1.36-request-level.log: the shared cluster started with
# policy-request.yaml instead of the shared policy (up.sh reads the policy beside itself, so it
# runs from a copy), then request-level.sh; a gzip copy goes to rules/testdata/.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-/work/shared}
RUN=${RUN:-/tmp/k8srun}
C=$(mktemp -d)
cp "$SHARED/cluster/up.sh" "$SHARED/cluster/down.sh" "$C/"
cp "$HERE/policy-request.yaml" "$C/policy.yaml"
export LIB=$SHARED/scenarios/lib.sh
bash "$C/up.sh"
trap 'bash "$C/down.sh"; rm -rf "$C"' EXIT
bash "$HERE/request-level.sh" > "$RUN/request-level.out" 2>&1 || true
sleep 2
cp "$RUN/audit.log" "$REPO/testdata/apiserver-1.36-request-level.log"
gzip -9nc "$REPO/testdata/apiserver-1.36-request-level.log" > "$REPO/rules/testdata/apiserver-1.36-request-level.log.gz"
echo "request-level: $(wc -l < "$RUN/audit.log") events"

#!/bin/bash
# Records the operators' fixtures from one run of the shared cluster (../shared/cluster,
# binaries from build.sh in /tmp/k8sbin). Run it under the cluster lock, from a clean machine
# state (no cluster up):
#   flock /tmp/kaudit-cluster.lock bash testdata/scenarios/record-operators.sh
# It starts the cluster and a stand-in for node-1's kubelet endpoint (fake-kubelet.py, so that
# nodes/proxy calls reach an upstream), runs, and keeps each step's slice of the audit log
# (lines are written whole, in order; every slice also holds the cluster's own background
# traffic of that time: controllers, scheduler, node-1's lease renewals):
#   testdata/apiserver-1.36-operators-setup.log         operators-setup.sh (routine)
#   testdata/apiserver-1.36-operators-history.log       operators.sh rounds history (routine)
#   testdata/apiserver-1.36-operators.log               operators.sh rounds scored (routine),
#                                                       recorded after a pause of $GAP s
#   testdata/apiserver-1.36-operator-token-theft.log    operator-theft.sh (attacks)
# then stops everything it started (trap), the cluster by down.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-/work/shared}
export RUN=${RUN:-/tmp/k8srun}
export LIB=$SHARED/scenarios/lib.sh
HIST_ROUNDS=${HIST_ROUNDS:-5} SCORED_ROUNDS=${SCORED_ROUNDS:-4} PAUSE=${PAUSE:-15} GAP=${GAP:-45}
T0=$(date +%s)
bash "$SHARED/cluster/up.sh"
stop() { # what this script started, by process id (process groups made by setsid)
  for f in "$RUN"/*.xpid; do [ -f "$f" ] && kill -- -"$(cat "$f")" 2>/dev/null; rm -f "$f"; done
  bash "$SHARED/cluster/down.sh"
}
trap stop EXIT
export FAKE_KUBELET_IP=${FAKE_KUBELET_IP:-$(hostname -I | awk '{print $1}')}
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=node-1 -keyout "$RUN/kubelet.key" -out "$RUN/kubelet.crt" 2>/dev/null
setsid python3 "$HERE/fake-kubelet.py" "$FAKE_KUBELET_IP" "$RUN/kubelet.crt" "$RUN/kubelet.key" > "$RUN/fake-kubelet.log" 2>&1 &
echo $! > "$RUN/fake-kubelet.xpid"
lines() { wc -l < "$RUN/audit.log"; }
keep() { # NAME FROM: the log's lines after FROM, once the apiserver has written them; prints the end
  sleep 2
  local to; to=$(lines)
  sed -n "$(( $2 + 1 )),${to}p" "$RUN/audit.log" > "$REPO/testdata/apiserver-1.36-$1.log"
  echo "$1: $(( to - $2 )) events, $(( $(date +%s) - T0 )) s since start" >&2
  echo "$to"
}
mkdir -p "$RUN/scenario"
bash "$HERE/operators-setup.sh" > "$RUN/operators-setup.out" 2>&1
n=$(keep operators-setup 0)
bash "$HERE/operators.sh" rounds history "$HIST_ROUNDS" "$PAUSE" > "$RUN/operators-history.out" 2>&1
sleep "$GAP"
n=$(keep operators-history "$n")
bash "$HERE/operators.sh" rounds scored "$SCORED_ROUNDS" "$PAUSE" > "$RUN/operators-scored.out" 2>&1
n=$(keep operators "$n")
bash "$HERE/operator-theft.sh" > "$RUN/operator-theft.out" 2>&1 || true
n=$(keep operator-token-theft "$n")
echo "total $(( $(date +%s) - T0 )) s" >&2

#!/bin/bash
# Records the privilege-escalation fixtures, each from its own fresh run of the shared cluster
# (../shared/cluster, binaries from build.sh in /tmp/k8sbin). Run it under the cluster lock,
# with no cluster up:
#   flock /tmp/kaudit-cluster.lock bash testdata/scenarios/record-escalation.sh
#   1. policy.yaml (shared):   escalation.sh                    -> apiserver-1.36-escalation.log
#   2. policy-metadata.yaml:   escalation.sh                    -> apiserver-1.36-escalation-metadata.log
#   3. policy-metadata.yaml:   shared benign.sh, attack-basic.sh -> apiserver-1.36-basic-intrusion-metadata.log
#   4. policy-request.yaml:    escalation.sh                    -> apiserver-1.36-escalation-request.log
#      (bodies of Secrets, TokenRequests, CSRs, PersistentVolumes and Namespaces, which the
#      shared policy keeps at Metadata; skip with REQUEST_LEVEL=0)
# Each file is the whole audit log of its run (setup included, see ground-truth.md); a stand-in
# for node-1's kubelet endpoint (fake-kubelet.py) answers the nodes/proxy calls.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-/work/shared}
export RUN=${RUN:-/tmp/k8srun}
export LIB=$SHARED/scenarios/lib.sh
export FAKE_KUBELET_IP=${FAKE_KUBELET_IP:-$(hostname -I | awk '{print $1}')}
T0=$(date +%s)
stop() { # what this script started, by process id (process groups made by setsid), then the cluster
  for f in "$RUN"/*.xpid; do [ -f "$f" ] && kill -- -"$(cat "$f")" 2>/dev/null; rm -f "$f"; done
  bash "$SHARED/cluster/down.sh"
}
trap stop EXIT
# record NAME POLICY SCRIPT...: a fresh cluster with POLICY, the scripts in order, the whole log kept
record() {
  local name=$1 policy=$2 t=$(date +%s); shift 2
  POLICY=$policy bash "$SHARED/cluster/up.sh"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=node-1 -keyout "$RUN/kubelet.key" -out "$RUN/kubelet.crt" 2>/dev/null
  setsid python3 "$HERE/fake-kubelet.py" "$FAKE_KUBELET_IP" "$RUN/kubelet.crt" "$RUN/kubelet.key" > "$RUN/fake-kubelet.log" 2>&1 &
  echo $! > "$RUN/fake-kubelet.xpid"
  mkdir -p "$RUN/scenario"
  local s; for s in "$@"; do bash "$s" > "$RUN/$(basename "$s" .sh).out" 2>&1 || true; done
  sleep 2
  install -m 644 "$RUN/audit.log" "$REPO/testdata/apiserver-1.36-$name.log"
  mkdir -p "/tmp/kaudit-fixtures-out/$name"; cp "$RUN"/*.out "/tmp/kaudit-fixtures-out/$name/" 2>/dev/null || true
  echo "$name: $(wc -l < "$RUN/audit.log") events, $(( $(date +%s) - t )) s" >&2
  stop
}
record escalation "$SHARED/cluster/policy.yaml" "$HERE/escalation.sh"
record escalation-metadata "$HERE/policy-metadata.yaml" "$HERE/escalation.sh"
record basic-intrusion-metadata "$HERE/policy-metadata.yaml" "$SHARED/scenarios/benign.sh" "$SHARED/scenarios/attack-basic.sh"
[ "${REQUEST_LEVEL:-1}" = 1 ] && record escalation-request "$HERE/policy-request.yaml" "$HERE/escalation.sh"
echo "total $(( $(date +%s) - T0 )) s" >&2

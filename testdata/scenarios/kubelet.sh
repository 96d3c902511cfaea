#!/bin/bash
# node-1's kubelet, as far as the apiserver sees it (identity node-token: system:node:node-1 in
# system:nodes, Node authorizer). Nothing runs containers; the apiserver's requests are the
# kubelet's own:
#   kubelet.sh register          the Node object (created by the kubelet itself, as a joining
#                                node does), its Lease in kube-node-lease, its Ready status
#   kubelet.sh heartbeat         Lease renewal every 10 s, node status every 5 min (runs until killed)
#   kubelet.sh start OP...       for each operator (oplib.sh table): find its pod bound to node-1,
#                                read kube-root-ca.crt (the projected volume), mint the pod's
#                                service-account token with a TokenRequest bound to the pod
#                                (what a real cluster's operators authenticate with), and report
#                                the pod Running with its IP
#   kubelet.sh token NS SA POD   mint a bound token for any pod on node-1 (prints the token)
# The node's InternalIP is this machine's address (FAKE_KUBELET_IP), where fake-kubelet.py
# answers the apiserver's nodes/proxy calls; its calls to the apiserver carry X-Forwarded-For
# 10.0.0.11 (NODE_XFF). Node objects are logged at Metadata, so the address is not in the log.
. "$(dirname "$0")/oplib.sh"
NODE_IP=${FAKE_KUBELET_IP:-$(hostname -I | awk '{print $1}')}
kl() { req $N "$NODE_XFF" "$KUBELET_UA" "$@"; }
conds() { # the kubelet's node conditions, heartbeat now
  jq -cn --arg t "$(now)" '[
   {type:"MemoryPressure",status:"False",reason:"KubeletHasSufficientMemory",message:"kubelet has sufficient memory available",lastHeartbeatTime:$t,lastTransitionTime:$t},
   {type:"DiskPressure",status:"False",reason:"KubeletHasNoDiskPressure",message:"kubelet has no disk pressure",lastHeartbeatTime:$t,lastTransitionTime:$t},
   {type:"PIDPressure",status:"False",reason:"KubeletHasSufficientPID",message:"kubelet has sufficient PID available",lastHeartbeatTime:$t,lastTransitionTime:$t},
   {type:"Ready",status:"True",reason:"KubeletReady",message:"kubelet is posting ready status",lastHeartbeatTime:$t,lastTransitionTime:$t}]'
}
case $1 in
register)
  kl GET /api/v1/nodes/node-1
  kl POST /api/v1/nodes "$(jq -cn --arg ip "$NODE_IP" --argjson c "$(conds)" '{apiVersion:"v1",kind:"Node",
    metadata:{name:"node-1",labels:{"kubernetes.io/hostname":"node-1","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","beta.kubernetes.io/os":"linux","beta.kubernetes.io/arch":"amd64"},
      annotations:{"volumes.kubernetes.io/controller-managed-attach-detach":"true","node.alpha.kubernetes.io/ttl":"0"}},
    spec:{podCIDR:"10.244.0.0/24",podCIDRs:["10.244.0.0/24"]},
    status:{capacity:{cpu:"8",memory:"32827132Ki",pods:"110","ephemeral-storage":"102350Mi"},allocatable:{cpu:"8",memory:"32724732Ki",pods:"110","ephemeral-storage":"96589578Ki"},
      conditions:$c,addresses:[{type:"InternalIP",address:$ip}],daemonEndpoints:{kubeletEndpoint:{Port:10250}},
      nodeInfo:{machineID:"5f1c0e1e2a6b4b8d9c0e3f4a5b6c7d8e",systemUUID:"ec2a7c1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",bootID:"a1b2c3d4-e5f6-4789-8abc-def012345678",kernelVersion:"6.8.0-1015-aws",osImage:"Ubuntu 24.04.1 LTS",
        containerRuntimeVersion:"containerd://1.7.22",kubeletVersion:"v1.36.3",kubeProxyVersion:"v1.36.3",operatingSystem:"linux",architecture:"amd64"}}}')"
  uid=$(j .metadata.uid)
  kl GET /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1
  kl POST /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases "$(jq -cn --arg u "$uid" --arg t "$(nowm)" '{apiVersion:"coordination.k8s.io/v1",kind:"Lease",
    metadata:{name:"node-1",namespace:"kube-node-lease",ownerReferences:[{apiVersion:"v1",kind:"Node",name:"node-1",uid:$u}]},spec:{holderIdentity:"node-1",leaseDurationSeconds:40,renewTime:$t}}')"
  kl PATCH /api/v1/nodes/node-1/status "$(jq -cn --argjson c "$(conds)" '{status:{conditions:$c}}')" application/strategic-merge-patch+json
  ;;
heartbeat)
  i=0
  while true; do
    sleep 10; i=$((i + 1))
    OUT=$ST/hb.json kl GET /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1 >/dev/null
    OUT=$ST/hb2.json kl PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1 "$(jq -c --arg t "$(nowm)" '.spec.renewTime=$t | del(.metadata.managedFields)' "$ST/hb.json")" >/dev/null
    [ $((i % 30)) = 0 ] && OUT=$ST/hb3.json kl PATCH /api/v1/nodes/node-1/status "$(jq -cn --argjson c "$(conds)" '{status:{conditions:$c}}')" application/strategic-merge-patch+json >/dev/null
  done
  ;;
token) # NS SA POD: a TokenRequest bound to the pod, as the kubelet's token manager sends it
  OUT=$ST/kl.pod.json kl GET "/api/v1/namespaces/$2/pods/$4" >&2
  OUT=$ST/kl.tok.json kl POST "/api/v1/namespaces/$2/serviceaccounts/$3/token" "$(jq -cn --arg ns "$2" --arg sa "$3" --arg p "$4" --arg u "$(jq -r .metadata.uid "$ST/kl.pod.json")" \
    '{kind:"TokenRequest",apiVersion:"authentication.k8s.io/v1",metadata:{name:$sa,namespace:$ns,creationTimestamp:null},
      spec:{audiences:null,expirationSeconds:3607,boundObjectRef:{kind:"Pod",apiVersion:"v1",name:$p,uid:$u}},status:{token:"",expirationTimestamp:null}}')" >&2
  jq -r .status.token "$ST/kl.tok.json"
  ;;
start)
  shift
  for o in "$@"; do
    ns=${OP_NS[$o]}; sa=${OP_SA[$o]}; pod=
    for i in $(seq 60); do
      OUT=$ST/kl.pods.json kl GET '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&limit=500&resourceVersion=0' >/dev/null
      pod=$(jq -r --arg ns "$ns" --arg sa "$sa" '[.items[] | select(.metadata.namespace==$ns and .spec.serviceAccountName==$sa)][0].metadata.name // empty' "$ST/kl.pods.json")
      [ -n "$pod" ] && break; sleep 2
    done
    [ -z "$pod" ] && { echo "no pod of $o on node-1" >&2; exit 1; }
    uid=$(jq -r --arg p "$pod" --arg ns "$ns" '.items[] | select(.metadata.name==$p and .metadata.namespace==$ns) | .metadata.uid' "$ST/kl.pods.json")
    ctr=$(jq -r --arg p "$pod" --arg ns "$ns" '.items[] | select(.metadata.name==$p and .metadata.namespace==$ns) | .spec.containers[0].name' "$ST/kl.pods.json")
    img=$(jq -r --arg p "$pod" --arg ns "$ns" '.items[] | select(.metadata.name==$p and .metadata.namespace==$ns) | .spec.containers[0].image' "$ST/kl.pods.json")
    kl GET "/api/v1/namespaces/$ns/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt&limit=500&resourceVersion=0"
    OUT=$ST/kl.tok.json kl POST "/api/v1/namespaces/$ns/serviceaccounts/$sa/token" "$(jq -cn --arg ns "$ns" --arg sa "$sa" --arg p "$pod" --arg u "$uid" \
      '{kind:"TokenRequest",apiVersion:"authentication.k8s.io/v1",metadata:{name:$sa,namespace:$ns,creationTimestamp:null},
        spec:{audiences:null,expirationSeconds:3607,boundObjectRef:{kind:"Pod",apiVersion:"v1",name:$p,uid:$u}},status:{token:"",expirationTimestamp:null}}')"
    jq -r .status.token "$ST/kl.tok.json" > "$ST/tok.$o"; echo "$pod" > "$ST/pod.$o"; echo "$uid" > "$ST/uid.$o"
    t=$(now)
    kl PATCH "/api/v1/namespaces/$ns/pods/$pod/status" "$(jq -cn --arg u "$uid" --arg t "$t" --arg ip "${OP_IP[$o]}" --arg h "$NODE_IP" --arg c "$ctr" --arg img "$img" '{metadata:{uid:$u},
      status:{phase:"Running",hostIP:$h,hostIPs:[{ip:$h}],podIP:$ip,podIPs:[{ip:$ip}],startTime:$t,
        conditions:[{type:"PodReadyToStartContainers",status:"True",lastTransitionTime:$t},{type:"Initialized",status:"True",lastTransitionTime:$t},
          {type:"Ready",status:"True",lastTransitionTime:$t},{type:"ContainersReady",status:"True",lastTransitionTime:$t},{type:"PodScheduled",status:"True",lastTransitionTime:$t}],
        containerStatuses:[{name:$c,image:$img,imageID:($img+"@sha256:4d3a6f1c0b7e2a9d8c5f3e1b0a7d6c4e2f9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c"),containerID:"containerd://9f8e7d6c5b4a39281706f5e4d3c2b1a0",
          ready:true,started:true,restartCount:0,state:{running:{startedAt:$t}}}]}}')" application/strategic-merge-patch+json
  done
  ;;
esac

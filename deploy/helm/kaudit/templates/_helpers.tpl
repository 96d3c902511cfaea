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

{{/* Whether a notify receiver names a file, a key of notify.secretName. */}}
{{- define "kaudit.notifyFiles" -}}
{{- range $r := .Values.notify.receivers -}}
{{- range $key := list "url_file" "secret_file" "token_file" "tls_ca" -}}
{{- if index $r $key -}}true{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
kaudit.yaml: kaudit's own configuration, with kaudit's key names. Secrets
(store.dsn, redact.key, kafka.sasl.password) come from the environment,
files from the mounts of the StatefulSet (notify receivers' files from
notify.secretName at /etc/kaudit/notify).
*/}}
{{- define "kaudit.config" -}}
{{- $v := .Values -}}
{{- $webhook := dict "listen" $v.webhook.listen "max_body_bytes" $v.webhook.max_body_bytes -}}
{{- range $key := list "max_in_flight_bytes" "max_client_in_flight_bytes" "min_body_rate" -}}
{{- with index $v.webhook $key -}}{{- $_ := set $webhook $key . -}}{{- end -}}
{{- end -}}
{{- if $v.webhook.insecure_http -}}
{{- $_ := set $webhook "insecure_http" true -}}
{{- else -}}
{{- $tls := dict "cert" "/etc/kaudit/tls/tls.crt" "key" "/etc/kaudit/tls/tls.key" -}}
{{- if $v.webhook.tls.clientCA.secretName -}}
{{- $_ := set $tls "client_ca" (printf "/etc/kaudit/client-ca/%s" $v.webhook.tls.clientCA.key) -}}
{{- with $v.webhook.tls.client_subjects -}}{{- $_ := set $tls "client_subjects" . -}}{{- end -}}
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
{{- $api := dict "listen" $v.api.listen "tokens_file" (printf "/etc/kaudit/tokens/%s" $v.tokens.apiKey) -}}
{{- with $v.api.max_queries_per_analyst -}}{{- $_ := set $api "max_queries_per_analyst" . -}}{{- end -}}
{{- $_ := set $cfg "api" $api -}}
{{- with $v.tokens.metricsKey -}}
{{- $_ := set $cfg "metrics" (dict "tokens_file" (printf "/etc/kaudit/tokens/%s" .)) -}}
{{- end -}}
{{- $store := dict "retention_days" $v.store.retention_days -}}
{{- range $key := list "query_max_memory_bytes" "query_max_time" "query_max_rows_read" -}}
{{- with index $v.store $key -}}{{- $_ := set $store $key . -}}{{- end -}}
{{- end -}}
{{- $_ := set $cfg "store" $store -}}
{{- with $v.ingest.max_clock_skew -}}
{{- $_ := set $cfg "ingest" (dict "max_clock_skew" .) -}}
{{- end -}}
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
{{- if $v.notify.receivers -}}
{{- $n := dict -}}
{{- range $key := list "min_severity" "resolve_after" "external_url" "give_up_after" "resend_every" -}}
{{- with index $v.notify $key -}}{{- $_ := set $n $key . -}}{{- end -}}
{{- end -}}
{{- $receivers := list -}}
{{- range $r := $v.notify.receivers -}}
{{- $out := dict -}}
{{- range $key, $val := $r -}}
{{- if has $key (list "url_file" "secret_file" "token_file" "tls_ca") -}}
{{- $_ := set $out $key (printf "/etc/kaudit/notify/%s" $val) -}}
{{- else -}}
{{- $_ := set $out $key $val -}}
{{- end -}}
{{- end -}}
{{- $receivers = append $receivers $out -}}
{{- end -}}
{{- $_ := set $n "receivers" $receivers -}}
{{- $_ := set $cfg "notify" $n -}}
{{- end -}}
{{- toYaml (mergeOverwrite $cfg (deepCopy $v.extraConfig)) -}}
{{- end -}}

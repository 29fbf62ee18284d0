{{/* The chart name, or nameOverride. */}}
{{- define "sms-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of every resource: <release>-<name>, or just <release> when the release name
already contains the chart name. Truncated to 63 characters because some Kubernetes name
fields are limited to that (DNS-1123 labels).
*/}}
{{- define "sms-bridge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "sms-bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The namespace of every resource. */}}
{{- define "sms-bridge.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "sms-bridge.labels" -}}
helm.sh/chart: {{ include "sms-bridge.chart" . }}
{{ include "sms-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sms-bridge
{{- end }}

{{/* Selector labels: immutable once a Deployment exists, so never the chart version. */}}
{{- define "sms-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sms-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "sms-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sms-bridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: [registry/]repository, then @digest or :tag (default: appVersion). The
registry is global.imageRegistry when an umbrella chart sets it (one mirror for every subchart),
else image.registry.
*/}}
{{- define "sms-bridge.image" -}}
{{- $repository := .Values.image.repository }}
{{- $registry := (.Values.global).imageRegistry | default .Values.image.registry }}
{{- if $registry }}
{{- $repository = printf "%s/%s" $registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The pods' imagePullSecrets: global.imagePullSecrets (names, or {name: ...} maps, as umbrella
charts pass them), then imagePullSecrets, each name once.
*/}}
{{- define "sms-bridge.imagePullSecrets" -}}
{{- $names := list }}
{{- range concat ((.Values.global).imagePullSecrets | default list) (.Values.imagePullSecrets | default list) }}
{{- $name := . }}
{{- if kindIs "map" . }}{{ $name = .name }}{{ end }}
{{- if and $name (not (has $name $names)) }}{{ $names = append $names $name }}{{ end }}
{{- end }}
{{- range $names }}
- name: {{ . }}
{{- end }}
{{- end }}

{{/* The Secret mounted at /etc/sms-bridge/secrets. */}}
{{- define "sms-bridge.secretName" -}}
{{- default (include "sms-bridge.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* The HTTP port of the bridge (config.server.port, default 8080). */}}
{{- define "sms-bridge.port" -}}
{{- (.Values.config.server).port | default 8080 | int }}
{{- end }}

{{/*
The pod's terminationGracePeriodSeconds: the preStop pause, the bridge's graceful shutdown
(config.server.graceful_shutdown_seconds, default 20), the spool's stop drain (config.spool.
stop_drain_seconds, default 5, with a spool only) and 15 s to flush and close the Kafka producer.
*/}}
{{- define "sms-bridge.terminationGracePeriodSeconds" -}}
{{- $drain := (.Values.config.server).graceful_shutdown_seconds | default 20 }}
{{- $spoolDrain := 0 }}
{{- if .Values.config.spool }}{{- $spoolDrain = .Values.config.spool.stop_drain_seconds | default 5 }}{{- end }}
{{- add (.Values.preStopSleepSeconds | default 0) (ceil $drain | int) (ceil $spoolDrain | int) 15 }}
{{- end }}

{{/* The alert selector: this release's bridge pods, as the ServiceMonitor scrapes them. */}}
{{- define "sms-bridge.alertSelector" -}}
namespace="{{ include "sms-bridge.namespace" . }}", job="{{ include "sms-bridge.fullname" . }}"
{{- end }}

{{/* The workload kind: a StatefulSet (one spool claim per pod) with persistence, else a Deployment. */}}
{{- define "sms-bridge.workloadKind" -}}
{{- ternary "StatefulSet" "Deployment" .Values.persistence.enabled }}
{{- end }}

{{/* The fewest pods that run: autoscaling.minReplicas with the HPA, else replicaCount. */}}
{{- define "sms-bridge.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ .Values.autoscaling.minReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
The spool's settings, checked against the volume: config.spool.path must lie inside
persistence.mountPath (the root filesystem is read-only), and persistence needs a spool.
*/}}
{{- define "sms-bridge.checkSpool" -}}
{{- $spool := .Values.config.spool }}
{{- if $spool }}
{{- $mount := trimSuffix "/" .Values.persistence.mountPath }}
{{- if not (or (eq (trimSuffix "/" $spool.path) $mount) (hasPrefix (printf "%s/" $mount) $spool.path)) }}
{{- fail (printf "config.spool.path (%s) must be inside persistence.mountPath (%s): the root filesystem is read-only" $spool.path $mount) }}
{{- end }}
{{- else if .Values.persistence.enabled }}
{{- fail "persistence.enabled needs config.spool: the volume holds the spool and nothing else" }}
{{- end }}
{{- end }}

{{/* An alert's `for` and labels: its severity, then its own labels, then prometheusRule.labels. */}}
{{- define "sms-bridge.alertMeta" -}}
for: {{ .alert.for }}
labels:
  {{- merge (dict "severity" .alert.severity) (deepCopy .alert.labels) (deepCopy .root.Values.prometheusRule.labels) | toYaml | nindent 2 }}
{{- end }}

{{/*
An alert's runbook_url annotation, <runbookUrl>#runbook-<alert name in lower case>; none while
runbookUrl is empty (the default: the chart has no published home to link to).
*/}}
{{- define "sms-bridge.runbookUrl" -}}
{{- with .root.Values.prometheusRule.runbookUrl }}
runbook_url: {{ printf "%s#runbook-%s" . (lower $.name) }}
{{- end }}
{{- end }}

{{/* A duration of the form the schema allows (<integer>s|m|h|d), in seconds. */}}
{{- define "sms-bridge.seconds" -}}
{{- $number := regexFind "^[0-9]+" . }}
{{- mul ($number | int64) (get (dict "s" 1 "m" 60 "h" 3600 "d" 86400) (trimPrefix $number .)) }}
{{- end }}

{{/*
The tail of an alert that a Kafka outage causes: quiet while sms_bridge:kafka_unavailable was 1
within kafkaOutageHoldoff, or within the alert's own rate window (.window) when that is longer.
A window still holds the outage's samples for its whole length after the restore, so a holdoff
shorter than it would let the alert fire on the outage after all.
*/}}
{{- define "sms-bridge.outageQuiet" -}}
{{- $hold := .root.Values.prometheusRule.kafkaOutageHoldoff }}
{{- if and .window (gt (include "sms-bridge.seconds" .window | int64) (include "sms-bridge.seconds" $hold | int64)) }}
{{- $hold = .window }}
{{- end }}
{{- printf "unless on (namespace, job) max_over_time(sms_bridge:kafka_unavailable{%s}[%s])" (include "sms-bridge.alertSelector" .root) $hold }}
{{- end }}

{{/*
A stop of callbacks, as a recording rule that holds until traffic returns. It starts when the
group (.by) got no callback in .window after at least .min in the .lookback before, and then
carries itself on (it reads its own previous value) until a callback arrives, however long the
stop lasts. Without the carry-on, the lookback would slide past the last traffic and the alert
would resolve at window + lookback with traffic still stopped. It ends too when the group's
series have been gone for .lookback (an account removed from config.providers).
*/}}
{{- define "sms-bridge.stopRule" -}}
{{- $sel := include "sms-bridge.alertSelector" .root }}
{{- $callbacks := printf "sms_bridge_callbacks_total{%s}" $sel }}
- record: {{ .record }}
  expr: |
    (
      (sum by ({{ .by }}) (increase({{ $callbacks }}[{{ .window }}])) == 0) + 1
      and on ({{ .by }})
      sum by ({{ .by }}) (increase({{ $callbacks }}[{{ .lookback }}] offset {{ .window }})) >= {{ .min }}
    )
    or
    (
      {{ .record }}{ {{- $sel -}} }
      unless on ({{ .by }})
      (sum by ({{ .by }}) (increase({{ $callbacks }}[{{ .window }}])) > 0)
      and on ({{ .by }})
      group by ({{ .by }}) (last_over_time({{ $callbacks }}[{{ .lookback }}]))
    )
{{- end }}

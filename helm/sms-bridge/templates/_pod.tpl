{{/* The pod template shared by the Deployment and the StatefulSet. */}}
{{- define "sms-bridge.podTemplate" -}}
metadata:
  annotations:
    # The bridge reads its configuration and secrets once, at start: a change rolls the pods.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if not .Values.existingSecret }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "sms-bridge.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "sms-bridge.serviceAccountName" . }}
  automountServiceAccountToken: false  # the bridge never calls the Kubernetes API
  {{- with include "sms-bridge.imagePullSecrets" . }}
  imagePullSecrets:
    {{- . | nindent 4 }}
  {{- end }}
  # Longer than the bridge's graceful shutdown, so in-flight callbacks finish and the
  # producer flushes before the kubelet kills the container.
  terminationGracePeriodSeconds: {{ include "sms-bridge.terminationGracePeriodSeconds" . }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: bridge
      image: {{ include "sms-bridge.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      # The image's CMD: sms-bridge serve --config /etc/sms-bridge/bridge.yaml (mounted below).
      ports:
        - name: http
          containerPort: {{ include "sms-bridge.port" . }}
          protocol: TCP
      {{- with .Values.startupProbe }}
      startupProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if .Values.preStopSleepSeconds }}
      # Keep serving normally while Kubernetes stops routing to the pod; SIGTERM comes after.
      lifecycle:
        preStop:  # exec, not the sleep action: that needs Kubernetes 1.29+, the chart supports 1.25+
          exec:
            command: ["sleep", "{{ .Values.preStopSleepSeconds }}"]
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: /etc/sms-bridge/bridge.yaml
          subPath: bridge.yaml
          readOnly: true
        - name: secrets
          mountPath: /etc/sms-bridge/secrets
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if .Values.config.spool }}
        - name: spool
          mountPath: {{ .Values.persistence.mountPath }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "sms-bridge.fullname" . }}
    - name: secrets
      secret:
        secretName: {{ include "sms-bridge.secretName" . }}
        defaultMode: 0440  # readable by the bridge's group (fsGroup) only
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if and .Values.config.spool (not .Values.persistence.enabled) }}
    # No persistence: spooled records survive a container restart but not the pod.
    - name: spool
      emptyDir:
        sizeLimit: {{ .Values.persistence.size }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- range . }}
    {{- $constraint := deepCopy . }}
    {{- if not (hasKey $constraint "labelSelector") }}
    {{- $_ := set $constraint "labelSelector" (dict "matchLabels" (include "sms-bridge.selectorLabels" $ | fromYaml)) }}
    {{- end }}
    - {{- toYaml $constraint | nindent 6 }}
    {{- end }}
  {{- end }}
{{- end }}

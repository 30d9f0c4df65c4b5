{{/* Names ------------------------------------------------------------------------------ */}}

{{- define "daylight.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The name prefix of every object (63 characters at most, leaving room for suffixes). */}}
{{- define "daylight.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "daylight.launcherFullname" -}}
{{- printf "%s-launcher" (include "daylight.fullname" .) -}}
{{- end -}}

{{- define "daylight.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels: call with (dict "ctx" $ "component" "exporter"). */}}
{{- define "daylight.selectorLabels" -}}
app.kubernetes.io/name: {{ include "daylight.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "daylight.labels" -}}
{{ include "daylight.selectorLabels" . }}
helm.sh/chart: {{ include "daylight.chart" .ctx }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: daylight
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{- define "daylight.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "daylight.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "daylight.launcherServiceAccountName" -}}
{{- if .Values.launcher.serviceAccount.create -}}
{{- default (include "daylight.launcherFullname" .) .Values.launcher.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.launcher.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "daylight.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces the launcher may write to: launcher.namespaces, else watch.namespaces. */}}
{{- define "daylight.launcherNamespaces" -}}
{{- $ns := .Values.launcher.namespaces | default .Values.watch.namespaces -}}
{{- if not $ns -}}
{{- fail "launcher.enabled needs launcher.namespaces (or watch.namespaces): the launcher writes Jobs and ConfigMaps only in listed namespaces" -}}
{{- end -}}
{{- toJson (uniq $ns) -}}
{{- end -}}

{{/* Read-only rules -------------------------------------------------------------------------
The resources the exporter watches (exporter/kube/resources.py WATCHED), get/list/watch only.
Namespaces are cluster-scoped and are added by the ClusterRole only. */}}
{{- define "daylight.readRules" -}}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch"]
{{- if .Values.rbac.keptn }}
- apiGroups: ["lifecycle.keptn.sh"]
  resources: ["keptnapps", "keptnevaluationdefinitions", "keptntaskdefinitions"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["metrics.keptn.sh"]
  resources: ["keptnmetrics", "keptnmetricsproviders"]
  verbs: ["get", "list", "watch"]
{{- end }}
{{- end -}}

{{- define "daylight.namespaceReadRule" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{- end -}}

{{/* Environment shared by the exporter and the launcher. */}}
{{- define "daylight.commonEnv" -}}
{{- with .Values.watch.namespaces }}
- name: DAYLIGHT_NAMESPACES
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.watch.excludeNamespaces }}
- name: DAYLIGHT_EXCLUDE_NAMESPACES
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.watch.labelSelector }}
- name: DAYLIGHT_LABEL_SELECTOR
  value: {{ . | quote }}
{{- end }}
- name: DAYLIGHT_DEFAULT_ENVIRONMENT
  value: {{ .Values.config.defaultEnvironment | quote }}
- name: DAYLIGHT_APP_GROUPING_WINDOW
  value: {{ .Values.config.appGroupingWindow | quote }}
- name: DAYLIGHT_ROLLOUT_TIMEOUT
  value: {{ .Values.config.rolloutTimeout | quote }}
- name: DAYLIGHT_DEGRADED_AFTER
  value: {{ .Values.config.degradedAfter | quote }}
- name: DAYLIGHT_FAILURE_WINDOW
  value: {{ .Values.config.failureWindow | quote }}
- name: DAYLIGHT_DORA_REPORT
  value: {{ .Values.config.doraReport | quote }}
- name: DAYLIGHT_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
{{- with .Values.config.alertAppLabels }}
- name: DAYLIGHT_ALERT_APP_LABELS
  value: {{ join "," . | quote }}
{{- end }}
{{- end -}}

{{/* The exporter's pod template (Deployment, or StatefulSet with the state file). */}}
{{- define "daylight.exporterPodTemplate" -}}
metadata:
  labels:
    {{- include "daylight.selectorLabels" (dict "ctx" . "component" "exporter") | nindent 4 }}
    {{- with .Values.exporter.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.exporter.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "daylight.serviceAccountName" . }}
  # the only pods that talk to the API server mount a token; the ServiceAccount itself doesn't
  automountServiceAccountToken: true
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.exporter.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.exporter.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: daylight
      image: {{ include "daylight.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - run
        {{- range .Values.exporter.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      env:
        - name: DAYLIGHT_LISTEN
          value: {{ printf "0.0.0.0:%d" (int .Values.exporter.port) | quote }}
        - name: DAYLIGHT_MAX_APPS
          value: {{ .Values.config.maxApps | int | toString | quote }}
        - name: DAYLIGHT_MAX_SERIES
          value: {{ .Values.config.maxSeries | int | toString | quote }}
        {{- include "daylight.commonEnv" . | trim | nindent 8 }}
        {{- if .Values.stateFile.enabled }}
        - name: DAYLIGHT_STATE_FILE
          value: {{ .Values.stateFile.path | quote }}
        {{- end }}
        - name: DAYLIGHT_TRACES
          value: {{ .Values.traces.mode | quote }}
        - name: DAYLIGHT_EVALUATIONS
          value: {{ .Values.checks.evaluations | quote }}
        - name: DAYLIGHT_EVALUATION_TIMEOUT
          value: {{ .Values.checks.evaluationTimeout | quote }}
        {{- with .Values.checks.allowedNamespaces }}
        - name: DAYLIGHT_ALLOWED_NAMESPACES
          value: {{ join "," . | quote }}
        {{- end }}
        {{- with .Values.checks.prometheusUrl }}
        - name: DAYLIGHT_PROMETHEUS_URL
          value: {{ . | quote }}
        {{- end }}
        {{- with .Values.traces.otlpEndpoint }}
        - name: OTEL_EXPORTER_OTLP_ENDPOINT
          value: {{ . | quote }}
        {{- end }}
        {{- with .Values.traces.otlpProtocol }}
        - name: DAYLIGHT_OTLP_PROTOCOL
          value: {{ . | quote }}
        {{- end }}
        {{- with .Values.traces.clusterName }}
        - name: DAYLIGHT_CLUSTER_NAME
          value: {{ . | quote }}
        {{- end }}
        - name: DAYLIGHT_OTLP_LISTEN
          value: {{ ternary (printf "0.0.0.0:%d" (int .Values.ciIntake.otlpPort)) "off" (gt (int .Values.ciIntake.otlpPort) 0) | quote }}
        - name: DAYLIGHT_OTLP_MAX_BODY
          value: {{ .Values.ciIntake.otlpMaxBody | int | toString | quote }}
        {{- with .Values.ciIntake.appMap }}
        - name: DAYLIGHT_CI_APP_MAP
          value: {{ join "," . | quote }}
        {{- end }}
        {{- if .Values.apiToken.existingSecret }}
        - name: DAYLIGHT_API_TOKEN_FILE
          value: {{ printf "/etc/daylight/api-token/%s" .Values.apiToken.key | quote }}
        {{- end }}
        {{- with .Values.exporter.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.exporter.envFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.exporter.port }}
          protocol: TCP
        {{- if gt (int .Values.ciIntake.otlpPort) 0 }}
        - name: otlp-http
          containerPort: {{ .Values.ciIntake.otlpPort }}
          protocol: TCP
        {{- end }}
      {{- with .Values.exporter.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.exporter.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml .Values.exporter.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if .Values.stateFile.enabled }}
        - name: state
          mountPath: {{ dir .Values.stateFile.path | quote }}
        {{- end }}
        {{- if .Values.apiToken.existingSecret }}
        - name: api-token
          mountPath: /etc/daylight/api-token
          readOnly: true
        {{- end }}
        {{- with .Values.exporter.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- with .Values.apiToken.existingSecret }}
    - name: api-token
      secret:
        secretName: {{ . | quote }}
        defaultMode: 0440
        items:
          - key: {{ $.Values.apiToken.key | quote }}
            path: {{ $.Values.apiToken.key | quote }}
    {{- end }}
    {{- with .Values.exporter.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.exporter.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.exporter.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.exporter.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.exporter.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

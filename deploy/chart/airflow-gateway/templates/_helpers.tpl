{{/* The chart's name, or nameOverride. */}}
{{- define "airflow-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The objects' name: fullnameOverride, or the release's name with the chart's. */}}
{{- define "airflow-gateway.fullname" -}}
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

{{- define "airflow-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "airflow-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "airflow-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airflow-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "airflow-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "airflow-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A name of the official chart's release, or the given one: (list . given suffix). */}}
{{- define "airflow-gateway.fromRelease" -}}
{{- $ := index . 0 }}{{ $given := index . 1 }}{{ $suffix := index . 2 }}
{{- if $given }}{{ $given }}{{ else if $.Values.airflow.release }}{{ printf "%s-%s" $.Values.airflow.release $suffix }}{{ end }}
{{- end }}

{{- define "airflow-gateway.metadataSecret" -}}
{{- include "airflow-gateway.fromRelease" (list . .Values.airflow.metadataSecret.name "airflow-metadata") }}
{{- end }}

{{- define "airflow-gateway.fernetKeySecret" -}}
{{- include "airflow-gateway.fromRelease" (list . .Values.airflow.fernetKeySecret.name "fernet-key") }}
{{- end }}

{{- define "airflow-gateway.airflowConfigMap" -}}
{{- include "airflow-gateway.fromRelease" (list . .Values.airflow.configMap.name "airflow-config") }}
{{- end }}

{{- define "airflow-gateway.dagsClaim" -}}
{{- include "airflow-gateway.fromRelease" (list . .Values.airflow.dags.existingClaim "dags") }}
{{- end }}

{{- define "airflow-gateway.dagsMountPath" -}}
{{- default (printf "%s/dags" .Values.airflow.home) .Values.airflow.dags.mountPath }}
{{- end }}

{{/* The JWT secret's Secret: given, or the release's on Airflow 3; none when disabled. */}}
{{- define "airflow-gateway.jwtSecret" -}}
{{- if .Values.airflowAPI.jwtSecret.enabled }}
{{- if .Values.airflowAPI.jwtSecret.existingSecret }}{{ .Values.airflowAPI.jwtSecret.existingSecret }}
{{- else if and .Values.airflow.release (eq (int .Values.airflow.majorVersion) 3) (not .Values.airflowAPI.jwtPrivateKey.existingSecret) }}{{ printf "%s-jwt-secret" .Values.airflow.release }}
{{- end }}
{{- end }}
{{- end }}

{{/* [airflow_api] url: given, or the release's API server (3.x) or webserver (2.x). */}}
{{- define "airflow-gateway.airflowAPIURL" -}}
{{- if .Values.airflowAPI.url }}{{ .Values.airflowAPI.url }}
{{- else if .Values.airflow.release }}
{{- /* the official chart names its API server's Service after its full name (the release's, or
       <release>-airflow), and its webserver's after the release */}}
{{- $full := .Values.airflow.release }}
{{- if not (contains "airflow" $full) }}{{ $full = printf "%s-airflow" $full }}{{ end }}
{{- if eq (int .Values.airflow.majorVersion) 3 }}{{ printf "http://%s-api-server:8080" $full }}
{{- else }}{{ printf "http://%s-webserver:8080" .Values.airflow.release }}
{{- end }}
{{- end }}
{{- end }}

{{/* Where the gateway's files go inside the container. */}}
{{- define "airflow-gateway.binDir" -}}/opt/airflow-gateway{{- end }}
{{- define "airflow-gateway.configDir" -}}/etc/airflow-gateway{{- end }}
{{- define "airflow-gateway.secretsDir" -}}/etc/airflow-gateway/secrets{{- end }}
{{- define "airflow-gateway.stateDir" -}}/var/lib/airflow-gateway{{- end }}

{{- define "airflow-gateway.gatewayImage" -}}
{{- printf "%s:%s" .Values.image.gateway.repository (default .Chart.AppVersion .Values.image.gateway.tag) }}
{{- end }}

{{- define "airflow-gateway.airflowImage" -}}
{{- printf "%s:%s" .Values.image.airflow.repository .Values.image.airflow.tag }}
{{- end }}

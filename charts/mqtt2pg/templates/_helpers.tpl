{{/*
Names. With the release name "mqtt2pg" every object is called "mqtt2pg-operator", the names of the plain
install in manifests/install and of the operator's own defaults (its Lease is "mqtt2pg-operator" too).
*/}}
{{- define "mqtt2pg.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mqtt2pg.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: immutable on a Deployment, so only what never changes between upgrades. */}}
{{- define "mqtt2pg.selectorLabels" -}}
app.kubernetes.io/name: mqtt2pg
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "mqtt2pg.labels" -}}
{{ include "mqtt2pg.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: mqtt2pg
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "mqtt2pg.chart" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "mqtt2pg.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mqtt2pg.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name an existing ServiceAccount bound to the operator's ClusterRole" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mqtt2pg.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The image worker pods get unless a pipeline sets spec.image: the operator's own image by default. */}}
{{- define "mqtt2pg.workerImage" -}}
{{- default (include "mqtt2pg.image" .) .Values.operator.workerImage -}}
{{- end -}}

{{/* Rules generated from operator/manifests.ts (files/operator-rbac.yaml; see scripts/check-packaging.sh). */}}
{{- define "mqtt2pg.rbacRules" -}}
{{- .Files.Get "files/operator-rbac.yaml" | fromYaml | toJson -}}
{{- end -}}


{{/* The release's full name, at most 63 characters. */}}
{{- define "releaseguard.fullname" -}}
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

{{- define "releaseguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "releaseguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "releaseguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "releaseguard.labels" -}}
{{ include "releaseguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: releaseguard
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "releaseguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "releaseguard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The kopf peering object(s) through which the replicas agree which one acts. */}}
{{- define "releaseguard.peeringName" -}}
releaseguard
{{- end -}}

{{/* The namespaces the operator watches; empty when it watches them all. Fails on a namespaced scope
without namespaces, which values.schema.json rejects too. */}}
{{- define "releaseguard.watchNamespaces" -}}
{{- if eq .Values.rbac.scope "namespaced" -}}
{{- if not .Values.watchNamespaces -}}
{{- fail "rbac.scope namespaced needs watchNamespaces: the namespaces the operator may act in" -}}
{{- end -}}
{{- toJson (uniq .Values.watchNamespaces) -}}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/* The namespace of defaultNotifications, or "" when there is none. */}}
{{- define "releaseguard.notificationsNamespace" -}}
{{- with .Values.defaultNotifications -}}
{{- $parts := splitList "/" . -}}
{{- if or (ne (len $parts) 2) (not (first $parts)) (not (last $parts)) -}}
{{- fail (printf "defaultNotifications must be NAMESPACE/NAME, not %q" .) -}}
{{- end -}}
{{- first $parts -}}
{{- end -}}
{{- end -}}

{{/*
Application rules: what releaseguard itself reads and writes (operator/releaseguard/kube/client.py and the
status, annotations and finalizer kopf writes on its behalf). Shared by the ClusterRole and the Roles.
*/}}
{{- define "releaseguard.applicationRules" -}}
# Application: the ReleaseValidations, their status, annotations (requests, kopf's bookkeeping) and
# finalizer.
- apiGroups: [releaseguard.io]
  resources: [releasevalidations]
  verbs: [get, list, watch, patch]
- apiGroups: [releaseguard.io]
  resources: [releasevalidations/status]
  verbs: [get, patch]
# Application: the canary's ownerReference to its ReleaseValidation blocks the owner's deletion, which
# clusters with the OwnerReferencesPermissionEnforcement admission plugin allow only with this.
- apiGroups: [releaseguard.io]
  resources: [releasevalidations/finalizers]
  verbs: [update]
# Application: the target Deployment (pause, resume, roll back its template) and the canary Deployment.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, create, patch, delete]
# Application: the stable ReplicaSet and the pods of both revisions, observed.
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [get, list]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
# Application: the Service in front of the target, read for synthetic checks.
- apiGroups: [""]
  resources: [services]
  verbs: [get]
# Application: notification URLs and signing keys named by secretRef.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# Application: validation reports (kept, replaced, pruned) and default notification routes.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, create, update, delete]
# Application: the release's Events, read back for reports and incident causes.
- apiGroups: [""]
  resources: [events]
  verbs: [list]
{{- end -}}

{{/* Framework rules that every mode needs. */}}
{{- define "releaseguard.frameworkEventRules" -}}
# Framework: kopf posts the Events of the ReleaseValidations.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}

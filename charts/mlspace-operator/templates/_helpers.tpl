{{/* Chart name, overridable. */}}
{{- define "mlspace-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full resource name: <release>-<name>, or the release alone when it already contains the name. */}}
{{- define "mlspace-operator.fullname" -}}
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

{{- define "mlspace-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "mlspace-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlspace-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mlspace-operator.labels" -}}
helm.sh/chart: {{ include "mlspace-operator.chart" . }}
{{ include "mlspace-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: mlspace-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mlspace-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mlspace-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mlspace-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The controller's instance identity (--instance, a DNS-1123 label): stable per
release and namespace, "<release>-<namespace>"; when that is longer than 63,
its first 54 characters and 8 hex digits of its SHA-256, so two releases
never share one.
*/}}
{{- define "mlspace-operator.instance" -}}
{{- if .Values.controller.instance -}}
{{- .Values.controller.instance -}}
{{- else -}}
{{- $id := printf "%s-%s" .Release.Name .Release.Namespace -}}
{{- if gt (len $id) 63 -}}
{{- printf "%s-%s" ($id | trunc 54 | trimSuffix "-") ($id | sha256sum | trunc 8) -}}
{{- else -}}
{{- $id -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "git" or "configMap": where the manifests come from. */}}
{{- define "mlspace-operator.sourceKind" -}}
{{- if .Values.source.git.url -}}git{{- else -}}configMap{{- end -}}
{{- end -}}

{{- define "mlspace-operator.manifestsConfigMap" -}}
{{- default (printf "%s-manifests" (include "mlspace-operator.fullname" .)) .Values.source.configMap.name -}}
{{- end -}}

{{/* The --backends file's content: the `backends` value as YAML. */}}
{{- define "mlspace-operator.backendsFile" -}}
{{- toYaml .Values.backends -}}
{{- end -}}

{{- define "mlspace-operator.backendsConfigMap" -}}
{{- printf "%s-backends" (include "mlspace-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mlspace-operator.pvcName" -}}
{{- default (printf "%s-state" (include "mlspace-operator.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* Refuses value combinations the controller would refuse at start. */}}
{{- define "mlspace-operator.validate" -}}
{{- if and .Values.backends (not .Values.backends.backends) -}}
{{- fail "backends.backends: required when backends is set (a list of {name, type, ...}; docs/backends.md)" -}}
{{- end -}}
{{- if and (not .Values.backends) .Values.gateway.url (not .Values.credentials.existingSecret) -}}
{{- fail "credentials.existingSecret: required when gateway.url is set (a Secret with workspace-id and api-key, client-id/client-secret or access-token)" -}}
{{- end -}}
{{- if and .Values.api.enabled (not .Values.api.tokenSecret) -}}
{{- fail "api.tokenSecret: required when api.enabled is true (the API is served beyond loopback only with a bearer token)" -}}
{{- end -}}
{{- if and .Values.api.enabled (not .Values.api.tlsSecret) -}}
{{- fail "api.tlsSecret: required when api.enabled is true (a kubernetes.io/tls Secret, e.g. from cert-manager: kubectl sends tokens only over https)" -}}
{{- end -}}
{{- if and .Values.source.git.url (or .Values.source.configMap.name .Values.source.configMap.files) -}}
{{- fail "source: set either source.git.url or source.configMap, not both" -}}
{{- end -}}
{{- end -}}

{{/* Hardened container securityContext (the pod runs as 65532 with RuntimeDefault seccomp). */}}
{{- define "mlspace-operator.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Whole seconds of a duration like 30s, 2m, 1h or 1m30s (for terminationGracePeriodSeconds). */}}
{{- define "mlspace-operator.seconds" -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9.]+(ms|us|ns|h|m|s)" . -1 -}}
{{- $n := regexFind "^[0-9.]+" . | float64 -}}
{{- $unit := trimPrefix (regexFind "^[0-9.]+" .) . -}}
{{- if eq $unit "h" }}{{ $total = addf $total (mulf $n 3600) }}
{{- else if eq $unit "m" }}{{ $total = addf $total (mulf $n 60) }}
{{- else if eq $unit "s" }}{{ $total = addf $total $n }}
{{- end -}}
{{- end -}}
{{- ceil $total | int -}}
{{- end -}}

{{/*
The ConfigMap source: copies the ConfigMap's files into <repo>/manifests and
commits them when they changed. Called with (dict "root" $ "once" bool).
*/}}
{{- define "mlspace-operator.syncContainer" -}}
{{- $v := .root.Values.source.configMap -}}
image: {{ $v.syncImage }}
imagePullPolicy: IfNotPresent
command: [/bin/sh, -c]
args:
  - |
    set -eu
    repo=/var/lib/mlspace-manifests/repo
    mkdir -p "$repo/manifests"
    [ -d "$repo/.git" ] || git init -q "$repo"
    sync() {
      find "$repo/manifests" -mindepth 1 -maxdepth 1 -type f -delete
      for f in /etc/mlspace/manifests-src/*; do
        [ -f "$f" ] && cp -L "$f" "$repo/manifests/"
      done
      git -C "$repo" add -A
      if ! git -C "$repo" rev-parse -q --verify HEAD >/dev/null; then
        git -C "$repo" commit -q --allow-empty -m "ConfigMap {{ include "mlspace-operator.manifestsConfigMap" .root }}"
      elif ! git -C "$repo" diff --cached --quiet; then
        git -C "$repo" commit -q -m "ConfigMap {{ include "mlspace-operator.manifestsConfigMap" .root }}"
      fi
    }
    sync
    {{- if not .once }}
    while sleep {{ $v.syncIntervalSeconds }}; do sync; done
    {{- end }}
env:
  - name: HOME
    value: /tmp
  - name: GIT_AUTHOR_NAME
    value: mlspace-operator
  - name: GIT_AUTHOR_EMAIL
    value: mlspace-operator@localhost
  - name: GIT_COMMITTER_NAME
    value: mlspace-operator
  - name: GIT_COMMITTER_EMAIL
    value: mlspace-operator@localhost
resources:
  requests:
    cpu: 10m
    memory: 16Mi
  limits:
    memory: 64Mi
securityContext:
  {{- include "mlspace-operator.containerSecurityContext" .root | nindent 2 }}
volumeMounts:
  - name: manifests
    mountPath: /var/lib/mlspace-manifests
  - name: manifests-src
    mountPath: /etc/mlspace/manifests-src
    readOnly: true
  - name: sync-tmp
    mountPath: /tmp
{{- end -}}

{{- define "fleetwall.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fleetwall.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "fleetwall.labels" -}}
app.kubernetes.io/name: {{ include "fleetwall.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "fleetwall.selector" -}}
app.kubernetes.io/name: {{ include "fleetwall.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fleetwall.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fleetwall.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "fleetwall.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* NATS environment shared by controller and agent; "nkey" is the seed file name in the credentials Secret. */}}
{{- define "fleetwall.natsEnv" -}}
- name: FLEETWALL_NATS
  value: {{ .root.Values.nats.url | quote }}
{{- if .root.Values.nats.credentialsSecret }}
- name: FLEETWALL_NATS_NKEY
  value: /etc/fleetwall/nats/{{ .nkey }}
{{- end }}
{{- if .root.Values.nats.tlsSecret }}
- name: FLEETWALL_NATS_CA
  value: /etc/fleetwall/nats-tls/ca.pem
{{- if .root.Values.nats.tlsClientCert }}
- name: FLEETWALL_NATS_CERT
  value: /etc/fleetwall/nats-tls/tls.crt
- name: FLEETWALL_NATS_KEY
  value: /etc/fleetwall/nats-tls/tls.key
{{- end }}
{{- end }}
{{- if .root.Values.nats.tlsName }}
- name: FLEETWALL_NATS_TLS_NAME
  value: {{ .root.Values.nats.tlsName | quote }}
{{- end }}
{{- end -}}

{{- define "fleetwall.natsVolumeMounts" -}}
{{- if .Values.nats.credentialsSecret }}
- name: nats-credentials
  mountPath: /etc/fleetwall/nats
  readOnly: true
{{- end }}
{{- if .Values.nats.tlsSecret }}
- name: nats-tls
  mountPath: /etc/fleetwall/nats-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "fleetwall.natsVolumes" -}}
{{- if .Values.nats.credentialsSecret }}
- name: nats-credentials
  secret:
    secretName: {{ .Values.nats.credentialsSecret }}
    defaultMode: 256  # 0400
{{- end }}
{{- if .Values.nats.tlsSecret }}
- name: nats-tls
  secret:
    secretName: {{ .Values.nats.tlsSecret }}
{{- end }}
{{- end -}}

{{/* A component's probePort, refused when it is its port (the probes need a listener of their own). */}}
{{- define "fleetwall.probePort" -}}
{{- if eq (int .component.port) (int .component.probePort) -}}
{{- fail (printf "%s.probePort must differ from %s.port (%v): the probes need a listener of their own" .name .name .component.port) -}}
{{- end -}}
{{- .component.probePort -}}
{{- end -}}

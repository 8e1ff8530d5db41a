package render

import (
	"fmt"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// officialPod renders what the official Airflow chart (apache/airflow, chart/templates/api-server/ and
// webserver/) makes of the keys a sidecar sets: the component's pod with its extraInitContainers (toYaml),
// extraContainers and extraVolumes (both through tpl) beside the config and dags volumes it always names
// so, its Service looping over service.ports (each port through tpl), and its Ingress putting
// precedingPaths before its own path. The lines are the official chart's, reduced to those keys.
const officialPod = `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-{{ .Values.component }}
spec:
  initContainers:
    {{- toYaml (index .Values .Values.component).extraInitContainers | nindent 4 }}
  containers:
    - name: {{ .Values.component }}
      image: main
    {{- tpl (toYaml (index .Values .Values.component).extraContainers) . | nindent 4 }}
  volumes:
    - name: config
      configMap:
        name: {{ .Release.Name }}-airflow-config
    - name: dags
      persistentVolumeClaim:
        claimName: {{ .Release.Name }}-dags
    {{- tpl (toYaml (index .Values .Values.component).extraVolumes) . | nindent 4 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-{{ .Values.serviceSuffix }}
spec:
  ports:
  {{- range (index .Values .Values.component).service.ports }}
    - name: {{ .name }}
      port: {{ tpl (toString .port) $ | int }}
  {{- end }}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}-ingress
spec:
  rules:
    - http:
        paths:
          {{- range (index .Values.ingress .Values.ingressKey).precedingPaths }}
          - path: {{ .path }}
            pathType: {{ .pathType }}
            backend:
              service:
                name: {{ .serviceName }}
                port:
                  name: {{ .servicePort }}
          {{- end }}
`

// officialDefaults are the official chart's defaults that the sidecar's templates read.
func officialDefaults() map[string]any {
	return map[string]any{
		"defaultAirflowRepository": "apache/airflow",
		"defaultAirflowTag":        "3.0.5",
		"airflowHome":              "/opt/airflow",
		"images":                   map[string]any{"airflow": map[string]any{"repository": nil, "tag": nil}},
		"ports":                    map[string]any{"apiServer": 8080, "airflowUI": 8080},
	}
}

// Official renders a sidecar values file (deploy/official-chart) as the official Airflow chart renders
// those keys for the release name: the pod of component (apiServer on Airflow 3, webserver on Airflow 2)
// with the sidecar's containers and volumes, its Service and its Ingress. The official chart's defaults
// that those keys read are under vals, as a chart's values.yaml is under the values given.
func Official(vals map[string]any, name, component string) (Rendered, error) {
	ingressKey, serviceSuffix := "apiServer", "api-server"
	switch component {
	case "apiServer":
	case "webserver":
		ingressKey, serviceSuffix = "web", "webserver"
	default:
		return Rendered{}, fmt.Errorf("the official chart has no sidecar's component %q", component)
	}
	all := officialDefaults()
	for k, v := range vals {
		all[k] = v
	}
	all["component"], all["ingressKey"], all["serviceSuffix"] = component, ingressKey, serviceSuffix
	ch := &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: "v2", Name: "airflow", Version: "1.18.0"},
		Templates: []*common.File{{Name: "templates/sidecar.yaml", Data: []byte(officialPod)}},
	}
	return Chart(ch, name, "airflow", all)
}

package charttest

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/deploy/charttest/render"
)

// officialKeys are the keys of the official chart a sidecar values file may set, each read by the
// official chart as officialPod shows (dags.persistence.enabled makes the dags volume a PVC).
var officialKeys = map[string][]string{
	"":            {"apiServer", "webserver", "ingress", "dags"},
	"apiServer":   {"extraInitContainers", "extraContainers", "extraVolumes", "service"},
	"webserver":   {"extraInitContainers", "extraContainers", "extraVolumes", "service"},
	"service":     {"ports"},
	"ingress":     {"apiServer", "web"},
	"ingress.*":   {"precedingPaths"},
	"dags":        {"persistence"},
	"persistence": {"enabled"},
}

// checkKeys reports every key of vals that officialKeys does not list at its place.
func checkKeys(tb testing.TB, path string, vals map[string]any) {
	tb.Helper()
	allowed := officialKeys[path[strings.LastIndex(path, ".")+1:]]
	if strings.HasPrefix(path, "ingress.") {
		allowed = officialKeys["ingress.*"]
	}
	for k, v := range vals {
		if !slices.Contains(allowed, k) {
			tb.Errorf("%s is not a key of the official chart that a sidecar sets", strings.TrimPrefix(path+"."+k, "."))
			continue
		}
		if sub, ok := v.(map[string]any); ok && k != "precedingPaths" {
			checkKeys(tb, strings.TrimPrefix(path+"."+k, "."), sub)
		}
	}
}

// TestOfficialChartSidecar renders the sidecar values files as the official chart does for a release named
// airflow and decodes the pod, Service and Ingress strictly: every mount names a volume of the pod, the
// gateway's port is a port of the Service and the Ingress's paths name it, the gateway's container reads
// the release's Secrets itself, and the gateway accepts its environment as its configuration.
func TestOfficialChartSidecar(t *testing.T) {
	for _, tt := range []struct {
		file, component string
		jwt             bool
	}{
		{"values-gateway.yaml", "apiServer", true},
		{"values-gateway-2.x.yaml", "webserver", false},
	} {
		t.Run(tt.file, func(t *testing.T) {
			vals := readValues(t, filepath.Join("..", "..", "official-chart", tt.file))
			checkKeys(t, "", vals)
			rendered, err := render.Official(vals, "airflow", tt.component)
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range rendered.Undecoded {
				t.Errorf("a rendered object does not decode strictly: %v", err)
			}
			r := Rendered{rendered}
			pod := r.Find(t, "Pod").(*corev1.Pod)
			svc := r.Find(t, "Service").(*corev1.Service)
			ing := r.Find(t, "Ingress").(*networkingv1.Ingress)
			volumes := map[string]bool{}
			for _, v := range pod.Spec.Volumes {
				volumes[v.Name] = true
				if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0) {
					t.Errorf("the Secret volume %s is readable by others, which the gateway refuses", v.Name)
				}
			}
			for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
				for _, m := range c.VolumeMounts {
					if !volumes[m.Name] {
						t.Errorf("%s mounts %s, which is not a volume of the pod", c.Name, m.Name)
					}
				}
			}
			if len(pod.Spec.InitContainers) != 1 || !slices.Equal(pod.Spec.InitContainers[0].Command, []string{"/airflow-gateway", "install", "/opt/airflow-gateway"}) {
				t.Errorf("init containers: %+v", pod.Spec.InitContainers)
			}
			idx := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == "airflow-gateway" })
			if idx < 0 {
				t.Fatal("no airflow-gateway container")
			}
			gw := pod.Spec.Containers[idx]
			if gw.Image != "apache/airflow:3.0.5" {
				t.Errorf("the gateway runs in %s, not the chart's Airflow image", gw.Image)
			}
			env, secrets := envOf(gw)
			sort.Strings(secrets)
			if want := []string{"airflow-airflow-metadata/connection", "airflow-fernet-key/fernet-key"}; !slices.Equal(secrets, want) {
				t.Errorf("the sidecar reads %q, want %q", secrets, want)
			}
			cfg, err := config.Parse(nil, func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("the gateway refuses its environment: %v", err)
			}
			if (cfg.AirflowAPIJWTSecret != "") != tt.jwt || cfg.TokensFile == "" || cfg.AirflowAPIURL != "http://127.0.0.1:8080" {
				t.Errorf("jwt_secret_file %q, tokens_file %q, url %q", cfg.AirflowAPIJWTSecret, cfg.TokensFile, cfg.AirflowAPIURL)
			}
			mounted(t, gw, cfg.TokensFile, cfg.AirflowAPIJWTSecret, cfg.StateDir+"/x")
			port := gw.Ports[0]
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == port.Name && p.Port == port.ContainerPort }) {
				t.Errorf("the Service %+v has no port %s = %d", svc.Spec.Ports, port.Name, port.ContainerPort)
			}
			if len(svc.Spec.Ports) < 2 || svc.Spec.Ports[0].Port != 8080 {
				t.Errorf("the Service lost Airflow's own port: %+v", svc.Spec.Ports)
			}
			var paths []string
			for _, p := range ing.Spec.Rules[0].HTTP.Paths {
				paths = append(paths, p.Path)
				if p.Backend.Service.Name != svc.Name || p.Backend.Service.Port.Name != port.Name {
					t.Errorf("the Ingress sends %s to %s:%s, not %s:%s", p.Path, p.Backend.Service.Name, p.Backend.Service.Port.Name, svc.Name, port.Name)
				}
			}
			for _, want := range []string{"/aws_mwaa", "/admin/rest_api"} {
				if !slices.Contains(paths, want) {
					t.Errorf("the Ingress does not send %s to the gateway: %q", want, paths)
				}
			}
			if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasPrefix("/api/v1/command", p) }) {
				t.Errorf("the Ingress does not send /api/v1/command to the gateway: %q", paths)
			}
		})
	}
}

// mounted checks that each file is in a folder the container mounts.
func mounted(tb testing.TB, c corev1.Container, files ...string) {
	tb.Helper()
	for _, f := range files {
		if f == "" || f == "/x" {
			continue
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return filepath.Dir(f) == m.MountPath }) {
			tb.Errorf("%s is not in a folder %s mounts", f, c.Name)
		}
	}
}

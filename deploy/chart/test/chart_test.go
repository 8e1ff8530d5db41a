// Package charttest holds the chart deploy/chart/airflow-gateway to what Kubernetes and the gateway accept,
// without a cluster: Helm (as a library, pinned in this module's go.mod) lints it and renders it for every
// ci/*-values.yaml, every rendered object is decoded strictly into the Kubernetes API's Go types, and the
// rendered gateway.cfg is read by the gateway's own config package. It is a module of its own so that Helm
// and k8s.io stay out of the gateway's module.
package charttest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/airflow-gateway/airflow-gateway/config"
)

// show logs every rendered manifest, as `helm template` prints it: go test -run TestRenderCIValues -v -args -show
var show = flag.Bool("show", false, "log every rendered manifest")

// chartDir is the chart under test.
var chartDir = filepath.Join("..", "airflow-gateway")

// The release and namespace the chart is rendered as.
const (
	releaseName = "gw"
	namespace   = "airflow"
)

// kubeVersion is the oldest Kubernetes the chart says it supports (Chart.yaml's kubeVersion).
var kubeVersion = &common.KubeVersion{Version: "v1.25.0", Major: "1", Minor: "25"}

// Rendered is one rendering of the chart: its objects, decoded into their API types, and its notes.
type Rendered struct {
	Objects []Object
	Notes   string
}

// Object is one rendered object: its kind, name and the typed value it decoded into.
type Object struct {
	Kind, Name string
	Hook       bool
	Value      any
}

// Find returns the one object of kind, failing the test when there is not exactly one.
func (r Rendered) Find(tb testing.TB, kind string) any {
	tb.Helper()
	var found []any
	for _, o := range r.Objects {
		if o.Kind == kind {
			found = append(found, o.Value)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("%d objects of kind %s, want 1", len(found), kind)
	}
	return found[0]
}

// Kinds counts the rendered objects by kind.
func (r Rendered) Kinds() map[string]int {
	kinds := map[string]int{}
	for _, o := range r.Objects {
		kinds[o.Kind]++
	}
	return kinds
}

// ServiceMonitor is the part of the Prometheus operator's ServiceMonitor (monitoring.coreos.com/v1) that
// the chart renders; its Go types are not pulled in for one object, so this mirrors the fields used.
type ServiceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			Authorization *struct {
				Type        string                   `json:"type"`
				Credentials corev1.SecretKeySelector `json:"credentials"`
			} `json:"authorization,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// typed returns a new value of the API type of apiVersion and kind.
func typed(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1 Pod":
		return &corev1.Pod{}, true
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}, true
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, true
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &ServiceMonitor{}, true
	}
	return nil, false
}

// decodeStrict decodes one YAML document into its API type; a field the type lacks fails.
func decodeStrict(doc string) (Object, error) {
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return Object{}, err
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Object{}, err
	}
	v, ok := typed(head.APIVersion, head.Kind)
	if !ok {
		return Object{}, fmt.Errorf("%s %s: no API type known to this test", head.APIVersion, head.Kind)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
	}
	return Object{Kind: head.Kind, Name: head.Metadata.Name, Value: v}, nil
}

// loadChart loads the chart from its folder.
func loadChart(tb testing.TB) *chart.Chart {
	tb.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		tb.Fatal(err)
	}
	return ch
}

// readValues reads a values file.
func readValues(tb testing.TB, path string) map[string]any {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return vals
}

// render renders the chart as `helm template` does (the values checked against values.schema.json
// first), or returns Helm's error.
func render(tb testing.TB, ch *chart.Chart, vals map[string]any) (Rendered, error) {
	tb.Helper()
	return renderAs(tb, ch, releaseName, vals)
}

// renderAs renders the chart as a release of the given name.
func renderAs(tb testing.TB, ch *chart.Chart, name string, vals map[string]any) (Rendered, error) {
	tb.Helper()
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = name
	install.Namespace = namespace
	install.KubeVersion = kubeVersion
	rel, err := install.Run(ch, vals)
	if err != nil {
		return Rendered{}, err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		tb.Fatalf("Helm returned a %T", rel)
	}
	out := Rendered{Notes: r.Info.Notes}
	if *show {
		tb.Logf("rendered:\n%s", r.Manifest)
		for _, h := range r.Hooks {
			tb.Logf("hook %s:\n%s", h.Name, h.Manifest)
		}
		tb.Logf("NOTES.txt:\n%s", r.Info.Notes)
	}
	add := func(manifest string, hook bool) {
		for _, doc := range strings.Split(manifest, "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
				continue
			}
			o, err := decodeStrict(doc)
			if err != nil {
				tb.Errorf("a rendered object does not decode strictly: %v\n%s", err, doc)
				continue
			}
			o.Hook = hook
			out.Objects = append(out.Objects, o)
		}
	}
	add(r.Manifest, false)
	for _, h := range r.Hooks {
		add(h.Manifest, true)
	}
	return out, nil
}

// mustRender renders the chart, failing the test on Helm's error.
func mustRender(tb testing.TB, ch *chart.Chart, vals map[string]any) Rendered {
	tb.Helper()
	r, err := render(tb, ch, vals)
	if err != nil {
		tb.Fatalf("render: %v", err)
	}
	return r
}

// ciValues lists ci/*-values.yaml.
func ciValues(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no ci/*-values.yaml: %v", err)
	}
	return files
}

// TestLint runs `helm lint --strict` on the chart with its defaults and with every ci/*-values.yaml.
func TestLint(t *testing.T) {
	for _, file := range append([]string{""}, ciValues(t)...) {
		name := cmpOr(filepath.Base(file), "defaults")
		t.Run(name, func(t *testing.T) {
			vals := map[string]any{"tokens": map[string]any{"existingSecret": "tokens"}}
			if file != "" {
				vals = readValues(t, file)
			}
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = namespace
			lint.KubeVersion = kubeVersion
			result := lint.Run([]string{chartDir}, vals)
			for _, err := range result.Errors {
				t.Errorf("helm lint: %v", err)
			}
			for _, m := range result.Messages {
				t.Logf("helm lint: %s", m.Error())
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "." && a != "" {
		return a
	}
	return b
}

// gatewayContainer returns the Deployment's container named gateway.
func gatewayContainer(tb testing.TB, d *appsv1.Deployment) corev1.Container {
	tb.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "gateway" {
			return c
		}
	}
	tb.Fatal("the Deployment has no container named gateway")
	return corev1.Container{}
}

// envOf returns the container's environment as the gateway would see it, each Secret's key replaced by a
// value fit for it, and the Secrets it reads (name/key).
func envOf(c corev1.Container) (env map[string]string, secrets []string) {
	fake := map[string]string{
		"AIRFLOW_GATEWAY__GATEWAY__SECRET_KEY": "0123456789abcdef0123456789abcdef",
		"AIRFLOW_GATEWAY__JOBS__DATABASE_URL":  "postgres://gateway:password@postgresql:5432/gateway?sslmode=require",
	}
	env = map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			env[e.Name] = cmpOr(fake[e.Name], "secret")
			secrets = append(secrets, e.ValueFrom.SecretKeyRef.Name+"/"+e.ValueFrom.SecretKeyRef.Key)
			continue
		}
		env[e.Name] = e.Value
	}
	return env, secrets
}

// gatewayConfig reads the rendered gateway.cfg with the gateway's own config package, and the container's
// environment over it, as the gateway does at start.
func gatewayConfig(tb testing.TB, r Rendered) *config.Config {
	tb.Helper()
	cm := r.Find(tb, "ConfigMap").(*corev1.ConfigMap)
	env, _ := envOf(gatewayContainer(tb, r.Find(tb, "Deployment").(*appsv1.Deployment)))
	cfg, err := config.Parse([]byte(cm.Data["gateway.cfg"]), func(k string) string { return env[k] })
	if err != nil {
		tb.Fatalf("the gateway refuses the rendered gateway.cfg: %v\n%s", err, cm.Data["gateway.cfg"])
	}
	return cfg
}

// TestRenderCIValues renders the chart for every ci/*-values.yaml and checks what every pod needs: the
// binary copied in by the init container, the gateway run from it in the Airflow image as non-root, its
// probes, the checksum annotations, and a gateway.cfg the gateway accepts.
func TestRenderCIValues(t *testing.T) {
	ch := loadChart(t)
	for _, file := range ciValues(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := mustRender(t, ch, readValues(t, file))
			kinds := r.Kinds()
			t.Logf("%d objects: %v", len(r.Objects), kinds)
			d := r.Find(t, "Deployment").(*appsv1.Deployment)
			pod := d.Spec.Template.Spec
			if len(pod.InitContainers) != 1 || !slices.Equal(pod.InitContainers[0].Command, []string{"/airflow-gateway", "install", "/opt/airflow-gateway"}) {
				t.Errorf("init containers: %+v", pod.InitContainers)
			}
			if img := pod.InitContainers[0].Image; img != "ghcr.io/airflow-gateway/airflow-gateway:"+ch.Metadata.AppVersion {
				t.Errorf("the init container's image is %s", img)
			}
			c := gatewayContainer(t, d)
			if want := []string{"/opt/airflow-gateway/airflow-gateway", "serve", "--config", "/etc/airflow-gateway/gateway.cfg"}; !slices.Equal(c.Command, want) {
				t.Errorf("the gateway's command is %q", c.Command)
			}
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/health/live" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/health/ready" {
				t.Errorf("probes: %+v %+v", c.LivenessProbe, c.ReadinessProbe)
			}
			sc := pod.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
				t.Errorf("the pod may run as root: %+v", sc)
			}
			for _, a := range []string{"checksum/config", "checksum/secrets"} {
				if d.Spec.Template.Annotations[a] == "" {
					t.Errorf("no %s annotation", a)
				}
			}
			if c.Env[0].Name != "AIRFLOW_HOME" {
				t.Errorf("the first variable is %s, not AIRFLOW_HOME", c.Env[0].Name)
			}
			cfg := gatewayConfig(t, r)
			if cfg.Listen != "0.0.0.0:8080" || cfg.StateDir != "/var/lib/airflow-gateway" {
				t.Errorf("listen %s, state_dir %s", cfg.Listen, cfg.StateDir)
			}
			mountedFiles(t, d, cfg)
			if kinds["Pod"] != 1 || !slices.ContainsFunc(r.Objects, func(o Object) bool { return o.Kind == "Pod" && o.Hook }) {
				t.Errorf("no helm test pod")
			}
			if !strings.Contains(r.Notes, "/api/v1/command?command=") || !strings.Contains(r.Notes, "/aws_mwaa/cli") ||
				!strings.Contains(r.Notes, "/admin/rest_api/api?api=version") || !strings.Contains(r.Notes, "/api/v1/dags") {
				t.Errorf("NOTES.txt lacks a dialect's call:\n%s", r.Notes)
			}
		})
	}
}

// mountedFiles checks that every file gateway.cfg names is mounted into the gateway's container.
func mountedFiles(tb testing.TB, d *appsv1.Deployment, cfg *config.Config) {
	tb.Helper()
	c := gatewayContainer(tb, d)
	for _, file := range []string{cfg.TokensFile, cfg.AirflowAPIUsersFile, cfg.AirflowAPIJWTSecret, cfg.AirflowAPIJWTKey} {
		if file == "" {
			continue
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return filepath.Dir(file) == m.MountPath }) {
			tb.Errorf("%s is not in a mounted folder: %+v", file, c.VolumeMounts)
		}
	}
}

// TestBesideOfficialChart: with airflow.release, the gateway reads that release's Secrets, airflow.cfg and
// DAGs, and reaches its API server.
func TestBesideOfficialChart(t *testing.T) {
	ch := loadChart(t)
	r := mustRender(t, ch, readValues(t, filepath.Join(chartDir, "ci", "official-chart-release-values.yaml")))
	d := r.Find(t, "Deployment").(*appsv1.Deployment)
	env, secrets := envOf(gatewayContainer(t, d))
	sort.Strings(secrets)
	if want := []string{"airflow-airflow-metadata/connection", "airflow-fernet-key/fernet-key"}; !slices.Equal(secrets, want) {
		t.Errorf("the Secrets read into the environment are %q, want %q", secrets, want)
	}
	if _, ok := env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]; !ok {
		t.Error("no AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	if v := volumes["dags"]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "airflow-dags" {
		t.Errorf("dags volume: %+v", v)
	}
	if v := volumes["airflow-config"]; v.ConfigMap == nil || v.ConfigMap.Name != "airflow-airflow-config" {
		t.Errorf("airflow.cfg volume: %+v", v)
	}
	if v := volumes["jwt"]; v.Secret == nil || v.Secret.SecretName != "airflow-jwt-secret" || *v.Secret.DefaultMode&0o007 != 0 {
		t.Errorf("JWT secret volume: %+v", v)
	}
	cfg := gatewayConfig(t, r)
	if cfg.AirflowAPIURL != "http://airflow-api-server:8080" || cfg.AirflowAPIJWTSecret == "" {
		t.Errorf("[airflow_api] url %q, jwt_secret_file %q", cfg.AirflowAPIURL, cfg.AirflowAPIJWTSecret)
	}

	// Airflow 2: the webserver, and no JWT secret.
	vals := readValues(t, filepath.Join(chartDir, "ci", "official-chart-release-values.yaml"))
	vals["airflow"].(map[string]any)["majorVersion"] = 2
	vals["airflow"].(map[string]any)["release"] = "prod"
	cfg = gatewayConfig(t, mustRender(t, ch, vals))
	if cfg.AirflowAPIURL != "http://prod-webserver:8080" || cfg.AirflowAPIJWTSecret != "" {
		t.Errorf("on Airflow 2: [airflow_api] url %q, jwt_secret_file %q", cfg.AirflowAPIURL, cfg.AirflowAPIJWTSecret)
	}
}

// TestRefusedValues: values the gateway could not run with are refused by the schema or the templates,
// with a message that says what to set.
func TestRefusedValues(t *testing.T) {
	ch := loadChart(t)
	tokens := map[string]any{"existingSecret": "tokens"}
	for _, tt := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"no token", map[string]any{}, "set tokens.existingSecret"},
		{"two replicas on SQLite", map[string]any{"tokens": tokens, "replicaCount": 2, "secretKey": map[string]any{"existingSecret": "s"}}, "jobs.database.existingSecret"},
		{"two replicas without secret_key", map[string]any{"tokens": tokens, "replicaCount": 2, "jobs": map[string]any{"database": map[string]any{"existingSecret": "db"}}}, "secretKey.existingSecret"},
		{"a key the chart sets", map[string]any{"tokens": tokens, "config": map[string]any{"gateway": map[string]any{"listen": "0.0.0.0:1"}}}, "listen"},
		{"a secret in values", map[string]any{"tokens": tokens, "config": map[string]any{"gateway": map[string]any{"secret_key": "x"}}}, "secret_key"},
		{"an unknown section", map[string]any{"tokens": tokens, "config": map[string]any{"webserver": map[string]any{}}}, "webserver"},
		{"an unknown value", map[string]any{"tokens": tokens, "replicas": 2}, "replicas"},
		{"both JWT keys", map[string]any{"tokens": tokens, "airflowAPI": map[string]any{
			"jwtSecret": map[string]any{"existingSecret": "a"}, "jwtPrivateKey": map[string]any{"existingSecret": "b", "kid": "k"}}}, "both set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, ch, tt.vals)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("render: %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// TestConfigValuesAreGatewayKeys: every key values.schema.json lets config hold is a key of the gateway's
// configuration, in its section, and none is a secret (secrets come from Secrets only).
func TestConfigValuesAreGatewayKeys(t *testing.T) {
	known := map[string]config.Key{}
	for _, k := range config.Keys() {
		known[k.Section+"."+k.Name] = k
	}
	schema := readSchema(t)
	sections := schema.Properties["config"].Properties
	if len(sections) == 0 {
		t.Fatal("values.schema.json has no config sections")
	}
	for section, s := range sections {
		for key := range s.Properties {
			k, ok := known[section+"."+key]
			switch {
			case !ok:
				t.Errorf("config.%s.%s is not a key of the gateway's configuration", section, key)
			case k.Secret:
				t.Errorf("config.%s.%s is a secret: take it from a Secret", section, key)
			}
		}
	}
}

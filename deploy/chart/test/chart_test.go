// Package charttest holds the chart deploy/chart/airflow-gateway to what Kubernetes and the gateway accept,
// without a cluster: Helm (as a library, pinned in this module's go.mod) lints it and renders it for every
// ci/*-values.yaml, every rendered object is decoded strictly into the Kubernetes API's Go types, and the
// rendered gateway.cfg is read by the gateway's own config package. It is a module of its own so that Helm
// and k8s.io stay out of the gateway's module.
package charttest

import (
	"flag"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/deploy/charttest/render"
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
var kubeVersion = render.KubeVersion

// Rendered is one rendering of the chart.
type Rendered struct{ render.Rendered }

// Object is one rendered object.
type Object = render.Object

// ServiceMonitor is the Prometheus operator's object, as the chart renders it.
type ServiceMonitor = render.ServiceMonitor

// Find returns the one object of kind, failing the test when there is not exactly one.
func (r Rendered) Find(tb testing.TB, kind string) any {
	tb.Helper()
	v, err := r.One(kind)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// loadChart loads the chart from its folder.
func loadChart(tb testing.TB) *chart.Chart {
	tb.Helper()
	ch, err := render.Load(chartDir)
	if err != nil {
		tb.Fatal(err)
	}
	return ch
}

// readValues reads a values file.
func readValues(tb testing.TB, path string) map[string]any {
	tb.Helper()
	vals, err := render.ReadValues(path)
	if err != nil {
		tb.Fatal(err)
	}
	return vals
}

// render renders the chart as `helm template` does (the values checked against values.schema.json
// first), or returns Helm's error.
func renderChart(tb testing.TB, ch *chart.Chart, vals map[string]any) (Rendered, error) {
	tb.Helper()
	return renderAs(tb, ch, releaseName, vals)
}

// renderAs renders the chart as a release of the given name; an object that does not decode strictly
// fails the test.
func renderAs(tb testing.TB, ch *chart.Chart, name string, vals map[string]any) (Rendered, error) {
	tb.Helper()
	r, err := render.Chart(ch, name, namespace, vals)
	if err != nil {
		return Rendered{}, err
	}
	if *show {
		tb.Logf("rendered:\n%s\nNOTES.txt:\n%s", r.Manifest, r.Notes)
	}
	for _, err := range r.Undecoded {
		tb.Errorf("a rendered object does not decode strictly: %v", err)
	}
	return Rendered{r}, nil
}

// mustRender renders the chart, failing the test on Helm's error.
func mustRender(tb testing.TB, ch *chart.Chart, vals map[string]any) Rendered {
	tb.Helper()
	r, err := renderChart(tb, ch, vals)
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
			_, err := renderChart(t, ch, tt.vals)
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

package kubelet_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/airflow-gateway/airflow-gateway/deploy/charttest/kubelet"
	"github.com/airflow-gateway/airflow-gateway/deploy/charttest/render"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

func TestMain(m *testing.M) {
	kubelet.Main()
	code := m.Run()
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
	os.Exit(code)
}

// The repository and the chart, from this package's folder.
var (
	repoDir  = filepath.Join("..", "..", "..", "..")
	chartDir = filepath.Join("..", "..", "airflow-gateway")
)

// The namespace the pods run in, and the name of the official chart's release they run beside.
const (
	namespace = "airflow"
	release   = "gw"
)

// seedToken is the token of the tokens file the seeds' calls send: an Admin acting as Airflow's admin.
const seedToken = "seed-token-of-the-kubelet-test-0123456789"

var (
	imageOnce    sync.Once
	imageDir     string // the archive and its files, removed when the tests end
	gatewayImage kubelet.Image
	imageErr     error
	imagePrinted string // what make image printed: the archive and its digest
)

// gatewayImageOf builds the gateway's image with make image, once per test binary, and unpacks it: the
// files of the init container's and the helm test pod's image.
func gatewayImageOf(tb testing.TB) kubelet.Image {
	tb.Helper()
	imageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gateway-image-")
		if err != nil {
			imageErr = err
			return
		}
		imageDir = dir
		archive := filepath.Join(dir, "image.oci.tar")
		cmd := exec.Command("make", "-s", "--no-print-directory", "image", "IMAGE="+archive)
		cmd.Dir = repoDir
		out, err := cmd.Output()
		if err != nil {
			imageErr = fmt.Errorf("make image: %v\n%s", err, out)
			return
		}
		if printed := strings.Fields(string(out)); len(printed) != 2 || printed[0] != archive || !strings.HasPrefix(printed[1], "sha256:") {
			imageErr = fmt.Errorf("make image printed %q", out)
			return
		}
		imagePrinted = strings.TrimSpace(string(out))
		root := filepath.Join(dir, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			imageErr = err
			return
		}
		gatewayImage, imageErr = kubelet.UnpackOCI(archive, root)
	})
	if imageErr != nil {
		tb.Fatal(imageErr)
	}
	tb.Logf("the init container's image: make image wrote %s", imagePrinted)
	return gatewayImage
}

// airflowImage is the test bed's Airflow as an image of the node: the node's own files, with the
// installed Airflow first on PATH, and what the official image makes for its user airflow (50000, group
// 0): AIRFLOW_HOME and a home folder it owns, the installation readable by it, and an empty /tmp.
func airflowImage(airflow string) kubelet.Image {
	return kubelet.Image{
		Root: "/",
		Env: []string{"PATH=" + filepath.Dir(airflow) + ":/usr/local/bin:/usr/bin:/bin", "AIRFLOW_HOME=/opt/airflow",
			"HOME=/home/airflow", "LANG=C.UTF-8"},
		Dirs: []kubelet.Dir{{Path: "/root", Mode: 0o755}, {Path: "/opt/airflow", Mode: 0o775, UID: 50000},
			{Path: "/home/airflow", Mode: 0o755, UID: 50000}},
		// The node's /tmp holds every other test's files; the image's is empty (with it, Airflow 2.10's
		// FAB auth manager took half a minute to start).
		Empty: []kubelet.Dir{{Path: "/tmp", Mode: 0o777 | os.ModeSticky}},
	}
}

// cluster is an Airflow release of the official chart as the gateway's pods see it: PostgreSQL, the
// metadata DB's Secret, the Fernet key's, the JWT secret's, airflow.cfg's ConfigMap, the DAGs' claim,
// and the API server's (or webserver's) Service, on a node that plays the kubelet.
type cluster struct {
	node    *kubelet.Node
	home    *testbed.Home
	api     *testbed.AirflowAPI
	pg      *testbed.Postgres
	version string
}

// inCluster turns a URL of the test bed's PostgreSQL to one through the release's PostgreSQL Service.
func (c *cluster) inCluster(url string) string {
	return strings.Replace(url, fmt.Sprintf("127.0.0.1:%d", c.pg.Port), "airflow-postgresql:5432", 1)
}

// newCluster starts PostgreSQL, an Airflow home of major on it with the test bed's DAGs (and gw_slow, when
// slow), and Airflow's API server (webserver on 2.x), and makes the node with the release's objects.
func newCluster(t *testing.T, major string, slow bool) *cluster {
	t.Helper()
	pg := testbed.StartPostgres(t)
	conn := pg.SQLAlchemyURL(pg.NewDatabaseName(t))
	home := testbed.MustHomeOn(t, major, conn, "")
	if slow {
		testbed.PlantSlowDAG(t, home)
	}
	// Airflow's admin alone: on FAB each user costs a run of Airflow's CLI.
	api := testbed.StartAirflowAPIFor(t, home, []string{"Admin"})
	c := &cluster{node: kubelet.NewNode(t, namespace), home: home, api: api, pg: pg, version: api.Version(t)}
	n := c.node
	n.Service("airflow-postgresql", 5432, fmt.Sprintf("127.0.0.1:%d", pg.Port))
	apiAddr := strings.TrimPrefix(api.URL, "http://")
	if api.Major >= 3 {
		n.Service("airflow-api-server", 8080, apiAddr)
	} else {
		n.Service("airflow-webserver", 8080, apiAddr)
	}
	n.Secrets["airflow-airflow-metadata"] = map[string]string{"connection": c.inCluster(conn)}
	n.Secrets["airflow-fernet-key"] = map[string]string{"fernet-key": base64.URLEncoding.EncodeToString([]byte("fernet-key-of-the-kubelet-test!!"))}
	n.Secrets["airflow-jwt-secret"] = map[string]string{"jwt-secret": testbed.JWTSecret}
	// airflow.cfg as the official chart renders it for its components: the DAGs volume, logs in
	// AIRFLOW_HOME, the API's URL, the same users for every component.
	cfg := "[core]\ndags_folder = /opt/airflow/dags\nload_examples = False\n"
	if users := api.SimpleAuthManagerUsers(); users != "" {
		cfg += "simple_auth_manager_users = " + users + "\n"
	}
	cfg += "\n[logging]\nbase_log_folder = /opt/airflow/logs\n"
	n.ConfigMaps["airflow-airflow-config"] = map[string]string{"airflow.cfg": cfg}
	// The DAGs' claim: the home's DAGs folder, which the release's group 0 may write, as its PVC does.
	if err := os.Chmod(home.Dags, 0o775); err != nil {
		t.Fatal(err)
	}
	n.Claims["airflow-dags"] = home.Dags
	image := airflowImage(home.Airflow)
	n.Images["apache/airflow:"+c.version] = image
	return c
}

// tokensFile is the tokens file with the seed token, acting as Airflow's admin user.
func (c *cluster) tokensFile() string {
	return fmt.Sprintf("[seed]\nrole = Admin\nsha256 = %x\nairflow_user = %s\n", sha256.Sum256([]byte(seedToken)), c.api.Users["Admin"])
}

// renderFor renders the chart for a ci values file, the Airflow image's tag set to the test bed's release,
// and what more sets.
func (c *cluster) renderFor(t *testing.T, file string, more map[string]any) render.Rendered {
	t.Helper()
	ch, err := render.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := render.ReadValues(filepath.Join(chartDir, "ci", file))
	if err != nil {
		t.Fatal(err)
	}
	vals = merge(vals, map[string]any{"image": map[string]any{"airflow": map[string]any{"repository": "apache/airflow", "tag": c.version}}})
	vals = merge(vals, more)
	r, err := render.Chart(ch, release, namespace, vals)
	if err != nil {
		t.Fatalf("render %s: %v", file, err)
	}
	for _, err := range r.Undecoded {
		t.Errorf("a rendered object does not decode strictly: %v", err)
	}
	c.node.Images[fmt.Sprintf("ghcr.io/airflow-gateway/airflow-gateway:%s", ch.Metadata.AppVersion)] = gatewayImageOf(t)
	return r
}

// merge returns a with b's values set over it, maps merged key by key.
func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = merge(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// gateway is the chart's Deployment running on the node: its pods and its Service.
type gateway struct {
	rendered render.Rendered
	mu       sync.Mutex
	pods     []*kubelet.Pod
	service  *kubelet.Service
	svc      *corev1.Service
}

// deploy runs the rendered Deployment's replicas (the autoscaler's minimum when it has one) and its
// Service, and waits until every pod is ready.
func deploy(t *testing.T, c *cluster, r render.Rendered) *gateway {
	t.Helper()
	g := &gateway{rendered: r}
	for _, cm := range r.Of("ConfigMap") {
		cm := cm.(*corev1.ConfigMap)
		c.node.ConfigMaps[cm.Name] = cm.Data
	}
	d := one[*appsv1.Deployment](t, r, "Deployment")
	g.svc = one[*corev1.Service](t, r, "Service")
	port := g.svc.Spec.Ports[0]
	g.service = c.node.ServiceOf(g.svc.Name, int(port.Port), containerPort(t, d, port.TargetPort.StrVal), g.Pods)
	replicas := 1
	if d.Spec.Replicas != nil {
		replicas = int(*d.Spec.Replicas)
	} else if hpa := r.Of("HorizontalPodAutoscaler"); len(hpa) == 1 {
		replicas = int(*hpa[0].(*autoscalingv2.HorizontalPodAutoscaler).Spec.MinReplicas)
	}
	started := time.Now()
	for i := range replicas {
		pod := c.node.RunPod(t, fmt.Sprintf("%s-%d", d.Name, i), d.Spec.Template.Spec)
		g.mu.Lock()
		g.pods = append(g.pods, pod)
		g.mu.Unlock()
	}
	for _, p := range g.Pods() {
		p.WaitReady(t, 3*time.Minute)
	}
	t.Logf("%d pods of %s ready %s after the first started", replicas, d.Name, time.Since(started).Round(time.Millisecond))
	return g
}

// Pods returns the Deployment's pods.
func (g *gateway) Pods() []*kubelet.Pod {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*kubelet.Pod(nil), g.pods...)
}

func one[T any](t *testing.T, r render.Rendered, kind string) T {
	t.Helper()
	v, err := r.One(kind)
	if err != nil {
		t.Fatal(err)
	}
	return v.(T)
}

// containerPort is the gateway container's port of that name.
func containerPort(t *testing.T, d *appsv1.Deployment, name string) int {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return int(p.ContainerPort)
			}
		}
	}
	t.Fatalf("no container port named %s", name)
	return 0
}

// notesCall is one command of the rendered NOTES.txt, under the comment above it.
type notesCall struct{ comment, line string }

// notesCalls reads the commands NOTES.txt shows (kubectl and curl, continued lines joined).
func notesCalls(notes string) []notesCall {
	var calls []notesCall
	var comment, cont string
	for _, line := range strings.Split(notes, "\n") {
		line = strings.TrimSpace(line)
		if cont != "" {
			line, cont = cont+" "+line, ""
		}
		if strings.HasSuffix(line, "\\") {
			cont = strings.TrimSuffix(line, "\\")
			continue
		}
		switch {
		case strings.HasPrefix(line, "# "):
			comment = strings.TrimPrefix(line, "# ")
		case strings.HasPrefix(line, "kubectl ") || strings.HasPrefix(line, "curl "):
			calls = append(calls, notesCall{comment, line})
			comment = ""
		}
	}
	return calls
}

// seedsCalls runs the calls NOTES.txt prints, as its reader would after its port-forward, through the
// Service: each dialect's, and Airflow's REST API, and checks each answer names a DAG of the DAGs folder
// or Airflow's version.
func seedsCalls(t *testing.T, c *cluster, g *gateway) {
	t.Helper()
	calls := notesCalls(g.rendered.Notes)
	forward := regexp.MustCompile(`^kubectl --namespace (\S+) port-forward service/(\S+) (\d+):(\d+)$`)
	var local string
	var ran int
	for _, call := range calls {
		if m := forward.FindStringSubmatch(call.line); m != nil {
			if m[1] != namespace || m[2] != g.svc.Name || m[4] != fmt.Sprint(g.svc.Spec.Ports[0].Port) {
				t.Errorf("NOTES.txt forwards %s, not the Service %s/%s:%d", call.line, namespace, g.svc.Name, g.svc.Spec.Ports[0].Port)
			}
			local = "http://127.0.0.1:" + m[3]
			continue
		}
		if local == "" {
			t.Fatalf("NOTES.txt shows %q before its port-forward", call.line)
		}
		line := strings.ReplaceAll(call.line, local, g.service.Forward(t))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", line)
		cmd.Env = append(os.Environ(), "TOKEN="+seedToken)
		out, err := cmd.CombinedOutput()
		cancel()
		want := "gw_two_tasks"
		if strings.Contains(line, "/health") || strings.Contains(line, "api=version") {
			want = c.version
		}
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("%s\n%s: %v, want %q in:\n%s", call.comment, call.line, err, want, out)
			continue
		}
		ran++
		t.Logf("%s: %s: %d bytes, naming %s", cmp.Or(call.comment, "health"), call.line, len(out), want)
	}
	if ran != 5 {
		t.Errorf("%d of NOTES.txt's calls ran, want 5 (health, plugin, command, MWAA, REST):\n%s", ran, g.rendered.Notes)
	}
}

// helmTest runs the chart's helm test pod and checks it passes.
func helmTest(t *testing.T, c *cluster, r render.Rendered) {
	t.Helper()
	for _, o := range r.Objects {
		pod, ok := o.Value.(*corev1.Pod)
		if !ok || !o.Hook || !strings.Contains(pod.Annotations["helm.sh/hook"], "test") {
			continue
		}
		p := c.node.RunPod(t, pod.Name, pod.Spec)
		for name, ct := range p.Containers() {
			if err := ct.Wait(time.Minute); err != nil {
				t.Errorf("helm test: %s/%s: %v\n%s", pod.Name, name, err, ct.Logs)
				continue
			}
			if !strings.Contains(ct.Logs.String(), c.version) {
				t.Errorf("helm test: %s/%s printed no Airflow version:\n%s", pod.Name, name, ct.Logs)
			}
		}
		return
	}
	t.Error("no helm test pod was rendered")
}

// TestChartOnAirflow3 runs the chart's two-replica values on the node beside Airflow 3 on PostgreSQL:
// two pods whose init container installs the binary of make image's archive, and whose gateway runs in
// the test bed's Airflow. The seeds' calls go through the Service; helm test passes; a job started on one
// pod is followed on the other; a pod killed mid-job leaves the job lost, read on the other, which keeps
// serving.
func TestChartOnAirflow3(t *testing.T) {
	testbed.SkipShort(t, "Airflow 3, PostgreSQL and the gateway's image")
	t.Parallel()
	c := newCluster(t, "3", true)
	c.node.Secrets["airflow-gateway"] = map[string]string{
		"secret-key":   "the-pods-share-this-secret-key-0123456789",
		"tokens.ini":   c.tokensFile(),
		"database-url": c.inCluster(c.pg.NewDatabase(t)),
	}
	c.node.Secrets["airflow-gateway-test-token"] = map[string]string{"token": seedToken}
	// A short lease, so that the killed pod's job is found lost in seconds.
	r := c.renderFor(t, "two-replicas-postgres-values.yaml", map[string]any{"config": map[string]any{"jobs": map[string]any{"lease": "3s"}}})
	g := deploy(t, c, r)
	if n := len(g.Pods()); n != 2 {
		t.Fatalf("%d pods, want the 2 of the values", n)
	}

	t.Run("the seeds' calls", func(t *testing.T) { seedsCalls(t, c, g) })
	t.Run("helm test", func(t *testing.T) { helmTest(t, c, r) })
	t.Run("a job across pods, and a pod killed while it runs", func(t *testing.T) { jobAcrossPods(t, g) })
}

// jobAcrossPods starts gw_slow's task as a job on the first pod, follows its output on the second, kills
// the first, and reads the job lost on the second and through the Service.
func jobAcrossPods(t *testing.T, g *gateway) {
	pods := g.Pods()
	victim, other := pods[0], pods[1]
	on := func(p *kubelet.Pod) *testbed.Client {
		return &testbed.Client{URL: p.Forward(t, 8080), Token: seedToken}
	}
	job := on(victim).StartJob(t, "tasks test gw_slow tick 2024-01-01")
	// A replica is named after its host, the pod.
	if !strings.HasPrefix(job.Replica, victim.Name+"-") {
		t.Errorf("the job names the replica %q, not one of the pod %s", job.Replica, victim.Name)
	}
	ticks := 0
	on(other).Follow(t, job.ID, "", func(ev testbed.Event) bool {
		if strings.Contains(ev.Data, "tick") {
			ticks++
		}
		return ticks < 2
	})
	if ticks < 2 {
		t.Fatalf("the other pod followed %d ticks of the job", ticks)
	}
	victim.Kill()
	killed := time.Now()
	var lost *testbed.JobDoc
	survivor := on(other)
	for time.Since(killed) < time.Minute {
		if lost = survivor.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); lost.State != "running" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lost.State != "lost" {
		t.Fatalf("the killed pod's job reads %s on the other pod", lost.State)
	}
	t.Logf("the killed pod's job read lost on the other %s after the kill", time.Since(killed).Round(time.Millisecond))
	through := &testbed.Client{URL: g.service.Forward(t), Token: seedToken}
	if got := through.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); got.State != "lost" {
		t.Errorf("through the Service the job reads %s", got.State)
	}
	if a := through.Get(t, "/api/v1/command?command="+"dags%20list%20-o%20json"); a.Status != http.StatusOK || !strings.Contains(string(a.Body), "gw_two_tasks") {
		t.Errorf("the Service does not serve after the kill: %d %s", a.Status, a.Body)
	}
}

// TestChartOnAirflow2 runs the chart's values beside an Airflow 2 release on the node: one pod beside
// Airflow 2.10 on PostgreSQL, REST through its webserver as users_file's user; the seeds' calls and helm
// test.
func TestChartOnAirflow2(t *testing.T) {
	testbed.SkipShort(t, "Airflow 2, PostgreSQL and the gateway's image")
	t.Parallel()
	c := newCluster(t, "2", false)
	c.node.Secrets["airflow-gateway-tokens"] = map[string]string{"tokens.ini": c.tokensFile()}
	c.node.Secrets["airflow-gateway-users"] = map[string]string{"users.ini": fmt.Sprintf("[Admin]\nusername = %s\npassword = pw-admin\n\n[user:%s]\npassword = pw-admin\n",
		c.api.Users["Admin"], c.api.Users["Admin"])}
	r := c.renderFor(t, "airflow-2-release-values.yaml", map[string]any{"tests": map[string]any{"tokenSecret": map[string]any{"name": "airflow-gateway-tokens-test"}}})
	c.node.Secrets["airflow-gateway-tokens-test"] = map[string]string{"token": seedToken}
	g := deploy(t, c, r)
	t.Run("the seeds' calls", func(t *testing.T) { seedsCalls(t, c, g) })
	t.Run("helm test", func(t *testing.T) { helmTest(t, c, r) })
	t.Run("the sidecar of the official chart's webserver", func(t *testing.T) { sidecar(t, c) })
}

// sidecar runs the official chart's webserver pod as that chart renders deploy/official-chart's 2.x
// values: the gateway's init container and the gateway beside the webserver, which the test bed's
// webserver stands in for on the pod's port 8080. The three dialects answer on the gateway's port.
func sidecar(t *testing.T, c *cluster) {
	vals, err := render.ReadValues(filepath.Join(repoDir, "deploy", "official-chart", "values-gateway-2.x.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	vals["images"] = map[string]any{"airflow": map[string]any{"repository": "apache/airflow", "tag": c.version}}
	r, err := render.Official(vals, "airflow", "webserver")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range r.Undecoded {
		t.Errorf("a rendered object does not decode strictly: %v", err)
	}
	pod := one[*corev1.Pod](t, r, "Pod")
	spec := pod.Spec
	// The official chart's own webserver container is the test bed's webserver.
	spec.Containers = slices.DeleteFunc(slices.Clone(spec.Containers), func(ct corev1.Container) bool { return ct.Name == "webserver" })
	p := c.node.RunPod(t, pod.Name, spec)
	p.StandIn(t, 8080, strings.TrimPrefix(c.api.URL, "http://"))
	p.WaitReady(t, 3*time.Minute)
	url := p.Forward(t, 8090)
	for _, call := range []struct {
		name, method, path, body string
		header                   []string
		want                     func([]byte) string
	}{
		{"the REST API plugin's dialect", http.MethodGet, "/admin/rest_api/api?api=version", "", []string{"rest_api_plugin_http_token", seedToken}, text},
		{"the command dialect", http.MethodGet, "/api/v1/command?command=dags%20list%20-o%20json", "", []string{"Authorization", "Bearer " + seedToken}, text},
		{"MWAA's dialect", http.MethodPost, "/aws_mwaa/cli", "dags list", []string{"Authorization", "Bearer " + seedToken, "Content-Type", "text/plain"}, mwaaStdout},
	} {
		req, err := http.NewRequest(call.method, url+call.path, strings.NewReader(call.body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(call.header); i += 2 {
			req.Header.Set(call.header[i], call.header[i+1])
		}
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", call.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "gw_two_tasks"
		if strings.Contains(call.path, "version") {
			want = c.version
		}
		if got := call.want(body); resp.StatusCode != http.StatusOK || !strings.Contains(got, want) {
			t.Errorf("%s through the sidecar: %d, want %q in:\n%s", call.name, resp.StatusCode, want, body)
		}
	}
}

func text(body []byte) string { return string(body) }

// mwaaStdout decodes the stdout of MWAA's answer.
func mwaaStdout(body []byte) string {
	var answer struct{ Stdout string }
	if err := json.Unmarshal(body, &answer); err != nil {
		return ""
	}
	out, _ := base64.StdEncoding.DecodeString(answer.Stdout)
	return string(out)
}

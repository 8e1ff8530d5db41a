// Package replicas_test runs two gateway processes behind a real haproxy, on one PostgreSQL server: the
// replica suite, a package of its own so that it runs beside the others.
package replicas_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// replicaLease is the lease of the replicas the tests start: short, so that a killed one is found soon.
const replicaLease = 3 * time.Second

// failoverLoad is how long clients keep sending through the balancer while a replica stops and starts.
const failoverLoad = 30 * time.Second

// replica is a gateway process of the replica test, on its own AIRFLOW_HOME and a fixed address.
type replica struct {
	t    *testing.T // the test that owns its processes: they are stopped when it ends
	home *testbed.Home
	addr string // host:port, the same across restarts, as the balancer knows it
	logs *testbed.Buffer
	cmd  *exec.Cmd
}

// start starts the replica's gateway, keeping its jobs in the PostgreSQL database at databaseURL, with
// the secret_key the replicas share.
func (r *replica) start(databaseURL string) string {
	r.t.Helper()
	var url string
	r.cmd, url = testbed.GatewayProcess(r.t, testbed.Config{Home: r.home, PluginToken: token, Listen: r.addr, Executor: "warm",
		SecretKey: "replicas-share-this-key-0123456789", JobsDatabaseURL: databaseURL, JobsLease: replicaLease}, r.logs)
	return url
}

// TestReplicas runs two gateway processes behind a real haproxy, each with its own AIRFLOW_HOME on one
// PostgreSQL server (Airflow's metadata DB and the gateways' jobs) and one DAGs folder. Each reads the DAG
// index from the metadata DB. Through the balancer: the plugin's and the managed-service client flows, and
// 20 concurrent forced deploys of one DAG. Across replicas: a session, and a job read, followed and cancelled through the other replica. Then
// A stops (SIGTERM) and starts again under 30 s of load, and the replica that the balancer gives a job to
// is killed while the job runs.
func TestReplicas(t *testing.T) {
	t.Parallel()
	pg := testbed.StartPostgres(t)
	databaseURL := pg.NewDatabase(t)
	airflowDB := pg.SQLAlchemyURL(pg.NewDatabaseName(t))
	homeA := testbed.MustHomeOn(t, "3", airflowDB, "")
	homeB := testbed.MustHomeOn(t, "3", airflowDB, homeA.Dags)
	testbed.PlantSlowDAG(t, homeA)
	a := &replica{t: t, home: homeA, addr: fmt.Sprintf("127.0.0.1:%d", testbed.FreePort(t)), logs: &testbed.Buffer{}}
	b := &replica{t: t, home: homeB, addr: fmt.Sprintf("127.0.0.1:%d", testbed.FreePort(t)), logs: &testbed.Buffer{}}
	urlA, urlB := a.start(databaseURL), b.start(databaseURL)
	lb := testbed.StartHAProxy(t, a.addr, b.addr)

	t.Run("the DAG index on PostgreSQL", func(t *testing.T) {
		for url, logs := range map[string]*testbed.Buffer{urlA: a.logs, urlB: b.logs} {
			if index := testbed.WaitDAGIndex(t, url, logs); index.DAGs != 4 || index.Failures != 0 {
				t.Errorf("the DAG index read from Airflow's metadata DB on PostgreSQL: %+v, want the 4 DAGs of the DAGs folder", index)
			}
		}
	})
	t.Run("client flows through the balancer", func(t *testing.T) { clientFlows(t, lb.URL, homeA) })
	t.Run("concurrent forced deploys", func(t *testing.T) { deployRace(t, lb.URL, homeA, homeB) })
	t.Run("a job across replicas", func(t *testing.T) { jobAcrossReplicas(t, homeA, urlA, urlB) })
	t.Run("a token minted by one replica", func(t *testing.T) { mintedAcrossReplicas(t, urlA, urlB) })
	t.Run("failover", func(t *testing.T) { failover(t, lb.URL, a, databaseURL) })
	t.Run("a replica killed while its job runs", func(t *testing.T) { killedWithAJob(t, lb.URL, a, b, databaseURL) })
	t.Run("the database goes away", func(t *testing.T) { databaseAway(t, pg, urlA) })
}

// databaseAway stops the PostgreSQL server that holds Airflow's metadata DB (and the jobs): /health turns
// 503 within its TTL, a command answers Airflow's own failure, and both recover when the server is back.
func databaseAway(t *testing.T, pg *testbed.Postgres, url string) {
	c := &testbed.Client{URL: url, Token: token}
	health := func() (int, string) {
		a := c.Get(t, "/health")
		return a.Status, string(a.Body)
	}
	command := func(line string) map[string]any {
		a := c.Get(t, "/api/v1/command?command="+neturl.QueryEscape(line))
		var answer map[string]any
		a.Decode(t, &answer)
		answer["status"] = a.Status
		return answer
	}
	// within waits until ok, at most limit, and returns how long it took.
	within := func(what string, limit time.Duration, ok func() bool) time.Duration {
		start := time.Now()
		for !ok() {
			if time.Since(start) > limit {
				t.Fatalf("%s did not happen within %s", what, limit)
			}
			time.Sleep(250 * time.Millisecond)
		}
		return time.Since(start).Round(100 * time.Millisecond)
	}
	pg.Stop()
	var body string
	took := within("/health turning 503", 45*time.Second, func() bool {
		var status int
		status, body = health()
		return status == http.StatusServiceUnavailable
	})
	t.Logf("/health answered 503 %s after the database stopped: %.300s", took, body)
	// db check opens the database, and says why it cannot, as the local CLI would. (Airflow 3's
	// `variables get` answers "does not exist" instead: its secrets backends swallow the error.)
	failed := command("db check")
	stderr, _ := failed["stderr"].(string)
	if failed["status"] != http.StatusOK || failed["exit_code"] == 0.0 || !strings.Contains(stderr, "Connection refused") {
		t.Errorf("a command with the database away: %v", failed)
	}
	pg.Start(t)
	took = within("/health turning 200 again", 45*time.Second, func() bool { status, _ := health(); return status == http.StatusOK })
	t.Logf("/health answered 200 %s after the database came back", took)
	if again := command("variables get replicaVar"); again["exit_code"] != 0.0 || strings.TrimSpace(again["stdout"].(string)) != "fromTheBalancer" {
		t.Errorf("a command after the database came back: %v", again)
	}
}

// clientFlows runs the plugin README's curl flow and the managed-service flow through the balancer at
// url, and checks that both replicas answered.
func clientFlows(t *testing.T, url string, home *testbed.Home) {
	pluginOK(t, url, "api=variables&cmd=set&key=replicaVar&value=fromTheBalancer")
	if got := strings.TrimSpace(stdout(pluginOK(t, url, "api=variables&cmd=get&key=replicaVar"))); got != "fromTheBalancer" {
		t.Errorf("the variable set through one replica reads %q", got)
	}
	pluginOK(t, url, "api=pool&cmd=set&pool_name=replicaPool&slot_count=3&description=shared")
	if got := stdout(pluginOK(t, url, "api=pool&cmd=get&pool_name=replicaPool")); !strings.Contains(got, "replicaPool") {
		t.Errorf("the pool set through one replica: %q", got)
	}
	pluginOK(t, url, "api=trigger_dag&dag_id=gw_conf&run_id=through_the_balancer")
	file := filepath.Join(t.TempDir(), "gw_replicated.py")
	if err := os.WriteFile(file, []byte(testbed.UploadedDAG("gw_replicated", "through the balancer")), 0o644); err != nil {
		t.Fatal(err)
	}
	if status, env := curlDeploy(t, url, file); status != http.StatusOK {
		t.Errorf("deploy_dag through the balancer: %d %v", status, env)
	}
	if _, err := os.Stat(filepath.Join(home.Dags, "gw_replicated.py")); err != nil {
		t.Errorf("the deployed DAG is not in the shared DAGs folder: %v", err)
	}

	// The managed-service flow: a login link, then commands with the session cookie.
	session := (&testbed.Client{URL: url, Token: token}).Login(t)
	var order []string
	for i := range 8 {
		a := session.Get(t, "/api/v1/command?command=dags%20list%20-o%20json")
		if a.Status != http.StatusOK {
			t.Errorf("command %d with the session: %d", i, a.Status)
		}
		order = append(order, a.Header.Get("X-Served-By"))
	}
	t.Logf("8 commands with one session were answered by %v", order)
	if !strings.Contains(strings.Join(order, ""), "a") || !strings.Contains(strings.Join(order, ""), "b") {
		t.Errorf("the balancer did not alternate: %v", order)
	}
}

// deployRace sends 20 forced deploys of one DAG name, each with its own content, through the balancer at
// once: the DAGs folder ends with one of them whole, and every backup either replica made is whole.
func deployRace(t *testing.T, url string, homes ...*testbed.Home) {
	const n = 20
	contents := map[string]bool{}
	files := make([]string, n)
	for i := range files {
		body := testbed.UploadedDAG("gw_raced", fmt.Sprintf("upload %d %s", i, strings.Repeat("x", 64<<10)))
		contents[body] = true
		files[i] = filepath.Join(t.TempDir(), "gw_raced.py")
		if err := os.WriteFile(files[i], []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, file := range files {
		wg.Go(func() {
			if status, env := curlDeploy(t, url, file); status != http.StatusOK {
				t.Errorf("a forced deploy: %d %v", status, env)
			}
		})
	}
	wg.Wait()
	placed, err := os.ReadFile(filepath.Join(homes[0].Dags, "gw_raced.py"))
	if err != nil || !contents[string(placed)] {
		t.Errorf("the DAG file is not one whole upload (%d bytes, %v)", len(placed), err)
	}
	backups := 0
	for _, h := range homes {
		found, _ := filepath.Glob(filepath.Join(h.Dir, "airflow-gateway", "dag-backups", "gw_raced.py.*"))
		for _, f := range found {
			backups++
			if body, _ := os.ReadFile(f); !contents[string(body)] {
				t.Errorf("backup %s is not one whole upload (%d bytes)", f, len(body))
			}
		}
	}
	t.Logf("%d forced deploys of one name through both replicas: one whole file, %d whole backups", n, backups)
	if backups != n-1 {
		t.Errorf("%d backups, want %d: every deploy but the first replaced a file", backups, n-1)
	}
}

// jobAcrossReplicas checks a session and a job across the replicas: a session made through A works on B,
// and a job started through A is read, followed and cancelled through A, and another through B.
func jobAcrossReplicas(t *testing.T, home *testbed.Home, urlA, urlB string) {
	a, b := &testbed.Client{URL: urlA, Token: token}, &testbed.Client{URL: urlB, Token: token}
	onB := a.Login(t)
	onB.URL = urlB
	if answer, err := onB.Send(http.MethodGet, "/api/v1/commands", nil); err != nil || answer.Status != http.StatusOK {
		t.Errorf("A's session on B: %v %v", answer, err)
	}

	// The same job cancelled through A itself, then through B: the difference is what leaving the cancel
	// in the database for A to find costs (Airflow 3's `tasks test` takes the 5 s grace either way).
	took := map[string]time.Duration{}
	for _, through := range []*testbed.Client{a, b} {
		os.Remove(filepath.Join(home.Dir, "gw_slow.pids"))
		job := a.StartJob(t, "tasks test gw_slow tick 2024-01-01")
		if got := through.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); got.State != "running" || got.Replica != job.Replica {
			t.Errorf("%s reads A's job as %s on replica %q (A says %q)", through.URL, got.State, got.Replica, job.Replica)
		}
		var seen strings.Builder
		through.Follow(t, job.ID, "", func(ev testbed.Event) bool {
			seen.WriteString(ev.Data)
			return !strings.Contains(seen.String(), "\ntick 2\n")
		})
		pids := testbed.SlowPIDs(t, home)
		asked := time.Now()
		canceled := through.Job(t, http.MethodDelete, "/api/v1/jobs/"+job.ID)
		took[through.URL] = time.Since(asked)
		if canceled.State != "canceled" {
			t.Errorf("after a DELETE through %s, A's job reads %s (%s)", through.URL, canceled.State, canceled.Detail)
		}
		testbed.AssertExited(t, pids)
	}
	t.Logf("a cancel ended A's job in %s through A, in %s through B", took[urlA].Round(time.Millisecond), took[urlB].Round(time.Millisecond))
}

// mintedAcrossReplicas mints a token through replica a and runs a command with it through replica b,
// which shares the secret_key: minted tokens are stateless.
func mintedAcrossReplicas(t *testing.T, urlA, urlB string) {
	minted := (&testbed.Client{URL: urlA, Token: token}).Mint(t, "10m", "Viewer")
	for name, url := range map[string]string{"a": urlA, "b": urlB} {
		if a := (&testbed.Client{URL: url, Token: minted.Token}).Get(t, "/api/v1/command?command=version"); a.Status != http.StatusOK {
			t.Errorf("the token minted by a, on replica %s: %d", name, a.Status)
		}
	}
}

// failover keeps 4 clients sending through the balancer, each a request every 10 ms or as soon as the
// last is answered, while replica a stops (SIGTERM) and starts again: every request is answered, 200 or
// 503.
func failover(t *testing.T, url string, a *replica, databaseURL string) {
	var sent, answered atomic.Int64
	var mu sync.Mutex
	statuses, by := map[int]int{}, map[string]int{}
	var failures []string
	stop := time.Now().Add(failoverLoad)
	var wg sync.WaitGroup
	c := &testbed.Client{URL: url, Token: token}
	for i := range 4 {
		target := "/admin/rest_api/api?api=version" // answered by the gateway itself
		if i == 0 {
			target = "/api/v1/command?command=version" // runs Airflow
		}
		wg.Go(func() {
			for time.Now().Before(stop) {
				sent.Add(1)
				a, err := c.Send(http.MethodGet, target, nil)
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					answered.Add(1)
					statuses[a.Status]++
					by[a.Header.Get("X-Served-By")]++
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	time.Sleep(failoverLoad / 4)
	stopped := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Wait(); err != nil {
		t.Errorf("replica a after SIGTERM: %v\n%s", err, a.logs.String())
	}
	t.Logf("replica a stopped %s after SIGTERM", time.Since(stopped).Round(time.Millisecond))
	time.Sleep(failoverLoad / 6)
	a.start(databaseURL)
	wg.Wait()
	t.Logf("%d requests sent through the balancer in %s, %d answered: %v, by replica %v", sent.Load(), failoverLoad, answered.Load(), statuses, by)
	if answered.Load() != sent.Load() || len(failures) > 0 {
		t.Errorf("%d of %d requests got no answer: %v", sent.Load()-answered.Load(), sent.Load(), failures[:min(5, len(failures))])
	}
	for code := range statuses {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("status %d during the failover", code)
		}
	}
	if by["a"] == 0 || by["b"] == 0 {
		t.Errorf("not both replicas answered: %v", by)
	}
}

// killedWithAJob starts a job through the balancer at url and kills (SIGKILL) the replica that runs it:
// the other marks the job lost once the killed one's lease has expired, no process of it is left, and the
// killed replica started again serves through the balancer.
func killedWithAJob(t *testing.T, url string, a, b *replica, databaseURL string) {
	for _, r := range []*replica{a, b} {
		os.Remove(filepath.Join(r.home.Dir, "gw_slow.pids"))
	}
	lb := &testbed.Client{URL: url, Token: token}
	job := lb.StartJob(t, "tasks test gw_slow tick 2024-01-01")
	victim, other := a, b
	switch job.ServedBy {
	case "a":
	case "b":
		victim, other = b, a
	default:
		t.Fatalf("the balancer named no replica for the job: %q", job.ServedBy)
	}
	t.Logf("the balancer sent the job to replica %s, which is killed", job.ServedBy)
	pids := testbed.SlowPIDs(t, victim.home)
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	killed := time.Now()

	// Through the balancer, which soon sends everything to the other replica, and directly.
	var lost *testbed.JobDoc
	for time.Since(killed) < 10*replicaLease {
		if lost = lb.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); lost.Status == http.StatusOK && lost.State != "running" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the job of the killed replica read %s through the balancer (answered by %s) %s after the kill (lease %s)",
		lost.State, lost.ServedBy, time.Since(killed).Round(time.Millisecond), replicaLease)
	if lost.State != "lost" {
		t.Errorf("the job of the killed replica reads %s", lost.State)
	}
	if got := (&testbed.Client{URL: "http://" + other.addr, Token: token}).Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); got.State != "lost" {
		t.Errorf("the surviving replica reads the job as %s", got.State)
	}
	testbed.AssertExited(t, pids)
	if !strings.Contains(other.logs.String(), "jobs left running by a stopped gateway are lost") {
		t.Errorf("the surviving replica did not log the lost job:\n%s", other.logs.String())
	}

	victim.start(databaseURL)
	if got := (&testbed.Client{URL: "http://" + victim.addr, Token: token}).Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); got.State != "lost" {
		t.Errorf("the restarted replica reads the lost job as %s", got.State)
	}
	name := job.ServedBy
	served := map[string]bool{}
	// The balancer takes it back once its health check passes: once the replica's first metadata DB check
	// has answered, which on a busy machine takes a cold Airflow start while the forkserver warms up.
	for deadline := time.Now().Add(time.Minute); !served[name] && time.Now().Before(deadline); {
		served[lb.Get(t, "/health/live").Header.Get("X-Served-By")] = true
		time.Sleep(250 * time.Millisecond)
	}
	if !served[name] {
		t.Errorf("the restarted replica %s gets no requests from the balancer: %v", name, served)
	}
}

// TestDocsShowTheBalancerConfig: docs/replicas.md shows the haproxy configuration the tests run.
func TestDocsShowTheBalancerConfig(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testbed.Dir(), "..", "docs", "replicas.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(testbed.HAProxyConfig, "\n") {
		if line != "" && !strings.Contains(string(readme), "    "+line+"\n") {
			t.Errorf("docs/replicas.md lacks the balancer's line %q", line)
		}
	}
}

// token is the plugin token of the replicas (role Admin).
const token = "replica-test-token-0123456789"

// pluginOK calls a plugin API through url with the token in the plugin's header, and fails t unless the
// envelope says OK.
func pluginOK(t *testing.T, url, query string) map[string]any {
	t.Helper()
	a := (&testbed.Client{URL: url, Token: token, TokenHeader: testbed.PluginTokenHeader}).Get(t, "/admin/rest_api/api?"+query)
	var env map[string]any
	if err := json.Unmarshal(a.Body, &env); err != nil || a.Status != http.StatusOK || env["status"] != "OK" {
		t.Fatalf("%s: %d %v %v", query, a.Status, env, err)
	}
	return env
}

// stdout is the command's stdout in a plugin envelope.
func stdout(env map[string]any) string {
	out, _ := env["output"].(map[string]any)
	s, _ := out["stdout"].(string)
	return s
}

// curlDeploy uploads file with force through url with curl, as the plugin README shows.
func curlDeploy(t *testing.T, url, file string) (int, map[string]any) {
	t.Helper()
	out, err := exec.Command("curl", "-sS", "-H", "rest_api_plugin_http_token: "+token, "-F", "dag_file=@"+file, "-F", "force=on",
		"-w", "\n%{http_code}", url+"/admin/rest_api/api?api=deploy_dag").Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	body, code, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	var env map[string]any
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("deploy_dag answered %q", out)
	}
	status, _ := strconv.Atoi(strings.TrimSpace(code))
	return status, env
}

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
const failoverLoad = 60 * time.Second

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
	r.cmd, url = gatewayProcessWith(r.t, r.home, "listen = "+r.addr+"\nexecutor = subprocess\nsecret_key = replicas-share-this-key-0123456789\n\n[jobs]\ndatabase_url = "+
		databaseURL+"\nlease = "+replicaLease.String()+"\n", r.logs)
	return url
}

// TestReplicas runs two gateway processes behind a real haproxy, each with its own AIRFLOW_HOME on one
// PostgreSQL server (Airflow's metadata DB and the gateways' jobs) and one DAGs folder. Through the
// balancer: the plugin's and the managed-service client flows, and 20 concurrent forced deploys of one
// DAG. Across replicas: a session, and a job read, followed and cancelled through the other replica. Then
// A stops (SIGTERM) and starts again under 60 s of load, and A is killed while a job runs on it.
func TestReplicas(t *testing.T) {
	t.Parallel()
	pg := testbed.StartPostgres(t)
	databaseURL := pg.NewDatabase(t)
	airflowDB := pg.SQLAlchemyURL(pg.NewDatabaseName(t))
	homeA := testbed.MustHomeOn(t, "3", airflowDB, "")
	homeB := testbed.MustHomeOn(t, "3", airflowDB, homeA.Dags)
	plantSlowDAG(t, homeA)
	a := &replica{t: t, home: homeA, addr: fmt.Sprintf("127.0.0.1:%d", testbed.FreePort(t)), logs: &testbed.Buffer{}}
	b := &replica{t: t, home: homeB, addr: fmt.Sprintf("127.0.0.1:%d", testbed.FreePort(t)), logs: &testbed.Buffer{}}
	urlA, urlB := a.start(databaseURL), b.start(databaseURL)
	lb := testbed.StartHAProxy(t, a.addr, b.addr)

	t.Run("client flows through the balancer", func(t *testing.T) { clientFlows(t, lb.URL, homeA) })
	t.Run("concurrent forced deploys", func(t *testing.T) { deployRace(t, lb.URL, homeA, homeB) })
	t.Run("a job across replicas", func(t *testing.T) { jobAcrossReplicas(t, homeA, urlA, urlB) })
	t.Run("failover", func(t *testing.T) { failover(t, lb.URL, a, databaseURL) })
	t.Run("a replica killed while its job runs", func(t *testing.T) { killedWithAJob(t, lb.URL, a, b, databaseURL) })
}

// clientFlows runs the plugin README's curl flow and the managed-service flow through the balancer at
// url, and checks that both replicas answered.
func clientFlows(t *testing.T, url string, home *testbed.Home) {
	g := &gatewayClient{url: url, home: home, ran: map[string]bool{}}
	g.pluginOK(t, viaGET, "api=variables&cmd=set&key=replicaVar&value=fromTheBalancer")
	if got := strings.TrimSpace(g.pluginOK(t, viaGET, "api=variables&cmd=get&key=replicaVar").stdout()); got != "fromTheBalancer" {
		t.Errorf("the variable set through one replica reads %q", got)
	}
	g.pluginOK(t, viaGET, "api=pool&cmd=set&pool_name=replicaPool&slot_count=3&description=shared")
	if got := g.pluginOK(t, viaGET, "api=pool&cmd=get&pool_name=replicaPool").stdout(); !strings.Contains(got, "replicaPool") {
		t.Errorf("the pool set through one replica: %q", got)
	}
	g.pluginOK(t, viaGET, "api=trigger_dag&dag_id=gw_conf&run_id=through_the_balancer")
	file := filepath.Join(t.TempDir(), "gw_replicated.py")
	if err := os.WriteFile(file, []byte(uploadedDAG("gw_replicated", "through the balancer")), 0o644); err != nil {
		t.Fatal(err)
	}
	if a := g.curlDeploy(t, file, "-F", "force=on"); a.Status != http.StatusOK {
		t.Errorf("deploy_dag through the balancer: %d %s", a.Status, a)
	}
	if _, err := os.Stat(filepath.Join(home.Dags, "gw_replicated.py")); err != nil {
		t.Errorf("the deployed DAG is not in the shared DAGs folder: %v", err)
	}

	// The managed-service flow: a login link, then commands with the session cookie.
	session := loginCookie(t, url, testToken)
	var order []string
	for i := range 8 {
		req, _ := http.NewRequest(http.MethodGet, url+"/api/v1/command?command=dags%20list%20-o%20json", nil)
		req.AddCookie(session)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("command %d with the session: %d", i, resp.StatusCode)
		}
		order = append(order, resp.Header.Get("X-Served-By"))
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
		body := uploadedDAG("gw_raced", fmt.Sprintf("upload %d %s", i, strings.Repeat("x", 64<<10)))
		contents[body] = true
		files[i] = filepath.Join(t.TempDir(), "gw_raced.py")
		if err := os.WriteFile(files[i], []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := &gatewayClient{url: url, home: homes[0], ran: map[string]bool{}}
	var wg sync.WaitGroup
	for _, file := range files {
		wg.Go(func() {
			if a := g.curlDeploy(t, file, "-F", "force=on"); a.Status != http.StatusOK {
				t.Errorf("a forced deploy: %d %s", a.Status, a)
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
	session := loginCookie(t, urlA, testToken)
	req, _ := http.NewRequest(http.MethodGet, urlB+"/api/v1/commands", nil)
	req.AddCookie(session)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("A's session on B: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The same job cancelled through A itself, then through B: the difference is what leaving the cancel
	// in the database for A to find costs (Airflow 3's `tasks test` takes the 5 s grace either way).
	took := map[string]time.Duration{}
	for _, through := range []string{urlA, urlB} {
		os.Remove(filepath.Join(home.Dir, "gw_slow.pids"))
		job := mustStartJob(t, urlA, "tasks test gw_slow tick 2024-01-01")
		if got := jobCall(t, through, http.MethodGet, "/api/v1/jobs/"+job.ID); got.State != "running" || got.Replica != job.Replica {
			t.Errorf("%s reads A's job as %s on replica %q (A says %q)", through, got.State, got.Replica, job.Replica)
		}
		var seen strings.Builder
		followJob(t, through, job.ID, "", func(ev timedEvent) bool {
			seen.WriteString(ev.Data)
			return !strings.Contains(seen.String(), "\ntick 2\n")
		})
		pids := slowPIDs(t, home)
		asked := time.Now()
		canceled := jobCall(t, through, http.MethodDelete, "/api/v1/jobs/"+job.ID)
		took[through] = time.Since(asked)
		if canceled.State != "canceled" {
			t.Errorf("after a DELETE through %s, A's job reads %s (%s)", through, canceled.State, canceled.Detail)
		}
		assertExited(t, pids)
	}
	t.Logf("a cancel ended A's job in %s through A, in %s through B", took[urlA].Round(time.Millisecond), took[urlB].Round(time.Millisecond))
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
	for i := range 4 {
		target := url + "/admin/rest_api/api?api=version" // answered by the gateway itself
		if i == 0 {
			target = url + "/api/v1/command?command=version" // runs Airflow
		}
		wg.Go(func() {
			for time.Now().Before(stop) {
				req, _ := http.NewRequest(http.MethodGet, target, nil)
				req.Header.Set("Authorization", "Bearer "+testToken)
				sent.Add(1)
				resp, err := http.DefaultClient.Do(req)
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					answered.Add(1)
					statuses[resp.StatusCode]++
					by[resp.Header.Get("X-Served-By")]++
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
		t.Errorf("replica a after SIGTERM: %v\n%s", err, tail(a.logs.String()))
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

// killedWithAJob kills replica a while a job runs on it: b marks the job lost once a's lease has expired,
// no process of it is left, and a started again serves through the balancer.
func killedWithAJob(t *testing.T, url string, a, b *replica, databaseURL string) {
	urlA, urlB := "http://"+a.addr, "http://"+b.addr
	os.Remove(filepath.Join(a.home.Dir, "gw_slow.pids"))
	job := mustStartJob(t, urlA, "tasks test gw_slow tick 2024-01-01")
	pids := slowPIDs(t, a.home)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	killed := time.Now()
	var lost *jobDoc
	for time.Since(killed) < 10*replicaLease {
		if lost = jobCall(t, urlB, http.MethodGet, "/api/v1/jobs/"+job.ID); lost.State != "running" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("b marked the job of killed a %s after %s (lease %s)", lost.State, time.Since(killed).Round(time.Millisecond), replicaLease)
	if lost.State != "lost" {
		t.Errorf("the job of killed a reads %s", lost.State)
	}
	assertExited(t, pids)
	if !strings.Contains(b.logs.String(), "jobs left running by a stopped gateway are lost") {
		t.Errorf("b did not log the lost job:\n%s", tail(b.logs.String()))
	}

	a.start(databaseURL)
	if got := jobCall(t, urlA, http.MethodGet, "/api/v1/jobs/"+job.ID); got.State != "lost" {
		t.Errorf("the restarted a reads the lost job as %s", got.State)
	}
	served := map[string]bool{}
	for i := 0; i < 40 && !served["a"]; i++ { // the balancer takes a back after its next health check
		resp, err := http.Get(url + "/health/live")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		served[resp.Header.Get("X-Served-By")] = true
		time.Sleep(250 * time.Millisecond)
	}
	if !served["a"] {
		t.Errorf("the restarted replica a gets no requests from the balancer: %v", served)
	}
}

// TestReadmeShowsTheBalancerConfig: the README shows the haproxy configuration the tests run.
func TestReadmeShowsTheBalancerConfig(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(testbed.HAProxyConfig, "\n") {
		if line != "" && !strings.Contains(string(readme), "    "+line+"\n") {
			t.Errorf("the README lacks the balancer's line %q", line)
		}
	}
}

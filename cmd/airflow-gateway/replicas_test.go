package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// replicaLease is the lease of the replicas the tests start: short, so that a killed one is found soon.
const replicaLease = 3 * time.Second

// startReplica starts a gateway process on home that keeps its jobs in the PostgreSQL database at
// databaseURL, with the secret_key the replicas share.
func startReplica(t *testing.T, home *testbed.Home, databaseURL string, logs *testbed.Buffer) (*os.Process, string) {
	t.Helper()
	proc, url := gatewayProcessWith(t, home, "executor = subprocess\nsecret_key = replicas-share-this-key-0123456789\n\n[jobs]\ndatabase_url = "+
		databaseURL+"\nlease = "+replicaLease.String()+"\n", logs)
	return proc.Process, url
}

// TestReplicasShareJobs runs two gateway processes on one Airflow home and one PostgreSQL job store: a
// session made through A is accepted by B; a job started through A is read, followed and cancelled
// through B; and when A is killed while a job runs, B marks the job lost once A's lease has expired and
// kills what is left of it.
func TestReplicasShareJobs(t *testing.T) {
	t.Parallel()
	// One PostgreSQL server holds Airflow's metadata DB and the gateways' jobs; each replica has its own
	// AIRFLOW_HOME on that DB and on one DAGs folder.
	pg := testbed.StartPostgres(t)
	databaseURL := pg.NewDatabase(t)
	airflowDB := pg.SQLAlchemyURL(pg.NewDatabaseName(t))
	home := testbed.MustHomeOn(t, "3", airflowDB, "")
	homeB := testbed.MustHomeOn(t, "3", airflowDB, home.Dags)
	plantSlowDAG(t, home)
	logsA, logsB := &testbed.Buffer{}, &testbed.Buffer{}
	a, urlA := startReplica(t, home, databaseURL, logsA)
	_, urlB := startReplica(t, homeB, databaseURL, logsB)
	lb := testbed.StartHAProxy(t, map[string]string{"a": strings.TrimPrefix(urlA, "http://"), "b": strings.TrimPrefix(urlB, "http://")})
	t.Run("clients through the balancer", func(t *testing.T) { clientFlows(t, lb.URL, home) })

	// A session made through A works on B.
	session := loginCookie(t, urlA, testToken)
	req, _ := http.NewRequest(http.MethodGet, urlB+"/api/v1/commands", nil)
	req.AddCookie(session)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("A's session on B: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A job started through A, read, followed and cancelled through B.
	job := mustStartJob(t, urlA, "tasks test gw_slow tick 2024-01-01")
	if got := jobCall(t, urlB, http.MethodGet, "/api/v1/jobs/"+job.ID); got.State != "running" || got.Replica != job.Replica {
		t.Errorf("B reads A's job as %s on replica %q (A says %q)", got.State, got.Replica, job.Replica)
	}
	var seen strings.Builder
	followJob(t, urlB, job.ID, "", func(ev timedEvent) bool {
		seen.WriteString(ev.Data)
		return !strings.Contains(seen.String(), "\ntick 2\n")
	})
	pids := slowPIDs(t, home)
	asked := time.Now()
	canceled := jobCall(t, urlB, http.MethodDelete, "/api/v1/jobs/"+job.ID)
	t.Logf("a cancel sent through B ended A's job in %s", time.Since(asked).Round(time.Millisecond))
	if canceled.State != "canceled" {
		t.Errorf("after a DELETE through B, A's job reads %s (%s)", canceled.State, canceled.Detail)
	}
	assertExited(t, pids)

	// A dies while a job runs: B marks the job lost once A's lease has expired, and kills its leftovers.
	os.Remove(filepath.Join(home.Dir, "gw_slow.pids"))
	job = mustStartJob(t, urlA, "tasks test gw_slow tick 2024-01-01")
	pids = slowPIDs(t, home)
	if err := a.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var lost *jobDoc
	for time.Since(killed) < 10*replicaLease {
		if lost = jobCall(t, urlB, http.MethodGet, "/api/v1/jobs/"+job.ID); lost.State != "running" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("B marked the job of killed A %s after %s (lease %s)", lost.State, time.Since(killed).Round(time.Millisecond), replicaLease)
	if lost.State != "lost" {
		t.Errorf("the job of killed A reads %s", lost.State)
	}
	assertExited(t, pids)
	if !strings.Contains(logsB.String(), "jobs left running by a stopped gateway are lost") {
		t.Errorf("B did not log the lost job:\n%s", logsB)
	}

	// A starts again and serves.
	_, urlA = startReplica(t, home, databaseURL, logsA)
	if got := jobCall(t, urlA, http.MethodGet, "/api/v1/jobs/"+job.ID); got.State != "lost" {
		t.Errorf("the restarted A reads the lost job as %s", got.State)
	}
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
	served := map[string]int{}
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
		by := resp.Header.Get("X-Served-By")
		served[by]++
		order = append(order, by)
	}
	t.Logf("8 commands with one session were answered by %v", order)
	if served["a"] == 0 || served["b"] == 0 {
		t.Errorf("the balancer did not alternate: %v", order)
	}
}

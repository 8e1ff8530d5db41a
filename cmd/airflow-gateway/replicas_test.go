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
	pg := testbed.StartPostgres(t)
	databaseURL := pg.NewDatabase(t)
	home := testbed.MustHome(t, "3")
	plantSlowDAG(t, home)
	logsA, logsB := &testbed.Buffer{}, &testbed.Buffer{}
	a, urlA := startReplica(t, home, databaseURL, logsA)
	_, urlB := startReplica(t, home, databaseURL, logsB)

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

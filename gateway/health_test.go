package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
)

// healthAnswer is /health's body.
type healthAnswer struct {
	Status       int
	Metadatabase struct {
		Status     string `json:"status"`
		AgeSeconds *int   `json:"age_seconds"`
	} `json:"metadatabase"`
	Executor commands.ExecutorStatus `json:"executor"`
}

// getHealth reads /health without credentials, as a probe does, and says how long the answer took.
func getHealth(tb testing.TB, srv *httptest.Server) (*healthAnswer, time.Duration) {
	tb.Helper()
	start := time.Now()
	var h healthAnswer
	h.Status = client(srv).As("").Get(tb, "/health").Decode(tb, &h).Status
	return &h, time.Since(start)
}

// TestHealthNeverWaitsForASlot holds the only command slot with a command that does not end: /health
// still answers at once, from the background check, which runs outside the slots.
func TestHealthNeverWaitsForASlot(t *testing.T) {
	ex := &scriptedExecutor{block: make(chan struct{})}
	srv := mustServer(t, ex, commands.Options{MaxConcurrent: 1, QueueTimeout: time.Minute, CommandTimeout: time.Minute, LongCommandTimeout: time.Minute})
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		client(srv).Send(http.MethodGet, "/api/v1/command?command=version", nil)
	}()
	for ex.runs.Load() < 1 {
		time.Sleep(time.Millisecond)
	}

	// The first probe starts the check and says the database is not known yet.
	a, took := getHealth(t, srv)
	// Waiting for the slot would take the queue timeout, a minute; an answer within seconds did not wait.
	if a.Status != http.StatusServiceUnavailable || a.Metadatabase.Status != "unknown" || took > 5*time.Second {
		t.Errorf("first probe with every slot busy: %d %q after %s", a.Status, a.Metadatabase.Status, took)
	}
	for ex.runs.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if args := ex.lastArg.Load().([]string); strings.Join(args, " ") != "db check" {
		t.Errorf("the check ran %v", args)
	}
	// A second probe while the check runs: no second check, an answer at once.
	if a, took = getHealth(t, srv); a.Status != http.StatusServiceUnavailable || took > 5*time.Second || ex.runs.Load() != 2 {
		t.Errorf("probe during the check: %d after %s, %d runs", a.Status, took, ex.runs.Load())
	}
	close(ex.block)
	<-busy
	deadline := time.Now().Add(5 * time.Second)
	for a.Metadatabase.Status != "healthy" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		a, _ = getHealth(t, srv)
	}
	if a.Status != http.StatusOK || a.Metadatabase.AgeSeconds == nil || *a.Metadatabase.AgeSeconds > 5 {
		t.Errorf("after the check: %d %+v", a.Status, a.Metadatabase)
	}
	if a.Executor.Name != "subprocess" {
		t.Errorf("executor %+v", a.Executor)
	}
	// Within the check's lifetime, probes reuse its answer.
	runs := ex.runs.Load()
	for range 5 {
		getHealth(t, srv)
	}
	if ex.runs.Load() != runs {
		t.Errorf("probes within %s ran %d more checks", 10*time.Second, ex.runs.Load()-runs)
	}
}

func TestHealthSaysUnhealthy(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{ExitCode: 1, Stderr: "no database"}}
	srv := mustServer(t, ex, commands.Options{})
	getHealth(t, srv)
	deadline := time.Now().Add(5 * time.Second)
	a, _ := getHealth(t, srv)
	for a.Metadatabase.Status == "unknown" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		a, _ = getHealth(t, srv)
	}
	if a.Status != http.StatusServiceUnavailable || a.Metadatabase.Status != "unhealthy" {
		t.Errorf("a failing db check: %d %+v", a.Status, a.Metadatabase)
	}
}

// TestReadiness: /health/ready, which readiness probes ask, answers as /health does: 503 until the
// metadata DB has answered a check, then 200 while it answers.
func TestReadiness(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	ready := func() (int, string) {
		var h healthAnswer
		status := client(srv).As("").Get(t, "/health/ready").Decode(t, &h).Status
		return status, h.Metadatabase.Status
	}
	status, db := ready()
	for deadline := time.Now().Add(5 * time.Second); db == "unknown" && time.Now().Before(deadline); status, db = ready() {
		time.Sleep(10 * time.Millisecond)
	}
	if status != http.StatusOK || db != "healthy" {
		t.Errorf("/health/ready once the DB answered: %d %s", status, db)
	}
}

func TestLiveness(t *testing.T) {
	ex := &scriptedExecutor{block: make(chan struct{})}
	defer close(ex.block)
	srv := mustServer(t, ex, commands.Options{})
	var body map[string]string
	if a := client(srv).As("").Get(t, "/health/live").Decode(t, &body); a.Status != http.StatusOK || body["status"] != "alive" || ex.runs.Load() != 0 {
		t.Errorf("/health/live: %d %v, %d commands run", a.Status, body, ex.runs.Load())
	}
}

// TestCommandsCarryTheCaller: a command runs with the name of the token that sent it, which the executors
// give Airflow as LOGNAME and USER.
func TestCommandsCarryTheCaller(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{})
	for _, tt := range []struct{ token, name, target string }{
		{token, "ci", "/api/v1/command?command=version"},
		{viewerToken, "viewer", "/admin/rest_api/api?api=list_dags"},
	} {
		client(srv).As(tt.token).Get(t, tt.target)
		if got, _ := ex.lastCaller.Load().(string); got != tt.name {
			t.Errorf("%s ran as %q, want %q", tt.target, got, tt.name)
		}
	}
}

// indexExecutor reads a DAG index of dags, or fails with failure when it is set.
type indexExecutor struct {
	scriptedExecutor
	dags    []commands.DAGInfo
	failure error
}

func (x *indexExecutor) ReadDAGIndex(context.Context, time.Duration) ([]commands.DAGInfo, error) {
	return x.dags, x.failure
}

// TestHealthTellsTheDAGIndex: /health and the metrics tell how large and old the DAG index is, and whether
// its last read failed, without saying why.
func TestHealthTellsTheDAGIndex(t *testing.T) {
	ex := &indexExecutor{dags: []commands.DAGInfo{{ID: "a"}, {ID: "b"}, {ID: "c"}}}
	var svc *commands.Service
	srv := mustServer(t, ex, commands.Options{}, withService(func(s *commands.Service) { svc = s }),
		withOptions(func(o *gateway.Options) { o.PublicMetrics = true }))
	index := func() map[string]any {
		var h struct {
			DAGIndex map[string]any `json:"dag_index"`
		}
		client(srv).As("").Get(t, "/health").Decode(t, &h)
		return h.DAGIndex
	}
	if got := index(); got["status"] != "unread" || got["dags"] != 0.0 || got["read_at"] != nil {
		t.Errorf("before the first read: %v", got)
	}
	fams, _ := scrape(t, srv)
	if sample(fams, "airflow_gateway_dag_index_dags", nil) != 0 {
		t.Errorf("dag_index_dags before the first read: %v", fams["airflow_gateway_dag_index_dags"])
	}

	if err := svc.RefreshDAGIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := index(); got["status"] != "current" || got["dags"] != 3.0 || got["read_at"] == nil || got["age_seconds"] != 0.0 || got["failures"] != 0.0 {
		t.Errorf("after a read: %v", got)
	}
	ex.failure = errors.New("planted-index-error-4711")
	if err := svc.RefreshDAGIndex(context.Background()); err == nil {
		t.Fatal("a failed read returned no error")
	}
	got := index()
	if got["status"] != "stale" || got["dags"] != 3.0 || got["failures"] != 1.0 || got["last_failure_at"] == nil {
		t.Errorf("after a failed read: %v", got)
	}
	fams, body := scrape(t, srv)
	if sample(fams, "airflow_gateway_dag_index_dags", nil) != 3 || sample(fams, "airflow_gateway_dag_index_read_failures_total", nil) != 1 ||
		fams["airflow_gateway_dag_index_age_seconds"] == nil {
		t.Errorf("the DAG index's series: %s", body)
	}
	if health := client(srv).As("").Get(t, "/health"); strings.Contains(string(health.Body), "planted-index-error") {
		t.Errorf("/health, which needs no token, says why the read failed: %s", health.Body)
	}
}

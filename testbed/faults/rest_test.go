package faults_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestAirflowAPIFaults puts a gateway in front of Airflow 3's API server, whose JWTs live 10 s, and
// breaks what it depends on while clients call the REST API: the JWTs expire under load (no caller sees a
// failure, and each renewal is one request to Airflow, however many callers wait); a task log of some
// 10 MB is read through it (streamed: the gateway's memory does not grow by the log); the API server is
// stopped under load (502s that name it, the gateway stays up, and serves again once the server is back,
// without a restart); and a role's password is changed in Airflow (502 naming the role, and no password in
// an answer or a log line).
func TestAirflowAPIFaults(t *testing.T) {
	home := testbed.MustHome(t, "3", filepath.Join(testbed.Dir(), "gw_big_log.py"))
	api := testbed.StartAirflowAPI(t, home, "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME=10")
	logs := &testbed.Buffer{}
	gw, base := testbed.GatewayProcess(t, testbed.Config{Home: home, PluginToken: token, Executor: "subprocess",
		SecretKey: "faults-test-secret-key-0123456789", AirflowAPIURL: api.URL, AirflowAPIUsersFile: api.UsersFile(t)}, logs)
	admin := &testbed.Client{URL: base, Token: token}
	op := admin.As(admin.Mint(t, "1h", "Op").Token)

	t.Run("JWTs expire under load", func(t *testing.T) {
		fetches := regexp.MustCompile(`method=POST path=/auth/token\b`)
		before := len(fetches.FindAllString(api.Logs.String(), -1))
		var answers tally
		stop := make(chan struct{})
		wg := load(t, 8, stop, func() (int, string) { return call(t, admin, http.MethodGet, "/api/v2/dags?limit=1") }, &answers)
		time.Sleep(25 * time.Second)
		close(stop)
		wg.Wait()
		renewals := len(fetches.FindAllString(api.Logs.String(), -1)) - before
		t.Logf("25 s of 8 callers with JWTs of 10 s: %v, %d token requests to Airflow", &answers, renewals)
		if len(answers.counts) != 1 || answers.counts[http.StatusOK] == 0 {
			t.Errorf("a caller saw a failure: %v: %v", &answers, answers.bodies)
		}
		// A token this short is renewed at half its life, 5 s: five in 25 s, give or take one at either end.
		if renewals < 3 || renewals > 7 {
			t.Errorf("%d token requests in 25 s; want one per renewal, about five", renewals)
		}
	})

	t.Run("a task log of 10 MB", func(t *testing.T) {
		api.RunDAG(t, "gw_big_log", "2024-06-01")
		var runs struct {
			DagRuns []struct {
				DagRunID string `json:"dag_run_id"`
			} `json:"dag_runs"`
		}
		admin.Do(t, http.MethodGet, "/api/v2/dags/gw_big_log/dagRuns", nil).Decode(t, &runs)
		if len(runs.DagRuns) != 1 {
			t.Fatalf("the runs of gw_big_log: %+v", runs)
		}
		logPath := "/dags/gw_big_log/dagRuns/" + runs.DagRuns[0].DagRunID + "/taskInstances/talk/logs/1?full_content=true"
		peak := func() int { // kB
			n, _ := strconv.Atoi(strings.TrimSuffix(procfs.Status(gw.Process.Pid, "VmHWM"), " kB"))
			return n
		}
		before, smallest := peak(), 0
		for _, read := range []struct{ target, accept string }{
			{"/api/v1" + logPath, "text/plain"},           // translated: v2's lines written as v1's text
			{"/api/v2" + logPath, "application/x-ndjson"}, // as Airflow 3 streams it
		} {
			a := admin.Do(t, http.MethodGet, read.target, nil, "Accept", read.accept)
			if a.Status != http.StatusOK || len(a.Body) < 10<<20 || !strings.Contains(string(a.Body[len(a.Body)-4096:]), "the end of the big log") {
				t.Fatalf("%s as %s: %d, %d bytes, ending %q", read.target, read.accept, a.Status, len(a.Body), a.Body[max(0, len(a.Body)-200):])
			}
			t.Logf("%s as %s: %.1f MB", read.target, read.accept, float64(len(a.Body))/(1<<20))
			if smallest == 0 || len(a.Body) < smallest {
				smallest = len(a.Body)
			}
		}
		// A log held whole would take at least its own size; streamed, the gateway holds a few buffers (the
		// peak grew by 2 to 5 MB in runs here, with the garbage collector's slack).
		grew := peak() - before
		t.Logf("the gateway's peak memory (VmHWM) grew by %d kB while it streamed the log twice", grew)
		if grew > smallest*3/4/1024 {
			t.Errorf("the gateway's peak memory grew by %d kB reading a log of %d kB: it was not streamed", grew, smallest/1024)
		}
	})

	t.Run("the API server stops under load", func(t *testing.T) {
		var answers tally
		var mu sync.Mutex
		last := 0
		stop := make(chan struct{})
		wg := load(t, 4, stop, func() (int, string) {
			status, body := call(t, admin, http.MethodGet, "/api/v1/dags?limit=1")
			mu.Lock()
			last = status
			mu.Unlock()
			return status, body
		}, &answers)
		time.Sleep(2 * time.Second)
		api.Stop()
		waitFor(t, "a 502 while the API server is stopped", func() bool { return answers.count(http.StatusBadGateway) > 0 })
		if status, body := call(t, admin, http.MethodGet, "/health"); status == 0 || !strings.Contains(body, `"status"`) {
			t.Errorf("the gateway's health while Airflow's API server is stopped: %d %s", status, body)
		}
		// While it is stopped, the Op user's password changes.
		api.SetPassword(t, "Op", "a-new-password-of-op")
		api.Start(t)
		waitFor(t, "a 200 once the API server is back", func() bool { mu.Lock(); defer mu.Unlock(); return last == http.StatusOK })
		close(stop)
		wg.Wait()
		t.Logf("answers with the API server stopped and started again: %v", &answers)
		for status, body := range answers.bodies {
			switch {
			case status == http.StatusOK:
			case status == http.StatusBadGateway && strings.Contains(body, api.URL):
			default:
				t.Errorf("an answer %d: %.300s", status, body)
			}
		}
	})

	t.Run("a role's password changed in Airflow", func(t *testing.T) {
		var status int
		var body string
		// The Op user's JWT, if one was fetched before the change, holds until it expires.
		waitFor(t, "the Op role's 502", func() bool {
			status, body = call(t, op, http.MethodGet, "/api/v2/dags?limit=1")
			return status == http.StatusBadGateway
		})
		var problem struct{ Detail string }
		if json.Unmarshal([]byte(body), &problem) != nil || !strings.Contains(problem.Detail, "Op") || !strings.Contains(problem.Detail, "users_file") {
			t.Errorf("the Op role's answer names neither the role nor users_file: %s", body)
		}
		if s, _ := call(t, admin, http.MethodGet, "/api/v2/dags?limit=1"); s != http.StatusOK {
			t.Errorf("the Admin role's answer after Op's password changed: %d", s)
		}
		for _, secret := range []string{"a-new-password-of-op", api.Password("Op"), api.Password("Admin")} {
			if strings.Contains(body, secret) || strings.Contains(logs.String(), secret) {
				t.Errorf("a password of Airflow's users is in an answer or in the gateway's log")
			}
		}
	})
}

// waitFor waits up to 40 s for ok.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(40 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in 40 s", what)
		}
	}
}

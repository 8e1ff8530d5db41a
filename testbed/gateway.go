package testbed

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
)

// gatewayBinary is the gateway, built once per test process, for the tests that run it as a process.
var gatewayBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "airflow-gateway-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "airflow-gateway")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/airflow-gateway")
	cmd.Dir = filepath.Dir(Dir())
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// GatewayBinary returns the gateway's binary, built from this module once per test process.
func GatewayBinary(tb testing.TB) string {
	tb.Helper()
	bin, err := gatewayBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// GatewayProcess starts the gateway (built from this module) as a process of its own on home, with the
// plugin token token and extra lines in [gateway] (other sections may follow them; a `listen =` among
// them replaces 127.0.0.1:0), logging to logs. It returns the process and its URL, and stops the process
// when tb ends.
func GatewayProcess(tb testing.TB, home *Home, token, extra string, logs io.Writer) (*exec.Cmd, string) {
	tb.Helper()
	bin, err := gatewayBinary()
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.Contains(extra, "listen =") {
		extra = "listen = 127.0.0.1:0\n" + extra
	}
	cfg := fmt.Sprintf("[rest_api_plugin]\nrest_api_plugin_expected_http_token = %s\n\n[gateway]\nairflow_bin = %s\nairflow_home = %s\n%s",
		token, home.Airflow, home.Dir, extra)
	path := filepath.Join(tb.TempDir(), "gateway.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", path)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { StopProcess(cmd) })
	return cmd, ListeningURL(tb, out)
}

// ListeningURL reads the gateway's first line of standard output, `listening on URL`, returns the URL,
// and discards the rest of stdout.
func ListeningURL(tb testing.TB, stdout io.Reader) string {
	tb.Helper()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("the gateway did not start: %v", err)
	}
	go io.Copy(io.Discard, stdout)
	m := regexp.MustCompile(`listening on (https?://\S+)`).FindStringSubmatch(line)
	if m == nil {
		tb.Fatalf("unexpected first line %q", line)
	}
	return m[1]
}

// StopProcess stops a gateway process as a service manager does: SIGTERM, then SIGKILL if it has not
// exited within a minute. A process that was already waited for is left alone.
func StopProcess(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
	}
}

// LoginCookie logs in at url with token and returns the session cookie.
func LoginCookie(tb testing.TB, url, token string) *http.Cookie {
	tb.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(url + "/login?token=" + token)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			return c
		}
	}
	tb.Fatalf("login gave no session cookie (%d)", resp.StatusCode)
	return nil
}

// JobDoc is a job as the job endpoints answer it.
type JobDoc struct {
	Status   int
	ID       string `json:"id"`
	State    string `json:"state"`
	ExitCode *int   `json:"exit_code"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	Detail   string `json:"detail"`
	Replica  string `json:"replica"`
	ServedBy string `json:"-"` // the X-Served-By header a balancer in front sets: the replica that answered
}

// JobCall sends one request to a job endpoint with token. A 5xx that is not the gateway's JSON, as a
// balancer answers while the replica it chose has just died, comes back with its status and text as
// Detail, for the caller to try again.
func JobCall(tb testing.TB, base, token, method, path string) *JobDoc {
	tb.Helper()
	req, _ := http.NewRequest(method, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var d JobDoc
	if err := json.Unmarshal(body, &d); err != nil {
		if resp.StatusCode < 500 {
			tb.Fatalf("%s %s: %d %v: %.200s", method, path, resp.StatusCode, err, body)
		}
		d.Detail = string(body)
	}
	d.Status = resp.StatusCode
	d.ServedBy = resp.Header.Get("X-Served-By")
	return &d
}

// StartJob starts line as a job with token, and fails tb unless it is running.
func StartJob(tb testing.TB, base, token, line string) *JobDoc {
	tb.Helper()
	d := JobCall(tb, base, token, http.MethodPost, "/api/v1/jobs?command="+url.QueryEscape(line))
	if d.Status != http.StatusAccepted || d.State != "running" {
		tb.Fatalf("POST %s: %d %s %s", line, d.Status, d.State, d.Detail)
	}
	return d
}

// FollowJob reads a job's events, from lastID when not empty, until `end` or until each returns false.
func FollowJob(tb testing.TB, base, token, id, lastID string, each func(Event) bool) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/jobs/"+id+"/output", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		tb.Fatalf("output of %s: %d %s", id, resp.StatusCode, body)
	}
	if err := ReadEvents(resp.Body, func(ev Event) bool { return each(ev) && ev.Name != "end" }); err != nil {
		tb.Fatal(err)
	}
}

// PlantSlowDAG puts gw_slow (gw_slow.py: a task that prints a tick a second, starts a grandchild, and
// writes both pids to AIRFLOW_HOME/gw_slow.pids) into the home's DAGs folder and has Airflow read it.
func PlantSlowDAG(tb testing.TB, home *Home) {
	tb.Helper()
	dag, err := os.ReadFile(filepath.Join(Dir(), "gw_slow.py"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home.Dags, "gw_slow.py"), dag, 0o644); err != nil {
		tb.Fatal(err)
	}
	home.Run(tb, "dags", "reserialize")
}

// SlowPIDs returns the pids gw_slow wrote, once it has written them.
func SlowPIDs(tb testing.TB, home *Home) []int {
	tb.Helper()
	for range 600 {
		data, _ := os.ReadFile(filepath.Join(home.Dir, "gw_slow.pids"))
		var pids []int
		for _, f := range strings.Fields(string(data)) {
			pid, _ := strconv.Atoi(f)
			pids = append(pids, pid)
		}
		if len(pids) >= 2 {
			return pids
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatal("gw_slow did not write its pids within a minute")
	return nil
}

// AssertExited fails tb unless every pid has exited within a few seconds.
func AssertExited(tb testing.TB, pids []int) {
	tb.Helper()
	for range 100 {
		left := 0
		for _, pid := range pids {
			if procfs.Alive(pid) {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, pid := range pids {
		if procfs.Alive(pid) {
			tb.Errorf("process %d is still running: %s", pid, strings.Join(procfs.Argv(pid), " "))
		}
	}
}

// UploadedDAG is the source of a small DAG with id, for the deploy_dag tests; note goes into its docstring.
func UploadedDAG(id, note string) string {
	return fmt.Sprintf(`"""Deployed by the integration test (%s)."""
from datetime import datetime

try:
    from airflow.sdk import dag, task
except ImportError:
    from airflow.decorators import dag, task


@dag(dag_id=%q, schedule=None, start_date=datetime(2024, 1, 1), catchup=False)
def uploaded():
    @task
    def hello():
        print("hello")

    hello()


uploaded()
`, note, id)
}

// WaitWarm waits until the gateway at url runs commands on its warm executor, as /health tells, and fails
// tb with the gateway's logs after two minutes.
func WaitWarm(tb testing.TB, url string, logs fmt.Stringer) {
	tb.Helper()
	for range 1200 {
		resp, err := http.Get(url + "/health")
		if err == nil {
			var h struct {
				Executor struct {
					Warm bool `json:"warm"`
				} `json:"executor"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h.Executor.Warm {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("the warm executor was not warm after 2 minutes:\n%s", logs)
}

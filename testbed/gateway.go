package testbed

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

// GatewayProcess starts the gateway (built from this module) as a process of its own with cfg, logging
// to logs. It returns the process and its URL, and stops the process when tb ends.
func GatewayProcess(tb testing.TB, cfg Config, logs io.Writer) (*exec.Cmd, string) {
	tb.Helper()
	cmd := exec.Command(GatewayBinary(tb), "serve", "--config", cfg.File(tb))
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
	c := &Client{URL: url}
	for range 1200 {
		if a, err := c.Send(http.MethodGet, "/health", nil); err == nil {
			var h struct {
				Executor struct {
					Warm bool `json:"warm"`
				} `json:"executor"`
			}
			if json.Unmarshal(a.Body, &h) == nil && h.Executor.Warm {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("the warm executor was not warm after 2 minutes:\n%s", logs)
}

// DAGIndex is what /health tells of a gateway's DAG index.
type DAGIndex struct {
	Status     string `json:"status"`
	DAGs       int    `json:"dags"`
	AgeSeconds int    `json:"age_seconds"`
	Failures   int    `json:"failures"`
}

// WaitDAGIndex waits until a gateway has read its DAG index, as /health tells, and returns what it tells.
func WaitDAGIndex(tb testing.TB, url string, logs fmt.Stringer) DAGIndex {
	tb.Helper()
	c := &Client{URL: url}
	for range 1200 {
		if a, err := c.Send(http.MethodGet, "/health", nil); err == nil {
			var h struct {
				DAGIndex DAGIndex `json:"dag_index"`
			}
			if json.Unmarshal(a.Body, &h) == nil && h.DAGIndex.Status == "current" {
				return h.DAGIndex
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("the gateway had not read its DAG index after 2 minutes:\n%s", logs)
	return DAGIndex{}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// The differential test: the command-dialect and plugin integration suites run through a mirror, which
// sends every request both to the gateway under test (the warm executor) and to a twin gateway on a twin
// home (the subprocess executor), answers with the first's response, and fails the test wherever the two
// answers differ in more than the values that change from run to run. So every command of both suites
// runs on both executors, and the suites' own checks run against the warm one.

// forEachAirflowMirrored is forEachAirflow with the mirror in front of the gateway under test.
func forEachAirflowMirrored(t *testing.T, body func(t *testing.T, major string, home *testbed.Home, g *gatewayClient)) {
	t.Helper()
	for _, major := range testbed.Versions {
		t.Run("airflow-"+major, func(t *testing.T) {
			t.Parallel()
			homes := make([]*testbed.Home, 2)
			var wg sync.WaitGroup
			for i := range homes {
				wg.Go(func() { homes[i] = testbed.MustHome(t, major) })
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			warm := mustServe(t, homes[0], "[gateway]\nexecutor = warm\n")
			cold := mustServe(t, homes[1], "[gateway]\nexecutor = subprocess\n")
			waitWarm(t, warm)
			m := &mirror{t: t, warm: warm, cold: cold}
			proxy := httptest.NewServer(m)
			t.Cleanup(proxy.Close)
			g := &gatewayClient{url: proxy.URL, home: homes[0], twin: homes[1], ran: map[string]bool{}, logs: warm.logs}
			body(t, major, homes[0], g)
			t.Logf("the mirror compared %d answers of the warm and the subprocess executor", m.compared)
			if m.compared < 50 {
				t.Errorf("only %d answers were compared: the differential test proves little", m.compared)
			}
		})
	}
}

// waitWarm waits until the gateway's warm executor takes commands, as /health tells.
func waitWarm(tb testing.TB, g *gatewayClient) {
	tb.Helper()
	for range 1200 {
		resp, err := http.Get(g.url + "/health")
		if err == nil {
			var h struct {
				Executor struct {
					Warm   bool   `json:"warm"`
					Detail string `json:"detail"`
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
	tb.Fatalf("the warm executor was not warm after 2 minutes:\n%s", g.logs)
}

// runOnHomes runs a CLI command directly on the home and, under the mirror, on its twin too, so that both
// gateways see the same state.
func (g *gatewayClient) runOnHomes(tb testing.TB, args ...string) string {
	tb.Helper()
	if g.twin != nil {
		g.twin.Run(tb, args...)
	}
	return g.home.Run(tb, args...)
}

// removeDAG removes a file from the DAGs folder of the home and of its twin.
func (g *gatewayClient) removeDAG(tb testing.TB, name string) {
	tb.Helper()
	for _, h := range []*testbed.Home{g.home, g.twin} {
		if h != nil {
			if err := os.Remove(filepath.Join(h.Dags, name)); err != nil {
				tb.Error(err)
			}
		}
	}
}

// mirror sends each request to both gateways and compares their answers.
type mirror struct {
	t          *testing.T
	warm, cold *gatewayClient
	mu         sync.Mutex
	compared   int
}

type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (m *mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	send := func(g *gatewayClient) answer {
		req, err := http.NewRequest(r.Method, g.url+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			return answer{err: err}
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header, b, err}
	}
	var cold answer
	done := make(chan struct{})
	go func() { cold = send(m.cold); close(done) }()
	warm := send(m.warm)
	<-done
	if warm.err != nil {
		http.Error(w, warm.err.Error(), http.StatusBadGateway)
		return
	}
	for k, vs := range warm.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(warm.status)
	w.Write(warm.body)
	m.compare(r, warm, cold)
}

// compare fails the test when the two answers differ in status, exit code or content, once the values
// that change per run (times, durations, request ids, each home's own path) are masked.
func (m *mirror) compare(r *http.Request, warm, cold answer) {
	label := r.Method + " " + r.URL.RequestURI()
	if cold.err != nil {
		m.t.Errorf("%s: the subprocess gateway did not answer: %v", label, cold.err)
		return
	}
	m.mu.Lock()
	m.compared++
	m.mu.Unlock()
	w, c := m.normalize(warm.body, m.warm.home), m.normalize(cold.body, m.cold.home)
	if warm.status != cold.status || warm.header.Get("X-Airflow-Exit-Code") != cold.header.Get("X-Airflow-Exit-Code") || !reflect.DeepEqual(w, c) {
		wj, _ := json.MarshalIndent(w, "", "  ")
		cj, _ := json.MarshalIndent(c, "", "  ")
		m.t.Errorf("%s: the executors answer differently\nwarm: %d exit %s\n%s\nsubprocess: %d exit %s\n%s", label,
			warm.status, warm.header.Get("X-Airflow-Exit-Code"), wj, cold.status, cold.header.Get("X-Airflow-Exit-Code"), cj)
	}
}

// perRequest are the answer's keys that differ on every request by design.
var perRequest = []string{"call_time", "response_time", "duration_ms", "request_id"}

// normalize reads a JSON answer and masks what changes from run to run; other bodies are compared as
// masked text.
func (m *mirror) normalize(body []byte, home *testbed.Home) any {
	text := strings.ReplaceAll(string(body), home.Dir, "<home>")
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return maskOutput(text)
	}
	if obj, ok := v.(map[string]any); ok {
		for _, k := range perRequest {
			delete(obj, k)
		}
		if cmd, _ := obj["airflow_cmd"].(string); strings.HasPrefix(cmd, "airflow dags report") {
			unorder(obj)
		}
	}
	return maskStrings(v)
}

// unorder sorts the rows of `dags report`, which lists the DAG files by how long each took to parse,
// longest first: an order that changes from run to run.
func unorder(answer map[string]any) {
	byText := func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) }
	if data, ok := answer["data"].([]any); ok {
		slices.SortFunc(data, byText)
	}
	out, _ := answer["output"].(map[string]any) // the plugin dialect's envelope
	if out == nil {
		out = answer
	}
	stdout, _ := out["stdout"].(string)
	var rows []any
	if err := json.Unmarshal([]byte(stdout), &rows); err == nil { // -o json
		slices.SortFunc(rows, byText)
		out["stdout"] = rows
		return
	}
	lines := strings.Split(stdout, "\n") // a table
	slices.Sort(lines)
	out["stdout"] = strings.Join(lines, "\n")
}

func maskStrings(v any) any {
	switch x := v.(type) {
	case string:
		return maskOutput(x)
	case []any:
		for i := range x {
			x[i] = maskStrings(x[i])
		}
	case map[string]any:
		for k := range x {
			if k == "file_token" {
				x[k] = "<token>" // Airflow signs the DAG file's path with it: one per home
				continue
			}
			x[k] = maskStrings(x[k])
		}
	}
	return v
}

// removedRecords is how `dags delete` says what it removed.
var removedRecords = regexp.MustCompile(`Removed \d+ record\(s\)`)

// maskOutput masks what changes from run to run in a command's output (commandstest.MaskRun), and what two
// cold runs of the same command print differently because Airflow iterates sets of objects, whose order
// follows the objects' addresses in memory:
//   - `tasks failed-deps` prints the unmet dependencies from such a set: its lines are compared sorted;
//   - `dags delete` adds up the rows it deletes model by model, in the order of SQLAlchemy's set of mappers,
//     and a cascading delete counts its rows with whichever model comes first: the total is masked.
func maskOutput(s string) string {
	s = commandstest.MaskRun(s)
	if strings.HasPrefix(s, "Task instance dependencies not met:\n") {
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		slices.Sort(lines[1:])
		s = strings.Join(lines, "\n") + "\n"
	}
	return removedRecords.ReplaceAllString(s, "Removed <n> record(s)")
}

// TestMain gives every Airflow these tests start one hash seed. Python orders a set of strings by their
// hashes, which under the default random seed change from one process to the next (`tasks failed-deps`,
// `providers triggers` and `db clean` print such sets); the children of one forkserver share its seed.
// With one seed for all, the differential test can compare the executors' output line by line.
func TestMain(m *testing.M) {
	os.Setenv("PYTHONHASHSEED", "0")
	os.Exit(m.Run())
}

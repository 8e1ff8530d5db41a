package commands

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// recordListings makes TestListingsRenderAsAirflow print the listings with each installed Airflow first,
// and write what it printed in testdata/listing/airflow-VERSION/, before it compares.
var recordListings = flag.Bool("record", false, "record each installed Airflow's listings in testdata/listing/")

// listingFormats are the output formats of Airflow's listings; json comes first, as the rows the others render.
var listingFormats = []string{"json", "yaml", "table", "plain"}

// TestListingsRenderAsAirflow feeds the renderer the rows that each Airflow release printed as JSON and
// expects what the same release printed in every other format, byte for byte: the four listings across
// DAGs on the example DAGs and testdata/listing/dags, and the rows of testdata/listing/console rendered
// by the release's own console. `go test ./commands -run TestListingsRenderAsAirflow -record` writes them
// again from the installed Airflows.
func TestListingsRenderAsAirflow(t *testing.T) {
	if *recordListings {
		for _, release := range append(slices.Clone(testbed.Versions), testbed.SmokeVersions...) {
			t.Run("record/"+release, func(t *testing.T) {
				t.Parallel()
				recordListingsOf(t, release)
			})
		}
	}
	t.Run("compare", func(t *testing.T) {
		dirs, _ := filepath.Glob(filepath.Join("testdata", "listing", "airflow-*"))
		if len(dirs) == 0 {
			t.Fatal("no recordings in testdata/listing/: record them with -record")
		}
		for _, dir := range dirs {
			inputs, _ := filepath.Glob(filepath.Join(dir, "*.json"))
			for _, input := range inputs {
				name := strings.TrimSuffix(filepath.Base(input), ".json")
				t.Run(filepath.Base(dir)+"/"+name, func(t *testing.T) {
					printed := mustRead(t, input)
					rows, err := parseRows(printed)
					if err != nil {
						t.Fatalf("the rows Airflow printed: %v", err)
					}
					for _, format := range listingFormats {
						want := printed
						if format != "json" {
							want = mustRead(t, filepath.Join(dir, name+"."+format))
						}
						got, err := renderRows(rows, format)
						if err != nil {
							t.Errorf("%s: %v", format, err)
						} else if got != want {
							t.Errorf("%s differs from Airflow's:\n%s", format, lineDiff(want, got))
						}
					}
				})
			}
		}
	})
}

func mustRead(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// lineDiff shows the first line where got differs from want, with the line before it.
func lineDiff(want, got string) string {
	w, g := strings.SplitAfter(want, "\n"), strings.SplitAfter(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			before := ""
			if i > 0 && i-1 < len(w) {
				before = fmt.Sprintf("     %q\n", w[i-1])
			}
			return fmt.Sprintf("line %d:\n%swant %q\ngot  %q", i+1, before, wl, gl)
		}
	}
	return "(no line differs)"
}

// listingCommands are the listings recorded on each release, by the name of their recording.
func listingCommands(home *testbed.Home, version string) map[string][]string {
	cmds := map[string][]string{
		"dags-list":               {"dags", "list"},
		"dags-list-import-errors": {"dags", "list-import-errors"},
		"dags-report":             {"dags", "report"},
		"dags-list-jobs":          {"dags", "list-jobs"},
	}
	if strings.HasPrefix(version, "2.") {
		// dags report sorts its files by how long each took to parse, which changes from run to run when
		// they all take next to nothing: on Airflow 2, one file of two DAGs keeps its rows in one order.
		cmds["dags-report"] = []string{"dags", "report", "--subdir", filepath.Join(home.Dags, "team_pair.py")}
	}
	if !strings.HasPrefix(version, "2.6.") { // --columns came with 2.10
		cmds["dags-list-columns"] = []string{"dags", "list", "--columns", "dag_id,tags,description,owners,is_paused"}
	}
	return cmds
}

// recordListingsOf prints the listings with one installed Airflow release on a fresh home and writes
// them, and its console's rendering of testdata/listing/console, in testdata/listing/airflow-VERSION/.
func recordListingsOf(t *testing.T, release string) {
	extra, _ := filepath.Glob(mustAbs(t, filepath.Join("testdata", "listing", "dags", "*.py")))
	home := testbed.MustHome(t, release, extra...)
	version := strings.TrimSpace(FilterLoadingMessages(runAirflow(t, home, "version")))
	python := filepath.Join(filepath.Dir(home.Airflow), "python")
	// Jobs the listing of jobs shows: two of DAGs, one of the scheduler (no DAG).
	insertJobs := `import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executemany("INSERT INTO job (dag_id, state, job_type, start_date, end_date, latest_heartbeat, hostname, unixname) VALUES (?, ?, ?, ?, ?, ?, 'worker-1', 'airflow')", [
    ("team_a_report", "success", "LocalTaskJob", "2024-01-01 00:00:01.000000", "2024-01-01 00:00:09.000000", "2024-01-01 00:00:09.000000"),
    ("team_b_report", "failed", "LocalTaskJob", "2024-01-01 00:00:02.000000", "2024-01-01 00:00:03.000000", "2024-01-01 00:00:03.000000"),
    (None, "running", "SchedulerJob", "2024-01-01 00:00:00.000000", None, "2024-01-01 00:00:10.000000"),
])
db.commit()
`
	if out, err := exec.Command(python, "-c", insertJobs, filepath.Join(home.Dir, "airflow.db")).CombinedOutput(); err != nil {
		t.Fatalf("inserting jobs: %v\n%s", err, out)
	}
	if !strings.HasPrefix(version, "2.") { // Airflow 3 lists the import errors its DAG processor recorded
		runAirflow(t, home, "dag-processor", "--num-runs", "1")
	}
	dir := filepath.Join("testdata", "listing", "airflow-"+version)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	norm := recordingNormalizer(home)
	for name, cmd := range listingCommands(home, version) {
		var files []string // the order of dags report's rows, which sorts its files by how long each took
		for _, format := range listingFormats {
			var out string
			for attempt := 0; ; attempt++ {
				out = FilterLoadingMessages(runAirflow(t, home, append(slices.Clone(cmd), "--output", format)...))
				if name != "dags-report" {
					break
				}
				out = durations.ReplaceAllStringFunc(out, zeroDigits)
				if format == "json" {
					rows, err := parseRows(out)
					if err != nil {
						t.Fatalf("dags report printed %q: %v", out, err)
					}
					for _, r := range rows {
						f, _ := stringField(r, "file")
						files = append(files, f)
					}
				}
				if inOrder(out, files) {
					break
				}
				if attempt == 20 {
					t.Fatalf("dags report never printed its files in the order %q in %s", files, format)
				}
			}
			writeRecording(t, filepath.Join(dir, name+"."+format), norm.Replace(out))
		}
	}
	// The console's rendering of chosen rows.
	inputs, _ := filepath.Glob(mustAbs(t, filepath.Join("testdata", "listing", "console", "*.json")))
	cmd := exec.Command(python, append([]string{mustAbs(t, filepath.Join("testdata", "listing", "render.py"))}, inputs...)...)
	cmd.Env = airflowEnv(home)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("render.py: %v\n%s", err, stderrOf(err))
	}
	var rendered map[string]map[string]string
	if err := json.Unmarshal(out, &rendered); err != nil {
		t.Fatalf("render.py printed %q: %v", out, err)
	}
	for file, formats := range rendered {
		name := "console-" + strings.TrimSuffix(file, ".json")
		for format, text := range formats {
			writeRecording(t, filepath.Join(dir, name+"."+format), text)
		}
	}
}

// inOrder reports whether the names appear in text in their order.
func inOrder(text string, names []string) bool {
	at := 0
	for _, n := range names {
		i := strings.Index(text[at:], n)
		if i < 0 {
			return false
		}
		at += i + len(n)
	}
	return true
}

// durations are the times `dags report` measures, which change from run to run: their digits are
// written as zeros, which keeps their width and every layout around them as Airflow made it.
var durations = regexp.MustCompile(`\b\d+:\d\d:\d\d(\.\d{6})?\b`)

func zeroDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '0'
		}
		return r
	}, s)
}

// recordingNormalizer writes the temporary home's folder and the virtualenv's as fixed names of the same
// length, so that the recordings name no folder of the machine that made them and every layout stays as
// Airflow made it.
func recordingNormalizer(home *testbed.Home) *strings.Replacer {
	same := func(path, name string) string {
		for len(name) < len(path) {
			name += "_"
		}
		return name[:len(path)]
	}
	venv := filepath.Dir(filepath.Dir(home.Airflow))
	return strings.NewReplacer(home.Dir, same(home.Dir, "/opt/airflow/home"), venv, same(venv, "/opt/airflow/venv"))
}

func writeRecording(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// airflowEnv is the environment the gateway's executors give Airflow: the test's, without the gateway's
// own settings, with AIRFLOW_HOME.
func airflowEnv(home *testbed.Home) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AIRFLOW_GATEWAY") && !strings.HasPrefix(kv, "AIRFLOW_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "AIRFLOW_HOME="+home.Dir)
}

// runAirflow runs the home's Airflow as the gateway does (stdin closed, output to pipes, in the home) and
// returns its stdout, whatever its exit code (list-import-errors exits 1 when it lists any).
func runAirflow(t *testing.T, home *testbed.Home, args ...string) string {
	t.Helper()
	cmd := exec.Command(home.Airflow, args...)
	cmd.Env = airflowEnv(home)
	cmd.Dir = home.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, exited := err.(*exec.ExitError); !exited || stdout.Len() == 0 {
			t.Fatalf("airflow %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
	}
	return stdout.String()
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func mustAbs(tb testing.TB, path string) string {
	tb.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		tb.Fatal(err)
	}
	return abs
}

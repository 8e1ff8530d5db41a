package warm_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
	"github.com/airflow-gateway/airflow-gateway/commands/subprocess"
	"github.com/airflow-gateway/airflow-gateway/commands/warm"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// fixture is a warm executor on a fresh Airflow home, with the subprocess executor it falls back to.
type fixture struct {
	major string // the Airflow version of testbed.Versions
	home  *testbed.Home
	cold  *subprocess.Executor
	warm  *warm.Executor
	pids  string          // where the gw_faults tasks write their pids
	logs  *testbed.Buffer // the executor's log
}

// paths are the command paths the fixtures' forkservers warm up.
var paths = []string{"version", "config get-value", "variables get", "variables set", "pools list", "dags list",
	"dags details", "dags reserialize", "tasks test", "db check"}

// mustFixture makes a home with the DAGs of testdata and a warm executor on it, configured by adjust.
func mustFixture(tb testing.TB, major string, adjust func(*warm.Executor)) *fixture {
	tb.Helper()
	return mustColdFixture(tb, major).withWarm(tb, adjust)
}

// withWarm returns a fixture on f's home and subprocess executor with a warm executor of its own,
// configured by adjust, and a log of its own; the executor stops when tb ends.
func (f *fixture) withWarm(tb testing.TB, adjust func(*warm.Executor)) *fixture {
	tb.Helper()
	g := *f
	g.logs = &testbed.Buffer{}
	python, err := warm.PythonOf(g.home.Airflow)
	if err != nil {
		tb.Fatal(err)
	}
	g.warm = &warm.Executor{Cold: g.cold, Python: python, Binary: g.home.Airflow, Home: g.home.Dir, Env: slices.Clip(g.cold.Env),
		MaxOutputBytes: 1 << 20, KillGrace: 2 * time.Second, MaxAge: time.Hour, Paths: paths, Log: slog.New(slog.NewTextHandler(g.logs, nil))}
	if adjust != nil {
		adjust(g.warm)
	}
	g.warm.Start()
	tb.Cleanup(g.warm.Close)
	return &g
}

// mustColdFixture makes a home with the DAGs of testdata and a subprocess executor on it, without a warm
// one.
func mustColdFixture(tb testing.TB, major string) *fixture {
	tb.Helper()
	dags, _ := filepath.Glob(filepath.Join("testdata", "*.py"))
	for i := range dags {
		dags[i], _ = filepath.Abs(dags[i])
	}
	home := testbed.MustHome(tb, major, dags...)
	f := &fixture{major: major, home: home, pids: filepath.Join(tb.TempDir(), "pids"), logs: &testbed.Buffer{}}
	env := append(subprocess.ChildEnv(os.Environ(), home.Dir), "GW_FAULT_PIDS="+f.pids)
	python, err := warm.PythonOf(home.Airflow)
	if err != nil {
		tb.Fatal(err)
	}
	f.cold = &subprocess.Executor{Binary: home.Airflow, Python: python, Home: home.Dir, Env: env, MaxOutputBytes: 1 << 20, KillGrace: 2 * time.Second}
	return f
}

// waitWarm waits until a forkserver takes commands, with restarts forkservers started after the first.
func (f *fixture) waitWarm(tb testing.TB, restarts uint64) {
	tb.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st := f.warm.Status()
		if st.Warm && st.Restarts == restarts {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no warm forkserver after 3 minutes: %+v\n%s", st, f.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *fixture) run(tb testing.TB, ex commands.Executor, args ...string) (*commands.Result, error) {
	tb.Helper()
	return ex.Run(context.Background(), commands.Exec{Args: args, Limit: 2 * time.Minute})
}

// mustRun runs a command and fails tb unless it exited 0.
func (f *fixture) mustRun(tb testing.TB, ex commands.Executor, args ...string) *commands.Result {
	tb.Helper()
	res, err := f.run(tb, ex, args...)
	if err != nil || res.ExitCode != 0 {
		tb.Fatalf("airflow %s: %v %+v", strings.Join(args, " "), err, res)
	}
	return res
}

// recordedPIDs are the pids the gw_faults tasks wrote, once there are at least n.
func (f *fixture) recordedPIDs(tb testing.TB, n int) []int {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		data, _ := os.ReadFile(f.pids)
		var pids []int
		for _, line := range strings.Fields(string(data)) {
			pid, _ := strconv.Atoi(line)
			pids = append(pids, pid)
		}
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the task wrote %d pids, want %d", len(pids), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assertGone fails tb unless every pid has exited within a few seconds.
func assertGone(tb testing.TB, pids []int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for procfs.Alive(pid) {
			if time.Now().After(deadline) {
				tb.Errorf("process %d is still alive", pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// forkserverPID finds the forkserver among this process's children: `python FILE airflow-gateway-forkserver`,
// FILE holding its source.
func forkserverPID(tb testing.TB, python string) int {
	tb.Helper()
	for _, pid := range procfs.PIDs() {
		argv := procfs.Argv(pid)
		if p, ok := procfs.Stat(pid); ok && p.PPID == os.Getpid() && len(argv) == 3 && argv[0] == python && argv[2] == warm.ProcessTag {
			if source, err := os.ReadFile(argv[1]); err != nil || !strings.Contains(string(source), "The warm executor's forkserver") {
				tb.Errorf("the forkserver runs %s, which does not hold its source: %v", argv[1], err)
			}
			return pid
		}
	}
	tb.Fatal("no forkserver among this process's children")
	return 0
}

// eachAirflow runs body on each Airflow version in parallel.
func eachAirflow(t *testing.T, body func(t *testing.T, major string)) {
	for _, major := range testbed.Versions {
		t.Run("airflow-"+major, func(t *testing.T) {
			t.Parallel()
			body(t, major)
		})
	}
}

// mask replaces what changes from run to run in Airflow's messages: times and durations.
func mask(s string) string { return commandstest.MaskRun(s) }

// TestWarmFaults runs the steps that can share one warm executor on one home, on each Airflow version,
// one after the other, so that they pay for the start of one home and one forkserver: each step starts
// with the forkserver warm, an empty pids file and an empty log, and leaves a forkserver warm (the one it
// found or its successor) and the home as it found it, except the last. A step can run alone:
// -run 'TestWarmFaults/airflow-3/forkserver_killed'.
func TestWarmFaults(t *testing.T) {
	eachAirflow(t, func(t *testing.T, major string) {
		f := mustFixture(t, major, nil)
		for _, step := range []struct {
			name string
			run  func(t *testing.T, f *fixture, restarts uint64)
		}{
			{"command stops", warmCommandStops},
			{"command floods output", warmCommandFloodsOutput},
			{"template killed", templateKilledDuringCommand},
			{"forkserver killed", forkserverKilledDuringCommand},
			{"dag index", dagIndexReadsTheHome},
			{"replaced when Airflow changes", forkserverReplacedWhenAirflowChanges}, // last: it edits the home
		} {
			t.Run(step.name, func(t *testing.T) {
				restarts := f.warm.Status().Restarts
				f.waitWarm(t, restarts)
				_ = os.Remove(f.pids)
				f.logs.Reset()
				step.run(t, f, restarts)
			})
		}
	})
}

// forkserverKilledDuringCommand: a command whose forkserver is killed is answered 503 and leaves nothing,
// and a successor takes the forkserver's place.
func forkserverKilledDuringCommand(t *testing.T, f *fixture, restarts uint64) {
	type outcome struct {
		res *commands.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := f.run(t, f.warm, "tasks", "test", "gw_faults", "hang", "2024-01-01")
		done <- outcome{res, err}
	}()
	pids := f.recordedPIDs(t, 2) // the task's process and its grandchild
	fs := forkserverPID(t, f.warm.Python)
	if err := syscall.Kill(fs, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var got outcome
	select {
	case got = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the command was not answered after its forkserver died")
	}
	var e *commands.Error
	if !errors.As(got.err, &e) || e.Code != commands.EUNAVAILABLE || !strings.Contains(e.Message, "stopped while the command ran") {
		t.Errorf("answer after the forkserver died: %v", got.err)
	}
	assertGone(t, append(pids, fs))
	// The next command runs at once (as a subprocess while a new forkserver warms), and then warm again.
	if res := f.mustRun(t, f.warm, "version"); strings.TrimSpace(res.Stdout) == "" {
		t.Errorf("version after the forkserver died printed nothing")
	}
	f.waitWarm(t, restarts+1)
	f.mustRun(t, f.warm, "version")
	// Whichever notices first says so: the watcher of the process, or the next command, which finds it
	// stopped and replaces it.
	if logs := f.logs.String(); !strings.Contains(logs, "the warm Airflow process stopped") && !strings.Contains(logs, `reason="it stopped"`) {
		t.Errorf("the log does not say the forkserver stopped:\n%s", logs)
	}
}

// warmCommandStops: a warm command stopped at its time limit or when its client goes away leaves nothing,
// and its forkserver goes on.
func warmCommandStops(t *testing.T, f *fixture, restarts uint64) {
	// At its time limit, the command's whole group goes, grandchild included.
	start := time.Now()
	res, err := f.warm.Run(context.Background(), commands.Exec{Args: []string{"tasks", "test", "gw_faults", "hang", "2024-01-01"}, Limit: 20 * time.Second})
	if err != nil || !res.TimedOut || res.Canceled {
		t.Errorf("past its limit: %v %+v", err, res)
	}
	if took := time.Since(start); took > 20*time.Second+f.warm.KillGrace+10*time.Second {
		t.Errorf("stopping at the limit took %s", took)
	}
	assertGone(t, f.recordedPIDs(t, 2))
	os.Remove(f.pids)

	// A client that goes away: the same, reported as canceled.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *commands.Result, 1)
	go func() {
		res, _ := f.warm.Run(ctx, commands.Exec{Args: []string{"tasks", "test", "gw_faults", "hang", "2024-01-01"}, Limit: time.Hour})
		done <- res
	}()
	pids := f.recordedPIDs(t, 2)
	cancel()
	select {
	case res := <-done:
		if res == nil || !res.Canceled || res.TimedOut {
			t.Errorf("after the client went away: %+v", res)
		}
	case <-time.After(time.Minute):
		t.Fatal("the command went on after its client went away")
	}
	assertGone(t, pids)
	if st := f.warm.Status(); !st.Warm || st.Restarts != restarts {
		t.Errorf("the forkserver did not survive stopping its commands: %+v", st)
	}
}

// warmCommandFloodsOutput: a warm command's output is cut at the cap.
func warmCommandFloodsOutput(t *testing.T, f *fixture, _ uint64) {
	start := time.Now()
	res, err := f.run(t, f.warm, "tasks", "test", "gw_faults", "flood", "2024-01-01")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || len(res.Stdout) != f.warm.MaxOutputBytes {
		t.Errorf("100 MB of output: truncated %v, %d bytes kept (cap %d)", res.Truncated, len(res.Stdout), f.warm.MaxOutputBytes)
	}
	if !strings.Contains(res.Stdout, strings.Repeat("x", 1<<16)) {
		t.Errorf("the kept output lacks the task's bytes")
	}
	t.Logf("100 MB through a warm child in %s, exit code %d", time.Since(start), res.ExitCode)
	assertGone(t, f.recordedPIDs(t, 1))
}

// forkserverReplacedWhenAirflowChanges: an edit of airflow.cfg or a new plugin replaces the forkserver, and
// the very next command sees it. It leaves the home with the edit and the plugin.
func forkserverReplacedWhenAirflowChanges(t *testing.T, f *fixture, restarts uint64) {
	get := func() string {
		return strings.TrimSpace(f.mustRun(t, f.warm, "config", "get-value", "core", "parallelism").Stdout)
	}
	if got := get(); got != "32" {
		t.Fatalf("parallelism before the edit: %q", got)
	}
	var templates []int
	for _, preload := range []string{"providers", "providers+api_client"} {
		templates = append(templates, f.waitTemplate(t, preload, 0).PID)
	}
	// An edit of airflow.cfg: the very next command sees it.
	cfg := filepath.Join(f.home.Dir, "airflow.cfg")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), "[core]\n", "[core]\nparallelism = 7\n", 1)
	if err := os.WriteFile(cfg, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "7" {
		t.Errorf("parallelism right after the edit: %q, want 7", got)
	}
	f.waitWarm(t, restarts+1)
	assertGone(t, templates) // the templates go with their forkserver
	f.waitTemplate(t, "providers", 0)
	forks := f.warm.Status().Forks
	if got := get(); got != "7" || f.forks("providers") != 1 {
		t.Errorf("parallelism from the new forkserver's template: %q, want 7; %+v", got, f.warm.Status())
	}
	if st := f.warm.Status(); st.Forks == forks {
		t.Errorf("the new forkserver ran nothing: %+v", st)
	}

	// A new file in the plugins folder: replaced too, and the plugin is the children's to load.
	plugins := filepath.Join(f.home.Dir, "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	plugin := "from airflow.plugins_manager import AirflowPlugin\n\nclass GwPlugin(AirflowPlugin):\n    name = \"gw_plugin\"\n"
	if err := os.WriteFile(filepath.Join(plugins, "gw_plugin.py"), []byte(plugin), 0o644); err != nil {
		t.Fatal(err)
	}
	f.mustRun(t, f.warm, "version")
	f.waitWarm(t, restarts+2)
	if out := f.mustRun(t, f.warm, "plugins", "-o", "json").Stdout; !strings.Contains(out, "gw_plugin") {
		t.Errorf("plugins after adding one: %s", out)
	}
	if n := strings.Count(f.logs.String(), "replacing the warm Airflow process"); n != 2 {
		t.Errorf("%d replacements logged, want 2:\n%s", n, f.logs)
	}
}

// TestForkserversConfiguredOtherwise runs, one after the other on one home of Airflow 3, warm executors
// whose forkserver cannot start, is refused, or grows old: each has an executor of its own, and none
// changes the home. (Not in parallel: the one that grows old counts on being served within 2 seconds.)
func TestForkserversConfiguredOtherwise(t *testing.T) {
	f := mustColdFixture(t, "3")
	for _, step := range []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"python missing", forkserverThatCannotStart},
		{"threaded", threadedForkserverIsNotUsed},
		{"max age", forkserverReplacedAfterMaxAge},
	} {
		t.Run(step.name, func(t *testing.T) { step.run(t, f) })
	}
}

// forkserverThatCannotStart: commands run as subprocesses, and the status and the log say why.
func forkserverThatCannotStart(t *testing.T, cold *fixture) {
	f := cold.withWarm(t, func(e *warm.Executor) { e.Python = "/nonexistent/python3" })
	res := f.mustRun(t, f.warm, "version")
	if strings.TrimSpace(res.Stdout) == "" {
		t.Errorf("version printed nothing")
	}
	deadline := time.Now().Add(time.Minute)
	for f.warm.Status().Detail == "" || strings.Contains(f.warm.Status().Detail, "warming up") {
		if time.Now().After(deadline) {
			t.Fatalf("no reason given: %+v", f.warm.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := f.warm.Status()
	if st.Warm || !strings.Contains(st.Detail, "/nonexistent/python3") || !strings.Contains(st.Detail, "subprocesses") {
		t.Errorf("status: %+v", st)
	}
	if !strings.Contains(f.logs.String(), "/nonexistent/python3") {
		t.Errorf("the log does not say why:\n%s", f.logs)
	}
	// The executor has settled, though not warm: the gateway's own commands waiting for it go on.
	select {
	case <-f.warm.Settled():
	default:
		t.Errorf("a warm executor whose start failed has not settled")
	}
}

// threadedForkserverIsNotUsed: a forkserver that has a thread is refused, and commands run as
// subprocesses.
func threadedForkserverIsNotUsed(t *testing.T, cold *fixture) {
	// A sitecustomize module starts a thread in every Python that runs with it, the forkserver included.
	site := t.TempDir()
	threaded := "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,), daemon=True, name='gw-sleeper').start()\n"
	if err := os.WriteFile(filepath.Join(site, "sitecustomize.py"), []byte(threaded), 0o644); err != nil {
		t.Fatal(err)
	}
	f := cold.withWarm(t, func(e *warm.Executor) { e.Env = append(e.Env, "PYTHONPATH="+site) })
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(f.warm.Status().Detail, "threads") {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal: %+v\n%s", f.warm.Status(), f.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := f.warm.Status(); st.Warm || !strings.Contains(st.Detail, "gw-sleeper") {
		t.Errorf("status: %+v", st)
	}
	f.mustRun(t, f.warm, "version")
	if st := f.warm.Status(); st.Forks != 0 {
		t.Errorf("a threaded forkserver forked: %+v", st)
	}
}

// forkserverReplacedAfterMaxAge: a forkserver older than its MaxAge is replaced, here one without
// templates.
func forkserverReplacedAfterMaxAge(t *testing.T, cold *fixture) {
	f := cold.withWarm(t, func(e *warm.Executor) { e.MaxAge, e.NoTemplates = 2*time.Second, true })
	select {
	case <-f.warm.Settled():
		t.Errorf("the executor has settled before its first forkserver is warm: %+v", f.warm.Status())
	default:
	}
	f.waitWarm(t, 0)
	select {
	case <-f.warm.Settled():
	case <-time.After(time.Second):
		t.Errorf("the executor is warm and has not settled")
	}
	if res := f.mustRun(t, f.warm, "config", "get-value", "core", "parallelism"); strings.TrimSpace(res.Stdout) != "32" {
		t.Errorf("config get-value without templates: %+v", res)
	}
	if st := f.warm.Status(); len(st.Templates) != 0 || strings.Contains(f.logs.String(), "template") {
		t.Errorf("templates when they are off: %+v\n%s", st, f.logs)
	}
	time.Sleep(2500 * time.Millisecond)
	f.mustRun(t, f.warm, "version") // finds it too old: runs as a subprocess and starts a successor
	f.waitWarm(t, 1)
	if !strings.Contains(f.logs.String(), "older than warm_max_age") {
		t.Errorf("the log does not say why it was replaced:\n%s", f.logs)
	}
}

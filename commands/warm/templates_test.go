package warm_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/commands/warm"
)

// waitTemplate waits until the forkserver has a template of preload up, other than the process old, and
// returns it.
func (f *fixture) waitTemplate(tb testing.TB, preload string, old int) commands.TemplateStatus {
	tb.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		for _, t := range f.warm.Status().Templates {
			if t.Preload == preload && t.PID != old {
				return t
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no template %q after 3 minutes: %+v\n%s", preload, f.warm.Status(), f.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// forks is how many commands the template of preload has forked, -1 when it is not up.
func (f *fixture) forks(preload string) int {
	for _, t := range f.warm.Status().Templates {
		if t.Preload == preload {
			return int(t.Forks)
		}
	}
	return -1
}

// hold makes the parsing of gw_slow_parse.py wait until the returned function is called.
func (f *fixture) hold(tb testing.TB) (release func()) {
	tb.Helper()
	if err := os.WriteFile(f.pids+".hold", nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	return func() { _ = os.Remove(f.pids + ".hold") }
}

// templateKilledDuringCommand (a step of TestWarmFaults): a command outlives its template, a successor
// takes the template's place, and the templates go with their forkserver.
func templateKilledDuringCommand(t *testing.T, f *fixture, restarts uint64) {
	tpl := f.waitTemplate(t, "providers", 0)
	forks := f.forks("providers")
	type outcome struct {
		res *commands.Result
		err error
	}
	done := make(chan outcome, 1)
	release := f.hold(t)
	go func() {
		res, err := f.run(t, f.warm, "dags", "reserialize")
		done <- outcome{res, err}
	}()
	command := f.recordedPIDs(t, 1)[0]
	if f.forks("providers") != forks+1 {
		t.Errorf("dags reserialize was not forked from the template: %+v", f.warm.Status())
	}
	if err := syscall.Kill(tpl.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The command outlives its template, and ends as it would have: the forkserver is its parent.
	assertGone(t, []int{tpl.PID})
	release()
	var got outcome
	select {
	case got = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the command was not answered after its template died")
	}
	if got.err != nil || got.res.ExitCode != 0 {
		t.Fatalf("dags reserialize after its template died: %v %+v", got.err, got.res)
	}
	// It prints what a cold run prints, as the equivalence test recorded it.
	cold := recorded(t, f.major, commandstest.InstalledVersion(t, f.home.Airflow)).answer(t, "dags reserialize")
	if warm := comparable(got.res, f.home); stderrOf(warm) != stderrOf(cold) {
		t.Errorf("dags reserialize whose template died printed\n%s\nwant, as a cold run does,\n%s", stderrOf(warm), stderrOf(cold))
	}
	// A new template takes its place, and its commands fork from it.
	next := f.waitTemplate(t, "providers", tpl.PID)
	if !strings.Contains(f.logs.String(), "killed by signal 9") {
		t.Errorf("the log does not say how the template ended:\n%s", f.logs)
	}
	if got := strings.TrimSpace(f.mustRun(t, f.warm, "config", "get-value", "core", "parallelism").Stdout); got != "32" || f.forks("providers") != 1 {
		t.Errorf("config get-value from the new template: %q, %+v", got, f.warm.Status())
	}

	// The forkserver killed while a template's command runs: the command is stopped and answered 503,
	// and the templates go with the forkserver.
	release = f.hold(t)
	defer release()
	go func() {
		res, err := f.run(t, f.warm, "dags", "reserialize")
		done <- outcome{res, err}
	}()
	pids := f.recordedPIDs(t, 2)
	fs := forkserverPID(t, f.warm.Python)
	if err := syscall.Kill(fs, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case got = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the command was not answered after its forkserver died")
	}
	var e *commands.Error
	if !errors.As(got.err, &e) || e.Code != commands.EUNAVAILABLE {
		t.Errorf("answer after the forkserver died: %v", got.err)
	}
	assertGone(t, []int{command, pids[1], fs, next.PID})
	f.waitWarm(t, restarts+1) // a successor, for the next step
}

func TestTemplateThatCannotBeMade(t *testing.T) {
	// A provider package whose description prints a line: a command that reads the providers' descriptions
	// prints it, so a template that read them ahead would lose it.
	site := t.TempDir()
	files := map[string]string{
		"gw_noisy/__init__.py": "import sys\n\ndef get_provider_info():\n    print('gw noisy provider', file=sys.stderr)\n" +
			"    return {'package-name': 'gw-noisy', 'name': 'gw noisy', 'description': 'prints', 'versions': ['1.0.0']}\n",
		"gw_noisy-1.0.0.dist-info/METADATA":         "Metadata-Version: 2.1\nName: gw-noisy\nVersion: 1.0.0\n",
		"gw_noisy-1.0.0.dist-info/entry_points.txt": "[apache_airflow_provider]\nprovider_info = gw_noisy:get_provider_info\n",
	}
	for name, text := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(site, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(site, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := mustFixture(t, "2", func(e *warm.Executor) { e.Env = append(e.Env, "PYTHONPATH="+site) })
	f.waitWarm(t, 0)
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(f.logs.String(), "not in service") {
		if time.Now().After(deadline) {
			t.Fatalf("no word of the template: %+v\n%s", f.warm.Status(), f.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "gw noisy provider") || !strings.Contains(logs, "preload=providers") {
		t.Errorf("the log does not say why there is no template:\n%s", logs)
	}
	res := f.mustRun(t, f.warm, "config", "get-value", "core", "parallelism")
	if st := f.warm.Status(); !st.Warm || len(st.Templates) != 0 || st.Forks != 1 {
		t.Errorf("status: %+v", st)
	}
	if strings.TrimSpace(res.Stdout) != "32" || !strings.Contains(res.Stderr, "gw noisy provider") {
		t.Errorf("config get-value forked from the forkserver: %+v", res)
	}
}

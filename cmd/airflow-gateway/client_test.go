package main

import (
	"context"
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

	"github.com/airflow-gateway/airflow-gateway/cmd/airflow-gateway/client"
	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// ran is what a command printed, and how it exited.
type ran struct {
	stdout, stderr string
	code           int
}

// clientEnv is the environment of a client of g: its URL and token, and a configuration folder of its own.
func clientEnv(tb testing.TB, url string) map[string]string {
	return map[string]string{"AIRFLOW_GATEWAY_URL": url, "AIRFLOW_GATEWAY_TOKEN": testToken, "XDG_CONFIG_HOME": tb.TempDir()}
}

// viaClient runs `airflow-gateway run -- args` in-process against the gateway at url.
func viaClient(tb testing.TB, url string, args ...string) ran {
	tb.Helper()
	env := clientEnv(tb, url)
	var stdout, stderr strings.Builder
	code := runClient(context.Background(), append([]string{"airflow-gateway", "run", "--"}, args...), func(k string) string { return env[k] },
		&stdout, &stderr, make(chan os.Signal))
	return ran{stdout.String(), stderr.String(), code}
}

// direct runs the local `airflow` on the home, as the gateway's token would be named in Airflow's audit
// log and its runs' triggering user.
func direct(tb testing.TB, home *testbed.Home, args ...string) ran {
	tb.Helper()
	cmd := exec.Command(home.Airflow, args...)
	cmd.Env = append(os.Environ(), "AIRFLOW_HOME="+home.Dir, "LOGNAME=gateway-rest_api_plugin", "USER=gateway-rest_api_plugin")
	cmd.Dir = home.Dir
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := ran{stdout.String(), stderr.String(), 0}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		tb.Fatal(err)
	}
	return r
}

// sameAs fails tb unless the client printed what the local CLI did: the same exit code, and stdout and
// stderr equal once the values that change from run to run are masked and each run's own names (pairs
// of own: what, then what it stands for) are put back. filter drops Airflow's log lines from stdout, as
// the gateway's command dialect does.
func sameAs(tb testing.TB, label string, got, want ran, filter bool, own ...string) {
	tb.Helper()
	if filter {
		got.stdout, want.stdout = commands.FilterLoadingMessages(got.stdout), commands.FilterLoadingMessages(want.stdout)
	}
	norm := func(s string) string {
		for i := 0; i+1 < len(own); i += 2 {
			s = strings.ReplaceAll(s, own[i], own[i+1])
		}
		return commandstest.MaskRun(s)
	}
	if got.code != want.code || norm(got.stdout) != norm(want.stdout) || norm(got.stderr) != norm(want.stderr) {
		tb.Errorf("%s: through the gateway\n%q\n%q\nexit %d\ndirectly\n%q\n%q\nexit %d", label, got.stdout, got.stderr, got.code,
			want.stdout, want.stderr, want.code)
	}
}

// remoteCLIAgainstAirflow runs commands through `airflow-gateway run` and directly through the local
// `airflow` on the same home, and compares what they print and how they exit. TestClientsAgainstAirflow
// runs it on each Airflow version.
func remoteCLIAgainstAirflow(t *testing.T, major string, home *testbed.Home, g *gatewayClient) {
	{
		v2 := major == "2"
		t.Run("same as the local CLI", func(t *testing.T) {
			sameAs(t, "version", viaClient(t, g.URL, "version"), direct(t, home, "version"), true)
			sameAs(t, "dags list -o json", viaClient(t, g.URL, "dags", "list", "-o", "json"), direct(t, home, "dags", "list", "-o", "json"), true)
			// The conf arrives byte for byte: the words are sent as they are, quotes and spaces and all.
			cliDate, localDate := []string{}, []string{}
			if v2 {
				cliDate, localDate = []string{"-e", "2024-06-01"}, []string{"-e", "2024-06-02"}
			}
			sameAs(t, "dags trigger", viaClient(t, g.URL, append([]string{"dags", "trigger", "gw_conf", "-r", "cli_run", "-c", `{"a": "b c"}`}, cliDate...)...),
				direct(t, home, append([]string{"dags", "trigger", "gw_conf", "-r", "loc_run", "-c", `{"a": "b c"}`}, localDate...)...), true,
				"cli_run", "RUN", "loc_run", "RUN", "2024-06-01", "DATE", "2024-06-02", "DATE")
			if !v2 {
				if s := home.Run(t, "dags", "state", "gw_conf", "cli_run"); !strings.Contains(s, `{"a": "b c"}`) {
					t.Errorf("the run triggered through the client has the conf %q", s)
				}
			}
			sameAs(t, "variables set", viaClient(t, g.URL, "variables", "set", "rc_k", "two words"), direct(t, home, "variables", "set", "rc_k", "two words"), true)
			got := viaClient(t, g.URL, "variables", "get", "rc_k")
			sameAs(t, "variables get", got, direct(t, home, "variables", "get", "rc_k"), true)
			if strings.TrimSpace(got.stdout) != "two words" {
				t.Errorf("variables get: %q", got.stdout)
			}
			failing := viaClient(t, g.URL, "tasks", "state", "gw_conf", "show_conf", "no_such_run")
			sameAs(t, "a failing tasks state", failing, direct(t, home, "tasks", "state", "gw_conf", "show_conf", "no_such_run"), true)
			if failing.code == 0 {
				t.Errorf("a failing tasks state exits 0 through the client")
			}
		})

		t.Run("long commands run as jobs", func(t *testing.T) {
			// dags test runs as a job, whose output keeps Airflow's log lines: they are left out on both
			// sides, as the executors' equivalence test does, and the rest must be equal.
			ok := viaClient(t, g.URL, "dags", "test", "gw_two_tasks", "2024-06-05")
			sameAs(t, "dags test gw_two_tasks", ok, direct(t, home, "dags", "test", "gw_two_tasks", "2024-06-06"), true,
				"2024-06-05", "DATE", "2024-06-06", "DATE")
			if ok.code != 0 || !strings.Contains(ok.stdout+ok.stderr, "extracted 3 rows") {
				t.Errorf("dags test gw_two_tasks as a job: exit %d, %q", ok.code, tail(ok.stdout+ok.stderr))
			}
			// gw_fails' task fails: the exit code of dags test comes through.
			failed := viaClient(t, g.URL, "dags", "test", "gw_fails", "2024-06-03")
			sameAs(t, "dags test gw_fails", failed, direct(t, home, "dags", "test", "gw_fails", "2024-06-04"), true,
				"2024-06-03", "DATE", "2024-06-04", "DATE")
			if failed.code == 0 || !strings.Contains(failed.stdout+failed.stderr, "this task fails on purpose") {
				t.Errorf("dags test gw_fails through the client: exit %d, %q", failed.code, tail(failed.stdout+failed.stderr))
			}
		})

		t.Run("refusals and client failures", func(t *testing.T) {
			for _, tt := range []struct {
				env  map[string]string
				args []string
				code int
				says string
			}{
				{nil, []string{"dags", "list;", "id"}, client.ExitRefused, "takes one of"},
				{nil, []string{"frobnicate"}, client.ExitRefused, "unknown command"},
				{map[string]string{"AIRFLOW_GATEWAY_TOKEN": "wrong-token-0123456789"}, []string{"version"}, client.ExitUnauthorized, "valid token"},
				{map[string]string{"AIRFLOW_GATEWAY_TOKEN": ""}, []string{"version"}, client.ExitConfig, "no token"},
				{map[string]string{"AIRFLOW_GATEWAY_URL": "http://127.0.0.1:1"}, []string{"version"}, client.ExitUnreachable, "cannot reach"},
			} {
				env := clientEnv(t, g.URL)
				for k, v := range tt.env {
					env[k] = v
				}
				var stdout, stderr strings.Builder
				code := runClient(context.Background(), append([]string{"airflow-gateway", "run", "--"}, tt.args...), func(k string) string { return env[k] },
					&stdout, &stderr, make(chan os.Signal))
				if code != tt.code || !strings.Contains(stderr.String(), tt.says) {
					t.Errorf("%q with %v: exit %d, stderr %q; want %d saying %q", tt.args, tt.env, code, stderr.String(), tt.code, tt.says)
				}
			}
		})
	}
}

// TestAirflowByName runs a shell script written for the local CLI with the binary linked as `airflow` first
// on PATH, and the same script with the local Airflow: the same runs come out.
func TestAirflowByName(t *testing.T) {
	home := testbed.MustHome(t, "3")
	g := mustServe(t, testbed.Config{Home: home})
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testbed.GatewayBinary(t), filepath.Join(bin, "airflow")); err != nil {
		t.Fatal(err)
	}
	const script = `set -e
airflow dags trigger gw_conf -r "$RUN" -c '{"from": "a script"}' > /dev/null
airflow dags list-runs gw_conf -o json | grep -o "\"run_id\": \"$RUN\""
airflow tasks state gw_conf show_conf no_such_run || echo "exit code $?"
`
	runScript := func(path, run string) string {
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+path+":"+os.Getenv("PATH"), "RUN="+run, "AIRFLOW_HOME="+home.Dir,
			"AIRFLOW_GATEWAY_URL="+g.URL, "AIRFLOW_GATEWAY_TOKEN="+testToken, "XDG_CONFIG_HOME="+t.TempDir())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("the script with %s: %v\n%s", path, err, out)
		}
		return strings.ReplaceAll(string(out), run, "RUN")
	}
	viaGateway, local := runScript(bin, "via_link"), runScript(filepath.Dir(home.Airflow), "via_home")
	if viaGateway != local || !strings.Contains(local, `"run_id": "RUN"`) || !strings.Contains(local, "exit code 1") {
		t.Errorf("the script printed\nthrough the link:\n%s\nwith the local airflow:\n%s", viaGateway, local)
	}

	// airflow-gateway deploy: a good file, the same name again without --force, and a broken file.
	dir := t.TempDir()
	good, broken := filepath.Join(dir, "gw_client_deployed.py"), filepath.Join(dir, "gw_client_broken.py")
	if err := os.WriteFile(good, []byte(testbed.UploadedDAG("gw_client_deployed", "by the client")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, []byte("from airflow import DAG\nraise RuntimeError('broken on purpose')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := clientEnv(t, g.URL)
	deploy := func(args ...string) (int, string, string) {
		var stdout, stderr strings.Builder
		code := runClient(context.Background(), append([]string{"airflow-gateway", "deploy"}, args...), func(k string) string { return env[k] }, &stdout, &stderr, make(chan os.Signal))
		return code, stdout.String(), stderr.String()
	}
	if code, out, errs := deploy("--pause", good); code != 0 || !strings.Contains(out, "gw_client_deployed.py") {
		t.Errorf("deploy of a good file: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := deploy(good); code != client.ExitRefused || !strings.Contains(errs, "already exists") {
		t.Errorf("deploy again without --force: exit %d, %s", code, errs)
	}
	if code, _, errs := deploy("--force", good); code != 0 {
		t.Errorf("deploy again with --force: exit %d, %s", code, errs)
	}
	if code, _, errs := deploy(broken); code != 1 || !strings.Contains(errs, "broken on purpose") {
		t.Errorf("deploy of a broken file: exit %d, %s", code, errs)
	}
}

// TestJobOutputStreamsAndResumes follows `dags test` through a proxy that is stopped and started while the
// output comes: the client prints the first line long before the last, the output is whole and in order,
// and Ctrl-C cancels a job with no process of it left.
func TestJobOutputStreamsAndResumes(t *testing.T) {
	t.Setenv("GW_SLOW_TICKS", "16") // 8 seconds of ticks, then the task ends
	home := testbed.MustHome(t, "3")
	testbed.PlantSlowDAG(t, home)
	g := mustServe(t, testbed.Config{Home: home})
	waitWarm(t, g)
	addr := strings.TrimPrefix(g.URL, "http://")
	proxy := testbed.StartHAProxy(t, addr, addr)
	env := clientEnv(t, proxy.URL)

	t.Run("a broken stream resumes", func(t *testing.T) {
		out := &timedWriter{}
		done := make(chan int, 1)
		go func() {
			done <- runClient(context.Background(), []string{"airflow-gateway", "run", "--job", "--", "tasks", "test", "gw_slow", "tick", "2024-01-01"},
				func(k string) string { return env[k] }, out, out, make(chan os.Signal))
		}()
		// Once some ticks are out, haproxy goes away for a while, then comes back on the same address.
		out.waitFor(t, "tick 2")
		proxy.Stop()
		before := len(tickLine.FindAllString(out.String(), -1))
		time.Sleep(1500 * time.Millisecond)
		proxy.Start(t)
		var code int
		select {
		case code = <-done:
		case <-time.After(3 * time.Minute):
			t.Fatal("the client did not finish")
		}
		text := out.String()
		var ticks []string
		for _, m := range tickLine.FindAllStringSubmatch(text, -1) {
			ticks = append(ticks, m[1])
		}
		if code != 0 || len(ticks) != 16 || before >= 16 {
			t.Fatalf("exit %d, ticks %v, %d of them before haproxy stopped:\n%s", code, ticks, before, tail(text))
		}
		for i, n := range ticks {
			if n != strconv.Itoa(i) {
				t.Errorf("tick %d printed as %s: a line was lost or repeated: %v", i, n, ticks)
				break
			}
		}
		first, last := out.firstAt("tick 0"), out.firstAt("tick 15")
		t.Logf("%d ticks in order, %d of them before haproxy stopped; the first tick came %s before the last", len(ticks), before, last.Sub(first).Round(time.Millisecond))
		if last.Sub(first) < 2*time.Second {
			t.Errorf("the first tick came only %s before the last: the output was not streamed", last.Sub(first))
		}
	})

	t.Run("jobs list, cancel and follow", func(t *testing.T) {
		jobs := func(args ...string) (int, string) {
			var out strings.Builder
			code := runClient(context.Background(), append([]string{"airflow-gateway", "jobs"}, args...), func(k string) string { return env[k] }, &out, &out, make(chan os.Signal))
			return code, out.String()
		}
		settings, err := client.Load(client.Flags{}, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		cl, err := client.New(settings)
		if err != nil {
			t.Fatal(err)
		}
		job, err := cl.StartJob(context.Background(), []string{"tasks", "test", "gw_slow", "tick", "2024-01-03"})
		if err != nil {
			t.Fatal(err)
		}
		if code, out := jobs("list"); code != 0 || !strings.Contains(out, job.ID+"  running") {
			t.Errorf("jobs list: exit %d\n%s", code, out)
		}
		if code, out := jobs("cancel", job.ID); code != 0 || !strings.Contains(out, job.ID) {
			t.Errorf("jobs cancel: exit %d\n%s", code, out)
		}
		if code, out := jobs("follow", job.ID); code != client.ExitInterrupted || !strings.Contains(out, "was canceled") {
			t.Errorf("jobs follow of the canceled job: exit %d\n%s", code, tail(out))
		}
		if code, out := jobs("follow", strings.Repeat("0", 32)); code != client.ExitRefused || !strings.Contains(out, "no job") {
			t.Errorf("jobs follow of a job that is not there: exit %d\n%s", code, out)
		}
	})

	t.Run("a second Ctrl-C leaves at once", func(t *testing.T) {
		out := &timedWriter{}
		interrupts := make(chan os.Signal, 2)
		done := make(chan int, 1)
		go func() {
			done <- runClient(context.Background(), []string{"airflow-gateway", "run", "--", "tasks", "test", "gw_slow", "tick", "2024-01-04"},
				func(k string) string { return env[k] }, out, out, interrupts)
		}()
		out.waitFor(t, "tick 1")
		interrupts <- syscall.SIGINT
		interrupts <- syscall.SIGINT
		select {
		case code := <-done:
			if code != client.ExitInterrupted || !strings.Contains(out.String(), "may still run") {
				t.Errorf("after two Ctrl-C: exit %d\n%s", code, tail(out.String()))
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the client did not leave at the second Ctrl-C")
		}
	})

	t.Run("Ctrl-C cancels the job", func(t *testing.T) {
		_ = os.Remove(filepath.Join(home.Dir, "gw_slow.pids"))
		out := &timedWriter{}
		interrupts := make(chan os.Signal, 2)
		done := make(chan int, 1)
		go func() {
			done <- runClient(context.Background(), []string{"airflow-gateway", "run", "--", "tasks", "test", "gw_slow", "tick", "2024-01-02"},
				func(k string) string { return env[k] }, out, out, interrupts)
		}()
		out.waitFor(t, "tick 1")
		pids := testbed.SlowPIDs(t, home)
		interrupts <- syscall.SIGINT
		var code int
		select {
		case code = <-done:
		case <-time.After(2 * time.Minute):
			t.Fatal("the client did not end after Ctrl-C")
		}
		if code != client.ExitInterrupted || !strings.Contains(out.String(), "was canceled") {
			t.Errorf("after Ctrl-C: exit %d\n%s", code, tail(out.String()))
		}
		testbed.AssertExited(t, pids)
	})
}

// tickLine is gw_slow's line for one tick, as the task prints it.
var tickLine = regexp.MustCompile(`(?m)\btick (\d+)$`)

// timedWriter keeps what is written, and when each piece came.
type timedWriter struct {
	mu     sync.Mutex
	text   strings.Builder
	pieces []timedPiece
}

type timedPiece struct {
	at   time.Time
	text string
}

func (w *timedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pieces = append(w.pieces, timedPiece{time.Now(), string(p)})
	return w.text.Write(p)
}

func (w *timedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.text.String()
}

// firstAt returns when the first piece holding s was written.
func (w *timedWriter) firstAt(s string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.pieces {
		if strings.Contains(p.text, s) {
			return p.at
		}
	}
	return time.Time{}
}

// waitFor waits until s has been written.
func (w *timedWriter) waitFor(tb testing.TB, s string) {
	tb.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(w.String(), s); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("%q was not written within 2 minutes:\n%s", s, tail(w.String()))
		}
	}
}

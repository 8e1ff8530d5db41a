package subprocess_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
	"github.com/airflow-gateway/airflow-gateway/commands/subprocess"
)

// TestHelperProcess is the fake airflow: the test binary run again with GATEWAY_FAKE_AIRFLOW set. It is
// only for faults a real Airflow cannot be made to show.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("GATEWAY_FAKE_AIRFLOW")
	if mode == "" {
		return
	}
	recordPID()
	switch mode {
	case "hang": // ignores SIGTERM, with a grandchild that ignores it too
		signal.Ignore(syscall.SIGTERM)
		spawn("sleep")
		fmt.Println("started")
		time.Sleep(time.Hour)
	case "sleep":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	case "session": // a grandchild in a session of its own, out of reach of the command's group, that forks again
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), "GATEWAY_FAKE_AIRFLOW=forks")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		fmt.Println("started")
		time.Sleep(time.Hour)
	case "forks": // starts a child that sleeps, then another every 50 ms, for 10 seconds
		signal.Ignore(syscall.SIGTERM)
		for range 200 {
			spawn("sleep")
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Hour)
	case "orphan": // exits at once, leaving a grandchild that holds stdout
		spawn("sleep")
		fmt.Println("parent done")
		os.Exit(0)
	case "flood": // 100 MB on each stream
		chunk := []byte(strings.Repeat("x", 1<<20))
		for range 100 {
			os.Stdout.Write(chunk)
			os.Stderr.Write(chunk)
		}
		os.Exit(0)
	case "crash":
		fmt.Fprintln(os.Stderr, "about to crash")
		os.Exit(3)
	case "killed":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Second)
	case "env":
		fmt.Println(strings.Join(os.Environ(), "\n"))
		wd, _ := os.Getwd()
		fmt.Println("PWD=" + wd)
		os.Exit(0)
	}
	os.Exit(0)
}

func recordPID() {
	if f := os.Getenv("GATEWAY_FAKE_PIDS"); f != "" {
		fh, _ := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		fmt.Fprintln(fh, os.Getpid())
		fh.Close()
	}
}

func spawn(mode string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "GATEWAY_FAKE_AIRFLOW="+mode)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
}

// fake returns an Executor whose airflow is the test binary in mode, and the file its processes list
// their pids in.
func fake(tb testing.TB, mode string) (*subprocess.Executor, string) {
	tb.Helper()
	pids := filepath.Join(tb.TempDir(), "pids")
	env := append(os.Environ(), "GATEWAY_FAKE_AIRFLOW="+mode, "GATEWAY_FAKE_PIDS="+pids)
	return &subprocess.Executor{Binary: os.Args[0], Home: tb.TempDir(), Env: env, MaxOutputBytes: 1 << 20, KillGrace: 500 * time.Millisecond}, pids
}

var helperArgs = []string{"-test.run=^TestHelperProcess$"}

// assertAllGone fails tb unless every pid listed in file has ended (zombies count as ended).
func assertAllGone(tb testing.TB, file string, want int) {
	tb.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	pids := strings.Fields(string(data))
	if len(pids) < want {
		tb.Fatalf("%d processes recorded, want %d", len(pids), want)
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		for procfs.Alive(pid) {
			if time.Now().After(deadline) {
				tb.Fatalf("process %d is still alive", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// killRecorded kills the processes listed in file, twice: what one listed process started as the first
// round went goes in the second.
func killRecorded(file string) {
	for range 2 {
		data, _ := os.ReadFile(file)
		for _, p := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHangIsKilledWithItsGroup(t *testing.T) {
	ex, pids := fake(t, "hang")
	start := time.Now()
	res, err := ex.Run(context.Background(), commands.Exec{Args: helperArgs, Limit: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut {
		t.Error("TimedOut is false")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s to stop", took)
	}
	if !strings.Contains(res.Stdout, "started") {
		t.Errorf("partial output lost: %q", res.Stdout)
	}
	assertAllGone(t, pids, 2)
}

func TestOrphanedGrandchildIsKilled(t *testing.T) {
	ex, pids := fake(t, "orphan")
	res, err := ex.Run(context.Background(), commands.Exec{Args: helperArgs, Limit: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.TimedOut || !strings.Contains(res.Stdout, "parent done") {
		t.Errorf("result %+v", res)
	}
	assertAllGone(t, pids, 2)
}

func TestFloodIsCappedWithoutBlocking(t *testing.T) {
	ex, _ := fake(t, "flood")
	res, err := ex.Run(context.Background(), commands.Exec{Args: helperArgs, Limit: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.TimedOut {
		t.Errorf("exit %d, timed out %v: the child blocked or failed", res.ExitCode, res.TimedOut)
	}
	if !res.Truncated || len(res.Stdout) != 1<<20 || len(res.Stderr) != 1<<20 {
		t.Errorf("truncated=%v stdout=%d stderr=%d, want both capped at %d", res.Truncated, len(res.Stdout), len(res.Stderr), 1<<20)
	}
}

func TestCrashReportsExitCode(t *testing.T) {
	for mode, want := range map[string]int{"crash": 3, "killed": 128 + int(syscall.SIGKILL)} {
		t.Run(mode, func(t *testing.T) {
			ex, _ := fake(t, mode)
			res, err := ex.Run(context.Background(), commands.Exec{Args: helperArgs, Limit: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != want {
				t.Errorf("exit code %d, want %d", res.ExitCode, want)
			}
		})
	}
}

func TestCallerGoneKillsCommand(t *testing.T) {
	ex, pids := fake(t, "sleep")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	res, err := ex.Run(ctx, commands.Exec{Args: helperArgs, Limit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Canceled || res.TimedOut {
		t.Errorf("Canceled=%v TimedOut=%v", res.Canceled, res.TimedOut)
	}
	assertAllGone(t, pids, 1)
}

// TestStoppedCommandLosesOtherSessions stops a command one of whose processes started a session of its
// own and forks there: found by the command's marker, it goes too, with everything it forked.
func TestStoppedCommandLosesOtherSessions(t *testing.T) {
	ex, pids := fake(t, "session")
	t.Cleanup(func() { killRecorded(pids) }) // should the test fail
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	res, err := ex.Run(ctx, commands.Exec{Args: helperArgs, Limit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Canceled {
		t.Errorf("Canceled=%v", res.Canceled)
	}
	assertAllGone(t, pids, 4)
}

func TestChildEnvironment(t *testing.T) {
	ex, _ := fake(t, "env")
	ex.Env = subprocess.ChildEnv(append(ex.Env, "AIRFLOW_GATEWAY__AUTH__TOKENS_FILE=/x", "AIRFLOW_GATEWAY_CONFIG=/y", "AIRFLOW_HOME=/wrong", "LOGNAME=root", "USER=root"), ex.Home)
	res, err := ex.Run(context.Background(), commands.Exec{Args: helperArgs, Limit: time.Minute, Caller: "ci-bot"})
	if err != nil {
		t.Fatal(err)
	}
	// The one variable of the gateway's a command gets is its marker, a fresh one as it is not a job's.
	marker := regexp.MustCompile(`(?m)^` + commands.MarkerVariable + `=[0-9a-f]{32}\n`)
	if !marker.MatchString(res.Stdout) {
		t.Errorf("the command has no marker:\n%s", res.Stdout)
	}
	if strings.Contains(marker.ReplaceAllString(res.Stdout, ""), "AIRFLOW_GATEWAY") {
		t.Errorf("the gateway's settings reached the child:\n%s", res.Stdout)
	}
	if !strings.Contains(res.Stdout, "AIRFLOW_HOME="+ex.Home+"\n") || strings.Contains(res.Stdout, "/wrong") {
		t.Errorf("AIRFLOW_HOME not set to the home")
	}
	if !strings.Contains(res.Stdout, "PWD="+ex.Home) {
		t.Errorf("working directory is not AIRFLOW_HOME")
	}
	// Airflow's audit log names who ran a command from LOGNAME (then USER): the token's name.
	if !strings.Contains(res.Stdout, "\nLOGNAME=gateway-ci-bot\n") || !strings.Contains(res.Stdout, "\nUSER=gateway-ci-bot\n") ||
		strings.Contains(res.Stdout, "=root\n") {
		t.Errorf("LOGNAME and USER do not name the caller:\n%s", res.Stdout)
	}
}

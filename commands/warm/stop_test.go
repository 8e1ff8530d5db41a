package warm_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
)

// TestStoppedCommandLeavesNothing stops `dags test gw_sessions` on Airflow 3 while its first task runs, on
// each executor (each on a home of its own, in parallel), once as its client goes away and once at its
// time limit. Each task's shell runs in a session of its own, out of reach of the command's process group,
// and Airflow 3 answers the SIGTERM by ending the first task and starting the second: nothing of either
// may be left.
func TestStoppedCommandLeavesNothing(t *testing.T) {
	for _, name := range []string{"subprocess", "warm"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var f *fixture
			var ex commands.Executor
			if name == "warm" {
				f = mustFixture(t, "3", nil)
				f.waitWarm(t, 0)
				ex = f.warm
			} else {
				f = mustColdFixture(t, "3")
				ex = f.cold
			}
			var firstTask time.Duration // how long the first task took to start, for the time limit
			t.Run("client gone", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				s := f.startSessions(t, ex, ctx, time.Hour, "2024-01-01")
				firstTask = s.firstTask
				cancel()
				res := s.wait(t)
				if !res.Canceled || res.TimedOut {
					t.Errorf("canceled %v, timed out %v", res.Canceled, res.TimedOut)
				}
				s.assertGone(t)
			})
			t.Run("time limit", func(t *testing.T) {
				if firstTask == 0 {
					t.Skip("the first task's start was not measured")
				}
				// The limit must come while the first task sleeps its 60 s: after its start (which a loaded
				// machine may delay well beyond the first run's), and before its end.
				limit := min(2*firstTask+10*time.Second, firstTask+45*time.Second)
				s := f.startSessions(t, ex, context.Background(), limit, "2024-01-02")
				if res := s.wait(t); !res.TimedOut {
					t.Errorf("timed out %v, canceled %v", res.TimedOut, res.Canceled)
				}
				s.assertGone(t)
			})
		})
	}
}

// outcome is what an Executor's Run returned.
type outcome struct {
	res *commands.Result
	err error
}

// sessions is one run of `dags test gw_sessions`.
type sessions struct {
	f         *fixture
	done      chan outcome
	firstTask time.Duration // from the start of the command to the first task's shell writing its pids
}

// startSessions starts `dags test gw_sessions` on ex with the time limit, and waits until the first task's
// shell runs: it checks that the command's own process carries the command's marker in its environment,
// as /proc shows it (a warm command is forked, and writes it there itself).
func (f *fixture) startSessions(tb testing.TB, ex commands.Executor, ctx context.Context, limit time.Duration, date string) *sessions {
	tb.Helper()
	_ = os.Remove(f.pids)
	x := commands.Exec{Args: []string{"dags", "test", "gw_sessions", date}, Limit: limit}.Marked()
	s := &sessions{f: f, done: make(chan outcome, 1)}
	start := time.Now()
	go func() {
		res, err := ex.Run(ctx, x)
		s.done <- outcome{res, err}
	}()
	tb.Cleanup(func() { // nothing of a failed run outlives the test
		for _, pid := range s.pids() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	shell := f.recordedPIDs(tb, 2)[0]
	s.firstTask = time.Since(start)
	if p, ok := procfs.Stat(shell); !ok || !procfs.HasEnv(p.PPID, commands.MarkerVariable+"="+x.Marker) {
		tb.Errorf("the command's process (%d, the parent of the task's shell) does not show its marker in /proc", p.PPID)
	}
	return s
}

// wait returns the command's result.
func (s *sessions) wait(tb testing.TB) *commands.Result {
	tb.Helper()
	select {
	case got := <-s.done:
		if got.err != nil {
			tb.Fatalf("dags test: %v", got.err)
		}
		return got.res
	case <-time.After(time.Minute):
		tb.Fatal("the command went on after it was stopped")
		return nil
	}
}

// pids are those the tasks' shells wrote: each shell's and its sleep's.
func (s *sessions) pids() []int {
	data, _ := os.ReadFile(s.f.pids)
	var pids []int
	for _, field := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(field)
		pids = append(pids, pid)
	}
	return pids
}

// assertGone fails tb unless every process of the tasks has ended.
func (s *sessions) assertGone(tb testing.TB) {
	tb.Helper()
	pids := s.pids()
	assertGone(tb, pids)
	tb.Logf("%d tasks started, the first after %s", len(pids)/2, s.firstTask.Round(time.Millisecond))
}

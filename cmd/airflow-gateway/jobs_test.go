package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// jobDoc is a job as the job endpoints answer it.
type jobDoc = testbed.JobDoc

// timedEvent is an event and when it came.
type timedEvent struct {
	testbed.Event
	at time.Time
}

// followJob reads a job's events through c, from lastID when not empty, until `end` or until each returns
// false; each event carries when it came.
func followJob(tb testing.TB, c *testbed.Client, id, lastID string, each func(timedEvent) bool) {
	tb.Helper()
	c.Follow(tb, id, lastID, func(ev testbed.Event) bool { return each(timedEvent{ev, time.Now()}) })
}

// streams puts the events' text together per stream, and checks that each event's id is the byte offset
// just past it, following the one before.
func streams(tb testing.TB, events []timedEvent, from int64) (stdout, stderr string) {
	tb.Helper()
	var out, errOut strings.Builder
	for _, ev := range events {
		if ev.Name == "end" {
			continue
		}
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if id-int64(len(ev.Data)) != from {
			tb.Errorf("event at %s: %d bytes up to %d do not follow %d: a byte was lost or repeated", ev.ID, len(ev.Data), id, from)
		}
		from = id
		map[string]*strings.Builder{"stdout": &out, "stderr": &errOut}[ev.Name].WriteString(ev.Data)
	}
	return out.String(), errOut.String()
}

// TestJobsAgainstAirflow runs long commands as jobs on each Airflow version: live output, the final state
// against the command dialect's answer, resuming, and cancelling.
func TestJobsAgainstAirflow(t *testing.T) {
	forEachAirflow(t, testbed.Config{}, func(t *testing.T, major string, home *testbed.Home, g *gatewayClient) {
		testbed.PlantSlowDAG(t, home)
		waitWarm(t, g)

		// dags test as a job: its output comes while it runs, and it ends as the command dialect says.
		started := time.Now()
		job := g.StartJob(t, "dags test gw_two_tasks 2024-01-02")
		var events []timedEvent
		followJob(t, g.Client, job.ID, "", func(ev timedEvent) bool { events = append(events, ev); return true })
		if len(events) < 3 || events[len(events)-1].Name != "end" {
			t.Fatalf("dags test gave %d events, the last %+v", len(events), events[len(events)-1].Event)
		}
		first, end := events[0].at.Sub(started), events[len(events)-1].at.Sub(started)
		t.Logf("Airflow %s, dags test as a job: %d output events; the first came %s after the POST, the end %s after it",
			major, len(events)-1, first.Round(time.Millisecond), end.Round(time.Millisecond))
		if first > end/2 {
			t.Errorf("the first output came %s after the POST, past half of the job's %s: it was not sent as it came", first, end)
		}
		done := g.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID)
		stdout, stderr := streams(t, events, 0)
		if done.Stdout != stdout || done.Stderr != stderr {
			t.Errorf("the stored output differs from the events:\nstored %q\nevents %q", tail(done.Stdout+done.Stderr), tail(stdout+stderr))
		}
		direct := g.command(t, "dags test gw_two_tasks 2024-01-03")
		if done.State != "succeeded" || done.ExitCode == nil || *done.ExitCode != direct.ExitCode || direct.ExitCode != 0 {
			t.Errorf("the job ended %s (exit %v); the command dialect gave exit code %d", done.State, done.ExitCode, direct.ExitCode)
		}
		if !strings.Contains(done.Stdout+done.Stderr, "extracted 3 rows") {
			t.Errorf("the job's output lacks the task's print: %q", tail(done.Stdout+done.Stderr))
		}
		var endDoc jobDoc
		if err := json.Unmarshal([]byte(events[len(events)-1].Data), &endDoc); err != nil || endDoc.State != done.State {
			t.Errorf("end event %q: %v", events[len(events)-1].Data, err)
		}

		// A failing DAG: the job fails with the exit code the command dialect reports.
		failing := g.StartJob(t, "dags test gw_fails 2024-01-04")
		followJob(t, g.Client, failing.ID, "", func(timedEvent) bool { return true })
		failed := g.Job(t, http.MethodGet, "/api/v1/jobs/"+failing.ID)
		directFail := g.command(t, "dags test gw_fails 2024-01-05")
		if failed.ExitCode == nil || *failed.ExitCode != directFail.ExitCode || directFail.ExitCode == 0 || failed.State != "failed" {
			t.Errorf("gw_fails as a job: %s exit %v; the command dialect: exit %d", failed.State, failed.ExitCode, directFail.ExitCode)
		}

		// Resume: a client that goes away after two events and comes back with the last id gets every byte once.
		resumed := g.StartJob(t, "dags test gw_two_tasks 2024-01-06")
		var part1, part2 []timedEvent
		followJob(t, g.Client, resumed.ID, "", func(ev timedEvent) bool { part1 = append(part1, ev); return len(part1) < 2 })
		if len(part1) != 2 || part1[1].Name == "end" {
			t.Fatalf("first part: %+v", part1)
		}
		followJob(t, g.Client, resumed.ID, part1[1].ID, func(ev timedEvent) bool { part2 = append(part2, ev); return true })
		stdout, stderr = streams(t, append(part1, part2...), 0)
		whole := g.Job(t, http.MethodGet, "/api/v1/jobs/"+resumed.ID)
		if whole.Stdout != stdout || whole.Stderr != stderr || whole.State != "succeeded" {
			t.Errorf("resumed at %s: the events differ from the stored output (%s)", part1[1].ID, whole.State)
		}
		t.Logf("resumed at byte %s: %d + %d events, %d bytes, equal to the stored output", part1[1].ID, len(part1), len(part2)-1, len(stdout)+len(stderr))

		// Cancel: the task and its grandchild are gone, the job reads canceled.
		slow := g.StartJob(t, "tasks test gw_slow tick 2024-01-01")
		var seen strings.Builder
		followJob(t, g.Client, slow.ID, "", func(ev timedEvent) bool {
			seen.WriteString(ev.Data)
			return !strings.Contains(seen.String(), "\ntick 1\n")
		})
		pids := testbed.SlowPIDs(t, home)
		canceled := g.Job(t, http.MethodDelete, "/api/v1/jobs/"+slow.ID)
		if canceled.Status != http.StatusOK || canceled.State != "canceled" {
			t.Errorf("DELETE: %d %s %s", canceled.Status, canceled.State, canceled.Detail)
		}
		testbed.AssertExited(t, pids)
		if again := g.Job(t, http.MethodDelete, "/api/v1/jobs/"+slow.ID); again.Status != http.StatusOK || again.State != "canceled" {
			t.Errorf("a second DELETE: %d %s", again.Status, again.State)
		}

		readmeCurls(t, g)
		queueOf50(t, g)
	})
}

// queueOf50 starts 50 jobs at once on the default 4 slots: each ends, none is lost, and a 503 would come
// only past the queue timeout.
func queueOf50(t *testing.T, g *gatewayClient) {
	type outcome struct {
		doc    *jobDoc
		waited time.Duration
	}
	results := make([]outcome, 50)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			start := time.Now()
			doc := g.Job(t, http.MethodPost, "/api/v1/jobs?command="+url.QueryEscape("tasks list gw_two_tasks"))
			results[i] = outcome{doc, time.Since(start)}
		})
	}
	wg.Wait()
	accepted, refused := 0, 0
	for i, r := range results {
		switch r.doc.Status {
		case http.StatusAccepted:
			accepted++
			followJob(t, g.Client, r.doc.ID, "", func(timedEvent) bool { return true })
			if done := g.Job(t, http.MethodGet, "/api/v1/jobs/"+r.doc.ID); done.State != "succeeded" || !strings.Contains(done.Stdout, "extract") {
				t.Errorf("job %d of 50 ended %s: %s", i, done.State, tail(done.Stdout+done.Stderr))
			}
		case http.StatusServiceUnavailable:
			refused++
			if r.waited < 10*time.Second {
				t.Errorf("job %d of 50 was refused after %s, before the queue timeout of 10s", i, r.waited)
			}
		default:
			t.Errorf("job %d of 50: %d %s", i, r.doc.Status, r.doc.Detail)
		}
	}
	var list struct {
		Jobs []jobDoc `json:"jobs"`
	}
	g.Get(t, "/api/v1/jobs?state=lost").Decode(t, &list)
	if len(list.Jobs) != 0 {
		t.Errorf("%d jobs are lost", len(list.Jobs))
	}
	t.Logf("50 jobs at once on 4 slots: %d accepted and ended succeeded, %d refused past the queue timeout", accepted, refused)
}

// readmeCurls runs the README's curl commands of the Jobs section.
func readmeCurls(t *testing.T, g *gatewayClient) {
	auth := "Authorization: Bearer " + testToken
	curl := func(args ...string) string {
		out, err := exec.Command("curl", args...).Output()
		if err != nil {
			t.Fatalf("curl %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	var started jobDoc
	if err := json.Unmarshal([]byte(curl("-sS", "-H", auth, g.URL+"/api/v1/jobs", "--data-urlencode", "command=dags test gw_two_tasks 2024-01-09")), &started); err != nil || started.State != "running" {
		t.Fatalf("curl POST: %v %+v", err, started)
	}
	stream := curl("-N", "-sS", "-H", auth, g.URL+"/api/v1/jobs/"+started.ID+"/output")
	if !strings.Contains(stream, "event: stdout\nid: ") || !strings.Contains(stream, "event: end\n") || !strings.Contains(stream, `"state":"succeeded"`) {
		t.Errorf("curl -N output: %s", tail(stream))
	}
	firstID := regexp.MustCompile(`(?m)^id: (\d+)$`).FindStringSubmatch(stream)
	if firstID == nil {
		t.Fatalf("no event id in %s", tail(stream))
	}
	rest := curl("-N", "-sS", "-H", auth, "-H", "Last-Event-ID: "+firstID[1], g.URL+"/api/v1/jobs/"+started.ID+"/output")
	if !strings.Contains(rest, "event: end\n") || len(rest) >= len(stream) || strings.Contains(rest, "\nid: "+firstID[1]+"\n") {
		t.Errorf("curl -N with Last-Event-ID %s: %s", firstID[1], tail(rest))
	}
	var got jobDoc
	if err := json.Unmarshal([]byte(curl("-sS", "-H", auth, g.URL+"/api/v1/jobs/"+started.ID)), &got); err != nil || got.State != "succeeded" || got.Stdout == "" {
		t.Errorf("curl GET: %v %+v", err, got.State)
	}
	if err := json.Unmarshal([]byte(curl("-sS", "-H", auth, "-X", "DELETE", g.URL+"/api/v1/jobs/"+started.ID)), &got); err != nil || got.State != "succeeded" {
		t.Errorf("curl DELETE of an ended job: %v %+v", err, got.State)
	}
	var list struct {
		Jobs []jobDoc `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(curl("-sS", "-H", auth, g.URL+"/api/v1/jobs?state=running&limit=20")), &list); err != nil || len(list.Jobs) != 0 {
		t.Errorf("curl list of running jobs: %v %+v", err, list)
	}
	if err := json.Unmarshal([]byte(curl("-sS", "-H", auth, g.URL+"/api/v1/jobs?limit=20")), &list); err != nil || len(list.Jobs) != 5 || list.Jobs[0].ID != started.ID {
		t.Errorf("curl list of recent jobs: %v %d jobs", err, len(list.Jobs))
	}
}

// TestJobsSurviveAGatewayKill kills the gateway (SIGKILL) while a job runs, and starts it again: the job
// reads lost with the output stored before the kill, and none of its processes is left. Airflow 2.10 runs
// it on the warm executor, 3.x on the subprocess one, whose commands outlive the gateway until it starts again.
func TestJobsSurviveAGatewayKill(t *testing.T) {
	for _, major := range testbed.Versions {
		executor := map[string]string{"2": "warm", "3": "subprocess"}[major]
		t.Run("airflow-"+major+"-"+executor, func(t *testing.T) {
			t.Parallel()
			home := testbed.MustHome(t, major)
			testbed.PlantSlowDAG(t, home)
			logs := &testbed.Buffer{}
			cfg := testbed.Config{Home: home, PluginToken: testToken, Executor: executor}
			first, url := testbed.GatewayProcess(t, cfg, logs)
			g := newGatewayClient(url, home, logs)
			if executor == "warm" {
				waitWarm(t, g)
			}
			job := g.StartJob(t, "tasks test gw_slow tick 2024-01-01")
			var seen strings.Builder
			followJob(t, g.Client, job.ID, "", func(ev timedEvent) bool {
				seen.WriteString(ev.Data)
				return !strings.Contains(seen.String(), "\ntick 2\n") // the task's own lines, not the log's mentions of it
			})
			pids := testbed.SlowPIDs(t, home)
			if err := first.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = first.Wait()

			_, url = testbed.GatewayProcess(t, cfg, logs)
			g = newGatewayClient(url, home, logs)
			lost := g.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID)
			if lost.State != "lost" || !strings.Contains(lost.Detail, "stopped") {
				t.Errorf("after the restart the job reads %s (%s)", lost.State, lost.Detail)
			}
			if !strings.Contains(lost.Stdout+lost.Stderr, "\ntick 2\n") {
				t.Errorf("the output stored before the kill is missing: %q", tail(lost.Stdout+lost.Stderr))
			}
			testbed.AssertExited(t, pids)
			// The warm executor's forkserver kills its children when the gateway dies; the subprocess
			// executor's commands are found at the next start by the variable they carry.
			swept := regexp.MustCompile(`jobs left running by a stopped gateway are lost.* processes_killed=(\d+)`).FindStringSubmatch(logs.String())
			if swept == nil {
				t.Errorf("the restarted gateway did not log the lost job:\n%s", logs)
			} else if n, _ := strconv.Atoi(swept[1]); (executor == "subprocess") != (n >= 1) {
				t.Errorf("the restart killed %d leftover processes of the job on the %s executor", n, executor)
			} else {
				t.Logf("%s executor: the restart found %d processes of the lost job and killed them", executor, n)
			}
			if a := g.command(t, "version"); a.Status != http.StatusOK {
				t.Errorf("the restarted gateway does not serve: %d", a.Status)
			}
		})
	}
}

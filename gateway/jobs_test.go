package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// feedExecutor hands the lines sent on its feed to the job's Live as they come, until the feed is closed
// (exit code 0) or the job is canceled. It stands in for Airflow where a test is about the job endpoints.
type feedExecutor struct {
	feed    chan string
	pause   time.Duration // for executors without a feed: each run lasts this long
	runs    atomic.Int32
	running atomic.Int32
	most    atomic.Int32 // the most runs at once
}

func (f *feedExecutor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	f.runs.Add(1)
	now := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		most := f.most.Load()
		if now <= most || f.most.CompareAndSwap(most, now) {
			break
		}
	}
	res := &commands.Result{}
	emit := func(s commands.Stream, text string) {
		if x.Live != nil {
			x.Live(s, []byte(text))
		}
		if s == commands.Stderr {
			res.Stderr += text
		} else {
			res.Stdout += text
		}
	}
	if f.feed == nil {
		emit(commands.Stdout, "ran "+strings.Join(x.Args, " ")+"\n")
		select {
		case <-time.After(f.pause):
		case <-ctx.Done():
			res.Canceled = true
		}
		return res, nil
	}
	for {
		select {
		case line, ok := <-f.feed:
			if !ok {
				return res, nil
			}
			s := commands.Stdout
			if strings.HasPrefix(line, "E:") {
				s, line = commands.Stderr, line[2:]
			}
			emit(s, line)
		case <-ctx.Done():
			res.Canceled, res.ExitCode = true, 143
			return res, nil
		}
	}
}

func TestJobStreamsOutputAsItComes(t *testing.T) {
	ex := &feedExecutor{feed: make(chan string)}
	user := client(mustServer(t, ex, commands.Options{})).As(roleToken(commands.RoleUser))
	job := user.StartJob(t, "dags test gw_two_tasks")
	if job.State != "running" || job.Location != "/api/v1/jobs/"+job.ID || job.Owner != "user" {
		t.Fatalf("POST answered %+v", job)
	}

	// Each line is sent only after the previous one reached the follower: output comes as it is produced.
	// A last line without a newline is handed over when the command ends.
	lines := []string{"first line\n", "E:a warning\n", "second line\n", "no newline at the end"}
	next := make(chan struct{}, 1)
	go func() {
		for _, l := range lines {
			ex.feed <- l
			if strings.HasSuffix(l, "\n") {
				<-next
			}
		}
		close(ex.feed)
	}()
	var out, errOut strings.Builder
	var prev int64
	var end testbed.Event
	user.Follow(t, job.ID, "", func(ev testbed.Event) bool {
		if ev.Name == "end" {
			end = ev
			return false
		}
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if id-int64(len(ev.Data)) != prev {
			t.Errorf("event %q: id %d does not follow %d", ev.Data, id, prev)
		}
		prev = id
		map[string]*strings.Builder{"stdout": &out, "stderr": &errOut}[ev.Name].WriteString(ev.Data)
		select {
		case next <- struct{}{}:
		default:
		}
		return true
	})
	if want := "first line\nsecond line\nno newline at the end"; out.String() != want {
		t.Errorf("stdout events: %q, want %q", out.String(), want)
	}
	if errOut.String() != "a warning\n" {
		t.Errorf("stderr events: %q", errOut.String())
	}
	if !strings.Contains(end.Data, `"state":"succeeded"`) || !strings.Contains(end.Data, `"exit_code":0`) || end.ID != strconv.FormatInt(prev, 10) {
		t.Errorf("end event: %+v", end)
	}
	got := user.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID)
	if got.State != "succeeded" || got.Stdout != out.String() || got.Stderr != errOut.String() {
		t.Errorf("GET after the end: %+v", got)
	}

	// A follower that comes back with the id of any event gets exactly the rest.
	for cut := range int64(prev) {
		var rest strings.Builder
		user.Follow(t, job.ID, strconv.FormatInt(cut, 10), func(ev testbed.Event) bool {
			if ev.Name != "end" {
				rest.WriteString(ev.Data)
			}
			return ev.Name != "end"
		})
		all := "first line\na warning\nsecond line\nno newline at the end"
		if rest.String() != all[cut:] {
			t.Fatalf("resumed at %d: %q, want %q", cut, rest.String(), all[cut:])
		}
	}
}

func TestJobsAreSeenByTheirOwnerOpsAndAdmins(t *testing.T) {
	ex := &feedExecutor{feed: make(chan string)}
	admin := client(mustServer(t, ex, commands.Options{}))
	viewer, user, op := admin.As(roleToken(commands.RoleViewer)), admin.As(roleToken(commands.RoleUser)), admin.As(roleToken(commands.RoleOp))
	job := viewer.StartJob(t, "dags list")

	for _, tc := range []struct {
		c    *testbed.Client
		want int
	}{{viewer, 200}, {user, 404}, {op, 200}, {admin, 200}} {
		if a := tc.c.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); a.Status != tc.want {
			t.Errorf("GET as %s: %d, want %d", tc.c.Token, a.Status, tc.want)
		}
		// The job runs until the test ends: the status of its stream is all there is to read.
		stream := tc.c.Open(t, http.MethodGet, "/api/v1/jobs/"+job.ID+"/output", nil)
		stream.Body.Close()
		if stream.StatusCode != tc.want {
			t.Errorf("output as %s: %d, want %d", tc.c.Token, stream.StatusCode, tc.want)
		}
		var doc map[string]any
		tc.c.Get(t, "/api/v1/jobs").Decode(t, &doc)
		listed := strings.Contains(fmt.Sprint(doc["jobs"]), job.ID)
		if listed != (tc.want == 200) {
			t.Errorf("list as %s shows the job: %v", tc.c.Token, listed)
		}
	}
	// Cancelling: not by another User (as if it did not exist), not by an Op, by an Admin.
	if a := user.Job(t, http.MethodDelete, "/api/v1/jobs/"+job.ID); a.Status != 404 {
		t.Errorf("DELETE by another user: %d", a.Status)
	}
	if a := op.Job(t, http.MethodDelete, "/api/v1/jobs/"+job.ID); a.Status != 403 || !strings.Contains(a.Detail, "only its owner or an Admin") {
		t.Errorf("DELETE by an Op: %d %s", a.Status, a.Detail)
	}
	if a := viewer.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); a.State != "running" {
		t.Errorf("the refused cancels changed the job: %+v", a)
	}
	if a := admin.Job(t, http.MethodDelete, "/api/v1/jobs/"+job.ID); a.Status != 200 || a.State != "canceled" {
		t.Errorf("DELETE by an Admin: %d %s", a.Status, a.State)
	}
}

func TestJobRequestsThatAreWrong(t *testing.T) {
	ex := &feedExecutor{feed: make(chan string)}
	user := client(mustServer(t, ex, commands.Options{})).As(roleToken(commands.RoleUser))
	job := user.StartJob(t, "dags list")
	ex.feed <- "line\n"
	close(ex.feed)
	deadline := time.Now().Add(5 * time.Second)
	for user.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID).State != "succeeded" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	runs := ex.runs.Load()
	missing := strings.Repeat("0", 32)
	for _, tc := range []struct {
		method, path string
		header       []string
		status       int
		detail       string
	}{
		{"GET", "/api/v1/jobs/nope", nil, 400, "not a job ID"},
		{"GET", "/api/v1/jobs/" + strings.ToUpper(job.ID), nil, 400, "lowercase hex"},
		{"GET", "/api/v1/jobs/" + missing, nil, 404, "no job"},
		{"DELETE", "/api/v1/jobs/" + missing, nil, 404, "no job"},
		{"GET", "/api/v1/jobs/" + missing + "/output", nil, 404, "no job"},
		{"GET", "/api/v1/jobs/" + job.ID + "/output", []string{"Last-Event-ID", "abc"}, 400, "not a byte offset"},
		{"GET", "/api/v1/jobs/" + job.ID + "/output", []string{"Last-Event-ID", "-1"}, 400, "not a byte offset"},
		{"GET", "/api/v1/jobs/" + job.ID + "/output", []string{"Last-Event-ID", "6"}, 400, "past the end"},
		{"GET", "/api/v1/jobs?state=done", nil, 400, "not a job state"},
		{"GET", "/api/v1/jobs?limit=0", nil, 400, "limit"},
		{"GET", "/api/v1/jobs?limit=many", nil, 400, "limit"},
		{"GET", "/api/v1/jobs?before=x", nil, 400, "not a job ID"},
		{"POST", "/api/v1/jobs", nil, 400, "no command given"},
		{"POST", "/api/v1/jobs?command=" + url.QueryEscape("dags list; rm -rf /"), nil, 400, ""},
		{"POST", "/api/v1/jobs?command=" + url.QueryEscape("dags delete gw_conf -y"), nil, 403, "needs role Admin"},
		// A cancel of an ended job changes nothing, and says how the job ended.
		{"DELETE", "/api/v1/jobs/" + job.ID, nil, 200, ""},
	} {
		var doc testbed.JobDoc // a job or a problem
		if a := user.Do(t, tc.method, tc.path, nil, tc.header...).Decode(t, &doc); a.Status != tc.status || !strings.Contains(doc.Detail, tc.detail) {
			t.Errorf("%s %s %v: %d %q, want %d with %q", tc.method, tc.path, tc.header, a.Status, doc.Detail, tc.status, tc.detail)
		}
	}
	if a := user.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); a.State != "succeeded" || a.Stdout != "line\n" {
		t.Errorf("after the wrong requests: %+v", a)
	}
	if ex.runs.Load() != runs {
		t.Errorf("the wrong requests ran %d commands", ex.runs.Load()-runs)
	}
	// The end of the output is a valid place to resume: only the end event is left.
	var names []string
	user.Follow(t, job.ID, "5", func(ev testbed.Event) bool { names = append(names, ev.Name); return true })
	if strings.Join(names, ",") != "end" {
		t.Errorf("resuming at the end gave %v", names)
	}
}

func TestJobQueue(t *testing.T) {
	t.Run("full past the queue timeout", func(t *testing.T) {
		ex := &feedExecutor{feed: make(chan string)}
		admin := client(mustServer(t, ex, commands.Options{MaxConcurrent: 1, QueueTimeout: 300 * time.Millisecond, CommandTimeout: time.Minute, LongCommandTimeout: time.Hour}))
		held := admin.StartJob(t, "dags list")
		start := time.Now()
		a := admin.Job(t, http.MethodPost, "/api/v1/jobs?command=version")
		waited := time.Since(start)
		if a.Status != 503 || waited < 300*time.Millisecond {
			t.Errorf("POST with the only slot held: %d after %s; want 503 after the queue timeout of 300ms", a.Status, waited)
		}
		var doc map[string]any
		admin.Get(t, "/api/v1/jobs").Decode(t, &doc)
		if list := doc["jobs"].([]any); len(list) != 1 || !strings.Contains(fmt.Sprint(list[0]), held.ID) {
			t.Errorf("the refused job was kept: %v", list)
		}
		close(ex.feed)
	})
	t.Run("50 jobs on 4 slots", func(t *testing.T) {
		ex := &feedExecutor{pause: 50 * time.Millisecond}
		srv := mustServer(t, ex, commands.Options{MaxConcurrent: 4, QueueTimeout: 30 * time.Second, CommandTimeout: time.Minute, LongCommandTimeout: time.Hour},
			withOptions(func(o *gateway.Options) { o.PublicMetrics = true }))
		admin := client(srv)
		var wg sync.WaitGroup
		ids := make([]string, 50)
		for i := range ids {
			wg.Go(func() { ids[i] = admin.StartJob(t, fmt.Sprintf("variables get v%d", i)).ID })
		}
		wg.Wait()
		for i, id := range ids {
			var end testbed.Event
			admin.Follow(t, id, "", func(ev testbed.Event) bool { end = ev; return ev.Name != "end" })
			if !strings.Contains(end.Data, `"state":"succeeded"`) {
				t.Errorf("job %d ended %s", i, end.Data)
			}
			if a := admin.Job(t, http.MethodGet, "/api/v1/jobs/"+id); a.Stdout != fmt.Sprintf("ran variables get -- v%d\n", i) {
				t.Errorf("job %d: %q", i, a.Stdout)
			}
		}
		if ex.runs.Load() != 50 || ex.most.Load() > 4 {
			t.Errorf("%d runs, at most %d at once; want 50 and at most 4", ex.runs.Load(), ex.most.Load())
		}
		fams := scrapeNow(t, srv)
		for i := 0; i < 100 && sample(fams, "airflow_gateway_jobs_ended_total", nil) < 50; i++ { // counted just after the end is stored
			time.Sleep(10 * time.Millisecond)
			fams = scrapeNow(t, srv)
		}
		if started, ended := sample(fams, "airflow_gateway_jobs_started_total", nil), sample(fams, "airflow_gateway_jobs_ended_total", map[string]string{"state": "succeeded"}); started != 50 || ended != 50 {
			t.Errorf("metrics: %v jobs started, %v ended succeeded; want 50 and 50", started, ended)
		}
	})
}

func TestJobRecordsAreMasked(t *testing.T) {
	ex := &feedExecutor{pause: 0}
	job := client(mustServer(t, ex, commands.Options{})).As(roleToken(commands.RoleOp)).StartJob(t, "variables set api_key planted-job-secret")
	for _, s := range []string{job.Command, job.AirflowCmd} {
		if strings.Contains(s, "planted-job-secret") || !strings.Contains(s, commands.Mask) {
			t.Errorf("the job shows the secret: %q", s)
		}
	}
}

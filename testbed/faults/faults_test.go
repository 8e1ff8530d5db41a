// Package faults_test breaks what a running gateway depends on, under load, and checks what its clients
// see and what is left: a package of its own, so that its waits run beside the other suites.
package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/jobs/sqlite"
	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

const token = "faults-test-token-0123456789"

// tickLine is gw_slow's line for one tick, as the task prints it.
var tickLine = regexp.MustCompile(`(?m)\btick (\d+)$`)

// call sends one request through c and returns the status and the body; a request that got no answer
// fails tb and reads 0, so that the load loops go on.
func call(tb testing.TB, c *testbed.Client, method, target string) (int, string) {
	tb.Helper()
	a, err := c.Send(method, target, nil)
	if err != nil {
		tb.Errorf("%s %s: %v", method, target, err)
		return 0, ""
	}
	return a.Status, string(a.Body)
}

// tally counts the statuses a load loop saw, keeping one body of each status.
type tally struct {
	mu     sync.Mutex
	counts map[int]int
	bodies map[int]string
}

func (t *tally) add(status int, body string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counts == nil {
		t.counts, t.bodies = map[int]int{}, map[int]string{}
	}
	t.counts[status]++
	t.bodies[status] = body
}

func (t *tally) count(status int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[status]
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprint(t.counts)
}

// load sends requests from n clients until stop is closed.
func load(tb testing.TB, n int, stop <-chan struct{}, each func() (int, string), into *tally) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				into.add(each())
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	return &wg
}

// TestJobStoreGoesAway stops the PostgreSQL server of the job store for 20 s while clients send commands
// and read jobs, and a job runs across the outage. While it is away the job endpoints answer 503 saying
// so, and commands are answered as ever; once it is back the gateway serves jobs again without a
// restart, the job that ended before is as it was, and the job that ran across the outage ends with all
// its output, in order.
func TestJobStoreGoesAway(t *testing.T) {
	const ticks = 60 // 30 s of gw_slow's ticks: the job runs across the outage
	t.Setenv("GW_SLOW_TICKS", strconv.Itoa(ticks))
	pg := testbed.StartPostgres(t)
	home := testbed.MustHome(t, "3")
	testbed.PlantSlowDAG(t, home)
	logs := &testbed.Buffer{}
	_, base := testbed.GatewayProcess(t, testbed.Config{Home: home, PluginToken: token, Executor: "warm", JobsDatabaseURL: pg.NewDatabase(t)}, logs)
	testbed.WaitWarm(t, base, logs)
	c := &testbed.Client{URL: base, Token: token}

	before := c.StartJob(t, "version")
	for d := before; d.State == "running"; time.Sleep(100 * time.Millisecond) {
		d = c.Job(t, http.MethodGet, "/api/v1/jobs/"+before.ID+"?output=true")
		before = d
	}
	across := c.StartJob(t, "tasks test gw_slow tick 2024-01-01")
	c.Follow(t, across.ID, "", func(ev testbed.Event) bool { return !strings.Contains(ev.Data, "tick 2") })

	stop := make(chan struct{})
	var commands, jobReads tally
	cmds := load(t, 4, stop, func() (int, string) {
		return call(t, c, http.MethodGet, "/api/v1/command?command="+url.QueryEscape("variables get nope"))
	}, &commands)
	reads := load(t, 2, stop, func() (int, string) { return call(t, c, http.MethodGet, "/api/v1/jobs/"+across.ID) }, &jobReads)

	pg.Stop()
	outage := time.Now()
	var during tally
	for time.Since(outage) < 20*time.Second {
		during.add(call(t, c, http.MethodGet, "/api/v1/jobs"))
		during.add(call(t, c, http.MethodPost, "/api/v1/jobs?command=version"))
		time.Sleep(500 * time.Millisecond)
	}
	pg.Start(t)
	back := time.Now()
	for {
		status, _ := call(t, c, http.MethodGet, "/api/v1/jobs")
		if status == http.StatusOK {
			break
		}
		if time.Since(back) > 30*time.Second {
			t.Fatalf("the job endpoints did not recover within 30 s of the store's return (%d):\n%s", status, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("job endpoints answered again %s after the store came back", time.Since(back).Round(time.Millisecond))
	close(stop)
	cmds.Wait()
	reads.Wait()

	if len(during.counts) != 1 || during.counts[http.StatusServiceUnavailable] == 0 || !strings.Contains(during.bodies[http.StatusServiceUnavailable], "job store is unavailable") {
		t.Errorf("job endpoints while the store was away: %v, %v", &during, during.bodies)
	}
	// `variables get nope` reads Airflow's metadata DB and fails there: 200 with Airflow's own error.
	if len(commands.counts) != 1 || commands.counts[http.StatusOK] == 0 || !strings.Contains(commands.bodies[http.StatusOK], "does not exist") {
		t.Errorf("commands across the outage: %v, %v", &commands, commands.bodies)
	}
	for status := range jobReads.counts {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("reads of the running job across the outage: %v, %s", &jobReads, jobReads.bodies[status])
		}
	}
	t.Logf("while the store was away: job endpoints %v; across the outage: commands %v, reads of the running job %v", &during, &commands, &jobReads)

	if after := c.Job(t, http.MethodGet, "/api/v1/jobs/"+before.ID+"?output=true"); after.State != "succeeded" ||
		after.Stdout != before.Stdout || after.ExitCode == nil || *after.ExitCode != 0 {
		t.Errorf("the job that ended before the outage: %+v, was %+v", after, before)
	}
	var got []string
	c.Follow(t, across.ID, "", func(ev testbed.Event) bool {
		if ev.Name == "stdout" || ev.Name == "stderr" {
			for _, m := range tickLine.FindAllStringSubmatch(ev.Data, -1) {
				got = append(got, m[1])
			}
		}
		return true
	})
	final := c.Job(t, http.MethodGet, "/api/v1/jobs/"+across.ID)
	if final.State != "succeeded" || len(got) != ticks {
		t.Errorf("the job across the outage: %s %q, %d ticks: %v", final.State, final.Detail, len(got), got)
	}
	for i, n := range got {
		if n != strconv.Itoa(i) {
			t.Errorf("tick %d reads %s: a line was lost or repeated: %v", i, n, got)
			break
		}
	}
	if d := c.StartJob(t, "version"); d.Status != http.StatusAccepted {
		t.Errorf("a new job after the outage: %+v", d)
	}
}

// smallDisk mounts a tmpfs of size bytes on dir, keeping the files dir had, and unmounts it when tb
// ends. Mounting needs root: elsewhere the test skips and says so, except under CI, where it fails.
func smallDisk(tb testing.TB, dir string, size int) {
	tb.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			tb.Fatal("the full-disk tests mount a tmpfs, which needs root; CI runs as root")
		}
		tb.Skip("the full-disk tests mount a tmpfs, which needs root")
	}
	keep := tb.TempDir()
	if out, err := exec.Command("cp", "-a", dir+"/.", keep).CombinedOutput(); err != nil {
		tb.Fatalf("copy %s aside: %v\n%s", dir, err, out)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput(); err != nil {
		tb.Fatalf("mount a tmpfs on %s: %v\n%s", dir, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	if out, err := exec.Command("cp", "-a", keep+"/.", dir).CombinedOutput(); err != nil {
		tb.Fatalf("copy the files back onto the tmpfs: %v\n%s", err, out)
	}
}

// fill writes a file into dir until its disk is full, and returns a function that removes it.
func fill(tb testing.TB, dir string) (free func()) {
	tb.Helper()
	path := filepath.Join(dir, ".filler")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				tb.Fatal(err)
			}
			break
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			tb.Error(err)
		}
	}
}

// deploy uploads content as name through deploy_dag with force, and returns the status and the output.
func deploy(tb testing.TB, c *testbed.Client, name, content string) (int, string) {
	tb.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("force", "on")
	part, _ := w.CreateFormFile("dag_file", name)
	io.WriteString(part, content)
	w.Close()
	a := c.Plugin().Do(tb, http.MethodPost, "/admin/rest_api/api?api=deploy_dag", &body, "Content-Type", w.FormDataContentType())
	var env struct {
		Output string `json:"output"`
	}
	_ = json.Unmarshal(a.Body, &env)
	return a.Status, env.Output
}

// leftovers lists the files of dir that are not in want.
func leftovers(tb testing.TB, dir string, want ...string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatal(err)
	}
	var extra []string
	for _, e := range entries {
		if !slices.Contains(want, e.Name()) {
			extra = append(extra, e.Name())
		}
	}
	return extra
}

// TestFullDisks fills the disk under the DAGs folder, then the one under state_dir (each a small tmpfs):
// deploy_dag answers 507 saying which, the file it would replace stays byte for byte and no temporary
// file is left; a job whose output arrives while state_dir is full ends all the same, is answered from
// what the gateway holds, and is stored whole once there is room; commands run throughout.
func TestFullDisks(t *testing.T) {
	t.Setenv("GW_SLOW_TICKS", "8")
	home := testbed.MustHome(t, "3")
	testbed.PlantSlowDAG(t, home)
	state := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	smallDisk(t, home.Dags, 2<<20)
	smallDisk(t, state, 1<<20)
	logs := &testbed.Buffer{}
	_, base := testbed.GatewayProcess(t, testbed.Config{Home: home, PluginToken: token, Executor: "warm", StateDir: state}, logs)
	testbed.WaitWarm(t, base, logs)
	c := &testbed.Client{URL: base, Token: token}
	dagFiles := func() []string {
		entries, _ := os.ReadDir(home.Dags)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	const name = "gw_full.py"
	old := testbed.UploadedDAG("gw_full", "the first upload")
	if status, out := deploy(t, c, name, old); status != http.StatusOK {
		t.Fatalf("the first upload: %d %s", status, out)
	}
	files := append(dagFiles(), ".filler")
	replacement := testbed.UploadedDAG("gw_full", "the second upload "+strings.Repeat("x", 256<<10))
	check := func(what string, wantStatus int, says string) {
		t.Helper()
		status, out := deploy(t, c, name, replacement)
		if status != wantStatus || !strings.Contains(out, says) {
			t.Errorf("deploy_dag with %s: %d %q", what, status, out)
		}
		if got, _ := os.ReadFile(filepath.Join(home.Dags, name)); string(got) != old {
			t.Errorf("deploy_dag with %s changed the file it would replace", what)
		}
		if extra := leftovers(t, home.Dags, files...); len(extra) > 0 {
			t.Errorf("deploy_dag with %s left %v in the DAGs folder", what, extra)
		}
		if extra := leftovers(t, filepath.Join(state, "dag-backups"), ".filler"); len(extra) > 0 {
			t.Errorf("deploy_dag with %s left %v in the backups folder", what, extra)
		}
	}

	t.Run("the DAGs folder's disk is full", func(t *testing.T) {
		free := fill(t, home.Dags)
		defer free()
		check("the DAGs folder full", http.StatusInsufficientStorage, "the disk under the DAGs folder is full")
		if status, body := call(t, c, http.MethodGet, "/api/v1/command?command=version"); status != http.StatusOK {
			t.Errorf("a command with the DAGs folder full: %d %s", status, body)
		}
	})

	t.Run("state_dir's disk is full", func(t *testing.T) {
		if err := os.MkdirAll(filepath.Join(state, "dag-backups"), 0o750); err != nil {
			t.Fatal(err)
		}
		job := c.StartJob(t, "tasks test gw_slow tick 2024-01-01")
		c.Follow(t, job.ID, "", func(ev testbed.Event) bool { return !strings.Contains(ev.Data, "tick 1") })
		free := fill(t, state)
		check("state_dir full", http.StatusInsufficientStorage, "the disk under the state folder is full")
		if status, body := call(t, c, http.MethodGet, "/api/v1/command?command=version"); status != http.StatusOK {
			t.Errorf("a command with state_dir full: %d %s", status, body)
		}
		// The job ends while its output cannot be stored: the gateway answers with what it holds.
		var held *testbed.JobDoc
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			if held = c.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID+"?output=true"); held.State != "running" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the job did not end: %+v", held)
			}
		}
		if held.State != "succeeded" || !strings.Contains(held.Stdout+held.Stderr, "tick 7") {
			t.Errorf("the job that ended with state_dir full: %+v", held)
		}
		if !strings.Contains(logs.String(), "the job store is unavailable") {
			t.Errorf("the job store took every write with its disk full:\n%s", logs)
		}
		free()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			stored := storedState(t, filepath.Join(state, "jobs.db"), job.ID)
			if stored == "succeeded" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the job's end was not stored once there was room: %q\n%s", stored, logs)
			}
		}
		if got := c.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID+"?output=true"); got.Stdout != held.Stdout || got.Stderr != held.Stderr {
			t.Errorf("the stored output differs from what the gateway held:\n%+v\n%+v", got, held)
		}
	})
}

// storedState reads a job's state from the gateway's SQLite job store itself.
func storedState(tb testing.TB, path, id string) string {
	tb.Helper()
	store, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return err.Error()
	}
	defer store.Close()
	job, err := store.Get(context.Background(), id)
	if err != nil {
		return err.Error()
	}
	return string(job.State)
}

// TestForkserverKilledUnderLoad SIGKILLs the warm executor's forkserver while 32 clients send commands
// through 4 command slots: every request is answered, 200 or a 503 that says why; once the load is over
// and a new forkserver is warm, no process of the old one is left.
func TestForkserverKilledUnderLoad(t *testing.T) {
	home := testbed.MustHome(t, "3")
	logs := &testbed.Buffer{}
	_, base := testbed.GatewayProcess(t, testbed.Config{Home: home, PluginToken: token, Executor: "warm", MaxConcurrentCommands: 4,
		QueueTimeout: 30 * time.Second}, logs)
	testbed.WaitWarm(t, base, logs)
	c := &testbed.Client{URL: base, Token: token}
	// The forkserver's templates are its children and have its command line: a forkserver is a process
	// with it whose parent has not.
	marked := func(pid int) bool {
		argv := procfs.Argv(pid)
		return len(argv) > 0 && strings.Contains(argv[len(argv)-1], "airflow-gateway-forkserver")
	}
	forkservers := func() []int {
		var found []int
		for _, pid := range testbed.ProcessesIn(home.Dir) {
			if p, ok := procfs.Stat(pid); ok && marked(pid) && !marked(p.PPID) {
				found = append(found, pid)
			}
		}
		return found
	}
	old := forkservers()
	if len(old) != 1 {
		t.Fatalf("forkservers before: %v", old)
	}
	var answers tally
	var wg sync.WaitGroup
	started := make(chan struct{}, 32)
	for range 32 {
		wg.Go(func() {
			for i := range 3 {
				status, body := call(t, c, http.MethodGet, "/api/v1/command?command="+url.QueryEscape("variables get nope"))
				answers.add(status, body)
				if i == 0 {
					started <- struct{}{}
				}
			}
		})
	}
	for range 8 {
		<-started
	}
	if err := syscall.Kill(old[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	t.Logf("answers of 96 commands with the forkserver killed: %v; a 503: %.300s", &answers, answers.bodies[http.StatusServiceUnavailable])
	for status, body := range answers.bodies {
		switch {
		case status == http.StatusOK && strings.Contains(body, "does not exist"):
		case status == http.StatusServiceUnavailable && strings.Contains(body, `"detail"`):
		default:
			t.Errorf("an answer %d: %s", status, body)
		}
	}
	if answers.counts[http.StatusOK] == 0 {
		t.Errorf("no command succeeded: %v", &answers)
	}
	testbed.WaitWarm(t, base, logs)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// Left: the new forkserver and its templates; nothing of the old one.
		left := testbed.ProcessesIn(home.Dir)
		now := forkservers()
		ours := 0
		for _, pid := range left {
			for p := pid; len(now) == 1 && p > 1; {
				if p == now[0] {
					ours++
					break
				}
				st, ok := procfs.Stat(p)
				if !ok {
					break
				}
				p = st.PPID
			}
		}
		if len(now) == 1 && now[0] != old[0] && ours == len(left) {
			break
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				t.Errorf("left: %d %.200s", pid, strings.Join(procfs.Argv(pid), " "))
			}
			t.Fatalf("forkservers %v (the killed one %d)", now, old[0])
		}
	}
}

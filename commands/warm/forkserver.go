package warm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/subprocess"
)

// markRoom is the room, in bytes, for a command's marker in the environment the forkserver starts with.
// /proc/PID/environ shows the environment a process was started with, and a forked child never starts:
// it shows the forkserver's, whatever the child sets later. So the forkserver starts with
// AIRFLOW_GATEWAY_COMMAND set to markRoom dashes, and each child writes its own marker over them, in its
// own memory, before it runs Airflow (mark_environment, in _airflow_gateway_child.py): the processes of a
// command that fork without running another program (Airflow's task runners) carry the marker as those
// that do. A longer marker is not written there.
const markRoom = 64

// readyInfo is what the forkserver reports once it is warm.
type readyInfo struct {
	Airflow       string   `json:"airflow"`
	Python        string   `json:"python"`
	ConfigFile    string   `json:"config_file"`
	PluginsFolder string   `json:"plugins_folder"`
	SitePackages  []string `json:"site_packages"`
	Modules       []string `json:"modules"`
	UserCode      []string `json:"user_code"`
	PluginsLoaded bool     `json:"plugins_loaded"`
	Threads       int      `json:"threads"`
	ThreadNames   []string `json:"thread_names"`
	WarmMS        int      `json:"warm_ms"`
	// Preloads maps each whitelisted path that has a template to its preload; TemplatesOff says why there
	// are none when the forkserver cannot have them.
	Preloads     map[string]string `json:"preloads"`
	TemplatesOff string            `json:"templates_off"`
}

// message is one packet from the forkserver.
type message struct {
	Op     string `json:"op"`
	ID     uint64 `json:"id"`
	PID    int    `json:"pid"`
	Code   int    `json:"code"`
	Signal int    `json:"signal"`
	Error  string `json:"error"`
	// Template is the preload of the template a command was forked from, "" for the forkserver itself.
	Template string `json:"template"`
	// Lost says the exit status of a command is not known: the template that forked it died.
	Lost bool `json:"lost"`
	readyInfo
	templateInfo
}

// templateInfo is what the forkserver reports of a template: up (Ready), or gone or never made (Error).
type templateInfo struct {
	Preload   string   `json:"preload"`
	Ready     bool     `json:"ready"`
	MS        int      `json:"ms"` // how long the work of its preload took
	RSSKB     int64    `json:"rss_kb"`
	PSSKB     int64    `json:"pss_kb"`
	PrivateKB int64    `json:"private_kb"`
	Commands  []string `json:"commands"`
}

// forkserver is one warm Python process and the gateway's end of its control socket.
type forkserver struct {
	cmd         *exec.Cmd
	conn        *net.UnixConn
	info        readyInfo
	startedAt   time.Time // when the process was started: files changed after it may be missed by it
	readyAt     time.Time
	fingerprint string // of the files whose change makes it stale, taken when it became warm
	sites       map[string]*siteListing

	sendMu  sync.Mutex
	mu      sync.Mutex
	nextID  uint64
	waiting map[uint64]chan message
	done    chan struct{} // closed when the control socket reads EOF: the forkserver is gone
	waited  chan struct{} // closed when the process has been reaped
	waitErr error
	// templates are the templates that are up, by preload (guarded by mu).
	templates map[string]commands.TemplateStatus
	// auth is the child that runs the authorizer, once one was started (authorizer.go).
	authMu sync.Mutex
	auth   *authorizing

	// Guarded by the Executor's mutex.
	running   int
	retired   bool
	closeOnce sync.Once
}

// launch starts a forkserver and waits until it is warm.
func launch(e *Executor) (*forkserver, error) {
	if e.Python == "" {
		return nil, errors.New("no Python interpreter is known for Airflow: set [gateway] python_bin")
	}
	source, err := sourceFile(e.Dir)
	if err != nil {
		return nil, err
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "forkserver-control"), os.NewFile(uintptr(fds[1]), "forkserver-control")
	defer theirs.Close()
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	conn := fc.(*net.UnixConn)

	// The tag argument names the forkserver, and its children, which keep its command line, in ps.
	cmd := exec.Command(e.Python, source, ProcessTag)
	// Room for a command's marker in the environment the forkserver starts with, which is what /proc
	// shows of its children's: each child writes its marker there (see markRoom).
	cmd.Env = append(commands.Exec{}.Environ(e.Env), commands.MarkerVariable+"="+strings.Repeat("-", markRoom))
	cmd.Dir = e.Home
	cmd.ExtraFiles = []*os.File{theirs} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	logs, err := cmd.StdoutPipe()
	if err != nil {
		conn.Close()
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	fs := &forkserver{cmd: cmd, conn: conn, startedAt: time.Now(), waiting: map[uint64]chan message{},
		done: make(chan struct{}), waited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("start the forkserver with %s: %w", e.Python, err)
	}
	e.all.Add(1)
	go func() {
		defer e.all.Done()
		fs.waitErr = cmd.Wait()
		close(fs.waited)
	}()
	// What the forkserver prints itself (import warnings, a traceback) goes to the gateway's log.
	go func() {
		sc := bufio.NewScanner(logs)
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		for sc.Scan() {
			e.log().Info("forkserver output", "pid", cmd.Process.Pid, "line", sc.Text())
		}
		_, _ = io.Copy(io.Discard, logs) // past a line too long to log, the forkserver must not block
	}()

	info, err := fs.handshake(e)
	if err != nil {
		fs.retired = true
		fs.close()
		<-fs.waited
		if fs.waitErr != nil {
			err = fmt.Errorf("%w (the forkserver exited: %v)", err, fs.waitErr)
		}
		return nil, err
	}
	fs.info = *info
	fs.readyAt = time.Now()
	var newest time.Time
	fs.sites = map[string]*siteListing{}
	fs.fingerprint, newest = fingerprint(info, fs.sites)
	if !newest.Before(fs.startedAt) {
		fs.fingerprint = "changed while warming up" // so the first look finds it stale
	}
	if info.TemplatesOff != "" {
		e.log().Warn("the warm executor has no templates; every command forks from the forkserver", "reason", info.TemplatesOff)
	}
	go fs.read(e)
	return fs, nil
}

// handshake asks the forkserver to warm up and reads its answer.
func (fs *forkserver) handshake(e *Executor) (*readyInfo, error) {
	if err := fs.send(map[string]any{"op": "warm", "paths": e.Paths, "binary": e.Binary, "templates": !e.NoTemplates}); err != nil {
		return nil, fmt.Errorf("the forkserver did not take its warm-up request: %w", err)
	}
	limit := e.WarmUpTimeout
	if limit == 0 {
		limit = 3 * time.Minute
	}
	_ = fs.conn.SetReadDeadline(time.Now().Add(limit))
	defer fs.conn.SetReadDeadline(time.Time{})
	m, err := fs.receive()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("the forkserver was not warm after %s", limit)
		}
		return nil, fmt.Errorf("the forkserver stopped while warming up: %w", err)
	}
	switch {
	case m.Op == "failed":
		return nil, fmt.Errorf("the forkserver could not warm up: %s", m.Error)
	case m.Op != "ready":
		return nil, fmt.Errorf("the forkserver answered %q to its warm-up request", m.Op)
	case len(m.UserCode) > 0:
		return nil, fmt.Errorf("importing Airflow imported user code (%v): the forkserver must never hold a DAG file or plugin", m.UserCode)
	case m.PluginsLoaded:
		return nil, errors.New("importing Airflow loaded its plugins (core.lazy_load_plugins is False): the forkserver must never hold a plugin")
	case m.Threads != 1:
		return nil, fmt.Errorf("the forkserver has %d threads after warming up (%v): forking a multi-threaded process is unsafe", m.Threads, m.ThreadNames)
	}
	return &m.readyInfo, nil
}

func (fs *forkserver) send(v any, files ...*os.File) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	fs.sendMu.Lock()
	defer fs.sendMu.Unlock()
	_, _, err = fs.conn.WriteMsgUnix(data, oob, nil)
	return err
}

func (fs *forkserver) receive() (*message, error) {
	buf := make([]byte, 1<<16)
	n, err := fs.conn.Read(buf)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, io.EOF
	}
	var m message
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return nil, fmt.Errorf("unreadable message from the forkserver: %w", err)
	}
	return &m, nil
}

// read hands each message to the command it is about, until the forkserver is gone.
func (fs *forkserver) read(e *Executor) {
	defer close(fs.done)
	for {
		m, err := fs.receive()
		if err != nil {
			return
		}
		if m.Op == "template" {
			fs.template(e, m)
			continue
		}
		fs.mu.Lock()
		ch := fs.waiting[m.ID]
		fs.mu.Unlock()
		if ch != nil {
			ch <- *m
		}
	}
}

// template records and logs a template that is up, gone or could not be made.
func (fs *forkserver) template(e *Executor, m *message) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.templates == nil {
		fs.templates = map[string]commands.TemplateStatus{}
	}
	if !m.Ready {
		delete(fs.templates, m.Preload)
		e.log().Warn("a template of the warm executor is not in service", "preload", m.Preload, "pid", m.PID, "reason", m.Error)
		return
	}
	fs.templates[m.Preload] = commands.TemplateStatus{Preload: m.Preload, PID: m.PID, Commands: len(m.Commands),
		RSSBytes: m.RSSKB << 10, PrivateBytes: m.PrivateKB << 10}
	e.log().Info("template of the warm executor ready", "preload", m.Preload, "pid", m.PID, "commands", strings.Join(m.Commands, ", "),
		"work_ms", m.MS, "rss_kb", m.RSSKB, "pss_kb", m.PSSKB, "private_kb", m.PrivateKB)
}

// forkedFrom counts a command forked from the template of preload (none for "").
func (fs *forkserver) forkedFrom(preload string) {
	if preload == "" {
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if t, ok := fs.templates[preload]; ok {
		t.Forks++
		fs.templates[preload] = t
	}
}

// templateStatus lists the templates that are up, by preload.
func (fs *forkserver) templateStatus() []commands.TemplateStatus {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []commands.TemplateStatus
	for _, t := range fs.templates {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b commands.TemplateStatus) int { return strings.Compare(a.Preload, b.Preload) })
	return out
}

func (fs *forkserver) pid() int { return fs.cmd.Process.Pid }

// exitErr says how the forkserver ended, once it has.
func (fs *forkserver) exitErr() error {
	select {
	case <-fs.waited:
		if fs.waitErr == nil {
			return errors.New("exit status 0")
		}
		return fs.waitErr
	case <-time.After(time.Second):
		return errors.New("its control socket closed")
	}
}

// close shuts the control socket, on which the forkserver kills what it still runs and exits; a
// forkserver that does not exit in time is killed.
func (fs *forkserver) close() {
	fs.closeOnce.Do(func() {
		fs.stopAuthorizer()
		fs.conn.Close()
		go func() {
			select {
			case <-fs.waited:
			case <-time.After(5 * time.Second):
				_ = fs.cmd.Process.Kill()
			}
		}()
	})
}

// staleReason says why fs must be replaced, or "" while it may serve.
func (fs *forkserver) staleReason(maxAge time.Duration) string {
	select {
	case <-fs.done:
		return "it stopped"
	default:
	}
	if maxAge > 0 && time.Since(fs.readyAt) > maxAge {
		return fmt.Sprintf("it is older than warm_max_age (%s)", maxAge)
	}
	if now, _ := fingerprint(&fs.info, fs.sites); now != fs.fingerprint {
		return "Airflow's configuration, installation or plugins changed"
	}
	return ""
}

// run runs one command in a child of the forkserver: the same contract as package subprocess. The child
// runs the airflow script with x.Args, or, when script is not empty, the gateway's own script of that name
// (a key of GATEWAY_SCRIPTS in _airflow_gateway_child.py) without arguments; maxOutput bytes of each stream
// are kept.
func (fs *forkserver) run(ctx context.Context, e *Executor, x commands.Exec, script string, maxOutput int) (*commands.Result, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	fs.mu.Lock()
	fs.nextID++
	id := fs.nextID
	events := make(chan message, 2)
	fs.waiting[id] = events
	fs.mu.Unlock()
	defer func() {
		fs.mu.Lock()
		delete(fs.waiting, id)
		fs.mu.Unlock()
	}()

	start := time.Now()
	request := map[string]any{
		"op": "run", "id": id, "argv": append([]string{e.Binary}, x.Args...),
		"env": x.Environ(e.Env), "cwd": e.Home, "mark": commands.MarkerVariable + "=" + x.Marker,
	}
	if script != "" {
		request["script"] = script
	}
	err = fs.send(request, outW, errW)
	// The forkserver has its own copies now; the child's are the only write ends left after the fork.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("%w: %v", errNotStarted, err)
	}
	var pid int
	select {
	case m := <-events:
		if m.Op != "started" {
			outR.Close()
			errR.Close()
			return nil, fmt.Errorf("%w: %s", errNotStarted, m.Error)
		}
		pid = m.PID
		fs.forkedFrom(m.Template)
	case <-fs.done:
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("%w: the forkserver stopped", errNotStarted)
	}

	stdout, stderr := subprocess.Outputs(x, maxOutput)
	var readers sync.WaitGroup
	for _, p := range []struct {
		r *os.File
		w io.Writer
	}{{outR, stdout}, {errR, stderr}} {
		readers.Go(func() {
			_, _ = io.Copy(p.w, p.r)
		})
	}

	res := &commands.Result{ExitCode: -1, Executor: "warm"}
	var lost bool
	limit := time.NewTimer(x.Limit)
	defer limit.Stop()
	var kill <-chan time.Time
	stop := func() {
		if kill == nil {
			_ = syscall.Kill(-pid, syscall.SIGTERM)
			kill = time.After(e.KillGrace)
		}
	}
	ctxDone := ctx.Done()
wait:
	for {
		select {
		case m := <-events:
			if m.Op == "exited" {
				res.ExitCode, lost = m.Code, m.Lost
				break wait
			}
		case <-fs.done:
			lost = true
			break wait
		case <-ctxDone:
			ctxDone = nil
			res.Canceled = true
			stop()
		case <-limit.C:
			res.TimedOut = !res.Canceled
			stop()
		case <-kill:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	// Whatever is left in the group goes now: no command leaves a process behind.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	// A command that was stopped also loses the processes it started in sessions or groups of their own,
	// which the group's kill misses: they are found by the command's marker. A look through /proc costs a
	// few microseconds per process (BenchmarkWithEnv), 2 to 5% of `version` on this executor, so a
	// command that ends by itself is spared it.
	if res.Canceled || res.TimedOut || lost {
		subprocess.KillMarked([]string{x.Marker})
	}
	// The pipes close when the last process holding them exits; one that left the group and keeps them
	// open is not waited for past the grace period.
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(e.KillGrace):
		_ = outR.SetReadDeadline(time.Now())
		_ = errR.SetReadDeadline(time.Now())
		<-drained
	}
	outR.Close()
	errR.Close()
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	res.Truncated = stdout.Truncated() || stderr.Truncated()
	res.Duration = time.Since(start)
	if lost {
		return res, commands.Errorf(commands.EUNAVAILABLE, "the warm Airflow process stopped while the command ran, so the command was stopped too; it may have done part of its work: check before you send it again (the output so far is included)")
	}
	return res, nil
}

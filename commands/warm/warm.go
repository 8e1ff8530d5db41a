// Package warm runs Airflow commands by forking a Python process that has imported Airflow once (the
// forkserver: forkserver.py and the modules it imports), instead of paying Airflow's imports on every
// command. Commands get the same argv, environment, working directory, process group, limits and output
// caps as with package subprocess, which also runs every command while no forkserver is warm: a request
// never waits for a warm-up.
package warm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/dagindex"
)

// ProcessTag is the last argument of the forkserver's command line, and so of its templates' and
// children's, which keep it: ps and /proc show it for every process the warm executor forked.
const ProcessTag = "airflow-gateway-forkserver"

// Executor is a commands.Executor that forks commands from a warm Airflow process, and runs them on Cold
// while it has none.
type Executor struct {
	Cold           commands.Executor // runs daemon starts, and every command while no forkserver is warm
	Python         string            // the interpreter of the Airflow installation
	Binary         string            // the airflow script: the children's argv[0]
	Home           string            // AIRFLOW_HOME, and the children's working directory
	Env            []string          // the children's environment, as for package subprocess
	MaxOutputBytes int               // per stream; the rest is read and dropped
	KillGrace      time.Duration     // between SIGTERM and SIGKILL
	MaxAge         time.Duration     // a forkserver older than this is replaced
	WarmUpTimeout  time.Duration     // how long a forkserver may take to get warm (default 3 minutes)
	Paths          []string          // the whitelisted command paths, whose modules the forkserver imports
	NoTemplates    bool              // fork every command from the forkserver, none from a template
	// PrewarmAuthorizer starts the authorizer (Authorize) as soon as a forkserver is warm, rather than
	// with the first query: for a gateway with a credential that acts as an Airflow user.
	PrewarmAuthorizer bool
	Log               *slog.Logger
	// Dir is a folder of the gateway's own (the state folder) where the forkserver's source is written, in
	// a folder "forkserver"; when empty, a folder of the user's own in the system's temporary folder.
	Dir string

	mu        sync.Mutex
	current   *forkserver // nil while none is warm
	starting  bool
	closed    bool
	failures  int       // starts that failed in a row
	retryAt   time.Time // no new start before this, after failures
	lastError string    // why commands run as subprocesses
	starts    uint64
	forks     uint64
	live      map[*forkserver]bool // started and not yet closed, retired or not
	all       sync.WaitGroup       // forkserver processes not yet reaped
	settled   chan struct{}        // closed once the first start has ended, warm or not (Settled)
}

// errNotStarted says the command never ran on the forkserver, so it can run cold instead.
var errNotStarted = errors.New("the forkserver did not start the command")

// Start begins warming a forkserver in the background.
func (e *Executor) Start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.startLocked()
}

// Run implements commands.Executor.
func (e *Executor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	x = x.Marked()
	if x.Detaches {
		// A daemon must not be a child of the forkserver, nor carry its warm state for days.
		return e.Cold.Run(ctx, x)
	}
	res, warm, err := e.runWarm(ctx, x, "", e.MaxOutputBytes)
	if !warm {
		return e.Cold.Run(ctx, x)
	}
	if err == nil {
		e.mu.Lock()
		e.forks++
		e.mu.Unlock()
	}
	return res, err
}

// ReadDAGIndex implements commands.DAGIndexReader: a child of the forkserver runs the gateway's script that
// reads the index, with Airflow's models already imported; while no forkserver is warm, Cold reads it.
func (e *Executor) ReadDAGIndex(ctx context.Context, limit time.Duration) ([]commands.DAGInfo, error) {
	x := commands.Exec{Limit: limit}.Marked()
	res, warm, err := e.runWarm(ctx, x, dagIndexScript, dagindex.MaxOutputBytes)
	if !warm {
		cold, ok := e.Cold.(commands.DAGIndexReader)
		if !ok {
			return nil, errors.New("no forkserver is warm, and the subprocess executor cannot read the DAG index")
		}
		return cold.ReadDAGIndex(ctx, limit)
	}
	return dagindex.Rows(res, err)
}

// dagIndexScript names the script of package dagindex in a run request: _airflow_gateway_child.py runs
// the file its GATEWAY_SCRIPTS gives this name.
const dagIndexScript = "dag_index"

// runWarm runs x on the warm forkserver (see forkserver.run for script and maxOutput); warm is false
// when no forkserver took it, and then the caller runs it as a subprocess.
func (e *Executor) runWarm(ctx context.Context, x commands.Exec, script string, maxOutput int) (res *commands.Result, warm bool, err error) {
	fs := e.acquire()
	if fs == nil {
		return nil, false, nil
	}
	res, err = fs.run(ctx, e, x, script, maxOutput)
	e.release(fs)
	if errors.Is(err, errNotStarted) {
		// It refused (it has grown a thread) or could not be reached: a new one takes its place.
		e.log().Warn("the warm executor could not start a command; running it as a subprocess", "err", err)
		e.mu.Lock()
		e.retireLocked(fs, err.Error())
		e.startLocked()
		e.mu.Unlock()
		return nil, false, nil
	}
	return res, true, err
}

// Status implements commands.StatusReporter.
func (e *Executor) Status() commands.ExecutorStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := commands.ExecutorStatus{Name: "warm", Forks: e.forks, Restarts: max(e.starts, 1) - 1}
	switch {
	case e.current != nil:
		st.Warm, st.WarmSince = true, e.current.readyAt
		st.Templates = e.current.templateStatus()
	case e.lastError != "":
		st.Detail = e.lastError + "; commands run as subprocesses"
	default:
		st.Detail = "warming up; commands run as subprocesses meanwhile"
	}
	return st
}

// Settled implements commands.Settler: the channel is closed once the first forkserver is warm, or its
// start has failed, or the executor is closed.
func (e *Executor) Settled() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.settledLocked()
}

func (e *Executor) settledLocked() chan struct{} {
	if e.settled == nil {
		e.settled = make(chan struct{})
	}
	return e.settled
}

// settleLocked closes the channel of Settled, once.
func (e *Executor) settleLocked() {
	ch := e.settledLocked()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Close stops every forkserver, and with them any command still running on one.
func (e *Executor) Close() {
	e.mu.Lock()
	e.closed = true
	e.settleLocked()
	if e.current != nil {
		e.retireLocked(e.current, "the gateway is stopping")
	}
	for fs := range e.live {
		fs.retired = true
		fs.close()
	}
	e.mu.Unlock()
	e.all.Wait()
}

// acquire returns the warm forkserver with one more command counted on it, or nil when there is none;
// then it starts one in the background (unless one is starting or the last start failed recently).
func (e *Executor) acquire() *forkserver {
	e.mu.Lock()
	defer e.mu.Unlock()
	if fs := e.current; fs != nil {
		if why := fs.staleReason(e.MaxAge); why != "" {
			e.retireLocked(fs, why)
		} else {
			fs.running++
			return fs
		}
	}
	e.startLocked()
	return nil
}

// release ends a command on fs; a retired forkserver closes with its last command.
func (e *Executor) release(fs *forkserver) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fs.running--
	if fs.retired && fs.running == 0 {
		e.closeLocked(fs)
	}
}

// closeLocked closes a retired forkserver.
func (e *Executor) closeLocked(fs *forkserver) {
	delete(e.live, fs)
	fs.close()
}

// retireLocked takes fs out of service; it closes once its running commands have ended.
func (e *Executor) retireLocked(fs *forkserver, why string) {
	if e.current == fs {
		e.current = nil
	}
	if fs.retired {
		return
	}
	fs.retired = true
	e.log().Info("replacing the warm Airflow process; commands run as subprocesses until a new one is warm", "reason", why, "pid", fs.pid(), "warm_for", time.Since(fs.readyAt).Round(time.Second).String())
	if fs.running == 0 {
		e.closeLocked(fs)
	}
}

func (e *Executor) startLocked() {
	if e.starting || e.closed || time.Now().Before(e.retryAt) {
		return
	}
	e.starting = true
	e.starts++
	go e.start()
}

// start warms a new forkserver and puts it in service.
func (e *Executor) start() {
	began := time.Now()
	fs, err := launch(e)
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.settleLocked()
	e.starting = false
	if err != nil {
		backoff := e.failedLocked(err.Error())
		e.log().Error("the warm executor has no forkserver; commands run as subprocesses", "err", err, "retry_in", backoff.String())
		return
	}
	if e.closed {
		fs.retired = true
		fs.close()
		return
	}
	if e.live == nil {
		e.live = map[*forkserver]bool{}
	}
	e.live[fs] = true
	e.failures, e.lastError, e.current = 0, "", fs
	e.log().Info("warm Airflow process ready", "pid", fs.pid(), "python", fs.info.Python, "airflow", fs.info.Airflow,
		"warm_up", time.Since(began).Round(time.Millisecond).String(), "modules", len(fs.info.Modules))
	go e.watch(fs)
	if e.PrewarmAuthorizer {
		fs.authorizer(e)
	}
}

// watch replaces fs when it dies while in service.
func (e *Executor) watch(fs *forkserver) {
	<-fs.done
	exit := fs.exitErr()
	e.mu.Lock()
	defer e.mu.Unlock()
	if fs.retired {
		return
	}
	why := fmt.Sprintf("the warm Airflow process (pid %d) stopped: %v", fs.pid(), exit)
	e.lastError = why
	e.log().Error("the warm Airflow process stopped; commands run as subprocesses until a new one is warm", "pid", fs.pid(), "err", exit)
	e.retireLocked(fs, "it stopped")
	if time.Since(fs.readyAt) < time.Minute {
		e.failedLocked(why) // one that dies young is not restarted at once, again and again
	}
	e.startLocked()
}

// failedLocked counts a failed start, and has the next one wait for a while that doubles with each
// failure in a row, up to 5 minutes; it returns the while.
func (e *Executor) failedLocked(why string) time.Duration {
	e.failures++
	backoff := min(time.Second<<min(e.failures, 9), 5*time.Minute)
	e.retryAt = time.Now().Add(backoff)
	e.lastError = why
	time.AfterFunc(backoff, e.Start)
	return backoff
}

func (e *Executor) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

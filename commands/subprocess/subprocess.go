// Package subprocess runs each Airflow command as a child process of its own: explicit argv, no shell,
// stdin closed, its own process group, capped output and a time limit enforced on the whole group and on
// every process that carries the command's marker (KillMarked).
package subprocess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/authorizer"
	"github.com/airflow-gateway/airflow-gateway/commands/dagindex"
)

// Executor is a commands.Executor that starts one process per command.
type Executor struct {
	Binary         string        // the airflow binary
	Python         string        // the interpreter of the Airflow installation, which reads the DAG index
	Home           string        // AIRFLOW_HOME of the children, and their working directory
	Env            []string      // the children's environment; see ChildEnv
	MaxOutputBytes int           // per stream; the rest is read and dropped
	KillGrace      time.Duration // between SIGTERM and SIGKILL
}

// ChildEnv returns environ without the gateway's own settings (AIRFLOW_GATEWAY*), with AIRFLOW_HOME set to
// home when home is not empty.
func ChildEnv(environ []string, home string) []string {
	var env []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AIRFLOW_GATEWAY") || (home != "" && name == "AIRFLOW_HOME") {
			continue
		}
		env = append(env, kv)
	}
	if home != "" {
		env = append(env, "AIRFLOW_HOME="+home)
	}
	return env
}

// Run implements commands.Executor.
func (e *Executor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	return e.run(ctx, x, e.MaxOutputBytes, "", e.Binary, x.Args...)
}

// ReadDAGIndex implements commands.DAGIndexReader: Airflow's Python runs the gateway's script, with the
// environment, working folder, process group and time limit of a command.
func (e *Executor) ReadDAGIndex(ctx context.Context, limit time.Duration) ([]commands.DAGInfo, error) {
	if e.Python == "" {
		return nil, errors.New("no Python interpreter is known for Airflow to read the DAG index with: set [gateway] python_bin")
	}
	return dagindex.Rows(e.run(ctx, commands.Exec{Limit: limit}, dagindex.MaxOutputBytes, "", e.Python, "-c", dagindex.Script, dagindex.ProcessTag))
}

// Authorize implements commands.Authorizer: Airflow's Python runs the gateway's authorizer for this one
// query, with the environment, working folder, process group and time limit of a command. It starts
// Airflow and its auth manager each time (seconds); the warm executor keeps one running.
func (e *Executor) Authorize(ctx context.Context, q commands.PermissionQuery) (*commands.PermissionAnswer, error) {
	answers, err := e.AuthorizeAll(ctx, []commands.PermissionQuery{q})
	if err != nil {
		return nil, err
	}
	return answers[0], nil
}

// AuthorizeAll asks the queries of qs in one run of the authorizer, so that Airflow and its auth manager
// start once for all of them, and returns an answer per query in their order (`airflow-gateway check`).
func (e *Executor) AuthorizeAll(ctx context.Context, qs []commands.PermissionQuery) ([]*commands.PermissionAnswer, error) {
	if e.Python == "" {
		return nil, commands.Errorf(commands.EUNAVAILABLE, "no Python interpreter is known for Airflow to ask its auth manager with: set [gateway] python_bin")
	}
	var input strings.Builder
	for _, q := range qs {
		query, err := json.Marshal(q)
		if err != nil {
			return nil, err
		}
		input.Write(query)
		input.WriteByte('\n')
	}
	limit := time.Minute
	if d, ok := ctx.Deadline(); ok {
		limit = time.Until(d)
	}
	res, err := e.run(ctx, commands.Exec{Limit: limit}, 64<<20, input.String(), e.Python, "-c", authorizer.Script, authorizer.ProcessTag)
	switch {
	case err != nil:
		return nil, commands.Errorf(commands.EUNAVAILABLE, "Airflow's auth manager could not be asked (%v), so nothing ran; retry in a few seconds", err)
	case res.TimedOut || res.Canceled:
		return nil, commands.Errorf(commands.EUNAVAILABLE, "Airflow's auth manager did not answer within %s, so nothing ran; retry in a few seconds", limit.Round(time.Second))
	}
	answers, err := authorizer.ParseAll(res.Stdout, len(qs))
	var ce *commands.Error
	if err != nil && !errors.As(err, &ce) {
		return nil, commands.Errorf(commands.EUNAVAILABLE, "Airflow's auth manager could not be asked (exit code %d: %s), so nothing ran; retry in a few seconds", res.ExitCode, authorizer.Trim(res.Stderr))
	}
	return answers, err
}

// run runs the program name with args as x's command, keeping maxOutput bytes of each stream; stdin reads
// input, or the null device when it is empty.
func (e *Executor) run(ctx context.Context, x commands.Exec, maxOutput int, input, name string, args ...string) (*commands.Result, error) {
	x = x.Marked()
	runCtx, cancel := context.WithTimeout(ctx, x.Limit)
	defer cancel()

	cmd := exec.CommandContext(runCtx, name, args...)
	cmd.Env = x.Environ(e.Env)
	cmd.Dir = e.Home
	cmd.Stdin = nil // reads from the null device
	if input != "" {
		cmd.Stdin = strings.NewReader(input)
	}
	stdout, stderr := Outputs(x, maxOutput)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// At the limit or when the caller goes away, the whole group is asked to stop; WaitDelay later,
	// exec kills the leader and closes the pipes, and the group is killed below.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = e.KillGrace

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	_ = cmd.Wait() // the exit status is read from ProcessState; pipe and cancel errors change nothing here
	// Grandchildren that outlived the leader, or ignored SIGTERM, go now: no command leaves a process
	// behind. A daemon start that ran to its end is the exception: its daemon is meant to stay.
	if !x.Detaches || runCtx.Err() != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// A command that was stopped also loses the processes it started in sessions or groups of their own,
	// which the group's kill misses: they are found by the command's marker. A look through /proc costs a
	// few microseconds per process (BenchmarkWithEnv), so a command that ends by itself is spared it, as
	// on the warm executor, where it would be a measurable part of a short command.
	if runCtx.Err() != nil {
		KillMarked([]string{x.Marker})
	}

	res := &commands.Result{
		Stdout:    stdout.String(),
		Stderr:    stderr.String(),
		ExitCode:  exitCode(cmd.ProcessState),
		Duration:  time.Since(start),
		Truncated: stdout.Truncated() || stderr.Truncated(),
		Canceled:  ctx.Err() != nil,
		Executor:  "subprocess",
	}
	res.TimedOut = !res.Canceled && errors.Is(runCtx.Err(), context.DeadlineExceeded)
	return res, nil
}

// exitCode reports the exit status, as a shell does: 128+N for a process ended by signal N.
func exitCode(st *os.ProcessState) int {
	if st == nil {
		return -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// Output keeps the first limit bytes written to it and drops the rest, so a child never blocks on a full
// pipe. It is safe for concurrent use.
type Output struct {
	mu        sync.Mutex
	buf       []byte
	limit     int
	truncated bool
	live      func(p []byte) // handed what is kept, as it is written
}

// NewOutput returns an Output that keeps limit bytes.
func NewOutput(limit int) *Output { return &Output{limit: limit} }

// Outputs returns the two Outputs of a command's stdout and stderr, each keeping limit bytes and handing what
// it keeps to x.Live when it has one.
func Outputs(x commands.Exec, limit int) (stdout, stderr *Output) {
	stdout, stderr = NewOutput(limit), NewOutput(limit)
	if x.Live != nil {
		stdout.live = func(p []byte) { x.Live(commands.Stdout, p) }
		stderr.live = func(p []byte) { x.Live(commands.Stderr, p) }
	}
	return stdout, stderr
}

// Write keeps what fits and always reports all of p written.
func (b *Output) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if room := b.limit - len(b.buf); room < n {
		b.truncated = true
		p = p[:max(room, 0)]
	}
	b.buf = append(b.buf, p...)
	if b.live != nil && len(p) > 0 {
		b.live(p)
	}
	return n, nil
}

// Truncated reports whether anything was dropped.
func (b *Output) Truncated() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.truncated
}

// String returns what was kept.
func (b *Output) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

package commands

import (
	"context"
	"strings"
	"time"
)

// Executor runs the Airflow CLI: a subprocess per command (package subprocess), or a warm Airflow process
// that forks per command (package warm).
type Executor interface {
	// Run runs `airflow` with job.Args and returns what it printed and how it ended. It stops the command
	// when ctx is done or after job.Limit, whichever comes first, and says which in the Result.
	Run(ctx context.Context, job Job) (*Result, error)
}

// ExecutorStatus says which executor answers and, for the warm one, since when it is warm.
type ExecutorStatus struct {
	Name      string    `json:"name"`                // "warm" or "subprocess"
	Warm      bool      `json:"warm"`                // a warm Airflow process takes commands now
	WarmSince time.Time `json:"warm_since,omitzero"` // when it became warm
	Detail    string    `json:"detail,omitempty"`    // why commands run as subprocesses, when they do
	Forks     uint64    `json:"forks"`               // commands the warm process ran
	Restarts  uint64    `json:"restarts"`            // warm processes started after the first
}

// StatusReporter is an Executor that can tell how it runs commands.
type StatusReporter interface {
	Status() ExecutorStatus
}

// Job is one command for an Executor.
type Job struct {
	Args  []string      // the argv after the binary
	Limit time.Duration // the time limit
	// Detaches says the command starts a daemon that leaves the process group by itself (Airflow's -D):
	// once the command has exited, the executor leaves the group alone instead of killing what is left.
	Detaches bool
	// Caller names who sent the command (a token's name); "" for the gateway's own commands.
	Caller string
}

// Environ returns base with LOGNAME and USER naming the job's caller as gateway-NAME (the gateway's own
// commands as gateway), so that Airflow's audit log (its `log` table) says who ran the command.
func (j Job) Environ(base []string) []string {
	user := "gateway"
	if j.Caller != "" {
		user = "gateway-" + j.Caller
	}
	env := make([]string, 0, len(base)+2)
	for _, kv := range base {
		if strings.HasPrefix(kv, "LOGNAME=") || strings.HasPrefix(kv, "USER=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LOGNAME="+user, "USER="+user)
}

type callerKey struct{}

// WithCaller returns ctx carrying the name of who sent the request, for the jobs run on its behalf.
func WithCaller(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, callerKey{}, name)
}

// CallerOf returns the name WithCaller put in ctx, or "".
func CallerOf(ctx context.Context) string {
	name, _ := ctx.Value(callerKey{}).(string)
	return name
}

// Result is what one command did.
type Result struct {
	Stdout    string
	Stderr    string
	ExitCode  int
	Duration  time.Duration
	Truncated bool // some output was dropped at the per-stream limit
	TimedOut  bool // stopped at its time limit
	Canceled  bool // stopped because the caller went away
}

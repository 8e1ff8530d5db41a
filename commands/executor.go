package commands

import (
	"context"
	"time"
)

// Executor runs the Airflow CLI. The first is a subprocess per command (package subprocess); a warm,
// forking one fits behind the same interface.
type Executor interface {
	// Run runs `airflow` with job.Args and returns what it printed and how it ended. It stops the command
	// when ctx is done or after job.Limit, whichever comes first, and says which in the Result.
	Run(ctx context.Context, job Job) (*Result, error)
}

// Job is one command for an Executor.
type Job struct {
	Args  []string      // the argv after the binary
	Limit time.Duration // the time limit
	// Detaches says the command starts a daemon that leaves the process group by itself (Airflow's -D):
	// once the command has exited, the executor leaves the group alone instead of killing what is left.
	Detaches bool
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

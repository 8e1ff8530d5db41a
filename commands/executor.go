package commands

import (
	"context"
	"time"
)

// Executor runs the Airflow CLI. The first is a subprocess per command (package subprocess); a warm,
// forking one fits behind the same interface.
type Executor interface {
	// Run runs `airflow` with args and returns what it printed and how it ended. It stops the command when
	// ctx is done or after limit, whichever comes first, and says which in the Result.
	Run(ctx context.Context, args []string, limit time.Duration) (*Result, error)
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

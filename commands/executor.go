package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// Executor runs the Airflow CLI: a subprocess per command (package subprocess), or a warm Airflow process
// that forks per command (package warm).
type Executor interface {
	// Run runs `airflow` with x.Args and returns what it printed and how it ended. It stops the command
	// when ctx is done or after x.Limit, whichever comes first, and says which in the Result.
	Run(ctx context.Context, x Exec) (*Result, error)
}

// ExecutorStatus says which executor answers and, for the warm one, since when it is warm.
type ExecutorStatus struct {
	Name      string    `json:"name"`                // "warm" or "subprocess"
	Warm      bool      `json:"warm"`                // a warm Airflow process takes commands now
	WarmSince time.Time `json:"warm_since,omitzero"` // when it became warm
	Detail    string    `json:"detail,omitempty"`    // why commands run as subprocesses, when they do
	Forks     uint64    `json:"forks"`               // commands the warm process ran
	Restarts  uint64    `json:"restarts"`            // warm processes started after the first
	// Templates are the warm process's templates that are up: each has done one preload, the per-process
	// work some commands do before their own, and the commands that need it are forked from it.
	Templates []TemplateStatus `json:"templates,omitempty"`
}

// TemplateStatus is one template of the warm executor.
type TemplateStatus struct {
	Preload      string `json:"preload"`       // the per-process work it has done, such as "providers"
	PID          int    `json:"pid"`           // its process
	Commands     int    `json:"commands"`      // the whitelisted command paths that need its preload
	Forks        uint64 `json:"forks"`         // commands forked from it
	RSSBytes     int64  `json:"rss_bytes"`     // its resident memory when it became ready, shared pages included
	PrivateBytes int64  `json:"private_bytes"` // of that, what it does not share with the warm process
}

// StatusReporter is an Executor that can tell how it runs commands.
type StatusReporter interface {
	Status() ExecutorStatus
}

// A Settler is an Executor that gets ready after its start, as the warm executor gets warm: Settled is
// closed once it runs commands the way it will from then on (warm, or as subprocesses because it could not
// get warm), or once it is closed.
type Settler interface {
	Settled() <-chan struct{}
}

// A DAGIndexReader is an Executor that can read the DAG index (§19) from Airflow's metadata DB: every DAG
// it holds, with its tags, owners, file and team, read by a script of the gateway's own, not by a command
// of Airflow's CLI. A read that does not end within limit, or before ctx does, is stopped and fails.
type DAGIndexReader interface {
	ReadDAGIndex(ctx context.Context, limit time.Duration) ([]DAGInfo, error)
}

// Exec is one command for an Executor: the argv and how to run it. (A job, package jobs, is a command run
// without a waiting request, with its record kept.)
type Exec struct {
	Args  []string      // the argv after the binary
	Limit time.Duration // the time limit
	// Detaches says the command starts a daemon that leaves the process group by itself (Airflow's -D):
	// once the command has exited, the executor leaves the group alone instead of killing what is left.
	Detaches bool
	// Caller names who sent the command (a token's name); "" for the gateway's own commands.
	Caller string
	// AirflowUser is the Airflow user the command acts as (§20), whom Airflow's auth manager allowed to
	// run it; "" for a credential without one. When set, it names the command's runner instead of Caller.
	AirflowUser string
	// Live, when not nil, is handed the output while the command runs: every piece the executor keeps
	// (never more than the per-stream cap), in order within each stream. The executor calls it from one
	// reading goroutine per stream, so a slow Live holds the command's output back; p is only valid
	// during the call.
	Live func(s Stream, p []byte)
	// Marker is put in the command's environment as AIRFLOW_GATEWAY_COMMAND, which every process it
	// starts inherits, so that they can be found by it wherever they went, whatever sessions or groups
	// they made (see subprocess.KillMarked): when the command is stopped, and after a crash of the gateway.
	// A job's is its ID; the executors give every other command one of its own (see Marked).
	Marker string
}

// Stream names one of a command's two output streams.
type Stream int

// The output streams.
const (
	Stdout Stream = iota
	Stderr
)

// String returns "stdout" or "stderr".
func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// MarkerVariable is the environment variable that carries an Exec's Marker.
const MarkerVariable = "AIRFLOW_GATEWAY_COMMAND"

// Marked returns x with a Marker: its own, or a new one that no other command has (32 hex digits, as
// a job's ID).
func (x Exec) Marked() Exec {
	if x.Marker == "" {
		var b [16]byte
		rand.Read(b[:])
		x.Marker = hex.EncodeToString(b[:])
	}
	return x
}

// Environ returns base with LOGNAME and USER naming the command's caller as gateway-NAME (the gateway's own
// commands as gateway), or the Airflow user it acts as, so that Airflow's audit log (its `log` table) and a
// run it triggers (triggering_user_name) say who ran the command. A command
// whose output is handed over live also gets PYTHONUNBUFFERED=1, so that Python prints as it goes instead
// of when its buffer fills; one with a Marker gets AIRFLOW_GATEWAY_COMMAND.
func (x Exec) Environ(base []string) []string {
	user := "gateway"
	switch {
	case x.AirflowUser != "":
		user = x.AirflowUser
	case x.Caller != "":
		user = "gateway-" + x.Caller
	}
	env := make([]string, 0, len(base)+4)
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "LOGNAME", "USER", MarkerVariable:
			continue
		case "PYTHONUNBUFFERED":
			if x.Live != nil {
				continue
			}
		}
		env = append(env, kv)
	}
	env = append(env, "LOGNAME="+user, "USER="+user)
	if x.Live != nil {
		env = append(env, "PYTHONUNBUFFERED=1")
	}
	if x.Marker != "" {
		env = append(env, MarkerVariable+"="+x.Marker)
	}
	return env
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
	// Executor names what ran the command: "warm" (a child of the forkserver) or "subprocess".
	Executor string
	// QueueWait is how long the command waited for a slot.
	QueueWait time.Duration
}

// LastLine returns the last line of a command's output, trimmed: where Airflow puts its answer or the
// reason it failed.
func LastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

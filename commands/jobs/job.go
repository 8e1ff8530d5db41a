// Package jobs runs commands that outlive the request that started them: it keeps each job's record and
// output in a Store, hands the output to followers as it is produced, and cancels jobs on request.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// State is where a job stands.
type State string

// The states of a job. A job is created Queued, becomes Running when it has a command slot, and ends in
// one of the others.
const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded" // exit code 0
	Failed    State = "failed"    // a non-zero exit code
	TimedOut  State = "timed_out" // stopped at its time limit
	Canceled  State = "canceled"  // stopped by a DELETE
	Lost      State = "lost"      // the gateway stopped, or lost the command, while it ran
)

// States lists every state, in the order a job may pass through them.
var States = []State{Queued, Running, Succeeded, Failed, TimedOut, Canceled, Lost}

// Ended reports whether a job in state s is over.
func (s State) Ended() bool { return s != Queued && s != Running }

// ParseState reads a state by its name.
func ParseState(name string) (State, error) {
	for _, s := range States {
		if string(s) == name {
			return s, nil
		}
	}
	names := make([]string, len(States))
	for i, s := range States {
		names[i] = string(s)
	}
	return "", commands.Errorf(commands.EINVALID, "state %q is not a job state; use one of %s", commands.Shorten(name), strings.Join(names, ", "))
}

// Job is the record of one job. Stdout and Stderr are filled only where a job is read with its output.
type Job struct {
	ID         string     `json:"id"`
	Command    string     `json:"command"`     // the command as sent, secrets masked
	AirflowCmd string     `json:"airflow_cmd"` // the argv run, secrets masked
	State      State      `json:"state"`
	ExitCode   *int       `json:"exit_code"` // null until the command has exited
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	DurationMS *int64     `json:"duration_ms"`      // from start to end, or to now while running
	Owner      string     `json:"owner"`            // the name of the token that started it
	Scope      string     `json:"scope,omitempty"`  // the scope of that token (§19), when it has one
	Truncated  bool       `json:"truncated"`        // output was dropped at max_output_bytes
	Detail     string     `json:"detail,omitempty"` // why it ended so, when its state does not say it all
	Replica    string     `json:"replica"`          // the gateway process that runs, or ran, it
	Stdout     string     `json:"-"`
	Stderr     string     `json:"-"`
}

// Chunk is a piece of a job's output. Offset counts the bytes of both streams that came before it, in the
// order they came, so that one number says how far a follower has read.
type Chunk struct {
	Offset int64
	Stream commands.Stream
	Text   string
}

// End returns the offset just past the chunk.
func (c Chunk) End() int64 { return c.Offset + int64(len(c.Text)) }

// Filter selects the jobs List returns, newest first.
type Filter struct {
	Owner  string // only this owner's jobs; "" for everyone's
	State  State  // only jobs in this state; "" for all
	Before string // only jobs created before the job of this ID; "" for the newest
	Limit  int
}

// Store keeps the jobs and their output. Its methods return a commands.Error with ENOTFOUND for a job
// that does not exist.
type Store interface {
	// Create stores a new job.
	Create(ctx context.Context, job *Job) error
	// Update stores the job's state, exit code, times, truncated flag and detail.
	Update(ctx context.Context, job *Job) error
	// Append stores a chunk of a job's output.
	Append(ctx context.Context, id string, c Chunk) error
	// Get returns a job without its output.
	Get(ctx context.Context, id string) (*Job, error)
	// Output returns the chunks of a job's output that end after offset from, in order.
	Output(ctx context.Context, id string, from int64) ([]Chunk, error)
	// List returns the jobs f selects, newest first, without their output.
	List(ctx context.Context, f Filter) ([]*Job, error)
	// Delete removes a job and its output.
	Delete(ctx context.Context, id string) error
	// Heartbeat renews the lease of replica: it is alive at at.
	Heartbeat(ctx context.Context, replica string, at time.Time) error
	// LoseExpired ends as Lost, with detail, at at, every job still queued or running whose replica has
	// had no heartbeat since before (or none at all), forgets those replicas, and returns the jobs' IDs.
	LoseExpired(ctx context.Context, before time.Time, detail string, at time.Time) ([]string, error)
	// RequestCancel leaves a cancel for the replica that runs a job.
	RequestCancel(ctx context.Context, id string) error
	// CancelRequests returns the IDs of the jobs of replica, still queued or running, with a cancel left.
	CancelRequests(ctx context.Context, replica string) ([]string, error)
	// Prune removes the jobs that ended before t, and returns how many.
	Prune(ctx context.Context, t time.Time) (int, error)
	// Close releases the store.
	Close() error
}

// IDs are 32 lowercase hex digits: the creation time in milliseconds (12 digits), then 20 random ones, so
// that they sort by creation time.
const idLength = 32

var ids struct {
	mu   sync.Mutex
	last [16]byte
}

// NewID returns a new job ID, greater than every ID this process made before.
func NewID(now time.Time) string {
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], uint64(now.UnixMilli())<<16)
	rand.Read(id[6:])
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if string(id[:]) <= string(ids.last[:]) { // the same millisecond, or a clock step back: count on
		id = ids.last
		for i := 15; i >= 0; i-- {
			id[i]++
			if id[i] != 0 {
				break
			}
		}
	}
	ids.last = id
	return hex.EncodeToString(id[:])
}

// ParseID checks that s is written as a job ID, and returns it.
func ParseID(s string) (string, error) {
	if len(s) != idLength || strings.Trim(s, "0123456789abcdef") != "" {
		return "", commands.Errorf(commands.EINVALID, "%q is not a job ID: an ID is %d lowercase hex digits, as POST /api/v1/jobs returned it", commands.Shorten(s), idLength)
	}
	return s, nil
}

// ParseOffset reads a Last-Event-ID: a byte offset into the job's output, as sent in the events' id field.
func ParseOffset(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, commands.Errorf(commands.EINVALID, "Last-Event-ID %q is not a byte offset: send the id of the last event you received, a whole number of 0 or more", commands.Shorten(s))
	}
	return n, nil
}

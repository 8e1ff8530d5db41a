package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Options configure a Service.
type Options struct {
	// Retention is how long an ended job is kept.
	Retention time.Duration
	// KillLeftovers kills the processes still running for the given job IDs (their commands carry the
	// ID as their commands.Exec.Marker) and returns how many it found. It is called at start for the jobs a stopped
	// gateway left behind; nil leaves them alone.
	KillLeftovers func(ids []string) int
	// Log gets the faults of the store, which never stop a running command.
	Log *slog.Logger
	// Replica names this process in the jobs it runs; NewReplicaName makes one.
	Replica string
	// Lease is zero when this process is alone on its store: at start, every job still queued or running
	// is lost. With several processes on one store (PostgreSQL), each renews its lease in the store while
	// it lives (Maintain), and the jobs of a process whose lease is older than Lease are lost.
	Lease time.Duration
}

// NewReplicaName returns a name for this process: the host's name, the pid and a random suffix, unique
// among the processes of a store.
func NewReplicaName() string {
	host, _ := os.Hostname()
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}

// Service starts jobs on a commands.Service, keeps them in a Store, and follows and cancels them.
type Service struct {
	store Store
	cmds  *commands.Service
	base  context.Context // every job runs under it; the gateway cancels it, with a cause, to stop them all
	opts  Options

	mu    sync.Mutex
	live  map[string]*liveJob // the jobs this process runs
	ended map[State]uint64    // the jobs of this process that ended, by state
	wg    sync.WaitGroup
}

// Ended returns how many jobs of this process ended in state.
func (s *Service) Ended(state State) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended[state]
}

// liveJob is a job that runs in this process.
type liveJob struct {
	cancel context.CancelCauseFunc
	done   chan struct{} // closed once the job has ended and its record says so
	err    error         // why it never ran, when it did not: a full queue

	mu        sync.Mutex
	offset    int64         // the bytes of output so far
	changed   chan struct{} // closed, and replaced, when the output or the state changes
	held      []Chunk       // output the store has not taken yet, in order
	heldBytes int
	dropped   bool // output was given up: more than maxHeldOutput held, or the store stayed away
	dirty     bool // the record has changed since the store last took it
	record    *Job // the job as this process knows it
}

// overlay returns the record and the output from offset from on of a job as this process knows them,
// when it runs the job and the store has not taken all of it yet (the store is away, or its disk is
// full); otherwise job and nil. held follows the output the store has.
func (s *Service) overlay(job *Job, from int64) (_ *Job, held []Chunk) {
	s.mu.Lock()
	lj := s.live[job.ID]
	s.mu.Unlock()
	if lj == nil {
		return job, nil
	}
	lj.mu.Lock()
	defer lj.mu.Unlock()
	for _, c := range lj.held {
		if c.End() > from {
			held = append(held, c)
		}
	}
	if lj.dirty {
		record := *lj.record
		return &record, held
	}
	return job, held
}

// Asker is who asks about jobs: the name of their token, its role and its scope. Viewers and Users see
// their own jobs; Ops and Admins see every job. A scoped credential sees only its own jobs that ran under
// the same scope (a token minted without one shares its name, and its listings were not filtered), and
// of those only the ones whose command its scope lets run now (§19).
type Asker struct {
	Name  string
	Role  commands.Role
	Scope commands.Scope
}

func (a Asker) seesAll() bool { return a.Role >= commands.RoleOp && a.Scope.IsZero() }

// sees reports whether the asker may see a job.
func (s *Service) sees(a Asker, job *Job) bool {
	if !a.seesAll() && job.Owner != a.Name {
		return false
	}
	if a.Scope.IsZero() {
		return true
	}
	if job.Scope != a.Scope.String() {
		return false
	}
	// The job's command was resolved for its owner's role when it started; only the scope is asked again.
	_, err := s.cmds.ResolveLine(job.Command, commands.Access{Role: commands.RoleAdmin, Scope: a.Scope})
	return err == nil
}

// errCanceled is the cause a DELETE cancels a job with.
var errCanceled = errors.New("canceled on request")

// errAbandoned is the cause a job is canceled with when the request that started it went away before it
// had a command slot: it is removed, as if never sent.
var errAbandoned = errors.New("the request went away before the job started")

// New returns a Service that runs jobs on cmds under base and keeps them in store.
func New(store Store, cmds *commands.Service, base context.Context, opts Options) *Service {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Service{store: &guarded{Store: store, log: opts.Log}, cmds: cmds, base: base, opts: opts, live: map[string]*liveJob{}, ended: map[State]uint64{}}
}

// Wait waits until every job started by this Service has ended and its record says so, or ctx ends.
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Running returns how many jobs this process runs now.
func (s *Service) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// joinHeld puts the held output after the stored output, leaving out what the store took meanwhile.
func joinHeld(stored, held []Chunk) []Chunk {
	end := int64(-1)
	if n := len(stored); n > 0 {
		end = stored[n-1].End()
	}
	for _, c := range held {
		if c.Offset >= end {
			stored = append(stored, c)
		}
	}
	return stored
}

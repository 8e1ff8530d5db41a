package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Options configure a Service.
type Options struct {
	// Retention is how long an ended job is kept.
	Retention time.Duration
	// KillLeftovers kills the processes still running for the given job IDs (their commands carry the
	// ID as Job.Marker) and returns how many it killed. It is called at start for the jobs a stopped
	// gateway left behind; nil leaves them alone.
	KillLeftovers func(ids []string) int
	// Log gets the faults of the store, which never stop a running command.
	Log *slog.Logger
	// Ended, when not nil, is told the state of each job that ends.
	Ended func(State)
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

	mu   sync.Mutex
	live map[string]*liveJob // the jobs this process runs
	wg   sync.WaitGroup
}

// liveJob is a job that runs in this process.
type liveJob struct {
	cancel context.CancelCauseFunc
	done   chan struct{} // closed once the job has ended and its record says so
	err    error         // why it never ran, when it did not: a full queue

	mu      sync.Mutex
	offset  int64         // the bytes of output so far
	changed chan struct{} // closed, and replaced, when the output or the state changes
}

// Asker is who asks about jobs: the name of their token and its role. Viewers and Users see their own
// jobs; Ops and Admins see every job.
type Asker struct {
	Name string
	Role commands.Role
}

func (a Asker) seesAll() bool { return a.Role >= commands.RoleOp }

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
	return &Service{store: store, cmds: cmds, base: base, opts: opts, live: map[string]*liveJob{}}
}

// Recover is called once at start: the jobs that a stopped gateway left queued or running end as Lost,
// keeping the output they had, and the processes still running for them are killed; ended jobs past the
// retention are removed. With a Lease, only the jobs of processes whose lease has expired are lost.
func (s *Service) Recover(ctx context.Context) error {
	now := time.Now()
	if s.opts.Lease > 0 {
		if err := s.store.Heartbeat(ctx, s.opts.Replica, now); err != nil {
			return err
		}
	}
	if err := s.loseExpired(ctx, now.Add(-s.opts.Lease)); err != nil {
		return err
	}
	return s.prune(ctx)
}

// loseExpired ends the jobs of the processes with no heartbeat since before, and kills what is left of
// them on this machine.
func (s *Service) loseExpired(ctx context.Context, before time.Time) error {
	ids, err := s.store.LoseExpired(ctx, before, "the gateway stopped while the job ran", time.Now())
	if err != nil || len(ids) == 0 {
		return err
	}
	killed := 0
	if s.opts.KillLeftovers != nil {
		killed = s.opts.KillLeftovers(ids)
	}
	s.opts.Log.Warn("jobs left running by a stopped gateway are lost", "jobs", len(ids), "processes_killed", killed)
	return nil
}

// cancelPoll is how often a process looks for cancels left for its jobs by other processes, and how
// often a cancel sent through another process looks whether the job has ended.
const cancelPoll = 500 * time.Millisecond

// Maintain runs while the Service's base context lives, when it has a Lease: it renews this process's
// lease every Lease/3, loses the jobs of processes whose lease expired as often, and carries out the
// cancels left for its jobs every cancelPoll.
func (s *Service) Maintain() {
	if s.opts.Lease <= 0 {
		return
	}
	go func() {
		lease := time.NewTicker(s.opts.Lease / 3)
		defer lease.Stop()
		cancels := time.NewTicker(cancelPoll)
		defer cancels.Stop()
		for {
			select {
			case <-s.base.Done():
				return
			case <-lease.C:
				now := time.Now()
				if err := s.store.Heartbeat(s.base, s.opts.Replica, now); err != nil {
					s.opts.Log.Error("renewing the replica's lease", "err", err)
				}
				if err := s.loseExpired(s.base, now.Add(-s.opts.Lease)); err != nil {
					s.opts.Log.Error("looking for the jobs of stopped replicas", "err", err)
				}
			case <-cancels.C:
				ids, err := s.store.CancelRequests(s.base, s.opts.Replica)
				if err != nil {
					s.opts.Log.Error("looking for cancels", "err", err)
				}
				for _, id := range ids {
					s.mu.Lock()
					lj := s.live[id]
					s.mu.Unlock()
					if lj != nil {
						lj.cancel(errCanceled)
					}
				}
			}
		}
	}()
}

func (s *Service) prune(ctx context.Context) error {
	n, err := s.store.Prune(ctx, time.Now().Add(-s.opts.Retention))
	if n > 0 {
		s.opts.Log.Info("removed jobs past the retention", "jobs", n, "retention", s.opts.Retention)
	}
	return err
}

// PruneEvery removes the jobs past the retention every interval until the Service's base context ends.
func (s *Service) PruneEvery(interval time.Duration) {
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.base.Done():
				return
			case <-t.C:
				if err := s.prune(s.base); err != nil {
					s.opts.Log.Error("removing old jobs", "err", err)
				}
			}
		}
	}()
}

// Start creates a job for inv, owned by owner, and waits until it has a command slot: the job is then
// Running. Without a slot within the queue timeout it returns EUNAVAILABLE and the job is removed, as if
// never sent; so it is when ctx ends first.
func (s *Service) Start(ctx context.Context, inv *commands.Invocation, owner string) (*Job, error) {
	now := time.Now()
	job := &Job{
		ID: NewID(now), Command: strings.TrimPrefix(inv.String(), "airflow "), AirflowCmd: inv.String(),
		State: Queued, CreatedAt: now, Owner: owner, Replica: s.opts.Replica,
	}
	if err := s.store.Create(ctx, job); err != nil {
		return nil, err
	}
	jctx, cancel := context.WithCancelCause(commands.WithCaller(s.base, owner))
	lj := &liveJob{cancel: cancel, done: make(chan struct{}), changed: make(chan struct{})}
	s.mu.Lock()
	s.live[job.ID] = lj
	s.mu.Unlock()
	started := make(chan Job, 1)
	s.wg.Add(1)
	go s.run(jctx, job, inv, lj, started)

	select {
	case j := <-started:
		return fill(&j, time.Now()), nil
	case <-lj.done:
		if lj.err != nil {
			return nil, lj.err
		}
		return s.store.Get(context.WithoutCancel(ctx), job.ID) // canceled, or the gateway stopped, while queued
	case <-ctx.Done():
		cancel(errAbandoned)
		<-lj.done
		return nil, ctx.Err()
	}
}

// run runs one job to its end and stores what became of it.
func (s *Service) run(ctx context.Context, job *Job, inv *commands.Invocation, lj *liveJob, started chan<- Job) {
	defer s.wg.Done()
	store := context.WithoutCancel(ctx) // the record is written whatever stopped the command
	res, err := s.cmds.RunWatched(ctx, inv, commands.Watch{
		Started: func() {
			now := time.Now()
			job.State, job.StartedAt = Running, &now
			if err := s.store.Update(store, job); err != nil {
				s.opts.Log.Error("storing a job's start", "job", job.ID, "err", err)
			}
			lj.notify()
			started <- *job
		},
		Output: func(stream commands.Stream, text string) {
			lj.mu.Lock()
			defer lj.mu.Unlock()
			c := Chunk{Offset: lj.offset, Stream: stream, Text: text}
			lj.offset = c.End()
			if err := s.store.Append(store, job.ID, c); err != nil {
				s.opts.Log.Error("storing a job's output", "job", job.ID, "err", err)
			}
			lj.notifyLocked()
		},
		Marker:       job.ID,
		KeepLogLines: true,
	})

	s.mu.Lock()
	delete(s.live, job.ID)
	s.mu.Unlock()
	defer close(lj.done)
	defer lj.notify()

	cause := context.Cause(ctx)
	if res == nil && job.StartedAt == nil && (commands.ErrorCode(err) == commands.EUNAVAILABLE || errors.Is(cause, errAbandoned)) {
		lj.err = err // never ran: the record goes, as if the job had never been sent
		if err := s.store.Delete(store, job.ID); err != nil {
			s.opts.Log.Error("removing a job that never ran", "job", job.ID, "err", err)
		}
		return
	}
	now := time.Now()
	job.EndedAt = &now
	switch {
	case res == nil && errors.Is(cause, errCanceled):
		job.State, job.Detail = Canceled, "canceled before it started"
	case res == nil && ctx.Err() != nil:
		job.State, job.Detail = Lost, "the gateway stopped before the job started"
	case res == nil:
		s.opts.Log.Error("a job's command could not start", "job", job.ID, "err", err)
		job.State, job.Detail = Failed, "the command could not start; the gateway's log has the details"
	case res.Canceled && errors.Is(cause, errCanceled):
		job.State = Canceled
	case res.Canceled && errors.Is(cause, errAbandoned):
		job.State, job.Detail = Canceled, "the request that started the job went away as it started"
	case res.Canceled:
		job.State, job.Detail = Lost, "the gateway stopped while the job ran, and stopped its command"
	case res.TimedOut:
		job.State, job.Detail = TimedOut, commands.ErrorMessage(err)
	case err != nil:
		job.State, job.Detail = Lost, commands.ErrorMessage(err)
	case res.ExitCode == 0:
		job.State = Succeeded
	default:
		job.State = Failed
	}
	if res != nil {
		job.ExitCode, job.Truncated = &res.ExitCode, res.Truncated
	}
	if err := s.store.Update(store, job); err != nil {
		s.opts.Log.Error("storing a job's end", "job", job.ID, "state", job.State, "err", err)
	}
	if s.opts.Ended != nil {
		s.opts.Ended(job.State)
	}
}

// notify wakes every follower of the job.
func (lj *liveJob) notify() {
	lj.mu.Lock()
	defer lj.mu.Unlock()
	lj.notifyLocked()
}

func (lj *liveJob) notifyLocked() {
	close(lj.changed)
	lj.changed = make(chan struct{})
}

// changes returns a channel closed at the next change of the job.
func (lj *liveJob) changes() <-chan struct{} {
	lj.mu.Lock()
	defer lj.mu.Unlock()
	return lj.changed
}

// notFound answers a job that does not exist or that the asker may not see, alike.
func notFound(id string) error {
	return commands.Errorf(commands.ENOTFOUND, "there is no job %s that you can see: it may have been removed after the retention period, or have been started with another token", id)
}

// Get returns a job the asker may see, with its output when withOutput is set.
func (s *Service) Get(ctx context.Context, id string, a Asker, withOutput bool) (*Job, error) {
	job, err := s.store.Get(ctx, id)
	if commands.ErrorCode(err) == commands.ENOTFOUND || (err == nil && !a.seesAll() && job.Owner != a.Name) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	if withOutput {
		chunks, err := s.store.Output(ctx, id, 0)
		if err != nil {
			return nil, err
		}
		var out [2]strings.Builder
		for _, c := range chunks {
			out[c.Stream].WriteString(c.Text)
		}
		job.Stdout, job.Stderr = out[commands.Stdout].String(), out[commands.Stderr].String()
	}
	return fill(job, time.Now()), nil
}

// fill sets the job's duration: from its start to its end, or to now while it runs.
func fill(job *Job, now time.Time) *Job {
	job.DurationMS = nil
	if job.StartedAt != nil {
		end := now
		if job.EndedAt != nil {
			end = *job.EndedAt
		}
		d := end.Sub(*job.StartedAt).Milliseconds()
		job.DurationMS = &d
	}
	return job
}

// Limits of List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// List returns the jobs f selects that the asker may see, newest first.
func (s *Service) List(ctx context.Context, f Filter, a Asker) ([]*Job, error) {
	if !a.seesAll() {
		f.Owner = a.Name
	}
	if f.Limit <= 0 {
		f.Limit = DefaultListLimit
	}
	f.Limit = min(f.Limit, MaxListLimit)
	list, err := s.store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, j := range list {
		fill(j, now)
	}
	return list, nil
}

// cancelWait bounds how long Cancel waits for the command to stop: past the executor's grace between
// SIGTERM and SIGKILL.
const cancelWait = 10 * time.Second

// Cancel stops a job the asker may see: its command's process group is killed, and the job ends
// Canceled. The job's owner and Admins may cancel it. A job that has ended is returned as it is.
func (s *Service) Cancel(ctx context.Context, id string, a Asker) (*Job, error) {
	job, err := s.Get(ctx, id, a, false)
	if err != nil || job.State.Ended() {
		return job, err
	}
	if job.Owner != a.Name && a.Role < commands.RoleAdmin {
		return nil, commands.Errorf(commands.EFORBIDDEN, "job %s belongs to %s: only its owner or an Admin may cancel it", id, job.Owner)
	}
	s.mu.Lock()
	lj := s.live[id]
	s.mu.Unlock()
	switch {
	case lj != nil:
		lj.cancel(errCanceled)
		select {
		case <-lj.done:
		case <-time.After(cancelWait):
		case <-ctx.Done():
		}
	case s.opts.Lease > 0: // another process runs it: leave the cancel for it, and wait for the end
		if err := s.store.RequestCancel(ctx, id); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(cancelWait)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if job, err := s.store.Get(ctx, id); err != nil || job.State.Ended() {
				break
			}
			time.Sleep(cancelPoll / 5)
		}
	}
	return s.Get(context.WithoutCancel(ctx), id, a, false)
}

// Follower receives a job's output as Follow finds it.
type Follower interface {
	// Begin is called once, when the request has been checked, before anything else.
	Begin(job *Job) error
	// Chunk is called for each piece of output, in order.
	Chunk(c Chunk) error
	// KeepAlive is called while nothing happens for a while.
	KeepAlive() error
	// End is called with the ended job, last.
	End(job *Job) error
}

// How Follow waits: it wakes at once for a job this process runs, and polls for one it does not.
const (
	followPoll      = time.Second
	followKeepAlive = 15 * time.Second
)

// Follow hands f the output of a job the asker may see from the byte offset from on, as it comes, and
// the job once it has ended. It returns when the job has ended or ctx ends. An offset past the output
// there is is refused before f hears anything.
func (s *Service) Follow(ctx context.Context, id string, from int64, a Asker, f Follower) error {
	job, err := s.Get(ctx, id, a, false)
	if err != nil {
		return err
	}
	if err := s.checkOffset(ctx, id, from); err != nil {
		return err
	}
	if err := f.Begin(job); err != nil {
		return err
	}
	keepAlive := time.NewTicker(followKeepAlive)
	defer keepAlive.Stop()
	for {
		var changed <-chan struct{}
		s.mu.Lock()
		if lj := s.live[id]; lj != nil {
			changed = lj.changes()
		}
		s.mu.Unlock()
		// The state first, then the output: a job that has ended has all its output stored.
		job, err := s.store.Get(ctx, id)
		if err != nil {
			return err
		}
		chunks, err := s.store.Output(ctx, id, from)
		if err != nil {
			return err
		}
		for _, c := range chunks {
			if c.Offset < from { // a client that resumes inside a chunk gets the rest of it
				c.Text, c.Offset = c.Text[from-c.Offset:], from
			}
			if err := f.Chunk(c); err != nil {
				return err
			}
			from = c.End()
		}
		if job.State.Ended() {
			return f.End(fill(job, time.Now()))
		}
		poll := time.NewTimer(followPoll)
		select {
		case <-changed:
		case <-poll.C:
		case <-keepAlive.C:
			if err := f.KeepAlive(); err != nil {
				poll.Stop()
				return err
			}
		case <-ctx.Done():
			poll.Stop()
			return ctx.Err()
		}
		poll.Stop()
	}
}

// checkOffset refuses an offset past the output the job has.
func (s *Service) checkOffset(ctx context.Context, id string, from int64) error {
	if from == 0 {
		return nil
	}
	for _, at := range []int64{from, from - 1} { // a chunk ends after from, or one ends exactly at it
		chunks, err := s.store.Output(ctx, id, at)
		if err != nil {
			return err
		}
		if len(chunks) > 0 {
			return nil
		}
	}
	return commands.Errorf(commands.EINVALID, "Last-Event-ID %d is past the end of job %s's output: send the id of the last event you received, or none to read from the start", from, id)
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

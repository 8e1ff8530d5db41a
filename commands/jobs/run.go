package jobs

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Start creates a job for inv, owned by owner, and waits until it has a command slot: the job is then
// Running. Without a slot within the queue timeout it returns EUNAVAILABLE and the job is removed, as if
// never sent; so it is when ctx ends first.
func (s *Service) Start(ctx context.Context, inv *commands.Invocation, owner string) (*Job, error) {
	now := time.Now()
	job := &Job{
		ID: NewID(now), Command: strings.TrimPrefix(inv.Asked(), "airflow "), AirflowCmd: inv.String(),
		State: Queued, CreatedAt: now, Owner: owner, Replica: s.opts.Replica,
	}
	if scope := inv.Scope(); !scope.IsZero() {
		job.Scope = scope.String()
	}
	if err := s.store.Create(ctx, job); err != nil {
		return nil, err
	}
	jctx, cancel := context.WithCancelCause(commands.WithCaller(s.base, owner))
	lj := &liveJob{cancel: cancel, done: make(chan struct{}), changed: make(chan struct{}), record: job}
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

// run runs one job to its end and stores what became of it. A job's record and output are written as
// they change; what the store does not take (it is away, or its disk is full) is held and written, in
// order, once it takes writes again: the command is never stopped for it (see save and saveEnd).
func (s *Service) run(ctx context.Context, job *Job, inv *commands.Invocation, lj *liveJob, started chan<- Job) {
	defer s.wg.Done()
	store := context.WithoutCancel(ctx) // the record is written whatever stopped the command
	res, err := s.cmds.RunWatched(ctx, inv, commands.Watch{
		Started: func() {
			now := time.Now()
			lj.mu.Lock()
			job.State, job.StartedAt = Running, &now
			lj.dirty = true
			s.save(store, job, lj)
			lj.notifyLocked()
			snapshot := *job
			lj.mu.Unlock()
			started <- snapshot
		},
		Output: func(stream commands.Stream, text string) {
			lj.mu.Lock()
			defer lj.mu.Unlock()
			c := Chunk{Offset: lj.offset, Stream: stream, Text: text}
			lj.offset = c.End()
			if lj.heldBytes+len(text) > maxHeldOutput {
				lj.dropped = true
			} else {
				lj.held = append(lj.held, c)
				lj.heldBytes += len(text)
			}
			s.save(store, job, lj)
			lj.notifyLocked()
		},
		Marker:       job.ID,
		KeepLogLines: true,
	})

	defer func() {
		s.mu.Lock()
		delete(s.live, job.ID)
		s.mu.Unlock()
		close(lj.done)
		lj.notify()
	}()

	cause := context.Cause(ctx)
	if res == nil && job.StartedAt == nil && (commands.ErrorCode(err) == commands.EUNAVAILABLE || errors.Is(cause, errAbandoned)) {
		lj.err = err // never ran: the record goes, as if the job had never been sent
		if err := s.store.Delete(store, job.ID); err != nil {
			s.opts.Log.Error("removing a job that never ran", "job", job.ID, "err", err)
		}
		return
	}
	lj.mu.Lock()
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
	lj.dirty = true
	lj.mu.Unlock()
	s.saveEnd(store, job, lj)
	s.mu.Lock()
	s.ended[job.State]++
	s.mu.Unlock()
}

// maxHeldOutput bounds the output held for a job while the store does not take it.
const maxHeldOutput = 8 << 20

// How long the end of a job, with the output held for it, is retried before the output is given up and
// only the end is written (nanoseconds), and how often.
var (
	saveEndFor   atomic.Int64
	saveEndEvery atomic.Int64
)

func init() {
	saveEndFor.Store(int64(time.Minute))
	saveEndEvery.Store(int64(2 * time.Second))
}

// save writes what is held for the job, output first and then its record, and stops at the first write
// the store refuses; lj.mu is held.
func (s *Service) save(ctx context.Context, job *Job, lj *liveJob) error {
	for len(lj.held) > 0 {
		if err := s.store.Append(ctx, job.ID, lj.held[0]); err != nil {
			return err
		}
		lj.heldBytes -= len(lj.held[0].Text)
		lj.held = lj.held[1:]
	}
	if !lj.dirty {
		return nil
	}
	if lj.dropped && job.State.Ended() && !strings.Contains(job.Detail, droppedNote) {
		job.Detail = strings.TrimPrefix(job.Detail+"; "+droppedNote, "; ")
		job.Truncated = true
	}
	if err := s.store.Update(ctx, job); err != nil {
		return err
	}
	lj.dirty = false
	return nil
}

// droppedNote is the detail of a job whose output the store could not take in time.
const droppedNote = "some of its output was not stored: the job store did not take writes"

// saveEnd writes the ended job: with all its output while the store comes back within saveEndFor, then
// without the output still held, until the store takes it or the gateway stops. A job whose end is not
// stored when the gateway stops reads lost at the next start.
func (s *Service) saveEnd(ctx context.Context, job *Job, lj *liveJob) {
	ended := time.Now()
	for {
		lj.mu.Lock()
		if time.Since(ended) > time.Duration(saveEndFor.Load()) && len(lj.held) > 0 {
			lj.held, lj.heldBytes, lj.dropped = nil, 0, true
		}
		err := s.save(ctx, job, lj)
		lj.mu.Unlock()
		if err == nil {
			return
		}
		select {
		case <-time.After(time.Duration(saveEndEvery.Load())):
		case <-s.base.Done():
			s.opts.Log.Error("the end of a job was not stored before the gateway stopped; it will read lost", "job", job.ID, "state", job.State, "err", err)
			return
		}
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

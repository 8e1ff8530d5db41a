package jobs

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

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

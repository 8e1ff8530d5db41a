package jobs

import (
	"context"
	"strings"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// notFound answers a job that does not exist or that the asker may not see, alike.
func notFound(id string) error {
	return commands.Errorf(commands.ENOTFOUND, "there is no job %s that you can see: it may have been removed after the retention period, or have been started with another token", id)
}

// Get returns a job the asker may see, with its output when withOutput is set.
func (s *Service) Get(ctx context.Context, id string, a Asker, withOutput bool) (*Job, error) {
	job, err := s.store.Get(ctx, id)
	if commands.ErrorCode(err) == commands.ENOTFOUND || (err == nil && !s.sees(a, job)) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	job, held := s.overlay(job, 0)
	if withOutput {
		chunks, err := s.store.Output(ctx, id, 0)
		if err != nil {
			return nil, err
		}
		chunks = joinHeld(chunks, held)
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
	seen := list[:0]
	for _, j := range list {
		if s.sees(a, j) {
			seen = append(seen, fill(j, now))
		}
	}
	return seen, nil
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

package jobs

import (
	"context"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

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
		job, held := s.overlay(job, from)
		chunks, err := s.store.Output(ctx, id, from)
		if err != nil {
			return err
		}
		chunks = joinHeld(chunks, held)
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

package jobs

import (
	"context"
	"time"
)

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

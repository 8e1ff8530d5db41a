package commands

import (
	"context"
	"sync"
	"time"
)

// dagIndexLimit is the time limit of one read of the DAG index when the Service has no command timeout.
const dagIndexLimit = time.Minute

// indexReads is what a Service knows of its reads of the DAG index, beside the index itself (access.go).
type indexReads struct {
	mu          sync.Mutex
	failures    uint64
	lastFailure time.Time
	took        time.Duration // the last read that succeeded
}

// ReadDAGIndex reads the DAG index from Airflow's metadata DB through the executor, at once and outside the
// command slots, as Ask runs the gateway's own commands, within the command timeout. It fails when the
// executor cannot read it (EUNAVAILABLE) or the read fails; it changes nothing: RefreshDAGIndex does.
func (s *Service) ReadDAGIndex(ctx context.Context) (*DAGIndex, error) {
	r, ok := s.exec.(DAGIndexReader)
	if !ok {
		return nil, Errorf(EUNAVAILABLE, "this executor cannot read the DAG index from Airflow's metadata")
	}
	limit := s.opts.CommandTimeout
	if limit <= 0 {
		limit = dagIndexLimit
	}
	dags, err := r.ReadDAGIndex(ctx, limit)
	if err != nil {
		return nil, err
	}
	return NewDAGIndex(dags), nil
}

// RefreshDAGIndex reads the DAG index (ReadDAGIndex) and makes it the one scopes match against, read at the
// time the read started. A read that fails keeps the index there was, is counted (DAGIndexStatus), and its
// error returned, for the log.
func (s *Service) RefreshDAGIndex(ctx context.Context) error {
	started := time.Now()
	x, err := s.ReadDAGIndex(ctx)
	s.reads.mu.Lock()
	defer s.reads.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil { // a read stopped with the gateway is no failure of Airflow's
			s.reads.failures++
			s.reads.lastFailure = time.Now()
		}
		return err
	}
	s.reads.took = time.Since(started)
	s.SetDAGIndex(x, started)
	return nil
}

// DAGIndexStatus is what /health, the metrics and the log tell of the DAG index.
type DAGIndexStatus struct {
	DAGs        int           // how many DAGs it knows
	ReadAt      time.Time     // when the read of it started; zero before the first read
	Took        time.Duration // how long that read took (RefreshDAGIndex's)
	Failures    uint64        // reads that failed since the start (RefreshDAGIndex's)
	LastFailure time.Time     // when the last of them ended
}

// DAGIndexStatus says how large and how old the DAG index is, and how its reads fared.
func (s *Service) DAGIndexStatus() DAGIndexStatus {
	x, at := s.DAGIndex()
	s.reads.mu.Lock()
	defer s.reads.mu.Unlock()
	return DAGIndexStatus{DAGs: x.Len(), ReadAt: at, Took: s.reads.took, Failures: s.reads.failures, LastFailure: s.reads.lastFailure}
}

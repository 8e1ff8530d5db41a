//go:build linux

package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// refreshDAGIndex keeps svc's DAG index, which scopes' tags and teams lines match against (§19): read once
// the executor has settled (a warm one forks the read from its warm process rather than start Airflow
// cold beside its warm-up), then again [auth] dag_index_refresh after each read ends, until ctx ends. A
// read that fails keeps the index read before, and is logged. stop ends the reads, and stops the one
// under way.
func (st *setup) refreshDAGIndex(ctx context.Context, svc *commands.Service, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.AwaitSettled(ctx, time.Minute)
		timer := time.NewTimer(0)
		defer timer.Stop()
		failing, first := false, true
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			err := svc.RefreshDAGIndex(ctx)
			if ctx.Err() != nil {
				return
			}
			status := svc.DAGIndexStatus()
			switch {
			case err != nil:
				read := "never"
				if !status.ReadAt.IsZero() {
					read = status.ReadAt.UTC().Format(time.RFC3339)
				}
				log.Warn("the DAG index could not be read; scopes match against the one read before until a read succeeds",
					"err", err, "dags", status.DAGs, "read_at", read, "failures", status.Failures, "retry_in", st.cfg.DAGIndexRefresh.String())
				failing = true
			case first || failing:
				log.Info("dag index", "dags", status.DAGs, "took", status.Took.Round(time.Millisecond).String(),
					"refresh", st.cfg.DAGIndexRefresh.String())
				failing, first = false, false
			}
			timer.Reset(st.cfg.DAGIndexRefresh)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// dagIndexMaxAge is how old the DAG index may grow while its reads fail: ten refreshes, and at least five
// minutes, so that a short outage of the metadata DB does not take tags and teams away.
func dagIndexMaxAge(refresh time.Duration) time.Duration {
	return max(10*refresh, 5*time.Minute)
}

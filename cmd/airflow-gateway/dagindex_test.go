//go:build linux

package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// indexReads answers the reads of the DAG index in turn: a failure, a DAG, then a read that waits until
// it is stopped. It runs no command.
type indexReads struct {
	mu      sync.Mutex
	reads   int
	stopped chan struct{} // closed when the waiting read has been stopped
}

func (r *indexReads) Run(context.Context, commands.Exec) (*commands.Result, error) {
	return nil, errors.New("no command runs here")
}

func (r *indexReads) ReadDAGIndex(ctx context.Context, _ time.Duration) ([]commands.DAGInfo, error) {
	r.mu.Lock()
	r.reads++
	n := r.reads
	r.mu.Unlock()
	switch n {
	case 1:
		return nil, errors.New("the metadata DB is away")
	case 2:
		return []commands.DAGInfo{{ID: "gw_conf"}}, nil
	}
	<-ctx.Done()
	close(r.stopped)
	return nil, ctx.Err()
}

// TestDAGIndexRefresh: the refresh reads the index again and again, logs a failed read and the read that
// succeeds after it, and stops the read under way when it is stopped.
func TestDAGIndexRefresh(t *testing.T) {
	cfg, err := config.Parse([]byte("[auth]\ndag_index_refresh = 1s\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	reads := &indexReads{stopped: make(chan struct{})}
	svc := commands.NewService(commands.NewPolicy(commandstest.Catalog(t, "3.3.2"), t.TempDir()), reads, commands.Options{CommandTimeout: time.Minute})
	logs := &testbed.Buffer{}
	st := &setup{cfg: cfg}
	stop := st.refreshDAGIndex(context.Background(), svc, slog.New(slog.NewTextHandler(logs, nil)))
	deadline := time.Now().Add(10 * time.Second)
	for svc.DAGIndexStatus().DAGs != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the index was not read again after a failed read: %+v\n%s", svc.DAGIndexStatus(), logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := svc.DAGIndexStatus(); st.Failures != 1 {
		t.Errorf("after a failed read and one that succeeded: %+v", st)
	}
	for _, want := range []string{`level=WARN msg="the DAG index could not be read`, `err="the metadata DB is away"`, `read_at=never`,
		`level=INFO msg="dag index" dags=1`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}
	for {
		reads.mu.Lock()
		n := reads.reads
		reads.mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no third read: %+v\n%s", svc.DAGIndexStatus(), logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	select {
	case <-reads.stopped:
	default:
		t.Errorf("stop returned with a read under way")
	}
	if st := svc.DAGIndexStatus(); st.Failures != 1 || st.DAGs != 1 {
		t.Errorf("a read stopped with the gateway counts as a failure, or changed the index: %+v", st)
	}
}

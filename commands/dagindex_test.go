package commands_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// indexReader answers each read of the DAG index with the next of its answers, holding every command
// slot's worth of commands meanwhile.
type indexReader struct {
	blockingExecutor
	answers []indexAnswer
	limits  []time.Duration
}

type indexAnswer struct {
	dags []commands.DAGInfo
	err  error
}

func (r *indexReader) ReadDAGIndex(ctx context.Context, limit time.Duration) ([]commands.DAGInfo, error) {
	r.limits = append(r.limits, limit)
	a := r.answers[0]
	r.answers = r.answers[1:]
	return a.dags, a.err
}

// TestRefreshDAGIndex: a read replaces the index, a failed one keeps it and is counted, a read stopped with
// the gateway is not, and the reads run outside the command slots, within the command timeout.
func TestRefreshDAGIndex(t *testing.T) {
	ex := &indexReader{blockingExecutor: blockingExecutor{release: make(chan struct{})}, answers: []indexAnswer{
		{dags: []commands.DAGInfo{{ID: "a", Tags: []string{"t"}}, {ID: "b"}}},
		{err: errors.New("the metadata DB is away")},
		{err: context.Canceled},
		{dags: []commands.DAGInfo{{ID: "c"}}},
	}}
	svc := commands.NewService(mustPolicy(t, "3"), ex, commands.Options{MaxConcurrent: 1, QueueTimeout: time.Second, CommandTimeout: 42 * time.Second})
	if st := svc.DAGIndexStatus(); st.DAGs != 0 || !st.ReadAt.IsZero() || st.Failures != 0 {
		t.Errorf("before the first read: %+v", st)
	}
	// Every slot is busy: the reads do not wait for one.
	inv, err := svc.ResolveLine("version", commands.Access{Role: commands.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	go svc.Run(context.Background(), inv)
	defer close(ex.release)
	for ex.runs.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}

	before := time.Now()
	if err := svc.RefreshDAGIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := svc.DAGIndexStatus()
	if first.DAGs != 2 || first.ReadAt.Before(before) || first.Failures != 0 {
		t.Errorf("after the first read: %+v", first)
	}
	x, _ := svc.DAGIndex()
	if d, ok := x.Lookup("a"); !ok || d.Tags[0] != "t" {
		t.Errorf("the index does not know a: %+v", d)
	}

	if err := svc.RefreshDAGIndex(context.Background()); err == nil {
		t.Errorf("a failed read returned no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := svc.RefreshDAGIndex(ctx); err == nil {
		t.Errorf("a stopped read returned no error")
	}
	failed := svc.DAGIndexStatus()
	if failed.DAGs != 2 || failed.ReadAt != first.ReadAt || failed.Failures != 1 || failed.LastFailure.IsZero() {
		t.Errorf("after a failed read and a stopped one: %+v, want the first read's index and one failure", failed)
	}

	if err := svc.RefreshDAGIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := svc.DAGIndexStatus(); st.DAGs != 1 || !st.ReadAt.After(first.ReadAt) || st.Failures != 1 {
		t.Errorf("after the read that came back: %+v", st)
	}
	for _, limit := range ex.limits {
		if limit != 42*time.Second {
			t.Errorf("a read's limit is %s, want the command timeout", limit)
		}
	}
}

// TestReadDAGIndexNeedsAReader: an executor that cannot read the index says so.
func TestReadDAGIndexNeedsAReader(t *testing.T) {
	svc := commands.NewService(mustPolicy(t, "3"), &blockingExecutor{}, commands.Options{})
	if _, err := svc.ReadDAGIndex(context.Background()); commands.ErrorCode(err) != commands.EUNAVAILABLE {
		t.Errorf("ReadDAGIndex without a reader: %v", err)
	}
}

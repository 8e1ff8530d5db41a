package commands_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// blockingExecutor holds every command until release is closed, and counts the runs.
type blockingExecutor struct {
	release chan struct{}
	runs    atomic.Int32
}

func (b *blockingExecutor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	b.runs.Add(1)
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return &commands.Result{Stdout: "ok\n"}, nil
}

func TestFullQueueAnswersUnavailable(t *testing.T) {
	ex := &blockingExecutor{release: make(chan struct{})}
	svc := commands.NewService(mustPolicy(t, "3"), ex, commands.Options{
		MaxConcurrent: 1, QueueTimeout: 200 * time.Millisecond, CommandTimeout: time.Minute, LongCommandTimeout: time.Hour,
	})
	inv, err := svc.ResolveLine("version", commands.Access{Role: commands.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := svc.Run(context.Background(), inv); done <- err }()
	for ex.runs.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	_, err = svc.Run(context.Background(), inv)
	waited := time.Since(start)
	if commands.ErrorCode(err) != commands.EUNAVAILABLE {
		t.Fatalf("second command: %v, want EUNAVAILABLE", err)
	}
	if waited < 150*time.Millisecond || waited > 5*time.Second {
		t.Errorf("answered after %s; want about the queue timeout of 200ms", waited)
	}
	close(ex.release)
	if err := <-done; err != nil {
		t.Errorf("first command: %v", err)
	}
	if _, err := svc.Run(context.Background(), inv); err != nil {
		t.Errorf("after the slot freed: %v", err)
	}
}

func TestFilterLoadingMessages(t *testing.T) {
	in := "[2025-04-03T14:38:17.121+0000] {__init__.py:42} INFO - Loaded\n" +
		"gw_conf\n" +
		"[2017-04-19 10:04:34,927] {models.py:167} INFO - Filling up the DagBag\n" +
		"2025-04-03T14:38:17.121000Z [info     ] DAG bundles loaded [x] loc=a.py:1\n" +
		"[not a log line] {really} INFO - kept\n" +
		"[\x1b[34m2026-12-06T19:23:21.123+0000\x1b[0m] {\x1b[34mplugins.py:\x1b[0m37} INFO\x1b[0m - setup plugin alembic\x1b[0m\n" +
		"gw_fails\n"
	want := "gw_conf\n[not a log line] {really} INFO - kept\ngw_fails\n"
	if got := commands.FilterLoadingMessages(in); got != want {
		t.Errorf("FilterLoadingMessages:\n got %q\nwant %q", got, want)
	}
}

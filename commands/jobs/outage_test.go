package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/sqlite"
)

// flakyStore is a store that can go away (nothing works) or fill up (reads work, writes do not).
type flakyStore struct {
	jobs.Store
	away, full atomic.Bool
}

var errGone = errors.New("connection refused")

func (f *flakyStore) write() error {
	if f.away.Load() || f.full.Load() {
		return errGone
	}
	return nil
}

func (f *flakyStore) read() error {
	if f.away.Load() {
		return errGone
	}
	return nil
}

func (f *flakyStore) Create(ctx context.Context, j *jobs.Job) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.Create(ctx, j)
}

func (f *flakyStore) Update(ctx context.Context, j *jobs.Job) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.Update(ctx, j)
}

func (f *flakyStore) Append(ctx context.Context, id string, c jobs.Chunk) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.Append(ctx, id, c)
}

func (f *flakyStore) Get(ctx context.Context, id string) (*jobs.Job, error) {
	if err := f.read(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, id)
}

func (f *flakyStore) Output(ctx context.Context, id string, from int64) ([]jobs.Chunk, error) {
	if err := f.read(); err != nil {
		return nil, err
	}
	return f.Store.Output(ctx, id, from)
}

// steppedExecutor prints "line N" each time step is sent to, and exits 0 after lines lines.
type steppedExecutor struct {
	lines int
	step  chan struct{}
}

func (e *steppedExecutor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	var out strings.Builder
	for i := range e.lines {
		select {
		case <-e.step:
		case <-ctx.Done():
			return &commands.Result{Stdout: out.String(), Canceled: true, ExitCode: -1}, nil
		}
		line := fmt.Sprintf("line %d\n", i)
		out.WriteString(line)
		x.Live(commands.Stdout, []byte(line))
	}
	return &commands.Result{Stdout: out.String()}, nil
}

func allLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// TestJobsRideOutTheStore runs jobs while their store goes away and while it takes no writes: requests
// are answered 503 saying so while it is away, no command is stopped for it, and what the store did not
// take is written, in order, once it takes writes again, or given up with a note when it does not.
func TestJobsRideOutTheStore(t *testing.T) {
	defer jobs.SetSaveEnd(time.Minute, 20*time.Millisecond)()
	cat := commandstest.Catalog(t, "3.3.2")
	sq, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	store := &flakyStore{Store: sq}
	ex := &steppedExecutor{lines: 10, step: make(chan struct{})}
	svc := commands.NewService(commands.NewPolicy(cat, t.TempDir()), ex, commands.Options{MaxConcurrent: 2, QueueTimeout: time.Second,
		CommandTimeout: time.Minute, LongCommandTimeout: time.Minute})
	js := jobs.New(store, svc, context.Background(), jobs.Options{Retention: time.Hour})
	admin := jobs.Asker{Name: "ci", Role: commands.RoleAdmin}
	inv, err := svc.Resolve([]string{"dags", "test", "gw_two_tasks"}, commands.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := func(n int) {
		for range n {
			ex.step <- struct{}{}
		}
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not happen", what)
			}
		}
	}

	t.Run("the store goes away while a job runs", func(t *testing.T) {
		job, err := js.Start(ctx, inv, "ci")
		if err != nil {
			t.Fatal(err)
		}
		steps(3)
		store.away.Store(true)
		steps(7) // the command goes on, and ends
		if _, err := js.Get(ctx, job.ID, admin, true); commands.ErrorCode(err) != commands.EUNAVAILABLE || !strings.Contains(err.Error(), "job store is unavailable") {
			t.Errorf("reading a job while the store is away: %v", err)
		}
		if _, err := js.Start(ctx, inv, "ci"); commands.ErrorCode(err) != commands.EUNAVAILABLE {
			t.Errorf("starting a job while the store is away: %v", err)
		}
		store.away.Store(false)
		waitFor("the job's end stored", func() bool {
			stored, err := sq.Get(ctx, job.ID)
			return err == nil && stored.State == jobs.Succeeded
		})
		got, err := js.Get(ctx, job.ID, admin, true)
		if err != nil || got.Stdout != allLines(10) || got.Truncated || got.Detail != "" {
			t.Errorf("after the store came back: %+v, %v", got, err)
		}
	})

	t.Run("the store takes no writes while a job runs", func(t *testing.T) {
		job, err := js.Start(ctx, inv, "ci")
		if err != nil {
			t.Fatal(err)
		}
		steps(4)
		waitFor("the first lines stored", func() bool {
			chunks, _ := sq.Output(ctx, job.ID, 0)
			return len(chunks) == 4
		})
		store.full.Store(true)
		steps(6)
		// The job has ended: this process answers with what it holds, the end and all the output.
		waitFor("the end known", func() bool {
			got, err := js.Get(ctx, job.ID, admin, true)
			return err == nil && got.State == jobs.Succeeded && got.Stdout == allLines(10)
		})
		if stored, _ := sq.Get(ctx, job.ID); stored.State != jobs.Running {
			t.Errorf("the store took the end while full: %+v", stored)
		}
		// It stays full past the retry: the output held is given up, and the end says so once stored.
		restore := jobs.SetSaveEnd(0, 20*time.Millisecond)
		defer restore()
		time.Sleep(100 * time.Millisecond)
		store.full.Store(false)
		waitFor("the end stored", func() bool {
			stored, err := sq.Get(ctx, job.ID)
			return err == nil && stored.State.Ended()
		})
		got, err := js.Get(ctx, job.ID, admin, true)
		if err != nil || got.State != jobs.Succeeded || !got.Truncated || !strings.Contains(got.Detail, "not stored") || got.Stdout != allLines(4) {
			t.Errorf("after the store took writes again: %+v, %v", got, err)
		}
	})
}

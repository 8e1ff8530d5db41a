package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/jobstest"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/sqlite"
)

func mustOpen(tb testing.TB, file string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), file)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	jobstest.TestStore(t, func(tb testing.TB) jobs.Store {
		return mustOpen(tb, filepath.Join(tb.TempDir(), "jobs.db"))
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "jobs.db")
	s := mustOpen(t, file)
	v, err := s.Version(ctx)
	if err != nil || v < 1 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	s.Close()

	// Opening again applies nothing twice.
	s = mustOpen(t, file)
	if v2, _ := s.Version(ctx); v2 != v {
		t.Errorf("version %d after a second open, want %d", v2, v)
	}
	s.Close()

	// A database from a newer gateway is refused, and left as it is.
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, v+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = sqlite.Open(ctx, file)
	if err == nil || !strings.Contains(err.Error(), "newer than this gateway knows") {
		t.Errorf("opening a newer schema: %v", err)
	}
}

// BenchmarkAppend measures storing one line of output, as a job does for each piece it is handed: the
// cost a command's output reading waits for.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	s := mustOpen(b, filepath.Join(b.TempDir(), "jobs.db"))
	defer s.Close()
	job := &jobs.Job{ID: jobs.NewID(time.Now()), Command: "dags test gw_two_tasks", AirflowCmd: "airflow dags test gw_two_tasks",
		Owner: "bench", State: jobs.Running, CreatedAt: time.Now()}
	if err := s.Create(ctx, job); err != nil {
		b.Fatal(err)
	}
	line := strings.Repeat("x", 99) + "\n"
	var offset int64
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := s.Append(ctx, job.ID, jobs.Chunk{Offset: offset, Stream: commands.Stdout, Text: line}); err != nil {
			b.Fatal(err)
		}
		offset += int64(len(line))
	}
}

// BenchmarkOutputTail measures what a follower pays to read the newest line of a job with 10,000 stored.
func BenchmarkOutputTail(b *testing.B) {
	ctx := context.Background()
	s := mustOpen(b, filepath.Join(b.TempDir(), "jobs.db"))
	defer s.Close()
	job := &jobs.Job{ID: jobs.NewID(time.Now()), Owner: "bench", State: jobs.Running, CreatedAt: time.Now()}
	if err := s.Create(ctx, job); err != nil {
		b.Fatal(err)
	}
	line := strings.Repeat("x", 99) + "\n"
	var offset int64
	for range 10000 {
		if err := s.Append(ctx, job.ID, jobs.Chunk{Offset: offset, Stream: commands.Stdout, Text: line}); err != nil {
			b.Fatal(err)
		}
		offset += int64(len(line))
	}
	for b.Loop() {
		chunks, err := s.Output(ctx, job.ID, offset-1)
		if err != nil || len(chunks) != 1 {
			b.Fatal(err, len(chunks))
		}
	}
}

package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

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

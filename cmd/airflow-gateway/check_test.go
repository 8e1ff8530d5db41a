//go:build linux

package main

import (
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands/jobs/postgres"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestCheckJobsDatabaseBehindPgBouncer gives check's lines about the jobs database, and serve's probe at
// start, a real PostgreSQL server, directly and through a real PgBouncer in session and in transaction
// mode: only the transaction pooler is warned of, by check in its output and by serve in its log.
func TestCheckJobsDatabaseBehindPgBouncer(t *testing.T) {
	pg := testbed.StartPostgres(t)
	db := pg.NewDatabaseName(t)
	for _, c := range []struct {
		name, mode string // PgBouncer's pool_mode; empty: no PgBouncer
		warned     bool
	}{
		{name: "direct"},
		{name: "transaction", mode: "transaction", warned: true},
		{name: "session", mode: "session"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := pg.URL(db)
			if c.mode != "" {
				url = testbed.StartPgBouncer(t, pg, c.mode).URL(db)
			}
			lines, err := checkJobsDatabase(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			out := strings.Join(lines, "\n")
			if !strings.HasPrefix(out, "jobs:          PostgreSQL at "+url) {
				t.Errorf("check says:\n%s\nwant first the jobs database, %s", out, url)
			}
			warning := regexpWarning.FindString(out)
			if (warning != "") != c.warned {
				t.Errorf("check says:\n%s\nwant a warning of a pooler: %v", out, c.warned)
			}
			if c.warned && (!strings.Contains(warning, " ran on server process ") ||
				!strings.Contains(warning, "<release>-postgresql Service on port 5432, not <release>-pgbouncer on 6432")) {
				t.Errorf("the warning does not say what it found and what to do: %s", warning)
			}
			var log strings.Builder
			if err := warnOfPooling(t.Context(), url, slog.New(slog.NewTextHandler(&log, nil))); err != nil {
				t.Fatal(err)
			}
			logged := strings.Contains(log.String(), "level=WARN msg=\"[jobs] database_url goes through a pooler that pools by transaction")
			if logged != c.warned || strings.Count(log.String(), "\n") > 1 {
				t.Errorf("serve logs at start:\n%s\nwant one warning of a pooler: %v", log.String(), c.warned)
			}
		})
	}
}

var regexpWarning = regexp.MustCompile(`(?m)^warning: +\[jobs\] database_url goes through a pooler that pools by transaction.*$`)

func TestCheckJobsDatabaseSQLite(t *testing.T) {
	lines, err := checkJobsDatabase(t.Context(), "")
	if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], "jobs:          jobs.db in state_dir") {
		t.Errorf("check without [jobs] database_url: %q, %v", lines, err)
	}
}

// TestPoolingWarning: the warning says what the probe saw, what in the URL looks like PgBouncer when
// something does, and what to set instead.
func TestPoolingWarning(t *testing.T) {
	for _, c := range []struct {
		p    postgres.Pooling
		want []string
	}{
		{postgres.Pooling{ByTransaction: true, Seen: "connection 1 ran on server process 7, then on 8"},
			[]string{"(connection 1 ran on server process 7, then on 8): ", "Point [jobs] database_url at PostgreSQL itself"}},
		{postgres.Pooling{ByTransaction: true, Seen: "connections 1 and 2 both ran on server process 7", Hint: "port 6432, host airflow-pgbouncer"},
			[]string{"(connections 1 and 2 both ran on server process 7; the URL looks like PgBouncer's: port 6432, host airflow-pgbouncer): "}},
	} {
		got := poolingWarning(c.p)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("poolingWarning(%+v) = %q, want it to hold %q", c.p, got, w)
			}
		}
	}
	// docs/kubernetes.md shows the warning as check prints it.
	doc, err := os.ReadFile("../../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	shown := "    warning:       " + poolingWarning(postgres.Pooling{ByTransaction: true,
		Seen: "connection 1 ran on server process 4242, then on 4243", Hint: "port 6432, host airflow-pgbouncer"}) + "\n"
	if !strings.Contains(string(doc), shown) {
		t.Errorf("docs/kubernetes.md does not show check's warning as check prints it; it should read:\n%s", shown)
	}
}

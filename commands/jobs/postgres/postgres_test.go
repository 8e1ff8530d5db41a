package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/jobstest"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/postgres"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestStore runs the tests every job store passes on a real PostgreSQL server, a fresh database each.
func TestStore(t *testing.T) {
	pg := testbed.StartPostgres(t)
	jobstest.TestStore(t, func(tb testing.TB) jobs.Store {
		s, err := postgres.Open(context.Background(), pg.NewDatabase(tb))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}

// TestMigrationsRunOnceUnderRace opens one database from 8 gateways at once: the advisory lock makes them
// migrate in turn, each sees the same version, and none fails.
func TestMigrationsRunOnceUnderRace(t *testing.T) {
	pg := testbed.StartPostgres(t)
	url := pg.NewDatabase(t)
	var wg sync.WaitGroup
	versions := make([]int, 8)
	for i := range versions {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Errorf("gateway %d: %v", i, err)
				return
			}
			defer s.Close()
			versions[i], err = s.Version(context.Background())
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, v := range versions {
		if v != versions[0] || v < 1 {
			t.Errorf("gateway %d sees schema version %d, gateway 0 %d", i, v, versions[0])
		}
	}
}

func TestOpenHidesThePassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://gateway:s3cret-pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("opening an unreachable database: %v", err)
	}
}

package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/jobs/postgres"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestProbePooling probes a real PostgreSQL server directly and through a real PgBouncer in each of its
// pool modes: only the modes that hand server sessions out per transaction or statement are found, with
// PgBouncer's idle server connections handed out last in, first out (its default) or first in, first
// out (server_round_robin).
func TestProbePooling(t *testing.T) {
	pg := testbed.StartPostgres(t)
	db := pg.NewDatabaseName(t)
	for _, c := range []struct {
		name     string
		mode     string // PgBouncer's pool_mode; empty: no PgBouncer
		settings []string
		pooled   bool
		seen     string
	}{
		{name: "direct"},
		{name: "session", mode: "session"},
		{name: "transaction", mode: "transaction", pooled: true, seen: "server process"},
		{name: "transaction round robin", mode: "transaction", settings: []string{"server_round_robin = 1"}, pooled: true, seen: "server process"},
		{name: "statement", mode: "statement", pooled: true, seen: "refused a transaction"},
		// More idle server connections than the probe's two, made before it, change nothing.
		{name: "transaction warm pool", mode: "transaction", settings: []string{"min_pool_size = 5"}, pooled: true, seen: "server process"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := pg.URL(db)
			if c.mode != "" {
				url = testbed.StartPgBouncer(t, pg, c.mode, c.settings...).URL(db)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			// Each probe is one of a few: an answer that came by chance would not come every time.
			for range 5 {
				p, err := postgres.ProbePooling(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				if p.ByTransaction != c.pooled || !strings.Contains(p.Seen, c.seen) || p.Hint != "" {
					t.Fatalf("%+v, want pooled by transaction %v, having seen %q, and no hint", p, c.pooled, c.seen)
				}
			}
		})
	}
	// With a single server connection in the pool, the probe's second connection waits for the first's,
	// and the probe ends with its deadline, saying why it may have waited.
	t.Run("pool of one", func(t *testing.T) {
		b := testbed.StartPgBouncer(t, pg, "transaction", "default_pool_size = 1")
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if p, err := postgres.ProbePooling(ctx, b.URL(db)); err == nil || !strings.Contains(err.Error(), "fewer than two server connections") {
			t.Errorf("%+v, %v; want an error saying the pool may be too small", p, err)
		} else {
			t.Log(err)
		}
	})
}

func TestProbePoolingUnreachable(t *testing.T) {
	_, err := postgres.ProbePooling(context.Background(), "postgres://gateway:s3cret-pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("probing an unreachable database: %v", err)
	}
}

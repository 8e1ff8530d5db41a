// Package postgres opens the job store in a PostgreSQL database ([jobs] database_url), through pgx, so
// that several gateways share their jobs.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/airflow-gateway/airflow-gateway/commands/jobs/sqlstore"
)

// migrationLock is the advisory lock the migrations' transaction takes, so that replicas starting at
// once migrate one after the other.
const migrationLock = `SELECT pg_advisory_xact_lock(4261722341)`

// Open connects to the database at databaseURL (postgres://user:password@host:port/dbname?sslmode=...)
// and brings its schema up to date.
func Open(ctx context.Context, databaseURL string) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("the jobs database %s: %w", Redacted(databaseURL), err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("the jobs database %s: %w", Redacted(databaseURL), err)
	}
	s, err := sqlstore.Open(ctx, db, sqlstore.Options{LockMigrations: migrationLock})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("the jobs database %s: %w", Redacted(databaseURL), err)
	}
	return s, nil
}

// Redacted returns databaseURL with its password replaced, for logs and errors.
func Redacted(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "(a database URL that does not parse)"
	}
	return u.Redacted()
}

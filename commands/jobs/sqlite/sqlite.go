// Package sqlite opens the job store in an SQLite database file, through a driver written in Go (no cgo).
package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/airflow-gateway/airflow-gateway/commands/jobs/sqlstore"
)

// Store is the job store.
type Store = sqlstore.Store

// Open opens (or creates) the database at file and brings its schema up to date.
func Open(ctx context.Context, file string) (*Store, error) {
	dsn := "file:" + file + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: SQLite writes one at a time anyway, and no statement waits on another's lock.
	db.SetMaxOpenConns(1)
	// An immediate transaction holds the write lock: gateways opening one file at once migrate in turn.
	s, err := sqlstore.Open(ctx, db, sqlstore.Options{})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("the jobs database %s: %w", file, err)
	}
	return s, nil
}

// Package sqlstore keeps jobs in an SQL database through database/sql: the one implementation of
// jobs.Store, with its migrations, that the SQLite and PostgreSQL adapters open on their own drivers. Its
// queries use the SQL both share, with $N placeholders.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options is what differs between the databases.
type Options struct {
	// LockMigrations, run first in the migrations' transaction, makes gateways that start at once on one
	// database apply the migrations one after the other; empty when the transaction itself does that.
	LockMigrations string
}

// Store is a jobs.Store in an SQL database.
type Store struct {
	db *sql.DB
}

var _ jobs.Store = (*Store)(nil)

// Open brings the schema of db up to date and returns the store on it; on an error it leaves db open.
func Open(ctx context.Context, db *sql.DB, d Options) (*Store, error) {
	if err := migrate(ctx, db, d); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// migrate applies, in one transaction, the migrations the database has not had, in order.
func migrate(ctx context.Context, db *sql.DB, d Options) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if d.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, d.LockMigrations); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return err
	}
	if have > len(files) {
		return fmt.Errorf("its schema is at version %d, newer than this gateway knows (%d): run a newer gateway, or point it at another database", have, len(files))
	}
	for i, file := range files {
		version := i + 1
		if n, _ := strconv.Atoi(strings.SplitN(path.Base(file), "_", 2)[0]); n != version {
			return fmt.Errorf("migration %s is out of sequence", file)
		}
		if version <= have {
			continue
		}
		body, err := migrations.ReadFile(file)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", file, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, time.Now().UnixMicro()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Version returns the schema version of the database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Create implements jobs.Store.
func (s *Store) Create(ctx context.Context, j *jobs.Job) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO jobs (id, command, airflow_cmd, owner, state, exit_code, truncated, detail, created_at, started_at, ended_at, replica, scope)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		j.ID, j.Command, j.AirflowCmd, j.Owner, string(j.State), j.ExitCode, j.Truncated, j.Detail,
		j.CreatedAt.UnixMicro(), micros(j.StartedAt), micros(j.EndedAt), j.Replica, j.Scope)
	return err
}

// Update implements jobs.Store.
func (s *Store) Update(ctx context.Context, j *jobs.Job) error {
	r, err := s.db.ExecContext(ctx, `UPDATE jobs SET state = $1, exit_code = $2, truncated = $3, detail = $4, started_at = $5, ended_at = $6 WHERE id = $7`,
		string(j.State), j.ExitCode, j.Truncated, j.Detail, micros(j.StartedAt), micros(j.EndedAt), j.ID)
	if err != nil {
		return err
	}
	return mustTouch(r, j.ID)
}

// Append implements jobs.Store.
func (s *Store) Append(ctx context.Context, id string, c jobs.Chunk) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO job_output (job_id, pos, stream, text) VALUES ($1, $2, $3, $4) ON CONFLICT (job_id, pos) DO NOTHING`, id, c.Offset, int(c.Stream), c.Text)
	return err
}

const jobColumns = `id, command, airflow_cmd, owner, state, exit_code, truncated, detail, created_at, started_at, ended_at, replica, scope`

// Get implements jobs.Store.
func (s *Store) Get(ctx context.Context, id string) (*jobs.Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, commands.Errorf(commands.ENOTFOUND, "no job %s", id)
	}
	return j, err
}

// Output implements jobs.Store.
func (s *Store) Output(ctx context.Context, id string, from int64) ([]jobs.Chunk, error) {
	// The chunks from the last one that starts at or before from on, found through the primary key; the
	// first of them is dropped below when it ends exactly at from.
	rows, err := s.db.QueryContext(ctx, `SELECT pos, stream, text FROM job_output WHERE job_id = $1 AND pos >= (
		SELECT COALESCE(MAX(pos), 0) FROM job_output WHERE job_id = $1 AND pos <= $2) ORDER BY pos`, id, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.Chunk
	for rows.Next() {
		var c jobs.Chunk
		var stream int
		if err := rows.Scan(&c.Offset, &stream, &c.Text); err != nil {
			return nil, err
		}
		c.Stream = commands.Stream(stream)
		if c.End() > from {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

// List implements jobs.Store.
func (s *Store) List(ctx context.Context, f jobs.Filter) ([]*jobs.Job, error) {
	var where []string
	var args []any
	cond := func(format string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(format, len(args)))
	}
	if f.Owner != "" {
		cond("owner = $%d", f.Owner)
	}
	if f.State != "" {
		cond("state = $%d", string(f.State))
	}
	if f.Before != "" {
		cond("id < $%d", f.Before)
	}
	q := `SELECT ` + jobColumns + ` FROM jobs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)+1)
	rows, err := s.db.QueryContext(ctx, q, append(args, f.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []*jobs.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, j)
	}
	return list, rows.Err()
}

// Delete implements jobs.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	r, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE id = $1`, id)
	if err != nil {
		return err
	}
	return mustTouch(r, id)
}

// Heartbeat implements jobs.Store.
func (s *Store) Heartbeat(ctx context.Context, replica string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO replicas (id, heartbeat_at) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`, replica, at.UnixMicro())
	return err
}

// unfinishedOfDead selects the jobs still queued or running whose replica has no heartbeat since $3.
const unfinishedOfDead = `state IN ($1, $2) AND replica NOT IN (SELECT id FROM replicas WHERE heartbeat_at >= $3)`

// LoseExpired implements jobs.Store.
func (s *Store) LoseExpired(ctx context.Context, before time.Time, detail string, at time.Time) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	alive := []any{string(jobs.Queued), string(jobs.Running), before.UnixMicro()}
	ids, err := queryIDs(ctx, tx, `SELECT id FROM jobs WHERE `+unfinishedOfDead+` ORDER BY id`, alive...)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = $4, detail = $5, ended_at = $6 WHERE `+unfinishedOfDead,
			append(alive, string(jobs.Lost), detail, at.UnixMicro())...); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM replicas WHERE heartbeat_at < $1`, before.UnixMicro()); err != nil {
		return nil, err
	}
	return ids, tx.Commit()
}

// RequestCancel implements jobs.Store.
func (s *Store) RequestCancel(ctx context.Context, id string) error {
	r, err := s.db.ExecContext(ctx, `UPDATE jobs SET cancel_requested = TRUE WHERE id = $1`, id)
	if err != nil {
		return err
	}
	return mustTouch(r, id)
}

// CancelRequests implements jobs.Store.
func (s *Store) CancelRequests(ctx context.Context, replica string) ([]string, error) {
	return queryIDs(ctx, s.db, `SELECT id FROM jobs WHERE replica = $1 AND cancel_requested AND state IN ($2, $3) ORDER BY id`,
		replica, string(jobs.Queued), string(jobs.Running))
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryIDs returns the first column of the rows of query.
func queryIDs(ctx context.Context, db querier, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Prune implements jobs.Store.
func (s *Store) Prune(ctx context.Context, t time.Time) (int, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE ended_at IS NOT NULL AND ended_at < $1`, t.UnixMicro())
	if err != nil {
		return 0, err
	}
	n, err := r.RowsAffected()
	return int(n), err
}

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (*jobs.Job, error) {
	var j jobs.Job
	var state string
	var exit, started, ended sql.NullInt64
	var created int64
	if err := row.Scan(&j.ID, &j.Command, &j.AirflowCmd, &j.Owner, &state, &exit, &j.Truncated, &j.Detail, &created, &started, &ended, &j.Replica, &j.Scope); err != nil {
		return nil, err
	}
	j.State = jobs.State(state)
	j.CreatedAt = time.UnixMicro(created).UTC()
	if exit.Valid {
		code := int(exit.Int64)
		j.ExitCode = &code
	}
	j.StartedAt, j.EndedAt = fromMicros(started), fromMicros(ended)
	return &j, nil
}

func micros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMicro(v.Int64).UTC()
	return &t
}

func mustTouch(r sql.Result, id string) error {
	n, err := r.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return commands.Errorf(commands.ENOTFOUND, "no job %s", id)
	}
	return nil
}

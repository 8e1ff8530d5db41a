package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Pooling is what ProbePooling found between the gateway and the server processes behind a database URL.
type Pooling struct {
	// ByTransaction is true when the statements of one connection ran in more than one server process, or
	// those of two connections in one: a pooler hands server sessions out per transaction (PgBouncer's
	// pool_mode = transaction or statement), so what lives in a session (session advisory locks,
	// LISTEN/NOTIFY, prepared statements, SET) does not last from one transaction to the next. It is false
	// on a connection to PostgreSQL itself, and through a pooler that gives each client a session of its own
	// (pool_mode = session).
	ByTransaction bool
	// Seen says what showed it, for a person: "connection 1 ran on server process 4242, then on 4243".
	Seen string
	// Hint names what in the URL looks like PgBouncer ("port 6432", "host airflow-pgbouncer"), or is
	// empty. It is said beside what the probe found, never instead of it.
	Hint string
}

// ProbePooling opens two connections to databaseURL and asks each, several times, which server process
// runs its statements: inside transactions that both hold open at once, then after committing them in
// one order and then the other, so that a pooler which hands idle server connections out last in, first
// out (PgBouncer's default) or first in, first out (server_round_robin) gives at least one connection
// another server process. A session's server process never changes, so a connection that sees two, or
// two connections that see one, mean a pooler that pools by transaction.
//
// With fewer server connections in the pool than the probe's two, the second connection waits for the
// first's, and the probe fails when ctx ends; callers give it a deadline.
func ProbePooling(ctx context.Context, databaseURL string) (Pooling, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return Pooling{}, fmt.Errorf("the jobs database %s: %w", Redacted(databaseURL), err)
	}
	p := Pooling{Hint: pgBouncerHint(cfg.Host, cfg.Port)}
	// The simple protocol prepares nothing, so that no statement depends on a session the probe might
	// not keep.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	var conns [2]*pgx.Conn
	defer func() { // even once ctx has ended, and with a transaction left open by an error
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, c := range conns {
			if c != nil {
				_ = c.Close(ctx)
			}
		}
	}()
	for i := range conns {
		if conns[i], err = pgx.ConnectConfig(ctx, cfg); err != nil {
			return Pooling{}, fmt.Errorf("the jobs database %s: %w", Redacted(databaseURL), err)
		}
	}
	seen := map[server]int{} // the connection (1 or 2) that first ran on each server process
	last := [2]server{}      // the server process of each connection's last statement
	ask := func(i int, q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}) error { // reads the server process of connection i+1's statement, in a transaction or on its own
		var s server
		if err := q.QueryRow(ctx, serverQuery).Scan(&s.pid, &s.started); err != nil {
			return err
		}
		switch first, ok := seen[s]; {
		case last[i].pid != 0 && s != last[i]:
			p.ByTransaction, p.Seen = true, fmt.Sprintf("connection %d ran on server process %d, then on %d", i+1, last[i].pid, s.pid)
		case ok && first != i+1:
			p.ByTransaction, p.Seen = true, fmt.Sprintf("connections %d and %d both ran on server process %d", first, i+1, s.pid)
		case !ok:
			seen[s] = i + 1
		}
		last[i] = s
		return nil
	}
	for _, order := range [][2]int{{0, 1}, {1, 0}} {
		// Both connections hold a server process at once, in a transaction each.
		var txs [2]pgx.Tx
		for i, c := range conns {
			if txs[i], err = c.Begin(ctx); err == nil {
				err = ask(i, txs[i])
			}
			if err != nil {
				return p.orError(databaseURL, i, err)
			}
		}
		// They end in a known order, giving their server processes back to a pooler in that order; then
		// each asks again, outside a transaction.
		for _, i := range order {
			if err := txs[i].Commit(ctx); err != nil {
				return p.orError(databaseURL, i, err)
			}
		}
		for i, c := range conns {
			if err := ask(i, c); err != nil {
				return p.orError(databaseURL, i, err)
			}
		}
		if p.ByTransaction {
			return p, nil
		}
	}
	return p, nil
}

// serverQuery names the server process running a statement: its pid, and the start of its server (so
// that two servers behind one address, which may reuse a pid, are told apart).
const serverQuery = `SELECT pg_backend_pid(), pg_postmaster_start_time()`

// server is a server process, as serverQuery names it.
type server struct {
	pid     int32
	started time.Time
}

// orError returns p if what the probe saw already answers, or else the error of connection i+1. A pooler
// that refuses transactions (PgBouncer's pool_mode = statement) pools by statement, which is an answer.
func (p Pooling) orError(databaseURL string, i int, err error) (Pooling, error) {
	if p.ByTransaction {
		return p, nil
	}
	if msg := err.Error(); strings.Contains(msg, "pool mode") || strings.Contains(msg, "pooling mode") {
		p.ByTransaction, p.Seen = true, fmt.Sprintf("connection %d was refused a transaction: %s", i+1, msg)
		return p, nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (through a pooler that keeps fewer than two server connections, the second connection waits for the first's)", err)
	}
	return Pooling{}, fmt.Errorf("the jobs database %s: asking which server process runs the statements of connection %d: %w", Redacted(databaseURL), i+1, err)
}

// pgBouncerHint names what in a host and port looks like PgBouncer: its usual port, or its name in the
// host's (as the official Airflow chart names its Service <release>-pgbouncer).
func pgBouncerHint(host string, port uint16) string {
	var hints []string
	if port == 6432 {
		hints = append(hints, "port 6432")
	}
	if strings.Contains(strings.ToLower(host), "pgbouncer") {
		hints = append(hints, "host "+host)
	}
	return strings.Join(hints, ", ")
}

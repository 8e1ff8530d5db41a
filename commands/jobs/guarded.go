package jobs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// errStoreUnavailable answers a request about jobs while the store fails: the client can tell it from
// a fault of its own, and knows that commands still run.
var errStoreUnavailable = commands.Errorf(commands.EUNAVAILABLE,
	"the job store is unavailable: jobs cannot be started, listed or read until it is back; commands (POST /api/v1/command) still run; retry in a few seconds")

// guarded is a Store whose faults read as errStoreUnavailable, and are logged (at most every
// faultLogEvery, so that an outage does not flood the log). The store's own answers, such as not found,
// pass through.
type guarded struct {
	Store
	log *slog.Logger

	mu     sync.Mutex
	logged time.Time
}

const faultLogEvery = 10 * time.Second

func (g *guarded) fault(op string, err error) error {
	var e *commands.Error
	if err == nil || errors.As(err, &e) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	g.mu.Lock()
	now := time.Now()
	log := now.Sub(g.logged) >= faultLogEvery
	if log {
		g.logged = now
	}
	g.mu.Unlock()
	if log {
		g.log.Error("the job store is unavailable", "op", op, "err", err)
	}
	return errStoreUnavailable
}

func (g *guarded) Create(ctx context.Context, job *Job) error {
	return g.fault("create", g.Store.Create(ctx, job))
}

func (g *guarded) Update(ctx context.Context, job *Job) error {
	return g.fault("update", g.Store.Update(ctx, job))
}

func (g *guarded) Append(ctx context.Context, id string, c Chunk) error {
	return g.fault("append", g.Store.Append(ctx, id, c))
}

func (g *guarded) Get(ctx context.Context, id string) (*Job, error) {
	job, err := g.Store.Get(ctx, id)
	return job, g.fault("get", err)
}

func (g *guarded) Output(ctx context.Context, id string, from int64) ([]Chunk, error) {
	chunks, err := g.Store.Output(ctx, id, from)
	return chunks, g.fault("output", err)
}

func (g *guarded) List(ctx context.Context, f Filter) ([]*Job, error) {
	list, err := g.Store.List(ctx, f)
	return list, g.fault("list", err)
}

func (g *guarded) Delete(ctx context.Context, id string) error {
	return g.fault("delete", g.Store.Delete(ctx, id))
}

func (g *guarded) Heartbeat(ctx context.Context, replica string, at time.Time) error {
	return g.fault("heartbeat", g.Store.Heartbeat(ctx, replica, at))
}

func (g *guarded) LoseExpired(ctx context.Context, before time.Time, detail string, at time.Time) ([]string, error) {
	ids, err := g.Store.LoseExpired(ctx, before, detail, at)
	return ids, g.fault("lose expired", err)
}

func (g *guarded) RequestCancel(ctx context.Context, id string) error {
	return g.fault("request cancel", g.Store.RequestCancel(ctx, id))
}

func (g *guarded) CancelRequests(ctx context.Context, replica string) ([]string, error) {
	ids, err := g.Store.CancelRequests(ctx, replica)
	return ids, g.fault("cancel requests", err)
}

func (g *guarded) Prune(ctx context.Context, t time.Time) (int, error) {
	n, err := g.Store.Prune(ctx, t)
	return n, g.fault("prune", err)
}

//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/postgres"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/sqlite"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/sqlstore"
	"github.com/airflow-gateway/airflow-gateway/commands/subprocess"
	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
)

// serve runs the server until ctx ends, then stops accepting and lets running commands finish.
func serve(ctx context.Context, configPath string, getenv func(string) string, stdout, stderr io.Writer) error {
	st, err := load(ctx, configPath, getenv)
	if err != nil {
		return err
	}
	log := st.logger(stderr)
	if _, err := airflowUsers(st.cfg); err != nil {
		return err // before anything starts
	}
	if _, err := signingKey(st.cfg, ""); err != nil {
		return err
	}
	keys, err := st.keyring(ctx, log)
	if err != nil {
		return err
	}
	svc, closeExecutor := st.service(log)
	defer closeExecutor()
	stopIndex := st.refreshDAGIndex(ctx, svc, log)
	announceAuthManager(ctx, st.cfg, svc, log)
	defer stopIndex() // before the executor closes: a read under way is stopped first
	// Requests and jobs get a context that outlives SIGTERM by the grace period, so running commands
	// can finish.
	baseCtx, killCommands := context.WithCancelCause(context.WithoutCancel(ctx))
	defer killCommands(nil)
	js, closeJobs, err := st.jobs(ctx, baseCtx, svc, log)
	if err != nil {
		return err
	}
	defer closeJobs()
	cfg := st.cfg
	srv, err := gateway.New(gateway.Options{
		Service: svc, Keys: keys, Jobs: js, Log: log,
		Info:            gateway.Info{GatewayVersion: version, AirflowVersion: st.version, AirflowBinary: st.exec.Binary, AirflowWarning: st.warning},
		Limits:          gateway.Limits{IdleTimeout: cfg.IdleTimeout, BodyTimeout: cfg.BodyTimeout, MaxConnections: cfg.MaxConnections},
		FailedAuthBurst: cfg.FailedAuthBurst,
		PublicMetrics:   cfg.MetricsPublic,
		NoMetrics:       !cfg.MetricsEnabled,
		CheckHealth:     true,
	})
	if err != nil {
		return err
	}
	closeAPI, err := st.serveAirflowAPI(ctx, srv, svc, log)
	if err != nil {
		return err
	}
	defer closeAPI()
	hs, ln, err := st.listen(srv, baseCtx)
	if err != nil {
		return err
	}
	scheme := map[bool]string{false: "http", true: "https"}[hs.TLSConfig != nil]
	fmt.Fprintf(stdout, "airflow-gateway %s listening on %s://%s (Airflow %s)\n", version, scheme, ln.Addr(), st.version)
	log.Info("listening", "addr", ln.Addr().String(), "airflow", st.version, "dags_folder", st.dags)
	errc := make(chan error, 1)
	go func() {
		if hs.TLSConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	st.shutdown(hs, js, killCommands, log)
	return nil
}

// logger returns the log of the access, audit and start lines, in [gateway] log_format, and writes the
// start's first lines to it.
func (st *setup) logger(stderr io.Writer) *slog.Logger {
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if st.cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(handler)
	slog.SetDefault(log)
	if st.cfg.LogLoading {
		for _, line := range st.cfg.Masked() {
			log.Info("config", "value", line)
		}
	}
	log.Info("catalog", "airflow", st.version, "python", st.python, "cached", st.cached)
	if st.warning != "" {
		log.Warn(st.warning)
	}
	return log
}

// keyring returns the tokens the gateway accepts and the key of its sessions, refuses a listening
// address that the configuration leaves open, and reloads the tokens file at each SIGHUP until ctx ends.
func (st *setup) keyring(ctx context.Context, log *slog.Logger) (*gateway.Keyring, error) {
	cfg := st.cfg
	keys, err := keyring(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkExposure(cfg, keys); err != nil {
		return nil, err
	}
	if keys.Open() {
		log.Warn("no token is configured: every request is let in with role Admin", "listen", cfg.Listen)
	}
	keys.SignSessions([]byte(cfg.SecretKey), cfg.TLSCert != "")
	keys.MaxTokenTTL = cfg.MaxTokenTTL
	reloadTokensOnHangup(ctx, cfg, keys, log, st.reloadPeople)
	return keys, nil
}

// service returns the command service over the catalog, the policy and the executor; close stops the
// executor.
func (st *setup) service(log *slog.Logger) (svc *commands.Service, close func()) {
	cfg := st.cfg
	policy := commands.NewPolicy(st.catalog, st.dags)
	policy.AllowDaemons = cfg.AllowDaemons
	ex, close := st.executor(policy, log)
	return commands.NewService(policy, ex, commands.Options{
		MaxConcurrent:         cfg.MaxConcurrentCommands,
		QueueTimeout:          cfg.QueueTimeout,
		CommandTimeout:        cfg.CommandTimeout,
		LongCommandTimeout:    cfg.LongCommandTimeout,
		FilterLoadingMessages: cfg.FilterLoadingMessages,
		StateDir:              st.state,
		MaxUploadBytes:        cfg.MaxUploadBytes,
		DAGIndexMaxAge:        dagIndexMaxAge(cfg.DAGIndexRefresh),
	}), close
}

// jobs opens the job store and returns the jobs service over it, its jobs running under base, with
// what a stopped gateway left behind recovered; close closes the store.
func (st *setup) jobs(ctx, base context.Context, svc *commands.Service, log *slog.Logger) (js *jobs.Service, close func(), err error) {
	cfg := st.cfg
	probed := warnOfPooling(ctx, cfg.JobsDatabaseURL, log)
	store, lease, err := openJobStore(ctx, cfg, st.state)
	if err != nil {
		return nil, nil, err
	}
	if probed != nil {
		log.Warn("could not tell whether [jobs] database_url goes through a pooler that pools by transaction", "err", probed.Error())
	}
	replica := jobs.NewReplicaName()
	js = jobs.New(store, svc, base, jobs.Options{Retention: cfg.JobsRetention, KillLeftovers: subprocess.KillMarked, Log: log,
		Replica: replica, Lease: lease})
	if err := js.Recover(ctx); err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("the jobs database: %w", err)
	}
	log.Info("jobs", "replica", replica, "lease", lease.String())
	js.Maintain()
	js.PruneEvery(time.Hour)
	return js, func() { store.Close() }, nil
}

// serveAirflowAPI tells srv where Airflow's REST API is. A URL that must be asked of Airflow is asked in
// the background, through svc, so that the start does not wait for another run of the CLI. close stops
// that question if it is still being asked, and closes the API's idle connections.
func (st *setup) serveAirflowAPI(ctx context.Context, srv *gateway.Server, svc *commands.Service, log *slog.Logger) (close func(), err error) {
	st.airflowRun = svc.Ask
	if st.cfg.AirflowAPIURL != "" {
		api, err := airflowAPI(ctx, st, svc.Ask)
		if err != nil {
			return nil, err
		}
		st.api.Store(api)
		srv.SetAirflowAPI(api, "")
		return api.Close, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	found := make(chan *airflowapi.Client, 1)
	go func() {
		api, err := discoverAirflowAPI(ctx, st, svc)
		found <- api
		if err != nil {
			srv.SetAirflowAPI(nil, err.Error())
			log.Info("Airflow's REST API is not served", "why", err.Error())
			return
		}
		st.api.Store(api)
		srv.SetAirflowAPI(api, "")
		log.Info("airflow api", "url", api.URL.Redacted(), "major", api.Major)
	}()
	return func() {
		cancel()
		if api := <-found; api != nil {
			api.Close()
		}
	}, nil
}

// listen opens the listening socket, under the connection cap, and the http.Server that serves srv on
// it, with TLS when [gateway] tls_cert is set.
func (st *setup) listen(srv *gateway.Server, base context.Context) (*http.Server, net.Listener, error) {
	hs := srv.HTTPServer(base)
	if st.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(st.cfg.TLSCert, st.cfg.TLSKey)
		if err != nil {
			return nil, nil, fmt.Errorf("[gateway] tls_cert and tls_key: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	tcp, err := net.Listen("tcp", st.cfg.Listen)
	if err != nil {
		return nil, nil, err
	}
	return hs, srv.LimitConnections(tcp, hs.TLSConfig), nil
}

// shutdown stops accepting requests and lets running commands and jobs finish within [gateway]
// shutdown_grace. Past it, the running commands' groups are killed, each request is answered (503, with
// the output so far) before the connections close, and running jobs end lost.
func (st *setup) shutdown(hs *http.Server, js *jobs.Service, killCommands context.CancelCauseFunc, log *slog.Logger) {
	grace := st.cfg.ShutdownGrace
	log.Info("shutting down: no new requests; running commands may finish", "grace", grace)
	graceCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(graceCtx)
	if err == nil {
		err = js.Wait(graceCtx) // jobs have no request to wait for
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Error("stopping the server", "err", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return
	}
	log.Warn("grace period over: stopping the remaining commands", "jobs", js.Running())
	killCommands(gateway.ErrShuttingDown)
	answerCtx, cancel := context.WithTimeout(context.Background(), st.exec.KillGrace+5*time.Second)
	defer cancel()
	if err := hs.Shutdown(answerCtx); err != nil {
		log.Warn("closing the connections still open", "err", err)
		_ = hs.Close()
	}
	if err := js.Wait(answerCtx); err != nil {
		log.Error("jobs did not stop in time; they will read lost at the next start", "jobs", js.Running())
	}
}

// warnOfPooling probes the PostgreSQL of [jobs] database_url, once, before the job store opens (which
// may then fail for the reason the probe finds): a pooler that pools by transaction is logged as check
// says it. The probe's error is returned, for the caller to log only if the store opens all the same.
func warnOfPooling(ctx context.Context, databaseURL string, log *slog.Logger) error {
	if databaseURL == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, poolingProbeTimeout)
	defer cancel()
	p, err := postgres.ProbePooling(ctx, databaseURL)
	if err == nil && p.ByTransaction {
		log.Warn(poolingWarning(p))
	}
	return err
}

// openJobStore opens the jobs database: PostgreSQL at [jobs] database_url, shared by the replicas, each
// holding a lease; or else jobs.db in the state folder, this process's alone (lease 0).
func openJobStore(ctx context.Context, cfg *config.Config, state string) (*sqlstore.Store, time.Duration, error) {
	if cfg.JobsDatabaseURL != "" {
		s, err := postgres.Open(ctx, cfg.JobsDatabaseURL)
		return s, cfg.JobsLease, err
	}
	s, err := sqlite.Open(ctx, filepath.Join(state, "jobs.db"))
	return s, 0, err
}

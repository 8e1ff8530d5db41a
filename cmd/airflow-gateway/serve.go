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
)

// serve runs the server until ctx ends, then stops accepting and lets running commands finish.
func serve(ctx context.Context, configPath string, getenv func(string) string, stdout, stderr io.Writer) error {
	st, err := load(ctx, configPath, getenv)
	if err != nil {
		return err
	}
	cfg := st.cfg
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(handler)
	slog.SetDefault(log)
	if cfg.LogLoading {
		for _, line := range cfg.Masked() {
			log.Info("config", "value", line)
		}
	}
	log.Info("catalog", "airflow", st.version, "python", st.python, "cached", st.cached)
	if st.warning != "" {
		log.Warn(st.warning)
	}
	keys, err := keyring(cfg)
	if err != nil {
		return err
	}
	if err := checkExposure(cfg, keys); err != nil {
		return err
	}
	if keys.Open() {
		log.Warn("no token is configured: every request is let in with role Admin", "listen", cfg.Listen)
	}
	keys.SignSessions([]byte(cfg.SecretKey), cfg.TLSCert != "")
	keys.MaxTokenTTL = cfg.MaxTokenTTL
	reloadTokensOnHangup(ctx, cfg, keys, log)
	policy := commands.NewPolicy(st.catalog, st.dags)
	policy.AllowDaemons = cfg.AllowDaemons
	ex, closeExecutor := st.executor(policy, log)
	defer closeExecutor()
	svc := commands.NewService(policy, ex, commands.Options{
		MaxConcurrent:         cfg.MaxConcurrentCommands,
		QueueTimeout:          cfg.QueueTimeout,
		CommandTimeout:        cfg.CommandTimeout,
		LongCommandTimeout:    cfg.LongCommandTimeout,
		FilterLoadingMessages: cfg.FilterLoadingMessages,
		StateDir:              st.state,
		MaxUploadBytes:        cfg.MaxUploadBytes,
	})
	srv := gateway.New(svc, keys, gateway.Info{
		GatewayVersion: version, AirflowVersion: st.version, AirflowBinary: st.exec.Binary, AirflowWarning: st.warning,
	}, log)
	srv.PublicMetrics = cfg.MetricsPublic
	srv.Limits = gateway.Limits{IdleTimeout: cfg.IdleTimeout, BodyTimeout: cfg.BodyTimeout, MaxConnections: cfg.MaxConnections}
	if !cfg.MetricsEnabled {
		srv.DisableMetrics()
	}
	srv.LimitFailedAuth(cfg.FailedAuthBurst)
	srv.CheckHealth()
	// Airflow's REST API: a users_file that cannot be read stops the start; a URL that must be asked of
	// Airflow is asked in the background, so that the start does not wait for another run of the CLI.
	if cfg.AirflowAPIURL != "" {
		up, err := airflowAPI(ctx, st)
		if err != nil {
			return err
		}
		defer up.Close()
		srv.ServeAirflowAPI(up)
	} else {
		if _, err := config.LoadUsers(cfg.AirflowAPIUsersFile); cfg.AirflowAPIUsersFile != "" && err != nil {
			return fmt.Errorf("[airflow_api] users_file: %w", err)
		}
		go func() {
			up, err := discoverAirflowAPI(ctx, st)
			if err != nil {
				srv.NoAirflowAPI(err.Error())
				log.Info("Airflow's REST API is not served", "why", err.Error())
				return
			}
			srv.ServeAirflowAPI(up)
			log.Info("airflow api", "url", up.URL.Redacted(), "major", up.Major)
		}()
	}

	// Requests and jobs get a context that outlives SIGTERM by the grace period, so running commands
	// can finish.
	baseCtx, killCommands := context.WithCancelCause(context.WithoutCancel(ctx))
	defer killCommands(nil)
	store, lease, err := openJobStore(ctx, cfg, st.state)
	if err != nil {
		return err
	}
	defer store.Close()
	replica := jobs.NewReplicaName()
	js := jobs.New(store, svc, baseCtx, jobs.Options{Retention: cfg.JobsRetention, KillLeftovers: subprocess.KillMarked, Log: log,
		Ended: srv.JobEnded, Replica: replica, Lease: lease})
	if err := js.Recover(ctx); err != nil {
		return fmt.Errorf("the jobs database: %w", err)
	}
	log.Info("jobs", "replica", replica, "lease", lease.String())
	js.Maintain()
	js.PruneEvery(time.Hour)
	srv.ServeJobs(js)

	hs := srv.HTTPServer(baseCtx)
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("[gateway] tls_cert and tls_key: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	tcp, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	ln := srv.LimitConnections(tcp, hs.TLSConfig)
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
	grace := cfg.ShutdownGrace
	log.Info("shutting down: no new requests; running commands may finish", "grace", grace)
	graceCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err = hs.Shutdown(graceCtx)
	if err == nil {
		err = js.Wait(graceCtx) // jobs have no request to wait for
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Error("stopping the server", "err", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// Past the grace period: the running commands' groups are killed, each request is answered (503,
		// with the output so far) before the connections close, and running jobs end lost.
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
	return nil
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

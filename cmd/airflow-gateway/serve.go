package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/postgres"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/sqlite"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/sqlstore"
	"github.com/airflow-gateway/airflow-gateway/commands/subprocess"
	"github.com/airflow-gateway/airflow-gateway/commands/warm"
	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/gateway"
)

// setup is everything the gateway finds at start.
type setup struct {
	cfg     *config.Config
	exec    *subprocess.Executor
	catalog *commands.Catalog
	version string // as `airflow version` printed it
	dags    string
	state   string // the gateway's own folder
}

// load reads the configuration and asks Airflow for its version and DAGs folder.
func load(ctx context.Context, configPath string, getenv func(string) string) (*setup, error) {
	cfg, err := config.Load(configPath, getenv)
	if err != nil {
		return nil, err
	}
	bin, err := exec.LookPath(cfg.AirflowBin)
	if err != nil {
		return nil, fmt.Errorf("cannot find the Airflow CLI %q: set [gateway] airflow_bin to its path: %w", cfg.AirflowBin, err)
	}
	home := cfg.AirflowHome
	if home == "" {
		home = getenv("AIRFLOW_HOME")
	}
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(h, "airflow")
		}
	}
	ex := &subprocess.Executor{
		Binary:         bin,
		Home:           home,
		Env:            subprocess.ChildEnv(os.Environ(), home),
		MaxOutputBytes: cfg.MaxOutputBytes,
		KillGrace:      5 * time.Second,
	}
	st := &setup{cfg: cfg, exec: ex}
	out, err := ask(ctx, ex, "version")
	if err != nil {
		return nil, err
	}
	st.version = lastLine(out)
	if st.catalog, err = commands.CatalogFor(st.version); err != nil {
		return nil, err
	}
	st.dags = cfg.DagsFolder
	if st.dags == "" {
		if out, err = ask(ctx, ex, "config", "get-value", "core", "dags_folder"); err != nil {
			return nil, err
		}
		st.dags = lastLine(out)
	}
	if !filepath.IsAbs(st.dags) {
		return nil, fmt.Errorf("the DAGs folder %q is not an absolute path: set [gateway] dags_folder", st.dags)
	}
	st.state = cfg.StateDir
	if st.state == "" {
		st.state = filepath.Join(home, "airflow-gateway")
	}
	if st.state, err = filepath.Abs(st.state); err != nil {
		return nil, err
	}
	if inside(st.state, st.dags) {
		return nil, fmt.Errorf("the state folder %q lies inside the DAGs folder %q, where Airflow would read backups as DAGs: set [gateway] state_dir elsewhere", st.state, st.dags)
	}
	if err := os.MkdirAll(st.state, 0o750); err != nil {
		return nil, fmt.Errorf("create the state folder: %w", err)
	}
	return st, nil
}

// executor returns the executor that runs requests: the subprocess executor, or with [gateway] executor =
// warm, a warm executor that falls back to it. The warm one starts warming at once; close stops it.
func (st *setup) executor(policy *commands.Policy, log *slog.Logger) (ex commands.Executor, close func()) {
	if st.cfg.Executor != "warm" {
		return st.exec, func() {}
	}
	python := st.cfg.PythonBin
	if python == "" {
		var err error
		if python, err = warm.PythonOf(st.exec.Binary); err != nil {
			log.Error("the warm executor cannot start; commands run as subprocesses", "err", err)
			return st.exec, func() {}
		}
	}
	w := &warm.Executor{
		Cold:           st.exec,
		Python:         python,
		Binary:         st.exec.Binary,
		Home:           st.exec.Home,
		Env:            st.exec.Env,
		MaxOutputBytes: st.exec.MaxOutputBytes,
		KillGrace:      st.exec.KillGrace,
		MaxAge:         st.cfg.WarmMaxAge,
		Paths:          policy.Paths(),
		Log:            log,
	}
	w.Start()
	return w, w.Close
}

// ask runs one of the gateway's own start-up commands and returns its stdout.
func ask(ctx context.Context, ex *subprocess.Executor, args ...string) (string, error) {
	res, err := ex.Run(ctx, commands.Exec{Args: args, Limit: 2 * time.Minute})
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 || res.TimedOut {
		return "", fmt.Errorf("`airflow %s` failed (exit code %d): %s", strings.Join(args, " "), res.ExitCode, strings.TrimSpace(lastLine(res.Stderr)))
	}
	return res.Stdout, nil
}

// inside reports whether path is folder or lies under it.
func inside(path, folder string) bool {
	rel, err := filepath.Rel(folder, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// credentials builds the accepted tokens from the configuration; see tokenSet.
func credentials(cfg *config.Config) (*gateway.Credentials, error) {
	creds := gateway.NewCredentials(cfg.PluginTokenHeader)
	tokens, err := tokenSet(cfg)
	if err != nil {
		return nil, err
	}
	if len(tokens) > 0 {
		if err := creds.SetTokens(tokens); err != nil {
			return nil, err
		}
	}
	return creds, nil
}

// tokenSet reads the tokens the configuration names: the plugin token (role Admin) and the named tokens of
// the tokens file.
func tokenSet(cfg *config.Config) ([]gateway.Token, error) {
	var tokens []gateway.Token
	if cfg.PluginToken != "" {
		tokens = append(tokens, gateway.Token{Name: "rest_api_plugin", Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(cfg.PluginToken))})
	}
	if cfg.TokensFile != "" {
		file, err := config.LoadTokens(cfg.TokensFile)
		if err != nil {
			return nil, err
		}
		for _, t := range file {
			tokens = append(tokens, gateway.Token{Name: t.Name, Role: t.Role, SHA256: t.SHA256})
		}
	}
	return tokens, nil
}

// reloadTokensOnHangup reads the tokens file again at each SIGHUP until ctx ends: new tokens work at once,
// removed ones stop, with their sessions, and running commands go on. A file that cannot be read keeps
// the tokens there are, and the log says why.
func reloadTokensOnHangup(ctx context.Context, cfg *config.Config, creds *gateway.Credentials, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			if cfg.TokensFile == "" {
				log.Warn("SIGHUP: no [auth] tokens_file is configured, so there is nothing to reload")
				continue
			}
			tokens, err := tokenSet(cfg)
			if err == nil {
				err = creds.SetTokens(tokens)
			}
			if err != nil {
				log.Error("SIGHUP: the tokens file was not reloaded; the tokens from before stay", "file", cfg.TokensFile, "err", err)
				continue
			}
			names := make([]string, len(tokens))
			for i, t := range tokens {
				names[i] = t.Name
			}
			log.Info("SIGHUP: tokens reloaded", "file", cfg.TokensFile, "tokens", strings.Join(names, ","))
		}
	}()
}

// check prints what the gateway finds, and fails on any problem.
func check(ctx context.Context, configPath string, getenv func(string) string, stdout io.Writer) error {
	st, err := load(ctx, configPath, getenv)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config:        %s\n", st.cfg.Source)
	fmt.Fprintf(stdout, "airflow:       %s\n", st.exec.Binary)
	fmt.Fprintf(stdout, "version:       %s (catalog of Airflow %s)\n", st.version, st.catalog.AirflowVersion)
	fmt.Fprintf(stdout, "airflow_home:  %s\n", st.exec.Home)
	fmt.Fprintf(stdout, "dags_folder:   %s\n", st.dags)
	fmt.Fprintf(stdout, "state_dir:     %s\n", st.state)
	fmt.Fprintf(stdout, "executor:      %s\n", st.cfg.Executor)
	if st.cfg.Executor == "warm" {
		python := st.cfg.PythonBin
		if python == "" {
			if python, err = warm.PythonOf(st.exec.Binary); err != nil {
				return err
			}
		}
		if _, err := exec.LookPath(python); err != nil {
			return fmt.Errorf("the warm executor's Python %q: %w", python, err)
		}
		fmt.Fprintf(stdout, "python:        %s\n", python)
	}
	creds, err := credentials(st.cfg)
	if err != nil {
		return err
	}
	if err := checkExposure(st.cfg, creds); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// checkExposure refuses to serve without a token anywhere but loopback, unless told to.
func checkExposure(cfg *config.Config, creds *gateway.Credentials) error {
	if creds.Open() && !cfg.ListensOnLoopback() && !cfg.AllowUnauthenticated {
		return fmt.Errorf("no token is configured and %s is not a loopback address: set [rest_api_plugin] rest_api_plugin_expected_http_token (or [auth] tokens_file), or set [gateway] allow_unauthenticated = True", cfg.Listen)
	}
	return nil
}

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
	creds, err := credentials(cfg)
	if err != nil {
		return err
	}
	if err := checkExposure(cfg, creds); err != nil {
		return err
	}
	if creds.Open() {
		log.Warn("no token is configured: every request is let in with role Admin", "listen", cfg.Listen)
	}
	creds.SignSessions([]byte(cfg.SecretKey), cfg.TLSCert != "")
	reloadTokensOnHangup(ctx, cfg, creds, log)
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
	srv := gateway.New(svc, creds, gateway.Info{
		GatewayVersion: version, AirflowVersion: st.version, AirflowBinary: st.exec.Binary,
	}, log)
	srv.PublicMetrics = cfg.MetricsPublic
	if !cfg.MetricsEnabled {
		srv.DisableMetrics()
	}
	srv.LimitFailedAuth(cfg.FailedAuthBurst)
	srv.CheckHealth()

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

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "airflow-gateway %s listening on %s://%s (Airflow %s)\n", version, scheme, ln.Addr(), st.version)
	log.Info("listening", "addr", ln.Addr().String(), "airflow", st.version, "dags_folder", st.dags)

	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			errc <- hs.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
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
	if errors.Is(err, context.DeadlineExceeded) {
		// Past the grace period: the running commands' groups are killed, each request is answered (503,
		// with the output so far) before the connections close, and running jobs end lost.
		log.Warn("grace period over: stopping the remaining commands", "jobs", js.Running())
		killCommands(gateway.ErrShuttingDown)
		answerCtx, cancel := context.WithTimeout(context.Background(), st.exec.KillGrace+5*time.Second)
		defer cancel()
		if err := hs.Shutdown(answerCtx); err != nil {
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

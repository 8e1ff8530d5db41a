//go:build linux

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/subprocess"
	"github.com/airflow-gateway/airflow-gateway/commands/warm"
	"github.com/airflow-gateway/airflow-gateway/config"
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
	st.version = commands.LastLine(out)
	if st.catalog, err = commands.CatalogFor(st.version); err != nil {
		return nil, err
	}
	st.dags = cfg.DagsFolder
	if st.dags == "" {
		if out, err = ask(ctx, ex, "config", "get-value", "core", "dags_folder"); err != nil {
			return nil, err
		}
		st.dags = commands.LastLine(out)
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
		NoTemplates:    !st.cfg.WarmTemplates,
		Dir:            st.state,
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
		return "", fmt.Errorf("`airflow %s` failed (exit code %d): %s", strings.Join(args, " "), res.ExitCode, strings.TrimSpace(commands.LastLine(res.Stderr)))
	}
	return res.Stdout, nil
}

// inside reports whether path is folder or lies under it.
func inside(path, folder string) bool {
	rel, err := filepath.Rel(folder, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

//go:build linux

package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/catalogs"
	"github.com/airflow-gateway/airflow-gateway/commands/subprocess"
	"github.com/airflow-gateway/airflow-gateway/commands/warm"
	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
)

// setup is everything the gateway finds at start.
type setup struct {
	cfg     *config.Config
	exec    *subprocess.Executor
	python  string // Airflow's interpreter
	catalog *commands.Catalog
	cached  bool   // the catalog came from the cache, not from Airflow's parser
	version string // as Airflow names it
	warning string // why this Airflow version was not tested, when it was not
	dags    string
	state   string // the gateway's own folder
	// api is the client of Airflow's REST API once it is known, for SIGHUP's reload of its keys.
	api atomic.Pointer[airflowapi.Client]
	// airflowRun runs the gateway's own questions to Airflow's CLI once the service is up (its Ask).
	airflowRun func(context.Context, commands.Exec) (*commands.Result, error)
}

// load reads the configuration, tells which Airflow is installed, reads the catalog of its CLI (from the
// cache in the state folder, or else from Airflow's own parser), and asks Airflow for its DAGs folder.
func load(ctx context.Context, configPath string, getenv func(string) string) (*setup, error) {
	cfg, err := config.Load(configPath, getenv)
	if err != nil {
		return nil, err
	}
	st, err := findAirflow(cfg, getenv)
	if err != nil {
		return nil, err
	}
	// Which Airflow this is takes a few milliseconds: an unsupported version is refused at once.
	py := catalogs.Python{Bin: st.python, Env: st.exec.Env, Dir: st.exec.Home}
	inst, err := py.Identify(ctx)
	if err != nil {
		return nil, err
	}
	if st.warning, err = commands.CheckVersion(inst.Version); err != nil {
		return nil, err
	}
	if st.state, err = filepath.Abs(cmp.Or(cfg.StateDir, filepath.Join(st.exec.Home, "airflow-gateway"))); err != nil {
		return nil, err
	}
	// The catalog comes from the cache; or else Airflow's parser writes it while Airflow is asked for its
	// DAGs folder, and it is stored once the state folder is known to be a good place. A step that fails
	// stops the other, and load returns once both have: no Python nor temporary file outlives it.
	cache := catalogs.Cache{Dir: filepath.Join(st.state, "catalog")}
	key := catalogs.Key(inst, st.exec.Env)
	st.catalog, st.cached = cache.Get(key)
	var generated []byte
	g, gctx := errgroup.WithContext(ctx)
	if !st.cached {
		g.Go(func() (err error) {
			generated, err = py.Generate(gctx)
			return err
		})
	}
	g.Go(func() error { return st.findDags(gctx) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if !st.cached {
		if st.catalog, err = commands.ParseCatalog(generated); err != nil {
			return nil, fmt.Errorf("the catalog that Airflow's parser wrote: %w", err)
		}
		if err := cache.Put(key, generated); err != nil {
			return nil, fmt.Errorf("store the catalog in the state folder: %w", err)
		}
	}
	st.version = st.catalog.AirflowVersion
	return st, nil
}

// findAirflow finds the Airflow CLI, its home and its interpreter, as the configuration names them or
// as they are by default.
func findAirflow(cfg *config.Config, getenv func(string) string) (*setup, error) {
	bin, err := exec.LookPath(cfg.AirflowBin)
	if err != nil {
		return nil, fmt.Errorf("cannot find the Airflow CLI %q: set [gateway] airflow_bin to its path: %w", cfg.AirflowBin, err)
	}
	home := cmp.Or(cfg.AirflowHome, getenv("AIRFLOW_HOME"))
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
	st := &setup{cfg: cfg, exec: ex, python: cfg.PythonBin}
	if st.python == "" {
		if st.python, err = warm.PythonOf(bin); err != nil {
			return nil, err
		}
	}
	ex.Python = st.python // which reads the DAG index
	return st, nil
}

// findDags finds the DAGs folder, as the configuration or Airflow names it, and makes the state folder,
// which must lie outside it.
func (st *setup) findDags(ctx context.Context) error {
	st.dags = st.cfg.DagsFolder
	if st.dags == "" {
		out, err := ask(ctx, st.exec.Run, "config", "get-value", "core", "dags_folder")
		if err != nil {
			return err
		}
		st.dags = commands.LastLine(out)
	}
	if !filepath.IsAbs(st.dags) {
		return fmt.Errorf("the DAGs folder %q is not an absolute path: set [gateway] dags_folder", st.dags)
	}
	if inside(st.state, st.dags) {
		return fmt.Errorf("the state folder %q lies inside the DAGs folder %q, where Airflow would read backups as DAGs: set [gateway] state_dir elsewhere", st.state, st.dags)
	}
	if err := os.MkdirAll(st.state, 0o750); err != nil {
		return fmt.Errorf("create the state folder: %w", err)
	}
	return nil
}

// executor returns the executor that runs requests: the subprocess executor, or with [gateway] executor =
// warm, a warm executor that falls back to it. The warm one starts warming at once; close stops it.
func (st *setup) executor(policy *commands.Policy, log *slog.Logger) (ex commands.Executor, close func()) {
	if st.cfg.Executor != "warm" {
		return st.exec, func() {}
	}
	w := &warm.Executor{
		Cold:           st.exec,
		Python:         st.python,
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
		// A token that acts as an Airflow user has its first command answered by a manager made already.
		PrewarmAuthorizer: actsAsUsers(st.cfg),
	}
	w.Start()
	return w, w.Close
}

// ask runs one of the gateway's own start-up commands with run (an executor's Run, or the service's
// RunExec) and returns its stdout.
func ask(ctx context.Context, run func(context.Context, commands.Exec) (*commands.Result, error), args ...string) (string, error) {
	res, err := run(ctx, commands.Exec{Args: args, Limit: 2 * time.Minute})
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

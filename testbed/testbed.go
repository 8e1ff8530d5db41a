// Package testbed gives tests a real Airflow: the binaries that setup.sh installs, and fresh AIRFLOW_HOMEs
// with a SQLite metadata DB and the example DAGs.
package testbed

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
)

// Versions are the Airflow major versions the gateway supports, as setup.sh names their env variables.
var Versions = []string{"2", "3"}

// SmokeVersions are the other Airflow releases setup.sh installs, for the smoke suite: 2.6.3, 2.11.2 and
// 3.0.6, their env variables named after them in full (AIRFLOW_GATEWAY_TEST_AIRFLOW_2_6 for 2.6).
var SmokeVersions = []string{"2.6", "2.11", "3.0"}

// FAB3 is the Airflow 3 that setup.sh installs with the FAB provider (AIRFLOW_GATEWAY_TEST_AIRFLOW_3_FAB):
// the newest Airflow 3 of Versions, whose homes MustHome makes with FAB's auth manager.
const FAB3 = "3-fab"

// FABAuthManager is the class of the FAB provider's auth manager, as Airflow 3's [core] auth_manager names it.
const FABAuthManager = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"

// Dir is the folder of this package: the lock files, scripts and example DAGs.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

var (
	envOnce sync.Once
	envFile map[string]string
)

// Airflow returns the path of the installed Airflow CLI of a major version of Versions, or of a release of
// SmokeVersions. Without one it skips the test, except under CI, where a missing test bed fails it.
func Airflow(tb testing.TB, major string) string {
	tb.Helper()
	SkipShort(tb, "a real Airflow "+major)
	name := envName(major)
	bin := Installed(major)
	if bin == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not set and testbed/setup.sh has not run: the test bed is required under CI", name)
		}
		tb.Skipf("no Airflow %s installed: run `make test` (testbed/setup.sh installs it)", major)
	}
	return bin
}

// Installed returns the path of the Airflow CLI that setup.sh installed under a name, such as "3" or
// "2.6" (AIRFLOW_GATEWAY_TEST_AIRFLOW_2_6), from the environment or setup.sh's env file; "" when none is.
func Installed(name string) string {
	name = envName(name)
	if bin := os.Getenv(name); bin != "" {
		return bin
	}
	envOnce.Do(loadEnvFile)
	return envFile[name]
}

// envName is the env variable setup.sh names an Airflow in: "2.6" in AIRFLOW_GATEWAY_TEST_AIRFLOW_2_6,
// "3-fab" in AIRFLOW_GATEWAY_TEST_AIRFLOW_3_FAB.
func envName(version string) string {
	return "AIRFLOW_GATEWAY_TEST_AIRFLOW_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(version))
}

// SkipShort skips the test under -short (make test-short), which runs no real service: the test needs
// what, which takes seconds to start.
func SkipShort(tb testing.TB, what string) {
	tb.Helper()
	if testing.Short() {
		tb.Skipf("-short: this test needs %s; make test runs it", what)
	}
}

// cacheDir is the folder setup.sh installs into: $AIRFLOW_GATEWAY_CACHE, or airflow-gateway in the user's
// cache folder.
func cacheDir() string {
	if cache := os.Getenv("AIRFLOW_GATEWAY_CACHE"); cache != "" {
		return cache
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "airflow-gateway")
	}
	return filepath.Join(dir, "airflow-gateway")
}

// loadEnvFile reads the env file setup.sh writes into its cache.
func loadEnvFile() {
	envFile = map[string]string{}
	f, err := os.Open(filepath.Join(cacheDir(), "testbed.env"))
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			envFile[k] = v
		}
	}
}

// Home is a prepared AIRFLOW_HOME.
type Home struct {
	Dir     string // AIRFLOW_HOME
	Dags    string // its DAGs folder
	Airflow string // the CLI that made it
	// FAB says that its Airflow 3 uses the FAB provider's auth manager ([core] auth_manager in its
	// airflow.cfg, its tables in the metadata DB): the homes of FAB3. Airflow 2's homes use FAB without it.
	FAB bool
}

// MustHome makes an AIRFLOW_HOME under a temporary folder of tb, with the DB migrated and the example
// DAGs, and the DAG files extra, serialized.
func MustHome(tb testing.TB, major string, extra ...string) *Home {
	tb.Helper()
	return mustHome(tb, major, "", "", extra)
}

// MustHomeOn makes an AIRFLOW_HOME as MustHome does, whose metadata DB is at sqlAlchemyConn (a SQLite file
// in the home when empty), with the DAGs folder dags (its own, with the example DAGs, when empty).
func MustHomeOn(tb testing.TB, major, sqlAlchemyConn, dags string) *Home {
	tb.Helper()
	return mustHome(tb, major, sqlAlchemyConn, dags, nil)
}

func mustHome(tb testing.TB, major, sqlAlchemyConn, dags string, extra []string) *Home {
	tb.Helper()
	bin := Airflow(tb, major)
	fab := major == FAB3
	dir := tb.TempDir()
	// Cleanups run last-registered first: this one runs after those of the gateways the test started on
	// the home, and before the folder is removed, which fails while a process still writes into it.
	tb.Cleanup(func() { settle(tb, dir) })
	cmd := exec.Command(filepath.Join(Dir(), "home.sh"), bin, dir)
	cmd.Env = os.Environ()
	if fab {
		cmd.Env = append(cmd.Env, "AUTH_MANAGER="+FABAuthManager)
	}
	if sqlAlchemyConn != "" {
		cmd.Args = append(cmd.Args, sqlAlchemyConn, dags)
	} else {
		template, err := templateDB(bin, fab)
		if err != nil {
			tb.Fatalf("a migrated metadata DB for Airflow %s: %v", major, err)
		}
		cmd.Env = append(cmd.Env, "TEMPLATE_DB="+template, "EXTRA_DAGS="+strings.Join(extra, ":"))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("testbed/home.sh for Airflow %s: %v\n%s", major, err, out)
	}
	if dags == "" {
		dags = filepath.Join(dir, "dags")
	}
	return &Home{Dir: dir, Dags: dags, Airflow: bin, FAB: fab}
}

var templates sync.Map // Airflow binary -> *template

type template struct {
	once sync.Once
	path string
	err  error
}

// templateDB returns a SQLite metadata DB that the Airflow bin migrated (with the FAB auth manager's
// tables when fab), for homes to copy instead of each migrating its own. It is kept in the cache, keyed by
// the binary and home.sh, so that later test runs and other test binaries copy it too; several making it
// at once each build their own and one keeps it.
func templateDB(bin string, fab bool) (string, error) {
	v, _ := templates.LoadOrStore(bin, &template{})
	t := v.(*template)
	t.once.Do(func() {
		script, err := os.ReadFile(filepath.Join(Dir(), "home.sh"))
		if err != nil {
			t.err = err
			return
		}
		sum := sha256.Sum256(append([]byte(bin+"\x00"), script...))
		dir := filepath.Join(cacheDir(), "templates", hex.EncodeToString(sum[:8]))
		t.path = filepath.Join(dir, "airflow.db")
		if _, err := os.Stat(t.path); err == nil {
			return
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.err = err
			return
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "new-")
		if err != nil {
			t.err = err
			return
		}
		defer os.RemoveAll(tmp)
		cmd := exec.Command(filepath.Join(Dir(), "home.sh"), bin, tmp)
		cmd.Env = append(os.Environ(), "MIGRATE_ONLY=1")
		if fab {
			cmd.Env = append(cmd.Env, "AUTH_MANAGER="+FABAuthManager)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.err = fmt.Errorf("testbed/home.sh: %v\n%s", err, out)
			return
		}
		// Only the DB is kept: the rest of the folder names the temporary home.
		keep := filepath.Join(tmp, "template")
		if t.err = os.Mkdir(keep, 0o755); t.err != nil {
			return
		}
		if t.err = os.Rename(filepath.Join(tmp, "airflow.db"), filepath.Join(keep, "airflow.db")); t.err != nil {
			return
		}
		if err := os.Rename(keep, dir); err != nil {
			if _, statErr := os.Stat(t.path); statErr != nil { // not one that another made meanwhile
				t.err = err
			}
		}
	})
	return t.path, t.err
}

// SetConfig sets key of section in the home's airflow.cfg, for Airflow's CLI and for a gateway that asks
// Airflow's configuration (an Airflow server started with its own environment reads it too).
func (h *Home) SetConfig(tb testing.TB, section, key, value string) {
	tb.Helper()
	path := filepath.Join(h.Dir, "airflow.cfg")
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, line := string(data), key+" = "+value+"\n"
	if header := "[" + section + "]\n"; strings.Contains(cfg, header) {
		cfg = strings.Replace(cfg, header, header+line, 1)
	} else {
		cfg += "\n" + header + line
	}
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Run runs the CLI directly in the home, to check what a request did; it fails tb on a non-zero exit.
func (h *Home) Run(tb testing.TB, args ...string) string {
	tb.Helper()
	cmd := exec.Command(h.Airflow, args...)
	cmd.Env = append(os.Environ(), "AIRFLOW_HOME="+h.Dir)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		tb.Fatalf("airflow %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

// Chromium returns the path of the Chromium the browser tests drive: $AIRFLOW_GATEWAY_TEST_CHROMIUM (which
// `make test` sets from testbed/chromium.sh), or chromium on PATH. Without one it skips the test, except
// under CI, where a missing browser fails it.
func Chromium(tb testing.TB) string {
	tb.Helper()
	SkipShort(tb, "a real Chromium")
	if bin := os.Getenv("AIRFLOW_GATEWAY_TEST_CHROMIUM"); bin != "" {
		return bin
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("no Chromium found: the browser tests are required under CI (testbed/chromium.sh installs it)")
	}
	tb.Skip("no Chromium installed: run `make test` (testbed/chromium.sh installs it)")
	return ""
}

// SQL runs a query on the home's SQLite metadata DB, with the Python interpreter next to its Airflow, and
// returns the rows, one per line, columns separated by tabs.
func (h *Home) SQL(tb testing.TB, query string) string {
	tb.Helper()
	script := `import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("\t".join(str(c) for c in row))
`
	out, err := exec.Command(filepath.Join(filepath.Dir(h.Airflow), "python"), "-c", script,
		filepath.Join(h.Dir, "airflow.db"), query).CombinedOutput()
	if err != nil {
		tb.Fatalf("query %q: %v\n%s", query, err, out)
	}
	return string(out)
}

// Buffer collects what a logger writes from many goroutines.
type Buffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset forgets what was written so far, for a test that reads what one step of it logged.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// settle waits up to 20 s for the processes that run in the home (AIRFLOW_HOME=dir in their environment)
// to exit, as a forkserver does on its own after its gateway was killed, and then kills what is left.
func settle(tb testing.TB, dir string) {
	for i := 0; ; i++ {
		left := ProcessesIn(dir)
		if len(left) == 0 {
			return
		}
		if i == 200 {
			tb.Logf("killing %d processes still running in %s: %v", len(left), dir, left)
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(200 * time.Millisecond)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ProcessesIn lists the processes still running in the home dir: those with AIRFLOW_HOME=dir.
func ProcessesIn(dir string) []int { return procfs.WithEnv("AIRFLOW_HOME=" + dir) }

// Schemathesis returns the schemathesis CLI that `make test` installs ($AIRFLOW_GATEWAY_TEST_SCHEMATHESIS).
// Without one it skips the test, except under CI, where it fails it.
func Schemathesis(tb testing.TB) string {
	tb.Helper()
	return Tool(tb, "AIRFLOW_GATEWAY_TEST_SCHEMATHESIS", "schemathesis")
}

// Tool returns the program testbed/setup.sh installed and named in the variable name (from the
// environment, or the env file): schemathesis, Airflow 2's Python client, airflowctl. Without it, it skips
// the test, except under CI, where a missing tool fails it.
func Tool(tb testing.TB, name, what string) string {
	tb.Helper()
	SkipShort(tb, what)
	if bin := os.Getenv(name); bin != "" {
		return bin
	}
	envOnce.Do(loadEnvFile)
	if bin := envFile[name]; bin != "" {
		return bin
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s is not set: %s is required under CI (testbed/setup.sh installs it)", name, what)
	}
	tb.Skipf("%s is not installed: run `make test` (testbed/setup.sh installs it)", what)
	return ""
}

// MultiTeam turns an Airflow 3.3 home to multi-team mode ([core] multi_team): each DAG file named in teams
// moves from the DAGs folder to a bundle of its own (bundle-TEAM in the home) that belongs to that team,
// the DAGs folder stays a bundle of no team, and the teams are made and every DAG serialized again.
func MultiTeam(tb testing.TB, home *Home, teams map[string]string) {
	tb.Helper()
	var bundles []string
	for file, team := range teams {
		folder := filepath.Join(home.Dir, "bundle-"+team)
		if err := os.MkdirAll(folder, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.Rename(filepath.Join(home.Dags, file), filepath.Join(folder, file)); err != nil {
			tb.Fatal(err)
		}
		bundle := `{"name": "bundle_` + team + `", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", ` +
			`"kwargs": {"path": "` + folder + `"}, "team_name": "` + team + `"}`
		if !slices.Contains(bundles, bundle) {
			bundles = append(bundles, bundle)
		}
	}
	slices.Sort(bundles)
	cfgFile := filepath.Join(home.Dir, "airflow.cfg")
	cfg, err := os.ReadFile(cfgFile)
	if err != nil {
		tb.Fatal(err)
	}
	multiTeam := strings.Replace(string(cfg), "[core]\n", "[core]\nmulti_team = True\n", 1) +
		"\n[dag_processor]\ndag_bundle_config_list = [" +
		`{"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}}, ` +
		strings.Join(bundles, ", ") + "]\n"
	if err := os.WriteFile(cfgFile, []byte(multiTeam), 0o644); err != nil {
		tb.Fatal(err)
	}
	home.Run(tb, "teams", "sync") // makes the teams the bundles name
	home.Run(tb, "dags", "reserialize")
}

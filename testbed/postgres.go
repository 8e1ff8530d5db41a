package testbed

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Postgres is a PostgreSQL server of a test: Debian's package, run from a temporary directory on a free
// port of 127.0.0.1, as an unprivileged user when the test runs as root (the server refuses root).
type Postgres struct {
	Port   int
	dir    string
	server func() *exec.Cmd // the server's command, as it was first started
	cmd    *exec.Cmd
	admin  *sql.DB
	dbs    atomic.Int32
}

// PostgresBin returns the folder of the PostgreSQL server's programs: $AIRFLOW_GATEWAY_TEST_PG_BIN (which
// `make test` sets from testbed/postgres.sh), or the newest under /usr/lib/postgresql. Without one it
// skips the test, except under CI, where it fails it.
func PostgresBin(tb testing.TB) string {
	tb.Helper()
	SkipShort(tb, "a real PostgreSQL server")
	if dir := os.Getenv("AIRFLOW_GATEWAY_TEST_PG_BIN"); dir != "" {
		return dir
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(found, func(i, j int) bool { return pgMajor(found[i]) < pgMajor(found[j]) })
	if len(found) > 0 {
		return filepath.Dir(found[len(found)-1])
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("no PostgreSQL server found: the replica tests are required under CI (testbed/postgres.sh installs it)")
	}
	tb.Skip("no PostgreSQL server installed: run `make test` (testbed/postgres.sh installs it)")
	return ""
}

func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// StartPostgres initializes and starts a server for tb, and stops it and removes its files when tb ends.
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	bin := PostgresBin(tb)
	dir, err := os.MkdirTemp("", "airflow-gateway-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Postgres{dir: dir, Port: FreePort(tb)}
	tb.Cleanup(p.stop)
	cred := unprivileged(tb, dir)
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "TZ=UTC")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-U", "gateway", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	p.server = func() *exec.Cmd {
		return run("postgres", "-D", data, "-p", strconv.Itoa(p.Port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
			"-c", "fsync=off", "-c", "max_connections=200")
	}
	if p.admin, err = sql.Open("pgx", p.URL("postgres")); err != nil {
		tb.Fatal(err)
	}
	p.Start(tb)
	return p
}

// Start starts the server (again, after Stop) on its port, and waits until it takes connections.
func (p *Postgres) Start(tb testing.TB) {
	tb.Helper()
	log, err := os.OpenFile(filepath.Join(p.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	p.cmd = p.server()
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = p.admin.PingContext(ctx)
		cancel()
		if err == nil {
			return
		}
		if i == 300 {
			out, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
			tb.Fatalf("PostgreSQL did not start: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is the URL of database name on the server.
func (p *Postgres) URL(name string) string {
	return fmt.Sprintf("postgres://gateway@127.0.0.1:%d/%s?sslmode=disable", p.Port, name)
}

// SQLAlchemyURL is the URL of database name for Airflow's sql_alchemy_conn.
func (p *Postgres) SQLAlchemyURL(name string) string {
	return fmt.Sprintf("postgresql+psycopg2://gateway@127.0.0.1:%d/%s", p.Port, name)
}

// NewDatabase creates an empty database on the server and returns its URL.
func (p *Postgres) NewDatabase(tb testing.TB) string {
	tb.Helper()
	return p.URL(p.NewDatabaseName(tb))
}

// NewDatabaseName creates an empty database on the server and returns its name.
func (p *Postgres) NewDatabaseName(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("db%d", p.dbs.Add(1))
	if _, err := p.admin.Exec("CREATE DATABASE " + name); err != nil {
		tb.Fatal(err)
	}
	return name
}

// Stop shuts the server down (a fast shutdown: it ends its sessions) and keeps its files for Start.
func (p *Postgres) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	p.cmd = nil
}

// stop stops the server and removes its files.
func (p *Postgres) stop() {
	if p.admin != nil {
		p.admin.Close()
	}
	p.Stop()
	os.RemoveAll(p.dir)
}

// unprivileged returns the credentials to run a server that refuses root with (PostgreSQL, PgBouncer):
// those of the user nobody when the test runs as root, who is then given dir; nil otherwise.
func unprivileged(tb testing.TB, dir string) *syscall.Credential {
	tb.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		tb.Fatalf("PostgreSQL and PgBouncer refuse to run as root, and there is no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		tb.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// FreePort returns a TCP port of 127.0.0.1 that nothing listens on now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

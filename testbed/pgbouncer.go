package testbed

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PgBouncer is a connection pooler of a test in front of a Postgres: Debian's pgbouncer, run from a
// temporary directory on a free port of 127.0.0.1, as an unprivileged user when the test runs as root (it
// refuses root), passing every database of the server on with the server's user.
type PgBouncer struct {
	Port   int
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has ended
}

// PgBouncerBin returns Debian's pgbouncer: $AIRFLOW_GATEWAY_TEST_PGBOUNCER (which `make test` sets from
// testbed/debian.sh), or pgbouncer on PATH or in /usr/sbin. Without one it skips the test, except under
// CI, where it fails it.
func PgBouncerBin(tb testing.TB) string {
	tb.Helper()
	SkipShort(tb, "a real PgBouncer")
	if bin := os.Getenv("AIRFLOW_GATEWAY_TEST_PGBOUNCER"); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath("pgbouncer"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer"
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("no pgbouncer found: the tests of the job store behind a pooler are required under CI (make test installs it)")
	}
	tb.Skip("pgbouncer is not installed: run `make test`, which installs it")
	return ""
}

// StartPgBouncer starts PgBouncer in front of pg, pooling in poolMode (session, transaction or
// statement), with settings as more lines of its [pgbouncer] section (such as "server_round_robin = 1"),
// and stops it and removes its files when tb ends.
func StartPgBouncer(tb testing.TB, pg *Postgres, poolMode string, settings ...string) *PgBouncer {
	tb.Helper()
	bin := PgBouncerBin(tb)
	dir, err := os.MkdirTemp("", "airflow-gateway-pgbouncer-")
	if err != nil {
		tb.Fatal(err)
	}
	b := &PgBouncer{dir: dir, Port: FreePort(tb)}
	tb.Cleanup(b.stop)
	cred := unprivileged(tb, dir)
	ini := fmt.Sprintf(`[databases]
* = host=127.0.0.1 port=%d user=gateway

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = %s
ignore_startup_parameters = extra_float_digits
%s
`, pg.Port, b.Port, filepath.Join(dir, "userlist.txt"), poolMode, strings.Join(settings, "\n"))
	for name, text := range map[string]string{"pgbouncer.ini": ini, "userlist.txt": `"gateway" ""` + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	log, err := os.Create(filepath.Join(dir, "pgbouncer.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	b.cmd = exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	b.cmd.Stdout, b.cmd.Stderr = log, log
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	b.exited = make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(b.exited) }()
	// It takes connections once a query through it reaches the server.
	db, err := sql.Open("pgx", b.URL("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = db.ExecContext(ctx, "SELECT 1")
		cancel()
		if err == nil {
			return b
		}
		select {
		case <-b.exited:
			i = 300
		default:
		}
		if i >= 300 {
			out, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			tb.Fatalf("PgBouncer does not pass connections on: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is the URL of database name of the server, through the pooler.
func (b *PgBouncer) URL(name string) string {
	return fmt.Sprintf("postgres://gateway@127.0.0.1:%d/%s?sslmode=disable", b.Port, name)
}

// stop shuts the pooler down at once (SIGTERM), and removes its files.
func (b *PgBouncer) stop() {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-b.exited
		}
	}
	os.RemoveAll(b.dir)
}

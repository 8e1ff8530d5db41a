package testbed

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// HAProxyConfig is the balancer configuration the replica tests use, and the README shows: round robin
// over the replicas, each checked on /health every second, a request whose replica refuses the connection
// sent to another, and the name of the replica that answered in X-Served-By. %d is the frontend's port;
// the server lines follow it.
const HAProxyConfig = `global
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    # a request whose replica refuses the connection (stopping, or down) goes to another
    option redispatch
    retries 3
    retry-on conn-failure empty-response response-timeout

frontend gateway
    bind 127.0.0.1:%d
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
    http-response set-header X-Served-By %%s
`

// HAProxy is a load balancer of a test in front of gateway replicas.
type HAProxy struct {
	URL string
	cmd *exec.Cmd
}

// StartHAProxy starts Debian's haproxy ($AIRFLOW_GATEWAY_TEST_HAPROXY, or haproxy on PATH) in front of
// the replicas, named by their addresses (host:port), and stops it when tb ends.
func StartHAProxy(tb testing.TB, replicas map[string]string) *HAProxy {
	tb.Helper()
	bin := os.Getenv("AIRFLOW_GATEWAY_TEST_HAPROXY")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("haproxy"); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatal("no haproxy found: the replica tests are required under CI (make test installs it)")
			}
			tb.Skip("haproxy is not installed: run `make test`, which installs it")
		}
	}
	port := FreePort(tb)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, HAProxyConfig, port)
	for name, addr := range replicas {
		fmt.Fprintf(&cfg, "    server %s %s check\n", name, addr)
	}
	dir := tb.TempDir()
	file := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	h := &HAProxy{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: exec.Command(bin, "-db", "-f", file)}
	h.cmd.Stdout, h.cmd.Stderr = log, log
	if err := h.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		_ = h.cmd.Wait()
	})
	for i := 0; ; i++ {
		resp, err := http.Get(h.URL + "/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h
			}
		}
		if i == 300 {
			out, _ := os.ReadFile(filepath.Join(dir, "haproxy.log"))
			tb.Fatalf("haproxy does not pass requests on: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package testbed

import (
	_ "embed"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// HAProxyConfig is the balancer configuration of the replica tests, bench/replicas.sh and docs/replicas.md:
// round robin over two replicas, each checked on /health every second, a request whose replica refuses the
// connection sent to the other, and the name of the replica that answered in X-Served-By.
//
//go:embed haproxy.cfg
var HAProxyConfig string

// HAProxy is a load balancer of a test in front of gateway replicas.
type HAProxy struct {
	URL      string
	bin, dir string
	cmd      *exec.Cmd
}

// StartHAProxy starts Debian's haproxy ($AIRFLOW_GATEWAY_TEST_HAPROXY, or haproxy on PATH) in front of
// replicas a and b, at their addresses (host:port), and stops it when tb ends. A test with one gateway
// passes its address twice.
func StartHAProxy(tb testing.TB, a, b string) *HAProxy {
	tb.Helper()
	SkipShort(tb, "a real haproxy")
	bin := os.Getenv("AIRFLOW_GATEWAY_TEST_HAPROXY")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("haproxy"); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatal("no haproxy found: the replica and streaming tests are required under CI (make test installs it)")
			}
			tb.Skip("haproxy is not installed: run `make test`, which installs it")
		}
	}
	port := FreePort(tb)
	cfg := strings.NewReplacer("${PORT}", strconv.Itoa(port), "${REPLICA_A}", a, "${REPLICA_B}", b).Replace(HAProxyConfig)
	h := &HAProxy{URL: fmt.Sprintf("http://127.0.0.1:%d", port), bin: bin, dir: tb.TempDir()}
	if err := os.WriteFile(filepath.Join(h.dir, "haproxy.cfg"), []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Stop)
	h.Start(tb)
	return h
}

// Start starts the balancer (again) on its address, and waits until it passes requests on.
func (h *HAProxy) Start(tb testing.TB) {
	tb.Helper()
	log, err := os.OpenFile(filepath.Join(h.dir, "haproxy.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	h.cmd = exec.Command(h.bin, "-db", "-f", filepath.Join(h.dir, "haproxy.cfg"))
	h.cmd.Stdout, h.cmd.Stderr = log, log
	if err := h.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	for i := 0; ; i++ {
		resp, err := http.Get(h.URL + "/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if i == 300 {
			out, _ := os.ReadFile(filepath.Join(h.dir, "haproxy.log"))
			tb.Fatalf("haproxy does not pass requests on: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the balancer at once (haproxy's hard stop), cutting every connection through it.
func (h *HAProxy) Stop() {
	if h.cmd == nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	_ = h.cmd.Wait()
	h.cmd = nil
}

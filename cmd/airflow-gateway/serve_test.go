package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// served is a gateway that run serves in the test's own process, as `airflow-gateway serve` would.
type served struct {
	URL   string
	Logs  *testbed.Buffer // what it logged
	stop  context.CancelFunc
	ended chan struct{} // closed when run has returned
	err   error         // what run returned, once ended is closed
}

// serveInProcess starts `airflow-gateway serve` with cfg in-process and returns once it listens. When tb ends, it is
// stopped, and tb fails if run returned an error.
func serveInProcess(tb testing.TB, cfg testbed.Config) *served {
	tb.Helper()
	path := cfg.File(tb)
	ctx, stop := context.WithCancel(context.Background())
	s := &served{Logs: &testbed.Buffer{}, stop: stop, ended: make(chan struct{})}
	pr, pw := io.Pipe()
	go func() {
		s.err = run(ctx, []string{"serve", "--config", path}, func(string) string { return "" }, strings.NewReader(""), pw, s.Logs)
		pw.Close()
		close(s.ended)
	}()
	tb.Cleanup(func() {
		s.Stop()
		<-s.ended
		if s.err != nil {
			tb.Errorf("serve: %v", s.err)
		}
	})
	s.URL = testbed.ListeningURL(tb, pr)
	return s
}

// Stop ends run's context, as SIGTERM or SIGINT does: the gateway stops taking requests and shuts down.
func (s *served) Stop() { s.stop() }

// Ended is closed when run has returned.
func (s *served) Ended() <-chan struct{} { return s.ended }

// mustServe starts the whole gateway in-process, as `airflow-gateway serve` would, with cfg (on cfg.Home),
// and returns a client with the test token. Unless cfg says otherwise, the test token is the plugin
// token, and commands may take 120 s (those that run tasks 300 s), for a machine busy with other tests.
func mustServe(tb testing.TB, cfg testbed.Config) *gatewayClient {
	tb.Helper()
	if cfg.PluginToken == "" {
		cfg.PluginToken = testToken
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 120 * time.Second
	}
	if cfg.LongCommandTimeout == 0 {
		cfg.LongCommandTimeout = 300 * time.Second
	}
	s := serveInProcess(tb, cfg)
	return newGatewayClient(s.URL, cfg.Home, s.Logs)
}

// forEachAirflow runs body on each Airflow version, in parallel, each with a fresh home and a gateway on it
// started with cfg.
func forEachAirflow(t *testing.T, cfg testbed.Config, body func(t *testing.T, major string, home *testbed.Home, g *gatewayClient)) {
	t.Helper()
	for _, major := range testbed.Versions {
		onAirflow(t, major, cfg, body)
	}
}

// onAirflow runs body, in parallel with the test's other subtests, on one Airflow version with a fresh
// home and a gateway on it started with cfg.
func onAirflow(t *testing.T, major string, cfg testbed.Config, body func(t *testing.T, major string, home *testbed.Home, g *gatewayClient)) {
	t.Helper()
	t.Run("airflow-"+major, func(t *testing.T) {
		t.Parallel()
		home := testbed.MustHome(t, major)
		cfg.Home = home
		g := mustServe(t, cfg)
		if cfg.Executor != "subprocess" {
			waitWarm(t, g) // so that the suite runs on the warm executor, not on the subprocesses it starts with
		}
		body(t, major, home, g)
	})
}

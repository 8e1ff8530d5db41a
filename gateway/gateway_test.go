package gateway_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/sqlite"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

const token = "test-token-0123456789"

// viewerToken has role Viewer; roleToken gives the token of each role.
var viewerToken = roleToken(commands.RoleViewer)

func roleToken(r commands.Role) string {
	if r == commands.RoleAdmin {
		return token
	}
	return strings.ToLower(r.String()) + "-token-0123456789"
}

// scriptedExecutor answers every command with a fixed result and counts the runs; it stands in for the
// executor where a test is about HTTP, not Airflow.
type scriptedExecutor struct {
	result     commands.Result
	block      chan struct{} // when not nil, each run waits for it to close
	runs       atomic.Int32
	lastArg    atomic.Value
	lastCaller atomic.Value
}

func (s *scriptedExecutor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	s.runs.Add(1)
	s.lastArg.Store(x.Args)
	s.lastCaller.Store(x.Caller)
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
		}
	}
	res := s.result
	return &res, nil
}

// testKeyring has the token of every role, and signs sessions.
func testKeyring() *gateway.Keyring {
	creds := gateway.NewKeyring("rest_api_plugin_http_token")
	creds.AddToken("ci", sha256.Sum256([]byte(token)), commands.RoleAdmin)
	creds.SignSessions([]byte("test-session-key-0123456789"), false)
	for _, r := range []commands.Role{commands.RoleViewer, commands.RoleUser, commands.RoleOp} {
		creds.AddToken(strings.ToLower(r.String()), sha256.Sum256([]byte(roleToken(r))), r)
	}
	return creds
}

// serverSetup is how mustServer makes and serves a gateway; serverOptions change it.
type serverSetup struct {
	gateway.Options
	asServe    bool // serve as `airflow-gateway serve` does, with Options.Limits
	tlsConfig  *tls.Config
	index      *commands.DAGIndex // the DAG index of the service, when set
	useService func(*commands.Service)
}

// withDAGIndex gives the gateway's service a DAG index, for scopes to match against.
func withDAGIndex(dags ...commands.DAGInfo) serverOption {
	return func(s *serverSetup) { s.index = commands.NewDAGIndex(dags) }
}

// serverOption changes how mustServer makes and serves a gateway.
type serverOption func(*serverSetup)

// withKeyring gives the gateway creds instead of a token per role.
func withKeyring(creds *gateway.Keyring) serverOption {
	return func(s *serverSetup) { s.Keys = creds }
}

// withInfo has the gateway say info about itself and Airflow.
func withInfo(info gateway.Info) serverOption {
	return func(s *serverSetup) { s.Info = info }
}

// withLog has the gateway and its jobs log to h instead of the default logger.
func withLog(h slog.Handler) serverOption {
	return func(s *serverSetup) { s.Log = slog.New(h) }
}

// withOptions changes the gateway's options as set does.
func withOptions(set func(*gateway.Options)) serverOption {
	return func(s *serverSetup) { set(&s.Options) }
}

// withService hands the gateway's Service to use once it is made, before the gateway serves.
func withService(use func(*commands.Service)) serverOption {
	return func(s *serverSetup) { s.useService = use }
}

// asServe serves the gateway as `airflow-gateway serve` does: its own http.Server with limits and its
// connection cap, over TLS with tlsConfig when it is not nil.
func asServe(limits gateway.Limits, tlsConfig *tls.Config) serverOption {
	return func(s *serverSetup) { s.Limits, s.asServe, s.tlsConfig = limits, true, tlsConfig }
}

// mustServer serves a gateway over the Airflow 3.3.2 fixture catalog and ex, with a token per role, opts (or
// two slots and short limits when zero) and a job store, all closed when tb ends. Every answer it gives
// is checked against the OpenAPI document (conformant): one that the document does not allow fails tb.
func mustServer(tb testing.TB, ex commands.Executor, opts commands.Options, options ...serverOption) *httptest.Server {
	tb.Helper()
	srv, _ := mustGateway(tb, ex, opts, options...)
	return srv
}

// mustGateway serves a gateway as mustServer does, and returns it too.
func mustGateway(tb testing.TB, ex commands.Executor, opts commands.Options, options ...serverOption) (*httptest.Server, *gateway.Server) {
	tb.Helper()
	setup := serverSetup{Options: gateway.Options{Keys: testKeyring(), Log: slog.Default(), Info: gateway.Info{GatewayVersion: "test", AirflowVersion: "3.3.2"}}}
	for _, o := range options {
		o(&setup)
	}
	cat := commandstest.Catalog(tb, "3.3.2")
	if opts.MaxConcurrent == 0 {
		opts = commands.Options{MaxConcurrent: 2, QueueTimeout: time.Second, CommandTimeout: time.Minute, LongCommandTimeout: time.Hour}
	}
	if opts.StateDir == "" {
		opts.StateDir = tb.TempDir()
	}
	if opts.MaxUploadBytes == 0 {
		opts.MaxUploadBytes = 64 << 10
	}
	setup.Service = commands.NewService(commands.NewPolicy(cat, tb.TempDir()), ex, opts)
	if setup.index != nil {
		setup.Service.SetDAGIndex(setup.index, time.Now())
	}
	if setup.useService != nil {
		setup.useService(setup.Service)
	}
	store, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "jobs.db"))
	if err != nil {
		tb.Fatal(err)
	}
	base, stop := context.WithCancel(context.Background())
	setup.Jobs = jobs.New(store, setup.Service, base, jobs.Options{Retention: time.Hour, Log: setup.Log})
	tb.Cleanup(func() {
		stop()
		_ = setup.Jobs.Wait(context.Background())
		store.Close()
	})
	gw, err := gateway.New(setup.Options)
	if err != nil {
		tb.Fatal(err)
	}

	srv := httptest.NewUnstartedServer(conformant(tb, gw))
	if setup.asServe {
		hs := gw.HTTPServer(context.Background())
		hs.Handler = conformant(tb, hs.Handler)
		srv.Config = hs
		srv.Listener = gw.LimitConnections(srv.Listener, setup.tlsConfig)
	}
	if setup.tlsConfig != nil {
		srv.TLS = setup.tlsConfig.Clone()
		srv.TLS.NextProtos = []string{"h2", "http/1.1"}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	tb.Cleanup(srv.Close)
	return srv, gw
}

// client is a client of srv with the Admin token: As(token) is another caller, As("") one without
// credentials. Whatever it sends, srv checks its answer against the OpenAPI document (mustServer).
func client(srv *httptest.Server) *testbed.Client {
	return &testbed.Client{URL: srv.URL, Token: token}
}

// bearer is the Admin token's header; asJSON and asForm say what a body is.
var (
	bearer = []string{"Authorization", "Bearer " + token}
	asJSON = []string{"Content-Type", "application/json"}
	asForm = []string{"Content-Type", "application/x-www-form-urlencoded"}
)

func TestHostileCommandsStartNoProcess(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{})
	admin := client(srv)
	for _, tt := range commandstest.HostileLines {
		if tt.Major == "2" {
			continue
		}
		var doc map[string]any
		a := admin.Get(t, "/api/v1/command?command="+url.QueryEscape(tt.Line)).Decode(t, &doc)
		if want := gateway.StatusOf(&commands.Error{Code: tt.Code}); a.Status != want {
			t.Errorf("%q: status %d, want %d", tt.Line, a.Status, want)
		}
		if ct := a.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%q: content type %q", tt.Line, ct)
		}
		if detail, _ := doc["detail"].(string); !strings.Contains(detail, tt.Says) {
			t.Errorf("%q: detail %q does not say %q", tt.Line, detail, tt.Says)
		}
	}
	// The same through the other ways of sending a command, and the ways of sending it wrongly.
	posts := []struct{ ctype, body string }{
		{"application/json", `{"command": "dags list; id"}`},
		{"application/json", `{"command": "dags list`},
		{"application/json", `{"cmd": "dags list"}`},
		{"application/x-www-form-urlencoded", "command=dags+list+%60id%60"},
		{"application/x-www-form-urlencoded", "command=version&command=dags+list"},
		{"text/plain", "dags list"},
	}
	for _, p := range posts {
		var doc map[string]any
		a := admin.Do(t, http.MethodPost, "/api/v1/command", strings.NewReader(p.body), "Content-Type", p.ctype).Decode(t, &doc)
		if a.Status/100 != 4 || doc["detail"] == "" {
			t.Errorf("POST %s %.40q: status %d %v", p.ctype, p.body, a.Status, doc)
		}
	}
	// Bodies over the limit, with a length and without one (chunked), are 413 on every way of sending.
	oversized := `{"command": "` + strings.Repeat("a", 2<<20) + `"}`
	for _, ctype := range []string{"application/json", "application/x-www-form-urlencoded"} {
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(oversized) // its length is known, and sent
			if chunked {
				body = io.MultiReader(body) // its length is not known: the client sends it in chunks
			}
			var doc map[string]any
			a := admin.Do(t, http.MethodPost, "/api/v1/command", body, "Content-Type", ctype).Decode(t, &doc)
			if detail, _ := doc["detail"].(string); a.Status != http.StatusRequestEntityTooLarge || !strings.Contains(detail, "over 1M") {
				t.Errorf("oversized %s body (chunked %v): status %d, %q", ctype, chunked, a.Status, detail)
			}
		}
	}
	for _, q := range []string{"command=dags%20list;id", "command=version&command=dags%20list", ""} {
		if a := admin.Get(t, "/api/v1/command?"+q); a.Status != http.StatusBadRequest {
			t.Errorf("?%s: status %d, want 400", q, a.Status)
		}
	}
	if n := ex.runs.Load(); n != 0 {
		t.Errorf("%d processes were started for refused requests", n)
	}
}

func TestTokens(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{result: commands.Result{Stdout: "3.3.2\n"}}, commands.Options{})
	cases := []struct {
		header []string
		want   int
	}{
		{nil, http.StatusUnauthorized},
		{[]string{"Authorization", "Bearer wrong"}, http.StatusUnauthorized},
		{[]string{"Authorization", "Basic " + token}, http.StatusUnauthorized},
		{[]string{"rest_api_plugin_http_token", "wrong"}, http.StatusUnauthorized},
		{bearer, http.StatusOK},
		{[]string{"Authorization", "bearer " + token}, http.StatusOK},
		{[]string{"rest_api_plugin_http_token", token}, http.StatusOK},
	}
	anonymous := client(srv).As("")
	for _, c := range cases {
		var doc map[string]any
		a := anonymous.Get(t, "/api/v1/command?command=version", c.header...).Decode(t, &doc)
		if a.Status != c.want {
			t.Errorf("%v: status %d, want %d (%v)", c.header, a.Status, c.want, doc)
		}
		if c.want == http.StatusUnauthorized && a.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%v: 401 without WWW-Authenticate", c.header)
		}
	}
}

func TestCommandResponse(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "[{\"dag_id\": \"a\"}]\n", Stderr: "warn\n", ExitCode: 1, Duration: 1500 * time.Millisecond}}
	srv := mustServer(t, ex, commands.Options{})
	var doc map[string]any
	a := client(srv).Get(t, "/api/v1/command?command="+url.QueryEscape("airflow dags list -o json")).Decode(t, &doc)
	if a.Status != http.StatusOK {
		t.Fatalf("status %d: %v", a.Status, doc)
	}
	if a.Header.Get("X-Airflow-Exit-Code") != "1" || doc["exit_code"] != 1.0 {
		t.Errorf("exit code: header %q, body %v", a.Header.Get("X-Airflow-Exit-Code"), doc["exit_code"])
	}
	if doc["airflow_cmd"] != "airflow dags list --output=json" || doc["duration_ms"] != 1500.0 || doc["stderr"] != "warn\n" {
		t.Errorf("envelope %v", doc)
	}
	if data, ok := doc["data"].([]any); !ok || len(data) != 1 {
		t.Errorf("data %v", doc["data"])
	}
}

func TestTimeoutAnswers504WithPartialOutput(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "partial\n", TimedOut: true}}
	srv := mustServer(t, ex, commands.Options{})
	var doc map[string]any
	if a := client(srv).Get(t, "/api/v1/command?command=version").Decode(t, &doc); a.Status != http.StatusGatewayTimeout || doc["stdout"] != "partial\n" {
		t.Errorf("status %d, %v", a.Status, doc)
	}
}

func TestFullQueueAnswers503(t *testing.T) {
	ex := &scriptedExecutor{block: make(chan struct{})}
	srv := mustServer(t, ex, commands.Options{MaxConcurrent: 1, QueueTimeout: 300 * time.Millisecond, CommandTimeout: time.Minute, LongCommandTimeout: time.Hour})
	admin := client(srv)
	go admin.Send(http.MethodGet, "/api/v1/command?command=version", nil)
	for ex.runs.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	var doc map[string]any
	a := admin.Get(t, "/api/v1/command?command=version").Decode(t, &doc)
	if a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q: %v", a.Status, a.Header.Get("Retry-After"), doc)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("503 after %s; want it within the queue timeout", waited)
	}
	close(ex.block)
}

func TestCommandsListing(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	var doc map[string]any
	if a := client(srv).Get(t, "/api/v1/commands").Decode(t, &doc); a.Status != http.StatusOK || doc["airflow_version"] != "3.3.2" {
		t.Fatalf("status %d %v", a.Status, doc["airflow_version"])
	}
	paths := map[string]bool{}
	for _, c := range doc["commands"].([]any) {
		paths[c.(map[string]any)["path"].(string)] = true
	}
	if !paths["dags trigger"] || !paths["backfill create"] || paths["dags backfill"] || paths["users create"] {
		t.Errorf("listing has the wrong paths: %v", paths)
	}
}

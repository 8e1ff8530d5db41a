package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestSIGHUPReloadsTokens rotates the tokens of a running gateway (a process of its own, logging JSON):
// after SIGHUP a new token works, a removed one and its session get 401, and a command that ran across
// the reload is answered 200; a file that does not parse keeps the tokens there were.
func TestSIGHUPReloadsTokens(t *testing.T) {
	t.Parallel()
	home := testbed.MustHome(t, "3")
	file := mustTokensFile(t, "Admin", "Viewer")
	logs := &testbed.Buffer{}
	proc, url := testbed.GatewayProcess(t, testbed.Config{Home: home, PluginToken: testToken, Executor: "subprocess", LogFormat: "json",
		SecretKey: "reload-test-secret-key-0123456789", TokensFile: file}, logs)
	g := newGatewayClient(url, home, logs)
	admin, viewer, user := roleTokenOf("Admin"), roleTokenOf("Viewer"), roleTokenOf("User")

	// The Viewer logs in; its session works.
	session := g.As(viewer).Login(t)
	withSession := func() int { return session.Get(t, "/api/v1/commands").Status }
	if code := withSession(); code != http.StatusOK {
		t.Fatalf("the Viewer's session before the reload: %d", code)
	}
	// A token minted from the Viewer's works until the reload that removes its parent.
	minted := g.As(viewer).Mint(t, "60s", "Viewer").Token
	if code, _ := g.as(t, minted, "/api/v1/commands"); code != http.StatusOK {
		t.Fatalf("the minted token before the reload: %d", code)
	}
	if code, _ := g.as(t, user, "/api/v1/commands"); code != http.StatusUnauthorized {
		t.Fatalf("the User token before it is added: %d", code)
	}

	// A command that runs across the reload: `dags list` on the subprocess executor takes seconds.
	running := make(chan int, 1)
	started := time.Now()
	go func() {
		code, _ := g.as(t, admin, "/api/v1/command?command=dags%20list")
		running <- code
	}()
	time.Sleep(300 * time.Millisecond)

	// The Viewer goes, a User comes.
	rotated := mustTokensFile(t, "Admin", "User")
	data, err := os.ReadFile(rotated)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, file, data)
	hangUp(t, proc.Process, logs, "SIGHUP: tokens reloaded")
	select {
	case <-running:
		t.Fatalf("the command ended %s after it started, before the reload: the test proves nothing", time.Since(started))
	default:
	}
	if code, _ := g.as(t, user, "/api/v1/commands"); code != http.StatusOK {
		t.Errorf("the added User token: %d", code)
	}
	if code, _ := g.as(t, viewer, "/api/v1/commands"); code != http.StatusUnauthorized {
		t.Errorf("the removed Viewer token: %d", code)
	}
	if code := withSession(); code != http.StatusUnauthorized {
		t.Errorf("the removed Viewer's session: %d", code)
	}
	if code, _ := g.as(t, minted, "/api/v1/commands"); code != http.StatusUnauthorized {
		t.Errorf("the token minted from the removed Viewer: %d", code)
	}
	if code := <-running; code != http.StatusOK {
		t.Errorf("the command that ran across the reload: %d", code)
	}

	// A file that does not parse: the tokens stay as they were.
	replaceFile(t, file, []byte("[broken\nrole = Admin\n"))
	hangUp(t, proc.Process, logs, "SIGHUP: the tokens file was not reloaded")
	for _, tok := range []string{admin, user} {
		if code, _ := g.as(t, tok, "/api/v1/commands"); code != http.StatusOK {
			t.Errorf("after a broken file, a token of the last good set: %d", code)
		}
	}
	if code, _ := g.as(t, viewer, "/api/v1/commands"); code != http.StatusUnauthorized {
		t.Errorf("after a broken file, the removed token: %d", code)
	}

	// log_format = json: every line the gateway wrote is one JSON object.
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	lines := 0
	for sc.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil || obj["msg"] == nil || obj["level"] == nil {
			t.Errorf("a log line is not a JSON record: %q", sc.Text())
		}
		lines++
	}
	if lines < 10 {
		t.Errorf("only %d log lines: the check proves little", lines)
	}
	for _, secret := range []string{admin, viewer, user} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows a token")
		}
	}
}

// replaceFile writes data to path as an operator's editor would: a new file renamed over the old one.
func replaceFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tokens.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// hangUp sends SIGHUP to the gateway and waits until its log has one more line holding want.
func hangUp(tb testing.TB, proc interface{ Signal(os.Signal) error }, logs *testbed.Buffer, want string) {
	tb.Helper()
	before := strings.Count(logs.String(), want)
	if err := proc.Signal(syscall.SIGHUP); err != nil {
		tb.Fatal(err)
	}
	for range 200 {
		if strings.Count(logs.String(), want) > before {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	tb.Fatalf("no log line %q within 5 seconds of SIGHUP:\n%s", want, logs)
}

package gateway_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// captureLog sends the default logger to a buffer for the rest of the test.
func captureLog(t *testing.T) *testbed.Buffer {
	var b testbed.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&b, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &b
}

func TestAccessAndAuditLines(t *testing.T) {
	logs := captureLog(t)
	admin := client(mustServer(t, &scriptedExecutor{result: commands.Result{ExitCode: 3}}, commands.Options{}))
	admin.Plugin().Get(t, pluginAPI+"api=variables&cmd=set&key=db_password&value=hunter2")
	admin.Get(t, "/api/v1/command?command=dags%20list")
	admin.As("not-the-token").Plugin().Get(t, pluginAPI+"api=version")
	for _, page := range []string{"/login", "/admin/rest_api/static/style.css"} {
		admin.As("").Get(t, page)
	}

	// A handler logs its access line after the answer is written: the client may have it first.
	for i := 0; i < 200 && strings.Count(logs.String(), "msg=request") < 5; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	var access, audit []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, token) || strings.Contains(l, "not-the-token") || strings.Contains(l, "hunter2") {
			t.Errorf("a log line shows a secret: %s", l)
		}
		switch {
		case strings.Contains(l, "msg=request"):
			access = append(access, l)
		case strings.Contains(l, "msg=audit"):
			audit = append(audit, l)
		}
	}
	if len(access) != 5 {
		t.Fatalf("access lines: %q", access)
	}
	for i, want := range [][]string{
		{"token=ci", "dialect=plugin", `command="variables set"`, "status=500", "exit_code=3", "request_id="},
		{"token=ci", "dialect=command", `command="dags list"`, "status=200", "exit_code=3"},
		{"token=none", "dialect=plugin", "status=403"},
		{"dialect=page", "path=/login", "status=200"},
		{"dialect=page", "status=200"},
	} {
		for _, w := range want {
			if !strings.Contains(access[i], w) {
				t.Errorf("access line %d lacks %s: %s", i, w, access[i])
			}
		}
	}
	// Only the command that changes state is audited.
	if len(audit) != 1 || !strings.Contains(audit[0], "class=write") || !strings.Contains(audit[0], "variables set -- db_password") {
		t.Errorf("audit lines: %q", audit)
	}
}

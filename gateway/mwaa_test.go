package gateway_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// mwaa posts line as MWAA's clients do (text/plain, bearer token), as c with header, and returns the
// status and the answer with stdout and stderr decoded.
func mwaa(tb testing.TB, c *testbed.Client, line string, header ...string) (int, map[string]any) {
	tb.Helper()
	var doc map[string]any
	a := c.Do(tb, http.MethodPost, "/aws_mwaa/cli", strings.NewReader(line), append([]string{"Content-Type", "text/plain"}, header...)...).Decode(tb, &doc)
	for _, stream := range []string{"stdout", "stderr"} {
		s, ok := doc[stream].(string)
		if !ok {
			tb.Fatalf("%s: the answer has no %s: %v", line, stream, doc)
		}
		decoded, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			tb.Fatalf("%s: %s is not base64: %q", line, stream, s)
		}
		doc[stream] = string(decoded)
	}
	doc["exit_header"] = a.Header.Get("X-Airflow-Exit-Code")
	doc["retry_after"] = a.Header.Get("Retry-After")
	return a.Status, doc
}

func TestMWAAAnswersInBase64(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "gw_conf | gw_conf.py\n", Stderr: "a warning ✓\n", ExitCode: 3}}
	admin := client(mustServer(t, ex, commands.Options{}))
	status, doc := mwaa(t, admin, "airflow dags list\n")
	if status != http.StatusOK || doc["stdout"] != "gw_conf | gw_conf.py\n" || doc["stderr"] != "a warning ✓\n" || doc["exit_code"] != 3.0 || doc["exit_header"] != "3" {
		t.Errorf("answer: %d %v", status, doc)
	}
	if args := ex.lastArg.Load().([]string); strings.Join(args, " ") != "dags list" {
		t.Errorf("ran %q", args)
	}
	// A JSON body, as some wrappers send.
	if status, _ := mwaa(t, admin, `{"command": "tasks list gw_two_tasks"}`, asJSON...); status != http.StatusOK || strings.Join(ex.lastArg.Load().([]string), " ") != "tasks list -- gw_two_tasks" {
		t.Errorf("JSON body: %d, ran %q", status, ex.lastArg.Load())
	}
}

func TestMWAARefusalsKeepItsShape(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{})
	for _, tt := range []struct {
		name, token, line string
		header            []string
		status            int
		says              string
	}{
		{"shell operator", token, "version; id", nil, http.StatusBadRequest, "`;`"},
		{"no token", "", "version", nil, http.StatusUnauthorized, "valid token"},
		{"Viewer writing", viewerToken, "variables set k v", nil, http.StatusForbidden, "needs role Op"},
		{"unknown command", token, "users create", nil, http.StatusBadRequest, "unknown command"},
		{"form body", token, "dags list", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, "Content-Type: text/plain"},
		{"XML body", token, "<command/>", []string{"Content-Type", "application/xml"}, http.StatusBadRequest, "not accepted"},
		{"JSON without a command", token, `{"foo": 1}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest, `has no "command"`},
		{"JSON cut short", token, `{"command": "dags`, []string{"Content-Type", "application/json"}, http.StatusBadRequest, "cannot be read (unexpected EOF)"},
		{"JSON command not a string", token, `{"command": ["dags", "list"]}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest, "cannot be read (json: cannot unmarshal"},
		{"another site", token, "version", []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, "another site"},
	} {
		status, doc := mwaa(t, client(srv).As(tt.token), tt.line, tt.header...)
		if status != tt.status || doc["stdout"] != "" || !strings.Contains(doc["stderr"].(string), tt.says) || doc["detail"] == nil || doc["status"] != float64(tt.status) {
			t.Errorf("%s: %d %v, want %d with stderr saying %q", tt.name, status, doc, tt.status, tt.says)
		}
	}
	if n := ex.runs.Load(); n != 0 {
		t.Errorf("%d commands ran for refused requests", n)
	}
}

func TestMWAABusyAnswers503(t *testing.T) {
	ex := &scriptedExecutor{block: make(chan struct{})}
	defer close(ex.block)
	srv := mustServer(t, ex, commands.Options{MaxConcurrent: 1, QueueTimeout: 50 * time.Millisecond, CommandTimeout: time.Minute, LongCommandTimeout: time.Hour})
	admin := client(srv)
	go admin.Send(http.MethodPost, "/aws_mwaa/cli", strings.NewReader("version"), "Content-Type", "text/plain")
	for ex.runs.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	status, doc := mwaa(t, admin, "version")
	if status != http.StatusServiceUnavailable || doc["retry_after"] == "" || !strings.Contains(doc["stderr"].(string), "slots") {
		t.Errorf("busy: %d %v", status, doc)
	}
}

func TestMWAALogins(t *testing.T) {
	anonymous := client(mustServer(t, &scriptedExecutor{}, commands.Options{})).As("")
	a := anonymous.NoRedirects().Do(t, http.MethodPost, "/aws_mwaa/login", strings.NewReader("token="+token), asForm...)
	if a.Status != http.StatusFound || a.Header.Get("Location") != "/admin/rest_api/" || len(a.Cookies()) == 0 {
		t.Errorf("POST /aws_mwaa/login: %d to %q", a.Status, a.Header.Get("Location"))
	}
	page := anonymous.Get(t, "/aws_mwaa/aws-console-sso?login=true")
	if page.Status != http.StatusOK || !strings.Contains(page.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("the console login page: %d, CSP %q", page.Status, page.Header.Get("Content-Security-Policy"))
	}
}

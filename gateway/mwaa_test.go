package gateway_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// mwaa posts line as MWAA's clients do (text/plain, bearer token) and returns the status and the answer
// with stdout and stderr decoded.
func mwaa(tb testing.TB, srv *httptest.Server, bearerToken, line string, header ...string) (int, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/aws_mwaa/cli", strings.NewReader(line))
	req.Header.Set("Content-Type", "text/plain")
	if bearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+bearerToken)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, doc := do(tb, req)
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
	doc["exit_header"] = resp.Header.Get("X-Airflow-Exit-Code")
	doc["retry_after"] = resp.Header.Get("Retry-After")
	return resp.StatusCode, doc
}

func TestMWAAAnswersInBase64(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "gw_conf | gw_conf.py\n", Stderr: "a warning ✓\n", ExitCode: 3}}
	srv := mustServer(t, ex, commands.Options{})
	status, doc := mwaa(t, srv, token, "airflow dags list\n")
	if status != http.StatusOK || doc["stdout"] != "gw_conf | gw_conf.py\n" || doc["stderr"] != "a warning ✓\n" || doc["exit_code"] != 3.0 || doc["exit_header"] != "3" {
		t.Errorf("answer: %d %v", status, doc)
	}
	if args := ex.lastArg.Load().([]string); strings.Join(args, " ") != "dags list" {
		t.Errorf("ran %q", args)
	}
	// A JSON body, as some wrappers send.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/aws_mwaa/cli", strings.NewReader(`{"command": "tasks list gw_two_tasks"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusOK || strings.Join(ex.lastArg.Load().([]string), " ") != "tasks list -- gw_two_tasks" {
		t.Errorf("JSON body: %d, ran %q", resp.StatusCode, ex.lastArg.Load())
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
		status, doc := mwaa(t, srv, tt.token, tt.line, tt.header...)
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
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/aws_mwaa/cli", strings.NewReader("version"))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for ex.runs.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	status, doc := mwaa(t, srv, token, "version")
	if status != http.StatusServiceUnavailable || doc["retry_after"] == "" || !strings.Contains(doc["stderr"].(string), "slots") {
		t.Errorf("busy: %d %v", status, doc)
	}
}

func TestMWAALogins(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	resp, err := noRedirects.Post(srv.URL+"/aws_mwaa/login", "application/x-www-form-urlencoded", strings.NewReader("token="+token))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/admin/rest_api/" || len(resp.Cookies()) == 0 {
		t.Errorf("POST /aws_mwaa/login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	page, err := http.Get(srv.URL + "/aws_mwaa/aws-console-sso?login=true")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(page.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("the console login page: %d, CSP %q", page.StatusCode, page.Header.Get("Content-Security-Policy"))
	}
}

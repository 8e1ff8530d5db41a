package gateway_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// pluginToken is the Admin token in the plugin's header; pluginAPI is the plugin's endpoint, to which a
// query string is added.
var pluginToken = []string{"rest_api_plugin_http_token", token}

const pluginAPI = "/admin/rest_api/api?"

// multipartBody builds a multipart form; a file part is sent when fileName is not empty.
func multipartBody(tb testing.TB, fields map[string]string, fileName string, content []byte) (string, *bytes.Buffer) {
	tb.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if fileName != "" {
		h := textproto.MIMEHeader{}
		// Written by hand: multipart.Writer.CreateFormFile would escape the name, and the test sends it raw.
		h.Set("Content-Disposition", `form-data; name="dag_file"; filename="`+fileName+`"`)
		h.Set("Content-Type", "application/octet-stream")
		part, err := w.CreatePart(h)
		if err != nil {
			tb.Fatal(err)
		}
		part.Write(content)
	}
	w.Close()
	return w.FormDataContentType(), &buf
}

// assertEnvelope checks the fields every plugin answer has, and that its times lie in [before, after].
func assertEnvelope(tb testing.TB, a *testbed.Answer, env map[string]any, before, after time.Time) {
	tb.Helper()
	for _, key := range []string{"call_time", "response_time"} {
		s, _ := env[key].(string)
		at, err := http.ParseTime(s)
		if err != nil || !strings.HasSuffix(s, " GMT") {
			tb.Errorf("%s %q is not an HTTP date: %v", key, s, err)
			continue
		}
		if at.Before(before.Truncate(time.Second)) || at.After(after) {
			tb.Errorf("%s %s lies outside the request's window %s..%s", key, s, before, after)
		}
	}
	if code, _ := env["http_response_code"].(float64); int(code) != a.Status {
		tb.Errorf("http_response_code %v, status %d", env["http_response_code"], a.Status)
	}
	want := "OK"
	if a.Status >= 400 {
		want = "ERROR"
	}
	if env["status"] != want {
		tb.Errorf("status %v with HTTP %d", env["status"], a.Status)
	}
	if id, _ := env["request_id"].(string); id == "" || id != a.Header.Get("X-Request-Id") {
		tb.Errorf("request_id %q, header %q", id, a.Header.Get("X-Request-Id"))
	}
}

func TestPluginEnvelopeOfACommand(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "Pool p created\n", Stderr: "note\n", Duration: 1200 * time.Millisecond}}
	srv := mustServer(t, ex, commands.Options{})
	before := time.Now()
	var env map[string]any
	a := client(srv).Plugin().Get(t, pluginAPI+"api=pool&cmd=set&pool_name=p&slot_count=3&description=d").Decode(t, &env)
	assertEnvelope(t, a, env, before, time.Now())
	if a.Status != http.StatusOK || env["airflow_cmd"] != "airflow pools set -- p 3 d" {
		t.Fatalf("status %d, envelope %v", a.Status, env)
	}
	out, _ := env["output"].(map[string]any)
	if out["stdout"] != "Pool p created\n" || out["stderr"] != "note\n" || out["stdin"] != "" {
		t.Errorf("output %v", env["output"])
	}
	if env["exit_code"] != 0.0 || env["duration_ms"] != 1200.0 || env["truncated"] != false {
		t.Errorf("extensions: %v %v %v", env["exit_code"], env["duration_ms"], env["truncated"])
	}
	args, _ := env["arguments"].(map[string]any)
	if args["api"] != "pool" || args["slot_count"] != "3" || len(env["post_arguments"].(map[string]any)) != 0 {
		t.Errorf("arguments %v, post_arguments %v", env["arguments"], env["post_arguments"])
	}
	if _, has := env["warning"]; has {
		t.Errorf("a warning without cause: %v", env["warning"])
	}
}

func TestPluginErrorsOfTheSpec(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{})
	tests := []struct {
		query  string
		header []string
		status int
		output string
	}{
		{"", pluginToken, 400, "API should be provided"},
		{"api=", pluginToken, 400, "API should be provided"},
		{"api=nothing_here", pluginToken, 400, "API 'nothing_here' was not found"},
		{"api=task_state&execution_date=2024-01-01", pluginToken, 400, "The argument(s) ['dag_id', 'task_id'] are required"},
		{"api=dag_state&dag_id=d&execution_date=next%20week", pluginToken, 400, "the argument 'execution_date' must be a date (YYYY-MM-DD, optionally with a time) or a run id, not \"next week\""},
		{"api=version", nil, 403, "Token Authentication Failed"},
		{"api=version", []string{"rest_api_plugin_http_token", "wrong"}, 403, "Token Authentication Failed"},
		{"api=scheduler", pluginToken, 403, "API 'scheduler' starts a daemon, which this gateway does not allow: set [gateway] allow_daemons = True to allow it"},
	}
	anonymous := client(srv).As("")
	for _, tt := range tests {
		before := time.Now()
		var env map[string]any
		a := anonymous.Get(t, pluginAPI+tt.query, tt.header...).Decode(t, &env)
		assertEnvelope(t, a, env, before, time.Now())
		if a.Status != tt.status || env["output"] != tt.output {
			t.Errorf("%q: %d %q, want %d %q", tt.query, a.Status, env["output"], tt.status, tt.output)
		}
		_, hasArgs := env["arguments"]
		if tt.status == 403 && tt.header == nil || len(tt.header) > 0 && tt.header[1] == "wrong" {
			if hasArgs {
				t.Errorf("%q: the token failure echoes arguments", tt.query)
			}
		} else if !hasArgs {
			t.Errorf("%q: no arguments echoed", tt.query)
		}
	}
	if n := ex.runs.Load(); n != 0 {
		t.Errorf("%d commands started", n)
	}
}

func TestPluginRunOutcomes(t *testing.T) {
	t.Run("exit code", func(t *testing.T) {
		srv := mustServer(t, &scriptedExecutor{result: commands.Result{Stderr: "DagNotFound\n", ExitCode: 1}}, commands.Options{})
		var env map[string]any
		a := client(srv).Plugin().Get(t, pluginAPI+"api=pause&dag_id=nope").Decode(t, &env)
		if a.Status != 500 || env["exit_code"] != 1.0 || env["output"].(map[string]any)["stderr"] != "DagNotFound\n" {
			t.Errorf("%d %v", a.Status, env)
		}
	})
	t.Run("time limit", func(t *testing.T) {
		srv := mustServer(t, &scriptedExecutor{result: commands.Result{Stdout: "partial\n", TimedOut: true}}, commands.Options{})
		var env map[string]any
		a := client(srv).Plugin().Get(t, pluginAPI+"api=list_dags").Decode(t, &env)
		out, _ := env["output"].(map[string]any)
		if a.Status != 504 || out["stdout"] != "partial\n" || env["airflow_cmd"] != "airflow dags list" {
			t.Errorf("%d %v", a.Status, env)
		}
	})
	t.Run("no slot", func(t *testing.T) {
		ex := &scriptedExecutor{block: make(chan struct{})}
		defer close(ex.block)
		plugin := client(mustServer(t, ex, commands.Options{MaxConcurrent: 1, QueueTimeout: 100 * time.Millisecond, CommandTimeout: time.Minute, LongCommandTimeout: time.Minute})).Plugin()
		go plugin.Send(http.MethodGet, pluginAPI+"api=list_dags", nil)
		for ex.runs.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		var env map[string]any
		a := plugin.Get(t, pluginAPI+"api=list_dags").Decode(t, &env)
		if a.Status != 503 || a.Header.Get("Retry-After") == "" || !strings.Contains(env["output"].(string), "retry") {
			t.Errorf("%d %v", a.Status, env)
		}
	})
}

func TestPluginFormsAndQueryPrecedence(t *testing.T) {
	ex := &scriptedExecutor{}
	plugin := client(mustServer(t, ex, commands.Options{})).Plugin()
	// The query string wins over the form; the form's fields are echoed in post_arguments, masked.
	var env map[string]any
	a := plugin.Do(t, http.MethodPost, pluginAPI+"api=variables&key=from_query",
		strings.NewReader("cmd=set&key=from_form&value=v&conn_password=hunter2&api=pause"), asForm...).Decode(t, &env)
	if a.Status != 200 || env["airflow_cmd"] != "airflow variables set -- from_query v" {
		t.Fatalf("%d %v", a.Status, env)
	}
	post := env["post_arguments"].(map[string]any)
	if post["key"] != "from_form" || post["conn_password"] != "***" || post["api"] != "pause" {
		t.Errorf("post_arguments %v", post)
	}
	// Multipart without a file works like a form; duplicate keys keep the first value.
	ctype, body := multipartBody(t, map[string]string{"dag_id": "gw_conf"}, "", nil)
	env = nil
	a = plugin.Do(t, http.MethodPost, pluginAPI+"api=pause&dag_id=first&dag_id=second", body, "Content-Type", ctype).Decode(t, &env)
	if a.Status != 200 || env["airflow_cmd"] != "airflow dags pause -- first" {
		t.Errorf("%d %v", a.Status, env)
	}
	// A sensitive variable's value is masked everywhere it would show.
	env = nil
	a = plugin.Get(t, pluginAPI+"api=variables&cmd=set&key=my_api_key&value=s3cret").Decode(t, &env)
	if raw := env["airflow_cmd"].(string) + env["arguments"].(map[string]any)["value"].(string); a.Status != 200 || strings.Contains(raw, "s3cret") {
		t.Errorf("the secret shows: %v", env)
	}
	// Wrong content types and unreadable query strings are refused before anything runs.
	before := ex.runs.Load()
	env = nil
	a = plugin.Do(t, http.MethodPost, pluginAPI+"api=list_dags", strings.NewReader(`{"api": "list_dags"}`), asJSON...).Decode(t, &env)
	if a.Status != 400 || !strings.Contains(env["output"].(string), "is not accepted") {
		t.Errorf("JSON body: %d %v", a.Status, env)
	}
	if a := plugin.Get(t, pluginAPI+"api=list_dags;id"); a.Status != 400 {
		t.Errorf("raw ';' in the query: %d", a.Status)
	}
	if ex.runs.Load() != before {
		t.Errorf("a refused request started a command")
	}
}

func TestDeployDagRefusesHostileUploads(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "[]\n"}}
	plugin := client(mustServer(t, ex, commands.Options{})).Plugin()
	// deploy sends a multipart form to deploy_dag and returns the answer and its envelope.
	deploy := func(ctype string, body io.Reader, header ...string) (*testbed.Answer, map[string]any) {
		t.Helper()
		var env map[string]any
		a := plugin.Do(t, http.MethodPost, pluginAPI+"api=deploy_dag", body, append([]string{"Content-Type", ctype}, header...)...).Decode(t, &env)
		return a, env
	}
	dag := []byte("from airflow import DAG\n")
	tests := []struct {
		name    string
		content []byte
		status  int
		says    string
	}{
		{"../../etc/cron.d/evil.py", dag, 400, "path separator"},
		{"/etc/passwd.py", dag, 400, "path separator"},
		{`..\evil.py`, dag, 400, "path separator"},
		{"sub/dag.py", dag, 400, "path separator"},
		{"..", dag, 400, "'..'"},
		{".hidden.py", dag, 400, "starts with a dot"},
		{".airflowignore", dag, 400, "starts with a dot"},
		{"dag.sh", dag, 400, "neither .py nor .zip"},
		{"dag.PY", dag, 400, "neither .py nor .zip"},
		{"da g.py", dag, 400, "other characters"},
		{"big.py", bytes.Repeat([]byte("#"), 64<<10+1), 413, "over the limit of 65536 bytes"},
		{"huge.py", bytes.Repeat([]byte("#"), 2<<20), 413, "over"},
	}
	for _, tt := range tests {
		a, env := deploy(multipartBody(t, map[string]string{"force": "on"}, tt.name, tt.content))
		if out, _ := env["output"].(string); a.Status != tt.status || !strings.Contains(out, tt.says) {
			t.Errorf("%q: %d %q, want %d saying %q", tt.name, a.Status, out, tt.status, tt.says)
		}
	}
	// The file's path sent as text, as `curl -F dag_file=/path` (without @) does.
	if a, env := deploy(multipartBody(t, map[string]string{"dag_file": "/path/to/dag.py"}, "", nil)); a.Status != 400 || !strings.Contains(env["output"].(string), "came as text, not as a file") {
		t.Errorf("dag_file as text: %d %v", a.Status, env["output"])
	}
	// No file at all.
	if a, env := deploy(multipartBody(t, map[string]string{"force": "on"}, "", nil)); a.Status != 400 || env["output"] != "The argument(s) ['dag_file'] are required" {
		t.Errorf("no file: %d %v", a.Status, env["output"])
	}
	if n := ex.runs.Load(); n != 0 {
		t.Errorf("%d commands started for refused uploads", n)
	}
	// An upload over the body limit is refused from its Content-Length, before it is read.
	if a, env := deploy("multipart/form-data; boundary=x", io.LimitReader(neverEnding{}, 1<<30), "Content-Length", strconv.Itoa(1<<30)); a.Status != 413 || env["status"] != "ERROR" {
		t.Errorf("1 GiB announced: %d %v", a.Status, env)
	}
}

type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) { return len(p), nil }

func TestDeployDagWritesTheFile(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "[]\n"}}
	plugin := client(mustServer(t, ex, commands.Options{})).Plugin()
	ctype, body := multipartBody(t, map[string]string{"pause": "on", "unpause": "on"}, "gw_up.py", []byte("# v1\n"))
	var env map[string]any
	a := plugin.Do(t, http.MethodPost, pluginAPI+"api=deploy_dag", body, "Content-Type", ctype).Decode(t, &env)
	if a.Status != 200 || env["output"] != "DAG file 'gw_up.py' deployed." || !strings.Contains(env["warning"].(string), "neither was applied") {
		t.Fatalf("%d %v", a.Status, env)
	}
	if !strings.HasPrefix(env["airflow_cmd"].(string), "airflow dags reserialize && airflow dags list-import-errors --output=json") {
		t.Errorf("airflow_cmd %v", env["airflow_cmd"])
	}
	ctype, body = multipartBody(t, nil, "gw_up.py", []byte("# v2\n"))
	env = nil
	a = plugin.Do(t, http.MethodPost, pluginAPI+"api=deploy_dag", body, "Content-Type", ctype).Decode(t, &env)
	if a.Status != 400 || env["output"] != "The file 'gw_up.py' already exists; send force=on to replace it (the old file is kept as a backup)" {
		t.Errorf("%d %v", a.Status, env)
	}
}

func TestPluginRolesAnswer403NamingTheRole(t *testing.T) {
	ex := &scriptedExecutor{}
	viewer := client(mustServer(t, ex, commands.Options{})).As(viewerToken).Plugin()
	for query, says := range map[string]string{
		"api=deploy_dag":                               "API 'deploy_dag' needs role Admin or higher; these credentials have role Viewer",
		"api=trigger_dag&dag_id=d":                     "API 'trigger_dag' needs role User or higher",
		"api=variables":                                "API 'variables' needs role Op or higher",
		"api=pool&cmd=delete&pool_name=p":              "`pools delete` needs role Op or higher",
		"api=scheduler":                                "API 'scheduler' needs role Admin or higher",
		"api=connections&add&conn_id=c&conn_type=http": "API 'connections' needs role Op or higher",
	} {
		var env map[string]any
		if a := viewer.Get(t, pluginAPI+query).Decode(t, &env); a.Status != 403 || env["output"] != says && !strings.HasPrefix(env["output"].(string), says) {
			t.Errorf("%s: %d %q, want 403 %q", query, a.Status, env["output"], says)
		}
	}
	if n := ex.runs.Load(); n != 0 {
		t.Errorf("%d commands started", n)
	}
	if a := viewer.Get(t, pluginAPI+"api=pool"); a.Status != 200 {
		t.Errorf("a Viewer listing pools: %d", a.Status)
	}
}

func TestFailedAuthenticationsAreRateLimited(t *testing.T) {
	admin := client(mustServer(t, &scriptedExecutor{}, commands.Options{}))
	wrong := admin.As("guess").Plugin()
	for i := range gateway.DefaultFailedAuthBurst {
		if a := wrong.Get(t, pluginAPI+"api=version"); a.Status != 403 {
			t.Fatalf("failure %d: status %d", i+1, a.Status)
		}
	}
	var env map[string]any
	a := wrong.Get(t, pluginAPI+"api=version").Decode(t, &env)
	if a.Status != 429 || a.Header.Get("Retry-After") == "" || !strings.Contains(env["output"].(string), "too many failed authentications") {
		t.Errorf("the 11th failure: %d %v", a.Status, env)
	}
	// Blocked means blocked: a right token from the same address waits too, in every dialect.
	if a := admin.Plugin().Get(t, pluginAPI+"api=version"); a.Status != 429 {
		t.Errorf("a right token while blocked: %d", a.Status)
	}
	var doc map[string]any
	if a := admin.Get(t, "/api/v1/command?command=version").Decode(t, &doc); a.Status != 429 || doc["status"] != 429.0 {
		t.Errorf("command dialect while blocked: %d %v", a.Status, doc)
	}
}

// TestFailedAuthBurstIsConfigured: [auth] failed_auth_burst sets how many failures come before the 429s.
func TestFailedAuthBurstIsConfigured(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{}, withOptions(func(o *gateway.Options) { o.FailedAuthBurst = 3 }))
	wrong := client(srv).As("guess").Plugin()
	var got []int
	for range 4 {
		got = append(got, wrong.Get(t, pluginAPI+"api=version").Status)
	}
	if !slices.Equal(got, []int{403, 403, 403, 429}) {
		t.Errorf("4 failures with a burst of 3 were answered %v", got)
	}
}

package gateway_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

func TestArgvIsTakenAsItIs(t *testing.T) {
	ex := &scriptedExecutor{}
	admin := client(mustServer(t, ex, commands.Options{}))
	for _, tt := range []struct {
		body string
		want []string
	}{
		{`{"argv": ["dags", "trigger", "gw_conf", "-c", "{\"a\": \"b c\"}"]}`, []string{"dags", "trigger", `--conf={"a": "b c"}`, "--", "gw_conf"}},
		{`{"argv": ["airflow", "variables", "set", "k", "it's $(not) a ` + "`shell`" + `"]}`, []string{"variables", "set", "--", "k", "it's $(not) a `shell`"}},
		{`{"argv": ["variables", "set", "k", "line one\nline two"]}`, []string{"variables", "set", "--", "k", "line one\nline two"}},
	} {
		var doc map[string]any
		if a := admin.Do(t, http.MethodPost, "/api/v1/command", strings.NewReader(tt.body), asJSON...).Decode(t, &doc); a.Status != http.StatusOK {
			t.Errorf("%s: %d %v", tt.body, a.Status, doc)
			continue
		}
		if got := ex.lastArg.Load().([]string); !slices.Equal(got, tt.want) {
			t.Errorf("%s ran %q, want %q", tt.body, got, tt.want)
		}
	}
	// A job takes argv too.
	var doc map[string]any
	if a := admin.Do(t, http.MethodPost, "/api/v1/jobs", strings.NewReader(`{"argv": ["dags", "list"]}`), asJSON...).Decode(t, &doc); a.Status != http.StatusAccepted {
		t.Errorf("job with argv: %d %v", a.Status, doc)
	}
}

func TestArgvRefusals(t *testing.T) {
	ex := &scriptedExecutor{}
	admin := client(mustServer(t, ex, commands.Options{}))
	for _, tt := range []struct{ body, says string }{
		{`{"command": "version", "argv": ["version"]}`, "both"},
		{`{"argv": []}`, "argv is empty"},
		{`{"argv": null}`, `no "command"`},
		{`{"argv": ["dags", 1]}`, "cannot be read"},
		{`{"argv": "dags list"}`, "cannot be read"},
		{`{"argv": ["dags list"]}`, "holds a space"},
		{`{"argv": ["variables", "set", "k", "a\u0000b"]}`, "control character"},
		{`{"argv": ["dags", "test", "gw_conf", "--dagfile-path", "/etc/passwd"]}`, "inside the DAGs folder"},
		{`{"argv": ["dags", "list;", "id"]}`, "takes one of"},
		{`{"argv": ["users", "create"]}`, "unknown command"},
		{`{"argv": ["dags", "trigger", "gw_conf", "-c", "[1]"]}`, "JSON object"},
		{`{"argv": ["dags", "show", "gw_conf", "--save", "/tmp/x.png"]}`, "writes a file"},
		{`{"argv": ["` + strings.Repeat("a", commands.MaxCommandBytes) + `"]}`, "bytes in all"},
	} {
		for _, path := range []string{"/api/v1/command", "/api/v1/jobs"} {
			var doc map[string]any
			a := admin.Do(t, http.MethodPost, path, strings.NewReader(tt.body), asJSON...).Decode(t, &doc)
			if detail, _ := doc["detail"].(string); a.Status != http.StatusBadRequest || !strings.Contains(detail, tt.says) {
				t.Errorf("%s %.80s: %d %v, want 400 saying %q", path, tt.body, a.Status, doc["detail"], tt.says)
			}
		}
	}
	if n := ex.runs.Load(); n != 0 {
		t.Errorf("%d commands ran for refused argv", n)
	}
}

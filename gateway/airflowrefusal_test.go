package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// authorizingExecutor is a scriptedExecutor whose Airflow auth manager knows the users of allowed, and
// answers every check of each with its verdict.
type authorizingExecutor struct {
	scriptedExecutor
	allowed map[string]bool
}

func (a *authorizingExecutor) Authorize(_ context.Context, q commands.PermissionQuery) (*commands.PermissionAnswer, error) {
	allow, found := a.allowed[q.User]
	ans := &commands.PermissionAnswer{UserFound: found}
	for range q.Checks {
		ans.Allowed = append(ans.Allowed, allow)
	}
	return ans, nil
}

// TestAirflowRefusalsAreAuditedAndCounted: a command Airflow's auth manager refuses to a credential's
// Airflow user (a check refused, a user it does not know, a command no permission covers) is answered 403,
// runs nothing, has a "refused by Airflow" line in the log naming the user and what was refused, and is
// counted in airflow_refusals_total by reason; one it allows runs, and counts nothing.
func TestAirflowRefusalsAreAuditedAndCounted(t *testing.T) {
	ex := &authorizingExecutor{scriptedExecutor: scriptedExecutor{result: commands.Result{Stdout: "done\n"}},
		allowed: map[string]bool{"alice": false, "bob": true}}
	keys := gateway.NewKeyring("rest_api_plugin_http_token")
	var tokens []gateway.Token
	for _, u := range []string{"alice", "bob", "ghost"} {
		tokens = append(tokens, gateway.Token{Name: u, Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(u + "-person-token-0123456789")), AirflowUser: u})
	}
	if err := keys.SetTokens(append(tokens, gateway.Token{Name: "ci", Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(token))})); err != nil {
		t.Fatal(err)
	}
	log := &bytes.Buffer{}
	srv, _ := mustGateway(t, ex, commands.Options{}, withKeyring(keys), withLog(slog.NewJSONHandler(log, nil)))
	as := func(user string) *testbed.Client { return client(srv).As(user + "-person-token-0123456789") }

	for _, tt := range []struct{ user, line, reason, method, id string }{
		{"alice", "dags trigger etl", "dag", "PUT", "etl"},
		{"alice", "variables get k", "variable", "GET", "k"},
		{"ghost", "dags details etl", commands.RefusedUnknownUser, "", ""},
		{"bob", "dags reserialize", commands.RefusedUncovered, "", ""},
	} {
		if a := as(tt.user).Get(t, "/api/v1/command?command="+strings.ReplaceAll(tt.line, " ", "+")); a.Status != http.StatusForbidden {
			t.Errorf("%s as %s: %d %s, want 403", tt.line, tt.user, a.Status, a.Body)
		}
		if !hasLogLine(log.String(), map[string]string{"msg": "refused by Airflow", "airflow_user": tt.user, "token": tt.user,
			"command": strings.Join(strings.Fields(tt.line)[:2], " "), "reason": tt.reason, "method": tt.method, "id": tt.id}) {
			t.Errorf("no audit line of %s refused to %s as %s:\n%s", tt.line, tt.user, tt.reason, log)
		}
	}
	if n := ex.runs.Load(); n != 0 {
		t.Errorf("%d commands ran of those refused", n)
	}
	if a := as("bob").Get(t, "/api/v1/command?command=dags+trigger+etl"); a.Status != http.StatusOK || ex.runs.Load() != 1 {
		t.Errorf("a command Airflow allows: %d %s, %d runs", a.Status, a.Body, ex.runs.Load())
	}
	metrics := string(client(srv).Get(t, "/metrics").Body)
	for reason, n := range map[string]string{"dag": "1", "variable": "1", commands.RefusedUnknownUser: "1", commands.RefusedUncovered: "1"} {
		if want := `airflow_gateway_airflow_refusals_total{reason="` + reason + `"} ` + n + "\n"; !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	if strings.Count(metrics, "airflow_gateway_airflow_refusals_total{") != 4 {
		t.Errorf("/metrics counts other refusals than the four:\n%s", metrics)
	}
}

// hasLogLine says whether the JSON log holds a line with every field of want.
func hasLogLine(log string, want map[string]string) bool {
	for _, line := range strings.Split(log, "\n") {
		var got map[string]any
		if json.Unmarshal([]byte(line), &got) != nil {
			continue
		}
		match := true
		for k, v := range want {
			if s, _ := got[k].(string); s != v {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

package gateway_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
)

var roles = []commands.Role{commands.RoleViewer, commands.RoleUser, commands.RoleOp, commands.RoleAdmin}

// TestRolesOnBothDialects checks, for each role, that every command path and every plugin API above it
// answers 403 without starting anything, and that one at its level runs.
func TestRolesOnBothDialects(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{})
	policy := mustPolicyOf(t)
	everything := policy.Allowed(commands.RoleAdmin).Commands
	// One call at each role's level, on each dialect.
	ownCommand := map[commands.Role]string{
		commands.RoleViewer: "dags list", commands.RoleUser: "dags pause gw_conf",
		commands.RoleOp: "variables list", commands.RoleAdmin: "dags delete gw_conf -y",
	}
	ownAPI := map[commands.Role]string{
		commands.RoleViewer: "api=list_dags", commands.RoleUser: "api=trigger_dag&dag_id=gw_conf",
		commands.RoleOp: "api=variables", commands.RoleAdmin: "api=refresh_all_dags",
	}
	for _, role := range roles {
		t.Run(role.String(), func(t *testing.T) {
			tok := []string{"Authorization", "Bearer " + roleToken(role)}
			before := ex.runs.Load()
			refused := 0
			for _, c := range everything {
				rule, _ := commands.ParseRole(c.Role)
				if rule <= role {
					continue
				}
				resp, doc := get(t, srv, "/api/v1/command?command="+url.QueryEscape(c.Path), tok...)
				if resp.StatusCode != 403 || !strings.Contains(doc["detail"].(string), "needs role "+rule.String()) {
					t.Errorf("%s as %s: %d %v", c.Path, role, resp.StatusCode, doc["detail"])
				}
				refused++
			}
			for _, api := range commands.PluginAPIs() {
				if api.Role <= role {
					continue
				}
				resp, env := pluginGet(t, srv.URL, "api="+api.Name, tok...)
				if resp.StatusCode != 403 || !strings.Contains(env["output"].(string), "needs role "+api.Role.String()) {
					t.Errorf("API %s as %s: %d %v", api.Name, role, resp.StatusCode, env["output"])
				}
				refused++
			}
			if ex.runs.Load() != before {
				t.Errorf("a refused call started a command")
			}
			if role != commands.RoleAdmin && refused == 0 {
				t.Errorf("nothing lies above %s: the table proves nothing", role)
			}
			if resp, doc := get(t, srv, "/api/v1/command?command="+url.QueryEscape(ownCommand[role]), tok...); resp.StatusCode != 200 {
				t.Errorf("%s as %s: %d %v", ownCommand[role], role, resp.StatusCode, doc)
			}
			if resp, env := pluginGet(t, srv.URL, ownAPI[role], tok...); resp.StatusCode != 200 {
				t.Errorf("%s as %s: %d %v", ownAPI[role], role, resp.StatusCode, env)
			}
			if ex.runs.Load() != before+2 {
				t.Errorf("the two calls at the role's level ran %d commands", ex.runs.Load()-before)
			}
		})
	}
}

func mustPolicyOf(tb testing.TB) *commands.Policy {
	tb.Helper()
	return commands.NewPolicy(commandstest.Catalog(tb, "3.3.2"), tb.TempDir())
}

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
			caller := client(srv).As(roleToken(role))
			before := ex.runs.Load()
			refused := 0
			for _, c := range everything {
				rule, _ := commands.ParseRole(c.Role)
				if rule <= role {
					continue
				}
				var doc map[string]any
				if a := caller.Get(t, "/api/v1/command?command="+url.QueryEscape(c.Path)).Decode(t, &doc); a.Status != 403 || !strings.Contains(doc["detail"].(string), "needs role "+rule.String()) {
					t.Errorf("%s as %s: %d %v", c.Path, role, a.Status, doc["detail"])
				}
				refused++
			}
			for _, api := range commands.PluginAPIs() {
				if api.Role <= role {
					continue
				}
				var env map[string]any
				if a := caller.Get(t, pluginAPI+"api="+api.Name).Decode(t, &env); a.Status != 403 || !strings.Contains(env["output"].(string), "needs role "+api.Role.String()) {
					t.Errorf("API %s as %s: %d %v", api.Name, role, a.Status, env["output"])
				}
				refused++
			}
			if ex.runs.Load() != before {
				t.Errorf("a refused call started a command")
			}
			if role != commands.RoleAdmin && refused == 0 {
				t.Errorf("nothing lies above %s: the table proves nothing", role)
			}
			if a := caller.Get(t, "/api/v1/command?command="+url.QueryEscape(ownCommand[role])); a.Status != 200 {
				t.Errorf("%s as %s: %d %s", ownCommand[role], role, a.Status, a.Body)
			}
			if a := caller.Get(t, pluginAPI+ownAPI[role]); a.Status != 200 {
				t.Errorf("%s as %s: %d %s", ownAPI[role], role, a.Status, a.Body)
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

package commands_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
)

// TestPlanPermissions holds what Airflow's auth manager is asked before a command runs for an Airflow
// user: DAG commands by method for each DAG named, the other resources by theirs, listings filtered, and
// everything without a permission of Airflow's refused.
func TestPlanPermissions(t *testing.T) {
	for _, tt := range []struct {
		version, line string
		want          string // the checks as resource:METHOD:id, joined by spaces; "listing" for a filtered listing
		refused       string // part of the refusal
	}{
		{"3.3.2", "dags trigger etl", "dag:PUT:etl", ""},
		{"3.3.2", "dags pause etl", "dag:PUT:etl", ""},
		{"3.3.2", "dags unpause etl", "dag:PUT:etl", ""},
		{"3.3.2", "dags test etl", "dag:PUT:etl", ""},
		{"3.3.2", "tasks clear -y etl", "dag:PUT:etl", ""},
		{"3.3.2", "backfill create --dag-id=etl --from-date 2024-01-01 --to-date 2024-01-02", "dag:PUT:etl", ""},
		{"2.10.5", "dags backfill etl -s 2024-01-01 -e 2024-01-02", "dag:PUT:etl", ""},
		{"3.3.2", "dags delete -y etl", "dag:DELETE:etl", ""},
		{"3.3.2", "dags details etl", "dag:GET:etl", ""},
		{"3.3.2", "dags list-runs etl", "dag:GET:etl", ""},
		{"3.3.2", "tasks states-for-dag-run etl run1", "dag:GET:etl", ""},
		{"3.3.2", "dags list-jobs -d etl", "dag:GET:etl", ""},
		{"3.3.2", "dags list", "listing", ""},
		{"3.3.2", "dags list-import-errors", "listing", ""},
		{"3.3.2", "dags report", "listing", ""},
		{"3.3.2", "variables get k", "variable:GET:k", ""},
		{"3.3.2", "variables set k v", "variable:POST:k variable:PUT:k", ""},
		{"3.3.2", "variables delete k", "variable:DELETE:k", ""},
		{"3.3.2", "variables list", "variable:GET:", ""},
		{"3.3.2", "connections add c --conn-type http", "connection:POST:c", ""},
		{"3.3.2", "pools set p 3 desc", "pool:POST:p pool:PUT:p", ""},
		{"3.3.2", "config get-value core dags_folder", "configuration:GET:core", ""},
		{"3.3.2", "providers list", "view:GET:PROVIDERS", ""},
		{"3.3.2", "version", "", ""},
		{"3.3.2", "cheat-sheet", "", ""},
		{"3.3.2", "dags reserialize", "", "acts on every DAG at once"},
		{"3.3.2", "db check", "", "about no resource"},
		{"3.3.2", "db clean --clean-before-timestamp 2024-01-01 -y", "", "about no resource"},
	} {
		t.Run(tt.version+" "+tt.line, func(t *testing.T) {
			inv, err := policyOn(t, commandstest.Catalog(t, tt.version)).ResolveLine(tt.line, commands.RoleAdmin)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := commands.PlanPermissions(inv, "alice")
			if tt.refused != "" {
				if err == nil || commands.ErrorCode(err) != commands.EFORBIDDEN || !strings.Contains(err.Error(), tt.refused) || !strings.Contains(err.Error(), `"alice"`) {
					t.Fatalf("got %+v, %v; want a refusal naming alice: %s", plan, err, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range plan.Checks {
				got = append(got, fmt.Sprintf("%s:%s:%s", c.Resource, c.Method, c.ID))
			}
			if plan.Listing {
				got = append(got, "listing")
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("got %q, want %q", s, tt.want)
			}
		})
	}
}

// TestEveryPathHasAPlan: every whitelisted path is asked of Airflow or refused for an Airflow user; none
// runs unasked but version and cheat-sheet.
func TestEveryPathHasAPlan(t *testing.T) {
	p := policyOn(t, commandstest.Catalog(t, "3.3.2"))
	for _, c := range p.Allowed(commands.RoleAdmin).Commands {
		inv, err := p.ResolveArgv(strings.Fields(c.Path), commands.RoleAdmin)
		if err != nil {
			continue // needs arguments: the table above covers those that matter
		}
		plan, err := commands.PlanPermissions(inv, "alice")
		if err == nil && len(plan.Checks) == 0 && !plan.Listing && !slices.Contains([]string{"version", "cheat-sheet"}, c.Path) {
			t.Errorf("%s runs for an Airflow user without asking Airflow", c.Path)
		}
	}
}

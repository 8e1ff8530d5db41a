package commands_test

import (
	"slices"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// On Airflow 2, `tasks clear DAG` clears with include_subdags (which, as include_dependent_dags, follows
// every ExternalTaskMarker into the DAG it names) and include_parentdag (a sub-DAG's parent) unless told
// -x/--exclude-subdags and -X/--exclude-parentdag; `dags backfill --reset-dagruns` clears with
// include_subdags=True always. For a scoped credential either form reaches DAGs outside its scope: the
// clear must carry both exclusions, or be refused.
func TestScopedClearStaysInItsDAG(t *testing.T) {
	svc := commands.NewService(mustPolicy(t, "2"), &listingExecutor{}, commands.Options{MaxConcurrent: 1})
	svc.SetDAGIndex(commands.NewDAGIndex([]commands.DAGInfo{{ID: "team_a_etl"}}), time.Now())
	who := commands.Access{Role: commands.RoleUser, Scope: mustScope(t, []string{"team_a_*"}, nil, nil)}
	for _, line := range []string{"tasks clear -y team_a_etl", "tasks clear -y -t extract team_a_etl"} {
		inv, err := svc.ResolveLine(line, who)
		if err != nil {
			continue // refused: fine
		}
		if args := inv.Args(); !slices.Contains(args, "--exclude-subdags") || !slices.Contains(args, "--exclude-parentdag") {
			t.Errorf("%q runs as %q: Airflow 2 follows ExternalTaskMarkers and the parent DAG out of the scope", line, args)
		}
	}
	if _, err := svc.ResolveLine("dags backfill -y --reset-dagruns -s 2024-01-01 -e 2024-01-02 team_a_etl", who); err == nil {
		t.Errorf("dags backfill --reset-dagruns runs for a scoped credential: Airflow 2 clears with include_subdags=True")
	}
}

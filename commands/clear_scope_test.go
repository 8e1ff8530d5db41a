package commands_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// A scoped credential's command about one DAG reads the DAG from its own file, as the index has it (Airflow
// 2's --subdir, Airflow 3's --bundle-name), so that no other team's file is parsed for it; and it may not
// name another.
func TestScopedCommandsReadTheirDAGFromItsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "team_a.py")
	if err := os.WriteFile(file, []byte("# a DAG\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	index := commands.NewDAGIndex([]commands.DAGInfo{{ID: "team_a_etl", File: file, Bundle: "team_a_bundle", RelativeFile: "team_a.py"}, {ID: "team_a_new"}})
	scope := mustScope(t, []string{"team_a_*"}, nil, nil)
	for major, want := range map[string]string{"2": "--subdir=" + file, "3": "--bundle-name=team_a_bundle"} {
		svc := commands.NewService(mustPolicy(t, major), &listingExecutor{}, commands.Options{MaxConcurrent: 1})
		svc.SetDAGIndex(index, time.Now())
		who := commands.Access{Role: commands.RoleUser, Scope: scope}
		inv, err := svc.ResolveLine("tasks test team_a_etl extract 2024-01-01", who)
		if err != nil || !slices.Contains(inv.Args(), want) {
			t.Errorf("Airflow %s: %v %v, want %s", major, inv, err, want)
		}
		if inv, err := svc.ResolveLine("tasks test team_a_new extract 2024-01-01", who); err != nil || slices.ContainsFunc(inv.Args(), func(a string) bool { return strings.HasPrefix(a, "--subdir") || strings.HasPrefix(a, "--bundle") }) {
			t.Errorf("Airflow %s, a DAG the index does not know: %v %v", major, inv, err)
		}
		given := map[string]string{"2": "tasks test -S team_b.py team_a_etl extract 2024-01-01", "3": "tasks test --bundle-name team_b team_a_etl extract 2024-01-01"}[major]
		if _, err := svc.ResolveLine(given, who); commands.ErrorCode(err) != commands.EFORBIDDEN {
			t.Errorf("Airflow %s, %q: %v, want a refusal", major, given, err)
		}
	}
}

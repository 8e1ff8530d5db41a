package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Airflow 3 names an import error's file by its path inside its bundle, and says which bundle
// (bundle_name). A new file of team B's bundle that fails to import, at a path that team A's bundle also
// holds, is tied by the suffix match of definedIn to team A's DAGs alone, and its traceback is shown to
// team A's scope.
func TestImportErrorOfAnotherBundleAtTheSamePath(t *testing.T) {
	index := commands.NewDAGIndex([]commands.DAGInfo{
		{ID: "team_a_etl", File: "/bundles/team_a/etl.py"},
		{ID: "team_b_report", File: "/bundles/team_b/report.py"},
	})
	out := `[{"bundle_name": "team_b", "filepath": "etl.py", "error": "Traceback ... TEAM_B_SECRET ..."}]` + "\n"
	ex := &listingExecutor{stdout: out}
	svc := commands.NewService(mustPolicy(t, "3"), ex, commands.Options{MaxConcurrent: 1, CommandTimeout: time.Minute})
	svc.SetDAGIndex(index, time.Now())
	inv, err := svc.ResolveLine("dags list-import-errors -o json", commands.Access{Role: commands.RoleViewer, Scope: mustScope(t, []string{"team_a_*"}, nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Run(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Stdout, "TEAM_B_SECRET") {
		t.Errorf("team A's scope is shown team B's import error:\n%s", res.Stdout)
	}
}

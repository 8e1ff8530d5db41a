package commands_test

import (
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// An index older than DAGIndexMaxAge, its reads failing since, is not matched against: tags and teams then
// reach nothing, and globs on ids still reach theirs.
func TestAnIndexTooOldMatchesNoTag(t *testing.T) {
	svc := commands.NewService(mustPolicy(t, "3"), &listingExecutor{}, commands.Options{MaxConcurrent: 1, DAGIndexMaxAge: time.Minute})
	who := commands.Access{Role: commands.RoleUser, Scope: mustScope(t, []string{"team_a_*"}, []string{"team-a"}, nil)}
	index := commands.NewDAGIndex([]commands.DAGInfo{{ID: "b_shared", Tags: []string{"team-a"}}})
	for read, reached := range map[time.Time]bool{time.Now(): true, time.Now().Add(-2 * time.Minute): false} {
		svc.SetDAGIndex(index, read)
		if _, err := svc.ResolveLine("dags pause b_shared", who); (err == nil) != reached {
			t.Errorf("an index read %s ago: b_shared by its tag: %v", time.Since(read).Round(time.Second), err)
		}
		if _, err := svc.ResolveLine("dags pause team_a_etl", who); err != nil {
			t.Errorf("an index read %s ago: team_a_etl by its id: %v", time.Since(read).Round(time.Second), err)
		}
	}
}

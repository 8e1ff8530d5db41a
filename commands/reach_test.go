package commands_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
)

func TestInvocationDAGs(t *testing.T) {
	for _, tt := range []struct {
		version, line string
		want          []string // nil: no DAG named
		refused       bool     // the resolver refuses the line
	}{
		{"2.10.5", "dags trigger team_a_etl", []string{"team_a_etl"}, false},
		{"3.3.2", "dags trigger -- team_a_etl", []string{"team_a_etl"}, false},
		{"3.3.2", "dags trigger -c '{}' -- -team_a", []string{"-team_a"}, false},
		{"2.10.5", "tasks test team_a_etl extract 2024-01-01", []string{"team_a_etl"}, false},
		{"3.3.2", "tasks test team_a_etl extract 2024-01-01", []string{"team_a_etl"}, false},
		{"2.6.3", "dags list-runs -d team_a_etl", []string{"team_a_etl"}, false},
		{"2.10.5", "dags list-runs --dag-id=team_a_etl", []string{"team_a_etl"}, false},
		{"2.11.2", "dags list-runs --dag-id team_a_etl", []string{"team_a_etl"}, false},
		{"3.0.6", "dags list-runs team_a_etl", []string{"team_a_etl"}, false},
		{"3.3.2", "dags list-runs -- team_a_etl", []string{"team_a_etl"}, false},
		{"3.3.2", "dags list-jobs -d team_a_etl", []string{"team_a_etl"}, false},
		{"3.3.2", "dags list-jobs", nil, false},
		{"3.3.2", "backfill create --dag-id=team_a_etl --from-date 2024-01-01 --to-date 2024-01-02", []string{"team_a_etl"}, false},
		{"2.10.5", "dags backfill team_a_etl -s 2024-01-01 -e 2024-01-02", []string{"team_a_etl"}, false},
		{"3.3.2", "tasks clear team_a_etl -y", []string{"team_a_etl"}, false},
		{"3.3.2", "dags list", nil, false},
		{"3.3.2", "variables get team_a_etl", nil, false},
		{"2.10.5", "dags list-runs -dteam_a_etl", nil, true},  // a joined short flag is refused before any scope
		{"3.3.2", "dags trigger team_a_*", nil, true},         // not an Airflow id
		{"3.3.2", "dags trigger team_a/../team_b", nil, true}, // nor this
		{"2.10.5", "dags list-runs -d a -d b", nil, true},     // one DAG id, given once
	} {
		t.Run(tt.version+" "+tt.line, func(t *testing.T) {
			inv, err := policyOn(t, commandstest.Catalog(t, tt.version)).ResolveLine(tt.line, commands.RoleAdmin)
			if tt.refused {
				if err == nil {
					t.Fatalf("resolved to %s naming %q", inv, inv.DAGs())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := inv.DAGs(); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	index := commands.NewDAGIndex([]commands.DAGInfo{
		{ID: "team_a_etl", Tags: []string{"team-a"}},
		{ID: "team_b_etl", Tags: []string{"team-b"}},
		{ID: "tagged_a", Tags: []string{"team-a"}, Team: "team_a"},
	})
	teamA := mustScope(t, []string{"team_a_*", "shared_report"}, []string{"team-a"}, nil)
	noDAG := mustScope(t, nil, []string{"nobody"}, nil)
	type want struct {
		verdict commands.Verdict
		reason  string
	}
	allow, filter := want{commands.Allow, ""}, want{commands.Filter, ""}
	out := want{commands.Refuse, commands.RefusedOutOfScope}
	notDAGs := want{commands.Refuse, commands.RefusedNotDAGs}
	for _, tt := range []struct {
		version, line string
		scope         commands.Scope
		want          want
	}{
		{"3.3.2", "dags trigger team_b_etl", commands.Scope{}, allow},
		{"3.3.2", "variables get k", commands.Scope{}, allow},
		{"3.3.2", "dags reserialize", commands.Scope{}, allow},
		{"3.3.2", "dags trigger team_a_etl", teamA, allow},
		{"3.3.2", "dags trigger team_a_new", teamA, allow}, // a glob needs no index
		{"3.3.2", "dags trigger tagged_a", teamA, allow},
		{"3.3.2", "dags trigger shared_report", teamA, allow},
		{"3.3.2", "dags trigger team_b_etl", teamA, out},
		{"3.3.2", "dags trigger no_such_dag", teamA, out},
		{"3.3.2", "dags trigger team_a_etl", noDAG, out},
		{"2.10.5", "tasks test team_a_etl extract 2024-01-01", teamA, allow},
		{"2.10.5", "tasks test team_b_etl extract 2024-01-01", teamA, out},
		{"2.10.5", "dags list-runs -d team_b_etl", teamA, out},
		{"2.10.5", "dags list-runs --dag-id=team_a_etl", teamA, allow},
		{"3.3.2", "dags list-runs team_b_etl", teamA, out},
		{"3.3.2", "dags list-runs -- team_a_etl", teamA, allow},
		{"3.3.2", "backfill create --dag-id=team_b_etl --from-date 2024-01-01 --to-date 2024-01-02", teamA, out},
		{"3.3.2", "dags pause team_a_etl", teamA, allow},
		{"3.3.2", "dags pause --treat-dag-id-as-regex team_a_.*", teamA, want{commands.Refuse, commands.RefusedDAGPattern}},
		{"2.10.5", "dags backfill --treat-dag-as-regex team_a_etl -s 2024-01-01 -e 2024-01-02", teamA, want{commands.Refuse, commands.RefusedDAGPattern}},
		{"3.3.2", "tasks clear -R -y team_a_etl", teamA, want{commands.Refuse, commands.RefusedDAGPattern}},
		{"3.3.2", "tasks clear -y team_a_etl", teamA, allow},
		{"3.3.2", "dags test team_a_etl 2024-01-01 --show-dagrun", teamA, allow},
		{"3.3.2", "dags list", teamA, filter},
		{"3.3.2", "dags list -o json", noDAG, filter},
		{"3.3.2", "dags list-import-errors", teamA, filter},
		{"3.3.2", "dags report", teamA, filter},
		{"3.3.2", "dags list-jobs", teamA, filter},
		{"3.3.2", "dags list-jobs -d team_a_etl", teamA, allow},
		{"3.3.2", "dags list-jobs -d team_b_etl", teamA, out},
		{"3.3.2", "variables get team_a_etl", teamA, notDAGs},
		{"3.3.2", "connections list", teamA, notDAGs},
		{"3.3.2", "pools list", teamA, notDAGs},
		{"3.3.2", "config get-value core dags_folder", teamA, notDAGs},
		{"3.3.2", "db check", teamA, notDAGs},
		{"3.3.2", "providers list", teamA, notDAGs},
		{"3.3.2", "dags reserialize", teamA, want{commands.Refuse, commands.RefusedAllDAGs}},
		{"3.3.2", "version", teamA, allow},
		{"2.6.3", "cheat-sheet", teamA, allow},
	} {
		t.Run(tt.version+" "+tt.line+" "+tt.scope.String(), func(t *testing.T) {
			policy := policyOn(t, commandstest.Catalog(t, tt.version))
			inv, err := policy.ResolveLine(tt.line, commands.RoleAdmin)
			if err != nil {
				t.Fatal(err)
			}
			d := policy.Decide(tt.scope, index, inv)
			if d.Verdict != tt.want.verdict || d.Reason != tt.want.reason {
				t.Fatalf("got verdict %d (%s: %v), want %d (%s)", d.Verdict, d.Reason, d.Err, tt.want.verdict, tt.want.reason)
			}
			if d.Verdict != commands.Refuse {
				if d.Err != nil {
					t.Errorf("allowed with an error: %v", d.Err)
				}
				return
			}
			if commands.ErrorCode(d.Err) != commands.EFORBIDDEN || !strings.Contains(d.Err.Error(), tt.scope.String()) {
				t.Errorf("refused with %v, want EFORBIDDEN naming the scope %s", d.Err, tt.scope)
			}
		})
	}
}

// TestDecideSaysNothingOfExistence checks that an out-of-scope DAG that exists and one that does not get
// the same refusal, whatever the index knows.
func TestDecideSaysNothingOfExistence(t *testing.T) {
	policy := mustPolicy(t, "3")
	scope := mustScope(t, []string{"team_a_*"}, []string{"team-a"}, []string{"team_a"})
	index := commands.NewDAGIndex([]commands.DAGInfo{{ID: "team_b_etl", Tags: []string{"team-b"}, Team: "team_b"}})
	refusal := func(id string) string {
		inv, err := policy.ResolveLine("dags trigger "+id, commands.RoleUser)
		if err != nil {
			t.Fatal(err)
		}
		d := policy.Decide(scope, index, inv)
		if d.Verdict != commands.Refuse {
			t.Fatalf("%s: not refused", id)
		}
		return strings.ReplaceAll(d.Err.Error(), id, "ID")
	}
	if known, unknown := refusal("team_b_etl"), refusal("team_b_new"); known != unknown {
		t.Errorf("a DAG that exists is refused with %q, one that does not with %q", known, unknown)
	}
}

// TestZeroDecisionRefuses checks that a Decision nobody filled in refuses.
func TestZeroDecisionRefuses(t *testing.T) {
	if (commands.Decision{}).Verdict != commands.Refuse {
		t.Error("the zero Decision does not refuse")
	}
}

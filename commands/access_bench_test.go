package commands_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// BenchmarkScopeCheck resolves a command about one DAG for a scoped credential, with 10,000 DAGs in the
// index, against the same resolution without a scope: what a scope adds to every command. It reports the
// median and the 99th percentile of single resolutions (p50-ns, p99-ns) besides the mean; the goal is a
// p99 under 1 ms (bench/scopes.sh).
func BenchmarkScopeCheck(b *testing.B) {
	dags := make([]commands.DAGInfo, 10_000)
	for i := range dags {
		team := []string{"team-a", "team-b", "team-c", "team-d"}[i%4]
		dags[i] = commands.DAGInfo{ID: fmt.Sprintf("%s_dag_%05d", team[5:], i), Tags: []string{team, "nightly"}, Owners: []string{"data"}}
	}
	byTag, _ := commands.NewScope(nil, []string{"team-x", "team-y", "team-d"}, nil)
	byGlob, _ := commands.NewScope([]string{"x_*", "y_*", "report_[0-9]*", "d_dag_*"}, nil, nil)
	for _, bench := range []struct {
		name  string
		scope commands.Scope
	}{{"no-scope", commands.Scope{}}, {"tags", byTag}, {"globs", byGlob}} {
		b.Run(bench.name, func(b *testing.B) {
			svc := commands.NewService(mustPolicy(b, "3"), quietExecutor{}, commands.Options{MaxConcurrent: 1})
			svc.SetDAGIndex(commands.NewDAGIndex(dags), time.Now())
			who := commands.Access{Role: commands.RoleAdmin, Scope: bench.scope}
			took := make([]time.Duration, 0, b.N)
			for i := 0; b.Loop(); i++ {
				line := "dags trigger " + dags[4*(i%2500)+3].ID // a DAG of team-d, in both scopes
				start := time.Now()
				if _, err := svc.ResolveLine(line, who); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

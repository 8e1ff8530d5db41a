package warm_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// mustPersonsFixture is a warm executor on an Airflow 3 home whose simple auth manager has a viewer and a
// user.
func mustPersonsFixture(tb testing.TB) *fixture {
	tb.Helper()
	cold := mustColdFixture(tb, "3")
	cfgFile := filepath.Join(cold.home.Dir, "airflow.cfg")
	cfg, err := os.ReadFile(cfgFile)
	if err != nil {
		tb.Fatal(err)
	}
	users := "simple_auth_manager_users = viewer1:viewer,user1:user\n"
	if err := os.WriteFile(cfgFile, []byte(strings.Replace(string(cfg), "[core]\n", "[core]\n"+users, 1)), 0o644); err != nil {
		tb.Fatal(err)
	}
	f := cold.withWarm(tb, nil)
	f.waitWarm(tb, 0)
	return f
}

// trigger asks whether user may trigger the DAG gw_faults, and which DAGs it may read.
func trigger(user string) commands.PermissionQuery {
	return commands.PermissionQuery{User: user, DAGs: true,
		Checks: []commands.Permission{{Resource: commands.ResourceDAG, Method: "PUT", ID: "gw_faults"}}}
}

// TestAuthorizerAgainstAirflow: the warm executor's authorizer and the subprocess executor's give Airflow's
// answers alike; a user Airflow does not know is said so.
func TestAuthorizerAgainstAirflow(t *testing.T) {
	testbed.SkipShort(t, "the authorizer against a real Airflow")
	f := mustPersonsFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for _, tt := range []struct {
		user          string
		found, allows bool
	}{{"viewer1", true, false}, {"user1", true, true}, {"nobody", false, false}} {
		for _, ex := range []commands.Authorizer{f.warm, f.cold} {
			ans, err := ex.Authorize(ctx, trigger(tt.user))
			if err != nil {
				t.Fatalf("%s on %T: %v\n%s", tt.user, ex, err, f.logs)
			}
			if ans.UserFound != tt.found || len(ans.Allowed) != 1 || ans.Allowed[0] != tt.allows {
				t.Errorf("%s on %T: %+v", tt.user, ex, ans)
			}
			if tt.found && !slices.Contains(ans.DAGs, "gw_faults") {
				t.Errorf("%s on %T reads %v", tt.user, ex, ans.DAGs)
			}
		}
	}
}

// BenchmarkAuthorize times one permission check in the warm process (§20's goal: 2 ms at the median),
// with the authorizer started.
func BenchmarkAuthorize(b *testing.B) {
	testbed.SkipShort(b, "the authorizer against a real Airflow")
	f := mustPersonsFixture(b)
	ctx := context.Background()
	q := trigger("user1")
	q.DAGs = false
	if _, err := f.warm.Authorize(ctx, q); err != nil { // starts the authorizer
		b.Fatal(err)
	}
	took := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		ans, err := f.warm.Authorize(ctx, q)
		if err != nil || !ans.Allowed[0] {
			b.Fatal(ans, err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds()), "p99-ns")
}

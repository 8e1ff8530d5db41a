package dagindex_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/dagindex"
	"github.com/airflow-gateway/airflow-gateway/commands/subprocess"
	"github.com/airflow-gateway/airflow-gateway/commands/warm"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

func TestRows(t *testing.T) {
	doc := `{"dags":[{"id":"a","tags":["t1","t2"],"owners":["alice","bob"],"file":"/dags/a.py","team":"team_a"},` +
		`{"id":"b","tags":[],"owners":[],"file":"","team":""}]}` + "\n"
	dags, err := dagindex.Rows(&commands.Result{Stdout: doc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []commands.DAGInfo{
		{ID: "a", Tags: []string{"t1", "t2"}, Owners: []string{"alice", "bob"}, File: "/dags/a.py", Team: "team_a"},
		{ID: "b", Tags: []string{}, Owners: []string{}},
	}
	if len(dags) != len(want) {
		t.Fatalf("got %+v", dags)
	}
	for i := range want {
		g, w := dags[i], want[i]
		if g.ID != w.ID || g.File != w.File || g.Team != w.Team || !slices.Equal(g.Tags, w.Tags) || !slices.Equal(g.Owners, w.Owners) {
			t.Errorf("DAG %d: %+v, want %+v", i, g, w)
		}
	}
	if dags, err := dagindex.Rows(&commands.Result{Stdout: `{"dags":[]}`}, nil); err != nil || dags == nil || len(dags) != 0 {
		t.Errorf("no DAG: %v %v", dags, err)
	}

	failures := map[string]struct {
		res  *commands.Result
		err  error
		says string
	}{
		"executor":      {nil, errors.New("the forkserver stopped"), "the forkserver stopped"},
		"exit code":     {&commands.Result{ExitCode: 1, Stderr: "Traceback...\nOperationalError: no such table: dag\n"}, nil, "exit code 1): OperationalError: no such table: dag"},
		"time limit":    {&commands.Result{ExitCode: 143, TimedOut: true}, nil, "time limit"},
		"stopped":       {&commands.Result{ExitCode: 143, Canceled: true}, nil, "stopped"},
		"too large":     {&commands.Result{Stdout: `{"dags":[`, Truncated: true}, nil, "larger than 64 MiB"},
		"not JSON":      {&commands.Result{Stdout: "[INFO] hello\n"}, nil, "not its document"},
		"no dags":       {&commands.Result{Stdout: `{"rows":[]}`}, nil, "not its document"},
		"a DAG with no": {&commands.Result{Stdout: `{"dags":[{"id":""}]}`}, nil, "without an id"},
	}
	for name, c := range failures {
		if _, err := dagindex.Rows(c.res, c.err); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.says)
		}
	}
}

// TestTeamsOnAirflow3 reads the DAG index with Airflow 3's Python on a home in multi-team mode, whose DAGs
// lie in three bundles: two of a team each, and the DAGs folder's, of none. Each DAG gets its bundle's team.
func TestTeamsOnAirflow3(t *testing.T) {
	t.Parallel()
	home := testbed.MustHome(t, "3")
	testbed.MultiTeam(t, home, map[string]string{"gw_conf.py": "team_a", "gw_fails.py": "team_b"})

	python, err := warm.PythonOf(home.Airflow)
	if err != nil {
		t.Fatal(err)
	}
	cold := &subprocess.Executor{Binary: home.Airflow, Python: python, Home: home.Dir, Env: subprocess.ChildEnv(os.Environ(), home.Dir),
		MaxOutputBytes: 1 << 20, KillGrace: 2 * time.Second}
	start := time.Now()
	dags, err := cold.ReadDAGIndex(context.Background(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the DAG index of %d DAGs in %s", len(dags), time.Since(start).Round(time.Millisecond))
	want := map[string][2]string{ // id: team, file
		"gw_conf":      {"team_a", filepath.Join(home.Dir, "bundle-team_a", "gw_conf.py")},
		"gw_fails":     {"team_b", filepath.Join(home.Dir, "bundle-team_b", "gw_fails.py")},
		"gw_two_tasks": {"", filepath.Join(home.Dags, "gw_two_tasks.py")},
	}
	if len(dags) != len(want) {
		t.Errorf("the index holds %+v, want %v", dags, want)
	}
	for _, d := range dags {
		if w, ok := want[d.ID]; !ok || d.Team != w[0] || d.File != w[1] || !slices.Equal(d.Tags, []string{"gateway"}) {
			t.Errorf("%+v, want team %q and file %s", d, w[0], w[1])
		}
	}
}

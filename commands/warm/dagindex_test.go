package warm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// homeDAGs are the DAGs of a fixture's home (testbed/dags and testdata) as the DAG index should hold them,
// by file: every one is owned by airflow (wantDAGs), and only testbed's carry a tag.
var homeDAGs = []commands.DAGInfo{
	{ID: "gw_conf", Tags: []string{"gateway"}, File: "gw_conf.py"},
	{ID: "gw_del_eq", File: "gw_deletable.py"},
	{ID: "gw_fails", Tags: []string{"gateway"}, File: "gw_fails.py"},
	{ID: "gw_faults", File: "gw_faults.py"},
	{ID: "gw_sessions", File: "gw_sessions.py"},
	{ID: "gw_two_tasks", Tags: []string{"gateway"}, File: "gw_two_tasks.py"},
}

// readDAGIndex reads the DAG index through ex and fails tb unless it could, or took more than a minute.
func readDAGIndex(tb testing.TB, ex commands.Executor) []commands.DAGInfo {
	tb.Helper()
	start := time.Now()
	dags, err := ex.(commands.DAGIndexReader).ReadDAGIndex(context.Background(), time.Minute)
	if err != nil {
		tb.Fatalf("reading the DAG index through %T: %v", ex, err)
	}
	tb.Logf("the DAG index through %T: %d DAGs in %s", ex, len(dags), time.Since(start).Round(time.Millisecond))
	return dags
}

// wantDAGs are homeDAGs in the home's DAGs folder, with edit applied to each.
func (f *fixture) wantDAGs(edit func(*commands.DAGInfo)) []commands.DAGInfo {
	want := slices.Clone(homeDAGs)
	for i := range want {
		want[i].File = filepath.Join(f.home.Dags, want[i].File)
		// Airflow 2 takes a DAG's owners from its tasks, and gw_del_eq has none; Airflow 3 says airflow.
		if f.major == "3" || want[i].ID != "gw_del_eq" {
			want[i].Owners = []string{"airflow"}
		}
		if edit != nil {
			edit(&want[i])
		}
	}
	return want
}

// assertDAGs fails tb unless got holds the DAGs of want, in their order.
func assertDAGs(tb testing.TB, how string, got, want []commands.DAGInfo) {
	tb.Helper()
	norm := func(dags []commands.DAGInfo) []commands.DAGInfo {
		out := slices.Clone(dags)
		for i := range out {
			out[i].Tags = append([]string{}, out[i].Tags...)
			out[i].Owners = append([]string{}, out[i].Owners...)
		}
		return out
	}
	if g, w := norm(got), norm(want); !slices.EqualFunc(g, w, func(a, b commands.DAGInfo) bool {
		return a.ID == b.ID && a.File == b.File && a.Team == b.Team && slices.Equal(a.Tags, b.Tags) && slices.Equal(a.Owners, b.Owners)
	}) {
		tb.Errorf("%s: the DAG index holds\n%+v\nwant\n%+v", how, g, w)
	}
}

// dagIndexReadsTheHome: the DAG index read through the warm executor, from a child of its forkserver, and
// through the subprocess executor, with Airflow's Python, holds the home's DAGs with their tags, owners and
// files; a DAG retagged and reserialized shows its new tags and owner at the next read, and its old ones at
// the read after it is put back; a command whose words name the index's script runs Airflow's CLI, not the
// script. It leaves the home as it found it.
func dagIndexReadsTheHome(t *testing.T, f *fixture, restarts uint64) {
	forks := f.warm.Status().Forks
	assertDAGs(t, "warm", readDAGIndex(t, f.warm), f.wantDAGs(nil))
	assertDAGs(t, "subprocess", readDAGIndex(t, f.cold), f.wantDAGs(nil))
	if st := f.warm.Status(); !st.Warm || st.Restarts != restarts || st.Forks != forks {
		t.Errorf("after reading the index: %+v (the read is no command of the forks count)", st)
	}

	// Retagged and given another owner, then put back.
	file := filepath.Join(f.home.Dags, "gw_sessions.py")
	original, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	retagged := strings.Replace(string(original), "catchup=False)", `catchup=False, tags=["index-b", "index-a"], default_args={"owner": "alice"})`, 1)
	if retagged == string(original) {
		t.Fatal("gw_sessions.py has no DAG(...catchup=False) to retag")
	}
	edited := func(tags []string, owner string) func(*commands.DAGInfo) {
		return func(d *commands.DAGInfo) {
			if d.ID == "gw_sessions" {
				d.Tags, d.Owners = tags, []string{owner}
			}
		}
	}
	for _, step := range []struct {
		source string
		edit   func(*commands.DAGInfo)
	}{
		{retagged, edited([]string{"index-a", "index-b"}, "alice")},
		{string(original), nil},
	} {
		if err := os.WriteFile(file, []byte(step.source), 0o644); err != nil {
			t.Fatal(err)
		}
		f.mustRun(t, f.warm, "dags", "reserialize")
		assertDAGs(t, "warm, after dags reserialize", readDAGIndex(t, f.warm), f.wantDAGs(step.edit))
	}

	// A client's command is words for Airflow's CLI, whatever they are.
	for _, words := range [][]string{{"dag_index"}, {"_airflow_gateway_dag_index.py"}} {
		res, err := f.run(t, f.warm, words...)
		if err != nil || res.ExitCode == 0 || strings.Contains(res.Stdout, `"dags"`) {
			t.Errorf("airflow %s: %v %+v", words[0], err, res)
		}
	}
}

// plantDAGs copies the metadata DB's row of gw_conf, and its tags, into n DAGs more (gw_bench_0, ...), each
// with three tags, straight into the home's SQLite file: what a `dags reserialize` of n files would write of
// them, in a fraction of its time.
func plantDAGs(tb testing.TB, f *fixture, n int) {
	tb.Helper()
	script := `import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
columns = [c[1] for c in db.execute("PRAGMA table_info(dag)")]
row = dict(zip(columns, db.execute("SELECT * FROM dag WHERE dag_id = 'gw_conf'").fetchone()))
for i in range(int(sys.argv[2])):
    row["dag_id"] = f"gw_bench_{i}"
    row["fileloc"] = f"/opt/airflow/dags/team_{i % 10}/gw_bench_{i}.py"
    db.execute(f"INSERT INTO dag ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", list(row.values()))
    for tag in ("bench", f"team-{i % 10}", f"kind-{i % 7}"):
        db.execute("INSERT INTO dag_tag (name, dag_id) VALUES (?, ?)", (tag, row["dag_id"]))
db.commit()
`
	out, err := exec.Command(filepath.Join(filepath.Dir(f.home.Airflow), "python"), "-c", script,
		filepath.Join(f.home.Dir, "airflow.db"), strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		tb.Fatalf("planting %d DAGs: %v\n%s", n, err, out)
	}
}

// BenchmarkReadDAGIndex reads the DAG index of 1,000 DAGs more than the home's, each with three tags, from
// each Airflow version's SQLite metadata DB: through the warm executor (a child of the forkserver) and
// through the subprocess executor (Airflow's Python, Airflow imported for each read).
//
//	go test ./commands/warm -run '^$' -bench ReadDAGIndex -benchtime 20x
func BenchmarkReadDAGIndex(b *testing.B) {
	for _, major := range testbed.Versions {
		b.Run("airflow-"+major, func(b *testing.B) {
			f := mustFixture(b, major, nil)
			plantDAGs(b, f, 1000)
			f.waitWarm(b, 0)
			for _, ex := range []struct {
				name string
				ex   commands.Executor
			}{{"warm", f.warm}, {"subprocess", f.cold}} {
				b.Run(ex.name, func(b *testing.B) {
					for b.Loop() {
						dags, err := ex.ex.(commands.DAGIndexReader).ReadDAGIndex(context.Background(), time.Minute)
						if err != nil || len(dags) != len(homeDAGs)+1000 {
							b.Fatalf("%d DAGs, %v", len(dags), err)
						}
					}
				})
			}
		})
	}
}

package warm_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/commands/warm"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestMain gives every Airflow these tests start one hash seed. Python orders a set of strings by their
// hashes, which under the default random seed change from one process to the next (`providers triggers`
// and `db clean` print such sets); the children of one forkserver share its seed. With one seed for all,
// the equivalence test can compare the executors' output line by line.
func TestMain(m *testing.M) {
	os.Setenv("PYTHONHASHSEED", "0")
	os.Exit(m.Run())
}

// A group of command lines that the equivalence test runs on one executor and then on the other, comparing
// line by line. {K} and {D} stand for a name and a date of each executor's own, so that a group that
// writes (set, get, delete) leaves both executors the same state to read, and reads that follow a group
// see the same on both.
type group []string

// own are the values {K} and {D} take on each executor.
var own = map[string]map[string]string{
	"subprocess": {"{K}": "cold", "{D}": "2024-03-01"},
	"warm":       {"{K}": "warm", "{D}": "2024-03-02"},
}

// equivalenceGroups has one or more command lines for every whitelisted path of each major version.
func equivalenceGroups(major string) []group {
	v2 := major == "2"
	pick := func(two, three string) string {
		if v2 {
			return two
		}
		return three
	}
	return []group{
		{"version"}, {"cheat-sheet"}, {"config get-value core dags_folder"}, {"db check"},
		{"jobs check --job-type SchedulerJob"}, // exits non-zero: no scheduler runs
		{"dags list -o json"}, {"dags list-import-errors"}, {"dags report -o json"}, {"dags show gw_two_tasks"},
		{"dags details gw_conf -o json"},
		{"dags unpause gw_conf", "dags pause gw_conf"},
		{
			`dags trigger gw_conf -r run_{K} -c '{"key": "value"}' ` + pick("-e {D}", "--logical-date {D}"),
			pick("dags state gw_conf {D}", "dags state gw_conf run_{K}"),
			"tasks state gw_conf show_conf run_{K}",
			"tasks states-for-dag-run gw_conf run_{K} -o json",
			"tasks failed-deps gw_conf show_conf run_{K}",
			"tasks render gw_conf show_conf run_{K}",
		},
		{pick("dags list-runs -d gw_conf -o json", "dags list-runs gw_conf -o json")},
		{"dags next-execution gw_conf"}, {"dags list-jobs"}, {"dags reserialize"}, {"tasks list gw_two_tasks"},
		{"tasks test gw_two_tasks extract {D}"},
		{"dags test gw_fails {D}"}, // the task fails on purpose: the command exits non-zero
		{"tasks clear gw_conf -y"},
		{"variables set gw_{K} 'hello world'", "variables get gw_{K}", "variables delete gw_{K}"},
		{"variables list"},
		{"pools set gw_{K} 7 'a test pool'", "pools get gw_{K} -o json", "pools delete gw_{K}"},
		{"pools list -o json"},
		{"connections add gw_{K} --conn-uri postgres://user:pw@db.example:5432/x", "connections get gw_{K} -o json", "connections delete gw_{K}"},
		{"connections list -o json"},
		{"providers list"}, {"providers hooks"}, {"providers links"}, {"providers behaviours"}, {"providers notifications"},
		{"providers secrets"}, {"providers triggers"}, {"providers widgets"}, {"providers get apache-airflow-providers-common-sql"},
		{pick("dags backfill gw_conf -s 2024-01-01 -e 2024-01-01 --dry-run",
			"backfill create --dag-id gw_two_tasks --from-date 2024-01-01 --to-date 2024-01-01 --dry-run")},
		{"db clean --clean-before-timestamp 2000-01-01 --skip-archive -y"},
		{"dags delete gw_del_{K} -y"},
	}
}

// TestWarmAnswersLikeSubprocess runs a command of every whitelisted path on the warm executor and on the
// subprocess executor, on one home, and compares exit codes, stdout and stderr once the values that change
// from run to run are masked.
func TestWarmAnswersLikeSubprocess(t *testing.T) {
	eachAirflow(t, func(t *testing.T, major string) {
		var policy *commands.Policy
		cat := commandstest.InstalledCatalog(t, testbed.Airflow(t, major))
		f := mustFixture(t, major, func(ex *warm.Executor) {
			policy = commands.NewPolicy(cat, filepath.Join(ex.Home, "dags"))
			ex.Paths = policy.Paths() // as the gateway warms them
		})
		f.waitWarm(t, 0)
		// The commands of each preload fork from its template.
		templates := map[int]commands.TemplateStatus{}
		for _, preload := range []string{"providers", "providers+api_client"} {
			tpl := f.waitTemplate(t, preload, 0)
			templates[tpl.PID] = tpl
		}
		covered := compareGroups(t, f, policy, equivalenceGroups(major))
		for _, c := range policy.Allowed(commands.RoleAdmin).Commands {
			if !covered[c.Path] {
				t.Errorf("no command of the path %q was compared", c.Path)
			}
		}
		st := f.warm.Status()
		if !st.Warm || st.Forks < uint64(len(covered)) {
			t.Errorf("status after the comparison: %+v", st)
		}
		// Every path that needs a template's preload ran at least once, each from the template.
		for _, tpl := range st.Templates {
			if before, ok := templates[tpl.PID]; !ok || tpl.Forks < uint64(before.Commands) || before.Commands < 5 {
				t.Errorf("the templates after the comparison: %+v, before it: %+v", st.Templates, templates)
			}
		}
		if len(st.Templates) != len(templates) {
			t.Errorf("the templates after the comparison: %+v, before it: %+v", st.Templates, templates)
		}
	})
}

// compareGroups runs each group on the subprocess executor and then on the warm one, compares their
// answers, and returns the paths it ran.
func compareGroups(t *testing.T, f *fixture, policy *commands.Policy, groups []group) map[string]bool {
	covered := map[string]bool{}
	for _, g := range groups {
		answers := map[string][]string{}
		for _, name := range []string{"subprocess", "warm"} {
			values := map[string]string{} // the values of the placeholders this group uses
			for k, v := range own[name] {
				if strings.Contains(strings.Join(g, "\n"), k) {
					values[k] = v
				}
			}
			ex := map[string]commands.Executor{"subprocess": f.cold, "warm": f.warm}[name]
			for _, line := range g {
				for k, v := range values {
					line = strings.ReplaceAll(line, k, v)
				}
				words, err := commands.SplitCommand(line)
				if err != nil {
					t.Fatal(err)
				}
				inv, err := policy.Resolve(words, commands.RoleAdmin)
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				covered[inv.Path()] = true
				res, err := f.run(t, ex, words...)
				if err != nil {
					t.Fatalf("%s on the %s executor: %v", line, name, err)
				}
				answers[name] = append(answers[name], comparable(res, values))
			}
		}
		for i, line := range g {
			if cold, hot := answers["subprocess"][i], answers["warm"][i]; cold != hot {
				t.Errorf("airflow %s:\nwarm:\n%s\nsubprocess:\n%s", line, hot, cold)
			}
		}
	}
	return covered
}

// comparable renders a result for comparison: its exit code and its streams with the executor's own names
// and dates put back as {K} and {D}, the values that change per run masked, and Airflow's log lines left
// out of stdout as the gateway answers by default (the forkserver prints the lines that importing logs
// once, not per command). `dags report` lists the DAG files by how long each took to parse, an order that
// changes from run to run: its rows are sorted.
func comparable(res *commands.Result, values map[string]string) string {
	streams := []string{commands.FilterLoadingMessages(res.Stdout), res.Stderr}
	for i, s := range streams {
		for k, v := range values {
			s = strings.ReplaceAll(s, v, k)
		}
		s = mask(s)
		var rows []json.RawMessage
		if i == 0 && strings.Contains(s, `"file"`) && json.Unmarshal([]byte(s), &rows) == nil {
			slices.SortFunc(rows, func(a, b json.RawMessage) int { return strings.Compare(string(a), string(b)) })
			sorted, _ := json.Marshal(rows)
			s = string(sorted)
		}
		streams[i] = s
	}
	return "exit " + strconv.Itoa(res.ExitCode) + "\nstdout:\n" + streams[0] + "\nstderr:\n" + streams[1]
}

package warm_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/commands/warm"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestMain gives every Airflow these tests start one hash seed. Python orders a set of strings by their
// hashes, which under the default random seed change from one process to the next (`providers triggers`
// and `db clean` print such sets); the children of one forkserver share its seed. With one seed for all,
// the equivalence test can compare the warm executor's output with the subprocess executor's line by line.
func TestMain(m *testing.M) {
	os.Setenv("PYTHONHASHSEED", "0")
	os.Exit(m.Run())
}

// A group of command lines that run one after the other, the later ones reading what the earlier ones
// wrote. {K} and {D} stand for a name and a date (placeholders).
type group []string

// placeholders puts the name and the date into a command line.
var placeholders = strings.NewReplacer("{K}", "eq", "{D}", "2024-03-02")

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

// record makes TestWarmMatchesCold run the groups on the subprocess executor first and write its answers
// as the recording of the installed release, before it compares the warm executor's with them.
var record = flag.Bool("record", false, "record the subprocess executor's answers to the equivalence groups in testdata/cold/")

// recordCommand writes the recordings of the installed releases again.
const recordCommand = "go test ./commands/warm -run TestWarmMatchesCold -record"

// TestWarmMatchesCold runs a command of every whitelisted path on the warm executor, on a fresh home, and
// compares exit codes, stdout and stderr, once the values that change from run to run are masked, with
// the subprocess executor's answers to the same commands on a fresh home of the same release, recorded in
// testdata/cold/airflow-VERSION.txt (recordCommand writes them).
func TestWarmMatchesCold(t *testing.T) {
	eachAirflow(t, func(t *testing.T, major string) {
		version := commandstest.InstalledVersion(t, testbed.Airflow(t, major))
		groups := equivalenceGroups(major)
		if *record {
			recordCold(t, major, version, groups)
		}
		want := recorded(t, major, version)
		var policy *commands.Policy
		cat := commandstest.Catalog(t, version)
		f := mustFixture(t, major, func(ex *warm.Executor) {
			policy = commands.NewPolicy(cat, filepath.Join(ex.Home, "dags"))
			ex.Paths = policy.Paths() // as the gateway warms them
		})
		covered := map[string]bool{}
		for _, line := range lines(groups) {
			inv, err := policy.Resolve(mustSplit(t, line), commands.RoleAdmin)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			covered[inv.Path()] = true
		}
		for _, c := range policy.Allowed(commands.RoleAdmin).Commands {
			if !covered[c.Path] {
				t.Errorf("no command of the path %q was compared", c.Path)
			}
		}
		f.waitWarm(t, 0)
		// The commands of each preload fork from its template.
		templates := map[int]commands.TemplateStatus{}
		for _, preload := range []string{"providers", "providers+api_client"} {
			tpl := f.waitTemplate(t, preload, 0)
			templates[tpl.PID] = tpl
		}
		want.compare(t, runGroups(t, f, f.warm, groups))
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

// lines are the command lines of the groups, in order, with their placeholders filled in.
func lines(groups []group) []string {
	var all []string
	for _, g := range groups {
		for _, line := range g {
			all = append(all, placeholders.Replace(line))
		}
	}
	return all
}

func mustSplit(tb testing.TB, line string) []string {
	tb.Helper()
	words, err := commands.SplitCommand(line)
	if err != nil {
		tb.Fatalf("%s: %v", line, err)
	}
	return words
}

// answer is what a command line printed and how it exited, as comparable renders it.
type answer struct {
	line string
	text string
}

// runGroups runs the command lines of the groups on ex, in order, and returns their answers.
func runGroups(t *testing.T, f *fixture, ex commands.Executor, groups []group) []answer {
	var answers []answer
	for _, line := range lines(groups) {
		res, err := f.run(t, ex, mustSplit(t, line)...)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		answers = append(answers, answer{line, comparable(res, f.home)})
	}
	return answers
}

// recordCold runs the groups on the subprocess executor of a fresh home and writes their answers as the
// recording of the release version, in place of the recordings of earlier releases of its major version.
func recordCold(t *testing.T, major, version string, groups []group) {
	f := mustColdFixture(t, major)
	r := &recording{version: version, answers: runGroups(t, f, f.cold, groups)}
	for _, a := range r.answers {
		if strings.Contains("\n"+a.text, "\n"+answerMark) {
			t.Fatalf("airflow %s printed a line that starts as the recording's headings do:\n%s", a.line, a.text)
		}
	}
	earlier, _ := filepath.Glob(filepath.Join("testdata", "cold", "airflow-"+major+".*.txt"))
	for _, file := range earlier {
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
	}
	file := recordingFile(version)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, r.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", file)
}

// recording is the subprocess executor's answers to the equivalence groups on one Airflow release.
type recording struct {
	file    string
	version string // the release, as its interpreter tells it
	answers []answer
}

func recordingFile(version string) string {
	return filepath.Join("testdata", "cold", "airflow-"+version+".txt")
}

// answerMark starts the line that names the command of each answer in a recording's file.
const answerMark = "=== airflow "

// recorded reads the recording of the installed release of major, whose version is version: it fails tb
// when there is none, or when the file says it holds another release's answers.
func recorded(tb testing.TB, major, version string) *recording {
	tb.Helper()
	r, err := readRecording(recordingFile(version))
	if err != nil {
		tb.Fatalf("no recorded answers of the subprocess executor on Airflow %s, the test bed's %s: %v\nrecord them with: %s",
			version, major, err, recordCommand)
	}
	if r.version != version {
		tb.Fatalf("%s holds the answers of Airflow %q, not of the installed %s: record them again with: %s", r.file, r.version, version, recordCommand)
	}
	return r
}

// readRecording reads a recording's file, as encode wrote it.
func readRecording(file string) (*recording, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	r := &recording{file: file}
	for l := range strings.SplitAfterSeq(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, answerMark):
			r.answers = append(r.answers, answer{line: strings.TrimSuffix(strings.TrimPrefix(l, answerMark), "\n")})
		case len(r.answers) > 0:
			r.answers[len(r.answers)-1].text += l
		case strings.HasPrefix(l, "airflow-version: "):
			r.version = strings.TrimSpace(strings.TrimPrefix(l, "airflow-version: "))
		}
	}
	for i := range r.answers {
		r.answers[i].text = strings.TrimSuffix(r.answers[i].text, "\n") // the line encode ends each with
	}
	return r, nil
}

// TestRecordingsHoldTheGroups checks, without an Airflow, that each recording is of the release its name
// says and answers the command lines equivalenceGroups has for its major version, in their order: a group
// added or changed since the recording was made is caught here, before a long run.
func TestRecordingsHoldTheGroups(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "cold", "airflow-*.txt"))
	majors := map[string]bool{}
	for _, file := range files {
		r, err := readRecording(file)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "airflow-"), ".txt"); r.version != want {
			t.Errorf("%s holds the answers of Airflow %q", file, r.version)
		}
		major, _, _ := strings.Cut(r.version, ".")
		if majors[major] {
			t.Errorf("more than one recording of Airflow %s: keep the test bed's release's", major)
		}
		majors[major] = true
		var recordedLines []string
		for _, a := range r.answers {
			recordedLines = append(recordedLines, a.line)
		}
		if want := lines(equivalenceGroups(major)); !slices.Equal(recordedLines, want) {
			t.Errorf("%s answers other command lines than equivalenceGroups has (- recorded, + equivalenceGroups):\n%s\nrecord them again with: %s",
				file, lineDiff(strings.Join(recordedLines, "\n"), strings.Join(want, "\n")), recordCommand)
		}
	}
	for _, major := range testbed.Versions {
		if !majors[major] {
			t.Errorf("no recording of Airflow %s in testdata/cold: record it with: %s", major, recordCommand)
		}
	}
}

func TestLineDiff(t *testing.T) {
	for _, tt := range []struct{ a, b, want string }{
		{"x\ny", "x\ny", "  x\n  y"},
		{"x\ny\nz", "x\nw\nz", "  x\n- y\n+ w\n  z"},
		{"", "x", "- \n+ x"},
		{"1\n2\n3\n4\n5\n6\n7\nx", "1\n2\n3\n4\n5\n6\n7\ny", "  1\n  2\n  ...\n  6\n  7\n- x\n+ y"},
	} {
		if got := lineDiff(tt.a, tt.b); got != tt.want {
			t.Errorf("lineDiff(%q, %q) =\n%s\nwant\n%s", tt.a, tt.b, got, tt.want)
		}
	}
}

// encode writes the recording as text, each answer under its command line.
func (r *recording) encode() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# The subprocess executor's answers to the command lines of equivalenceGroups on a fresh home of\n"+
		"# Airflow %s, masked as comparable masks them. TestWarmMatchesCold compares the warm executor's\n"+
		"# answers with them. Written by: %s\n", r.version, recordCommand)
	fmt.Fprintf(&b, "airflow-version: %s\n", r.version)
	for _, a := range r.answers {
		fmt.Fprintf(&b, "%s%s\n%s\n", answerMark, a.line, a.text)
	}
	return []byte(b.String())
}

// answer returns the recorded answer to line.
func (r *recording) answer(tb testing.TB, line string) string {
	tb.Helper()
	for _, a := range r.answers {
		if a.line == line {
			return a.text
		}
	}
	tb.Fatalf("%s has no answer to %s: record it again with: %s", r.file, line, recordCommand)
	return ""
}

// compare fails t for every answer of got that differs from the recorded one, with a diff of the two.
func (r *recording) compare(t *testing.T, got []answer) {
	t.Helper()
	recordedLines := func(as []answer) []string {
		var ls []string
		for _, a := range as {
			ls = append(ls, a.line)
		}
		return ls
	}
	if want, have := recordedLines(r.answers), recordedLines(got); !slices.Equal(want, have) {
		t.Fatalf("%s answers other command lines than equivalenceGroups has (- recorded, + equivalenceGroups):\n%s\nrecord them again with: %s",
			r.file, lineDiff(strings.Join(want, "\n"), strings.Join(have, "\n")), recordCommand)
	}
	for i, a := range got {
		if cold := r.answers[i].text; a.text != cold {
			t.Errorf("airflow %s: the warm executor answers otherwise than the subprocess executor did (%s; - subprocess, + warm):\n%s",
				a.line, r.file, lineDiff(cold, a.text))
		}
	}
}

// lineDiff shows the lines of a and b, those only in a marked -, those only in b marked +, and runs of
// more than six lines in both cut to their ends.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// common[i][j] is the length of the longest common subsequence of x[i:] and y[j:].
	common := make([][]int, len(x)+1)
	for i := range common {
		common[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				common[i][j] = common[i+1][j+1] + 1
			} else {
				common[i][j] = max(common[i+1][j], common[i][j+1])
			}
		}
	}
	var out []string
	var same []string
	flush := func() {
		if len(same) > 6 {
			same = append(append(same[:2:2], "  ..."), same[len(same)-2:]...)
		}
		out = append(out, same...)
		same = nil
	}
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			same = append(same, "  "+x[i])
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || common[i+1][j] >= common[i][j+1]):
			flush()
			out = append(out, "- "+x[i])
			i++
		default:
			flush()
			out = append(out, "+ "+y[j])
			j++
		}
	}
	flush()
	return strings.Join(out, "\n")
}

// stderrOf is the stderr of an answer comparable rendered.
func stderrOf(answer string) string {
	_, stderr, _ := strings.Cut(answer, "\nstderr:\n")
	return stderr
}

// comparable renders a result for comparison: its exit code and its streams with the home's folder and
// the virtualenv's put as $AIRFLOW_HOME and $VENV (an answer is compared with one given on another home,
// perhaps on another machine), the values that change per run masked, and Airflow's log lines left out of
// stdout as the gateway answers by default (the forkserver prints the lines that importing logs once, not
// per command). The dates of today and yesterday are put as <today>: Airflow 3 gives a manual run of an
// unscheduled DAG a data interval that ends when it was triggered, and its table prints the date apart
// from the time, which mask leaves alone. `dags report` lists the DAG files by how long each took to
// parse, an order that changes from run to run: its rows are sorted.
func comparable(res *commands.Result, home *testbed.Home) string {
	folders := strings.NewReplacer(home.Dir, "$AIRFLOW_HOME", filepath.Dir(filepath.Dir(home.Airflow)), "$VENV")
	var days []string
	for _, t := range []time.Time{time.Now(), time.Now().Add(-24 * time.Hour)} {
		days = append(days, t.Format(time.DateOnly), "<today>", t.UTC().Format(time.DateOnly), "<today>")
	}
	today := strings.NewReplacer(days...)
	streams := []string{commands.FilterLoadingMessages(res.Stdout), res.Stderr}
	for i, s := range streams {
		s = today.Replace(mask(folders.Replace(s)))
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

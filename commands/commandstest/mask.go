package commandstest

import (
	"regexp"
	"slices"
	"strings"
)

// runValues match what changes from one run of a command to the next, or from one AIRFLOW_HOME to
// another: times and dates (generated run ids hold them), durations, and the file_token Airflow derives
// from a DAG file's path.
var runValues = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?`), "<time>"},
	{regexp.MustCompile(`\d{8}T\d{6}(?:\.\d+)?Z`), "<time>"},
	// A time on its own, as Airflow's tables print one when they wrap a timestamp after its date.
	{regexp.MustCompile(`\b\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?`), "<time>"},
	{regexp.MustCompile(`(file_token\W+)[A-Za-z0-9_.-]+`), "${1}<token>"},
	{regexp.MustCompile(`\b\d+:\d{2}:\d{2}\.\d+`), "<duration>"},
	{regexp.MustCompile(`\d+\.\d+ ?(?:s|ms|seconds)\b`), "<duration>"},
}

// removedRecords is how `dags delete` says what it removed.
var removedRecords = regexp.MustCompile(`Removed \d+ record\(s\)`)

// MaskRun replaces the values in a command's output that change from run to run, so that two runs of the
// same command can be compared. It also masks what two runs print differently because Airflow iterates
// sets of objects, whose order follows their addresses in memory:
//   - `tasks failed-deps` prints the unmet dependencies from such a set: its lines are sorted;
//   - `dags delete` adds up the rows it deletes model by model, in the order of SQLAlchemy's set of mappers,
//     and a cascading delete counts its rows with whichever model comes first: the total is masked.
func MaskRun(s string) string {
	for _, v := range runValues {
		s = v.re.ReplaceAllString(s, v.with)
	}
	if strings.HasPrefix(s, "Task instance dependencies not met:\n") {
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		slices.Sort(lines[1:])
		s = strings.Join(lines, "\n") + "\n"
	}
	return removedRecords.ReplaceAllString(s, "Removed <n> record(s)")
}

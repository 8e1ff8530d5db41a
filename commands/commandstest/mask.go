package commandstest

import "regexp"

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

// MaskRun replaces the values in a command's output that change from run to run, so that two runs of the
// same command can be compared.
func MaskRun(s string) string {
	for _, v := range runValues {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

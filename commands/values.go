package commands

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Every value that reaches Airflow, as a flag's value or as a positional, is checked here, whichever dialect
// it came from: a dialect only says how to name the value in an error (its label).

var (
	// idPattern is Airflow's key rule for DAG and task ids, kept to ASCII.
	idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,250}$`)
	// connIDPattern is the rule Airflow's Connection model holds connection ids to, kept to ASCII.
	connIDPattern = regexp.MustCompile(`^[A-Za-z0-9_#!().:/\\-]{1,250}$`)
	// runIDPattern is Airflow's default allowed_run_id_pattern.
	runIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.~:+-]{1,250}$`)
	// datePattern is a date, optionally followed by a time (after `T` or a space) and an offset.
	datePattern = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$`)
)

// rule is what a value held by one argparse dest must be, beyond its catalog type.
type rule int

const (
	ruleID             rule = iota + 1 // an Airflow key (idPattern)
	ruleConnID                         // a connection id (connIDPattern)
	ruleRunID                          // a run id (runIDPattern)
	ruleDateOrRunID                    // a date (ValidDate) or a run id
	ruleJSONObject                     // a JSON object
	ruleJSONObjectNull                 // a JSON object, or null for none (Airflow reads null as no conf)
	ruleConfined                       // a path inside the DAGs folder
)

// destRules are the rules by argparse dest. The catalog types these values as plain strings; Airflow checks
// them only once it has imported everything, or not at all.
var destRules = map[string]rule{
	"dag_id":  ruleID,
	"task_id": ruleID,
	"conn_id": ruleConnID,
	"run_id":  ruleRunID,
	// tasks render, state, failed-deps and test, and Airflow 3's dags state, take either.
	"execution_date_or_run_id": ruleDateOrRunID,
	"logical_date_or_run_id":   ruleDateOrRunID,
	"conf":                     ruleJSONObjectNull,
	"dag_run_conf":             ruleJSONObjectNull,
	"task_params":              ruleJSONObject,
	"subdir":                   ruleConfined,
	"dagfile_path":             ruleConfined,
}

// regexSwitches are the dests of switches that make a command read its dag_id as a regular expression.
var regexSwitches = []string{"treat_dag_id_as_regex", "treat_dag_as_regex", "dag_regex"}

// checkValue validates one value for arg against its catalog type and choices and the rule of its dest, and
// returns the value to pass on (confined paths come back absolute). label names the value in errors the way
// the caller wrote it: a flag, a positional's name, or a plugin argument.
func (p *Policy) checkValue(inv *Invocation, arg *Arg, label, value string) (string, error) {
	if !utf8.ValidString(value) || strings.ContainsFunc(value, func(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\n' }) {
		return "", Errorf(EINVALID, "%s holds a control character or invalid UTF-8; send plain text", label)
	}
	if len(value) > MaxCommandBytes {
		return "", Errorf(EINVALID, "%s is %d bytes long; the limit is %d", label, len(value), MaxCommandBytes)
	}
	bad := func(want string) error { return Errorf(EINVALID, "%s must be %s, not %q", label, want, value) }
	if len(arg.Choices) > 0 && !slices.Contains(arg.Choices, value) {
		return "", bad("one of " + strings.Join(arg.Choices, ", "))
	}
	switch arg.Type {
	case "int":
		if _, err := strconv.Atoi(value); err != nil {
			return "", bad("a whole number")
		}
	case "positive_int":
		if n, err := strconv.Atoi(value); err != nil || n < 0 {
			return "", bad("a positive whole number")
		}
	case "float":
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			return "", bad("a number")
		}
	case "datetime":
		if !ValidDate(value) {
			return "", bad("a date: YYYY-MM-DD, optionally with a time as THH:MM[:SS] or ' HH:MM[:SS]' and an offset (RFC 3339)")
		}
	case "json":
		if !json.Valid([]byte(value)) {
			return "", bad("JSON")
		}
	}
	switch destRules[arg.Dest] {
	case ruleID:
		if arg.Dest == "dag_id" && slices.ContainsFunc(regexSwitches, func(d string) bool { return len(inv.values[d]) > 0 }) {
			break // a regular expression, which Airflow matches against the DAG ids it knows
		}
		if !idPattern.MatchString(value) {
			return "", bad("an Airflow id: letters, digits, '_', '.' and '-', at most 250 characters")
		}
	case ruleConnID:
		if !connIDPattern.MatchString(value) {
			return "", bad(`a connection id: letters, digits and '_#!().:/\-', at most 250 characters`)
		}
	case ruleRunID:
		if !runIDPattern.MatchString(value) {
			return "", bad("a run id: letters, digits and '_.~:+-', at most 250 characters")
		}
	case ruleDateOrRunID:
		// What has the shape of a date must be one: 2024-02-30 is a mistake, not a run id.
		if datePattern.MatchString(value) && !ValidDate(value) || !ValidDate(value) && !runIDPattern.MatchString(value) {
			return "", bad("a date (YYYY-MM-DD, optionally with a time) or a run id")
		}
	case ruleJSONObject, ruleJSONObjectNull:
		var obj map[string]any
		err := json.Unmarshal([]byte(value), &obj)
		if err != nil || obj == nil && destRules[arg.Dest] == ruleJSONObject {
			return "", bad(`a JSON object such as {"key": "value"}`)
		}
	case ruleConfined:
		return p.confine(label, value)
	}
	return value, nil
}

// ValidDate reports whether s is a date the gateway passes to Airflow: YYYY-MM-DD, optionally followed by
// `T` or a space, HH:MM, optional seconds and fraction, and an optional offset (Z, +HH:MM or +HHMM). Airflow
// parses more forms; these are the ones that mean the same to every version of its parser.
func ValidDate(s string) bool {
	m := datePattern.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	if m[2] == "" {
		_, err := time.Parse(time.DateOnly, m[1])
		return err == nil
	}
	seconds := m[3]
	if seconds == "" {
		seconds = ":00"
	}
	zone := m[4]
	switch {
	case zone == "":
		zone = "Z"
	case len(zone) == 5: // +HHMM
		zone = zone[:3] + ":" + zone[3:]
	}
	_, err := time.Parse(time.RFC3339Nano, m[1]+"T"+m[2]+seconds+zone)
	return err == nil
}

// confine resolves a path given relative to the DAGs folder (or absolute, or starting with Airflow's
// DAGS_FOLDER placeholder) and refuses it unless it lies inside the folder.
func (p *Policy) confine(label, value string) (string, error) {
	path := value
	if rest, ok := strings.CutPrefix(path, "DAGS_FOLDER"); ok {
		path = p.dagsFolder + rest
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.dagsFolder, path)
	}
	path = filepath.Clean(path)
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	if path != p.dagsFolder && !strings.HasPrefix(path, p.dagsFolder+string(filepath.Separator)) {
		return "", Errorf(EINVALID, "%s must name a file or folder inside the DAGs folder; give a path relative to it, such as `my_dag.py`", label)
	}
	return path, nil
}

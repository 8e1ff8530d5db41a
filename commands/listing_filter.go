package commands

import (
	"fmt"
	"strings"
)

// filterListing keeps the rows of a filtered listing's JSON output whose DAGs the credential reaches (in
// its scope, and readable by its Airflow user), and prints them in the format the caller asked for, as
// the Airflow release would have printed only them. Output that cannot be read or written again so is
// withheld whole, and stderr says so: a filtered listing is never shown unfiltered.
func filterListing(inv *Invocation, res *Result, index *DAGIndex) {
	if strings.TrimSpace(res.Stdout) == "" {
		res.Stdout = "" // nothing printed: the command failed before its listing, and stderr says why
		return
	}
	out, err := filterRows(inv.Path(), res.Stdout, inv.listing.reaches(index), index, inv.listing.format)
	if err != nil {
		res.Stdout = ""
		if res.Stderr != "" && !strings.HasSuffix(res.Stderr, "\n") {
			res.Stderr += "\n"
		}
		res.Stderr += fmt.Sprintf("The gateway withheld the output of `%s`: %v, so its rows could not be kept to %s.\n",
			inv.Path(), err, inv.listing)
		return
	}
	res.Stdout = out
}

// filterRows is filterListing's work on the text of a listing: the rows that path printed as JSON, those
// of DAGs reached kept, printed in format.
func filterRows(path, stdout string, reached func(id string) bool, index *DAGIndex, format string) (string, error) {
	rows, err := parseRows(stdout)
	if err != nil {
		return "", fmt.Errorf("its JSON output could not be read (%v)", err)
	}
	keep, ok := listingRules[path]
	if !ok {
		return "", fmt.Errorf("the gateway does not know which DAGs its rows are about")
	}
	kept := rows[:0:0]
	for _, r := range rows {
		if keep(r, reached, index) {
			kept = append(kept, r)
		}
	}
	out, err := renderRows(kept, format)
	if err != nil {
		return "", fmt.Errorf("its rows could not be written as Airflow writes them (%v)", err)
	}
	return out, nil
}

// listingRules say, for each listing across DAGs, which of its rows a credential sees, given which DAG
// ids it reaches (in its scope, and readable by its Airflow user). Each fails closed: a row is shown only
// when every DAG it is about is known to be reached.
//
//   - `dags list` and `dags list-jobs`: a row of one DAG, by its dag_id. A job of no DAG (the scheduler's,
//     whose dag_id Airflow prints as "None") is not shown, nor a job of a DAG whose id is "None".
//   - `dags report`: a row of one file, with the ids of the DAGs it defines: shown when the file defines at
//     least one DAG and every one of them is in scope, as the row names them all.
//   - `dags list-import-errors`: a row of one file that failed to parse, which names no DAG. The DAG index
//     ties a file to the DAGs Airflow last read from it; the row is shown when the index ties its file to
//     at least one DAG and every DAG it ties the file to is reached (DAGIndex.FileReached: Airflow 2 names
//     the file by its full path, Airflow 3 by its bundle and its path in the bundle). A file that never
//     defined a DAG, or one the index does not know yet, is not shown.
var listingRules = map[string]func(r row, reached func(id string) bool, index *DAGIndex) bool{
	"dags list": func(r row, reached func(id string) bool, index *DAGIndex) bool {
		id, ok := stringField(r, "dag_id")
		return ok && reached(id)
	},
	"dags list-jobs": func(r row, reached func(id string) bool, index *DAGIndex) bool {
		id, ok := stringField(r, "dag_id")
		return ok && id != "None" && reached(id)
	},
	"dags report": func(r row, reached func(id string) bool, index *DAGIndex) bool {
		dags, ok := r.get("dags")
		if !ok || dags.kind != kindList || len(dags.items) == 0 {
			return false
		}
		for _, d := range dags.items {
			if d.kind != kindString || !reached(d.text) {
				return false
			}
		}
		return true
	},
	"dags list-import-errors": func(r row, reached func(id string) bool, index *DAGIndex) bool {
		file, ok := stringField(r, "filepath")
		if !ok {
			return false
		}
		bundle, _ := stringField(r, "bundle_name") // Airflow 3: the file's path is in this bundle
		return index.FileReached(bundle, file, reached)
	},
}

// reaches returns whether the credential of a filtered listing reaches a DAG: in its scope (matched
// against index), and, for an Airflow user, among the DAGs Airflow lets the user read.
func (f *listingFilter) reaches(index *DAGIndex) func(id string) bool {
	return func(id string) bool {
		return f.scope.Reaches(id, index) && (f.permitted == nil || f.permitted[id])
	}
}

// String names what a filtered listing's rows are kept to, for messages.
func (f *listingFilter) String() string {
	switch {
	case f.permitted == nil:
		return fmt.Sprintf("this credential's scope (%s)", f.scope)
	case f.scope.IsZero():
		return "the DAGs Airflow lets this credential's Airflow user read"
	}
	return fmt.Sprintf("this credential's scope (%s) and the DAGs Airflow lets its Airflow user read", f.scope)
}

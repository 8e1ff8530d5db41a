// Package dagindex reads the DAG index (§19) from Airflow's metadata DB: dag_index.py, which the binary
// carries, prints every DAG's id, tags, owners, file and team as JSON from one query; the executors run it
// (the warm one in a child of its forkserver, the subprocess one with the Python of Airflow's installation),
// and Rows reads what it printed.
//
// The script is the gateway's own: no client's words reach it, and it takes no argument.
package dagindex

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Script is dag_index.py, the Python that reads the index.
//
//go:embed dag_index.py
var Script string

// FileName is the name the warm executor writes Script under, beside the forkserver's own modules: it
// starts with _airflow_gateway_, as theirs do, which no other code imports.
const FileName = "_airflow_gateway_dag_index.py"

// ProcessTag is the last argument of the Python that runs Script as a process of its own, so that ps names
// it: `python -c ... airflow-gateway-dag-index`.
const ProcessTag = "airflow-gateway-dag-index"

// MaxOutputBytes is how much of the script's stdout is read: a DAG takes about 200 bytes of it, so this is
// room for some 300,000 DAGs. Past it the read fails rather than return part of the DAGs.
const MaxOutputBytes = 64 << 20

// row is one DAG as dag_index.py prints it.
type row struct {
	ID     string   `json:"id"`
	Tags   []string `json:"tags"`
	Owners []string `json:"owners"`
	File   string   `json:"file"`
	Bundle string   `json:"bundle"`
	Rel    string   `json:"relative_file"`
	Team   string   `json:"team"`
}

// Rows returns the DAGs that a run of Script printed, given the run's Result and error as an executor
// returned them, or why the read failed.
func Rows(res *commands.Result, err error) ([]commands.DAGInfo, error) {
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading the DAG index: %w", err)
	case res.TimedOut:
		return nil, fmt.Errorf("reading the DAG index ran past its time limit and was stopped")
	case res.Canceled:
		return nil, fmt.Errorf("reading the DAG index was stopped: the gateway is stopping")
	case res.ExitCode != 0:
		return nil, fmt.Errorf("reading the DAG index failed (exit code %d): %s", res.ExitCode, commands.LastLine(res.Stderr))
	case res.Truncated:
		return nil, fmt.Errorf("the DAG index is larger than %d MiB, more than the gateway reads", MaxOutputBytes>>20)
	}
	return Parse(res.Stdout)
}

// Parse reads the document dag_index.py prints.
func Parse(stdout string) ([]commands.DAGInfo, error) {
	var doc struct {
		DAGs *[]row `json:"dags"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc.DAGs == nil {
		return nil, fmt.Errorf("the DAG index script printed what is not its document (%v): %.200q", err, stdout)
	}
	dags := make([]commands.DAGInfo, 0, len(*doc.DAGs))
	for _, r := range *doc.DAGs {
		if r.ID == "" {
			return nil, fmt.Errorf("the DAG index script printed a DAG without an id")
		}
		dags = append(dags, commands.DAGInfo{ID: r.ID, Tags: r.Tags, Owners: r.Owners, Team: r.Team, File: r.File,
			Bundle: r.Bundle, RelativeFile: r.Rel})
	}
	return dags, nil
}

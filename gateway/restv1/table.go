package restv1

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// table is every v1 endpoint the gateway knows, in the order of Airflow 2.10's v1.yaml, with what it
// becomes in Airflow 3's v2-rest-api-generated.yaml. docs/rest-api.md shows it; TestTableAgainstOpenAPI
// checks every entry against both documents. An entry's V2Method and V2Path, when left out, are its own
// (init sets them).
var table = []Endpoint{
	// Monitoring.
	{Method: "GET", Path: "/health", V2Path: "/monitor/health"},
	{Method: "GET", Path: "/version"},

	// DAGs.
	{Method: "GET", Path: "/dags", Request: listDAGs, List: "dags", Object: dag},
	{Method: "PATCH", Path: "/dags", Request: patchDAGs, List: "dags", Object: dag},
	{Method: "GET", Path: "/dags/{dag_id}", Request: dropFields, Object: dag},
	{Method: "PATCH", Path: "/dags/{dag_id}", Request: patchDAG, Object: dag},
	{Method: "DELETE", Path: "/dags/{dag_id}"},
	{Method: "GET", Path: "/dags/{dag_id}/details", Request: dropFields, Object: dagDetails},
	{Method: "GET", Path: "/dags/{dag_id}/tasks", List: "tasks", Object: task},
	{Method: "GET", Path: "/dags/{dag_id}/tasks/{task_id}", Object: task},

	// DAG runs.
	{Method: "GET", Path: "/dags/{dag_id}/dagRuns", Request: listRuns, List: "dag_runs", Object: dagRun},
	{Method: "POST", Path: "/dags/{dag_id}/dagRuns", Request: triggerRun, Object: dagRun, Status: http.StatusOK},
	{Method: "POST", Path: "/dags/~/dagRuns/list", ReadOnly: true, Request: batchRuns, List: "dag_runs", Object: dagRun},
	{Method: "GET", Path: "/dags/{dag_id}/dagRuns/{dag_run_id}", Object: dagRun},
	{Method: "DELETE", Path: "/dags/{dag_id}/dagRuns/{dag_run_id}"},
	{Method: "PATCH", Path: "/dags/{dag_id}/dagRuns/{dag_run_id}", Request: patchRun, Object: dagRun},
	{Method: "PATCH", Path: "/dags/{dag_id}/dagRuns/{dag_run_id}/setNote", V2Path: "/dags/{dag_id}/dagRuns/{dag_run_id}", Request: setNote, Object: dagRun},
	{Method: "POST", Path: "/dags/{dag_id}/dagRuns/{dag_run_id}/clear", Answer: clearedRun},

	// Task instances.
	{Method: "GET", Path: "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances", Request: listTaskInstances, List: "task_instances", Object: taskInstance},
	{Method: "GET", Path: "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}", Object: taskInstance},
	{Method: "POST", Path: "/dags/~/dagRuns/~/taskInstances/list", ReadOnly: true, Request: batchTaskInstances, List: "task_instances", Object: taskInstance},
	{Method: "POST", Path: "/dags/{dag_id}/clearTaskInstances", Request: clearTaskInstances, Answer: taskReferences},
	{Method: "POST", Path: "/dags/{dag_id}/updateTaskInstancesState", V2Method: "PATCH", V2Path: "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
		Request: setTaskState, Answer: taskReferences},
	{Method: "GET", Path: "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}", Request: logs, Answer: logContent},
	{Method: "GET", Path: "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries", Request: pageOf100, List: "xcom_entries", Object: xcom},
	{Method: "GET", Path: "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}", Request: stringify, Object: xcom},

	// Variables: v1's POST sets a variable whether or not it exists; v2's refuses one that exists (409),
	// which is then set with PATCH.
	{Method: "GET", Path: "/variables", Request: pageOf100, List: "variables", Object: variable},
	{Method: "POST", Path: "/variables", Answer: setVariableAnswer, Status: http.StatusOK, Retry: setVariable},
	{Method: "GET", Path: "/variables/{variable_key}", Object: variable},
	{Method: "PATCH", Path: "/variables/{variable_key}", Request: updateMask, Object: variable},
	{Method: "DELETE", Path: "/variables/{variable_key}"},

	// Connections.
	{Method: "GET", Path: "/connections", Request: pageOf100, List: "connections", Object: connectionItem},
	{Method: "POST", Path: "/connections", Object: connection, Status: http.StatusOK},
	{Method: "GET", Path: "/connections/{connection_id}", Object: connection},
	{Method: "PATCH", Path: "/connections/{connection_id}", Request: updateMask, Object: connection},
	{Method: "DELETE", Path: "/connections/{connection_id}"},

	// Pools.
	{Method: "GET", Path: "/pools", Request: pageOf100, List: "pools", Object: pool},
	{Method: "POST", Path: "/pools", Object: pool, Status: http.StatusOK},
	{Method: "GET", Path: "/pools/{pool_name}", Object: pool},
	{Method: "PATCH", Path: "/pools/{pool_name}", Request: patchPool, Object: pool},
	{Method: "DELETE", Path: "/pools/{pool_name}"},

	// Import errors.
	{Method: "GET", Path: "/importErrors", Request: pageOf100, List: "import_errors", Object: importError},
	{Method: "GET", Path: "/importErrors/{import_error_id}", Object: importError},

	// Datasets are assets in Airflow 3.
	{Method: "GET", Path: "/datasets", V2Path: "/assets", Request: pageOf100, Answer: datasets},
	{Method: "GET", Path: "/datasets/events", V2Path: "/assets/events", Request: datasetEventQuery, Answer: datasetEvents},

	// What Airflow 3's core API does not have.
	{Method: "GET", Path: "/users", Gone: "users belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/users"},
	{Method: "POST", Path: "/users", Gone: "users belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/users"},
	{Method: "GET", Path: "/users/{username}", Gone: "users belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/users/{username}"},
	{Method: "PATCH", Path: "/users/{username}", Gone: "users belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/users/{username}"},
	{Method: "DELETE", Path: "/users/{username}", Gone: "users belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/users/{username}"},
	{Method: "GET", Path: "/roles", Gone: "roles belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/roles"},
	{Method: "POST", Path: "/roles", Gone: "roles belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/roles"},
	{Method: "GET", Path: "/roles/{role_name}", Gone: "roles belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/roles/{role_name}"},
	{Method: "PATCH", Path: "/roles/{role_name}", Gone: "roles belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/roles/{role_name}"},
	{Method: "DELETE", Path: "/roles/{role_name}", Gone: "roles belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/roles/{role_name}"},
	{Method: "GET", Path: "/permissions", Gone: "permissions belong to the auth manager in Airflow 3: with the FAB auth manager, /auth/fab/v1/permissions"},
}

// Query translation.

// updateMask splits v1's comma-separated update mask into the repeated parameter v2 reads.
func updateMask(c *Call, _ Params, _ time.Time) error {
	splitLists(c.Query, "update_mask")
	return nil
}

// patchRun sends the one key v2 takes of a run's PATCH: its state.
func patchRun(c *Call, p Params, now time.Time) error { return keepKeys("state")(c, p, now) }

func splitLists(q url.Values, names ...string) {
	for _, name := range names {
		var out []string
		for _, v := range q[name] {
			for part := range strings.SplitSeq(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					out = append(out, part)
				}
			}
		}
		if out != nil {
			q[name] = out
		}
	}
}

// defaultLimit gives a list v1's default page of 100 (v2's is 50); v1 read 0 as the default too.
func defaultLimit(q url.Values) {
	if l := q.Get("limit"); l == "" || l == "0" {
		q.Set("limit", "100")
	}
}

func pageOf100(c *Call, _ Params, _ time.Time) error {
	defaultLimit(c.Query)
	return nil
}

// rename moves a query parameter to its v2 name.
func rename(q url.Values, from, to string) {
	if v, ok := q[from]; ok {
		q[to] = v
		delete(q, from)
	}
}

// dropFields removes v1's fields parameter, which v2 does not take: the answer is cut to them instead.
func dropFields(c *Call, _ Params, _ time.Time) error {
	c.Query.Del("fields")
	return nil
}

func listDAGs(c *Call, _ Params, _ time.Time) error {
	q := c.Query
	splitLists(q, "tags", "fields")
	defaultLimit(q)
	q.Del("fields")
	// v1's only_active (default true) is v2's exclude_stale (default true).
	if v := q.Get("only_active"); v != "" {
		q.Set("exclude_stale", v)
		q.Del("only_active")
	}
	return nil
}

func listRuns(c *Call, _ Params, _ time.Time) error {
	q := c.Query
	defaultLimit(q)
	splitLists(q, "state", "fields")
	q.Del("fields")
	rename(q, "execution_date_gte", "logical_date_gte")
	rename(q, "execution_date_lte", "logical_date_lte")
	if ob := q.Get("order_by"); strings.TrimPrefix(ob, "-") == "execution_date" {
		q.Set("order_by", strings.Replace(ob, "execution_date", "logical_date", 1))
	}
	return nil
}

func listTaskInstances(c *Call, _ Params, _ time.Time) error {
	q := c.Query
	defaultLimit(q)
	splitLists(q, "state", "pool", "queue", "executor")
	rename(q, "execution_date_gte", "logical_date_gte")
	rename(q, "execution_date_lte", "logical_date_lte")
	return nil
}

func stringify(c *Call, _ Params, _ time.Time) error {
	// v1 answered an XCom value as text unless asked not to; v2 answers it as JSON unless asked.
	if c.Query.Get("stringify") == "" {
		c.Query.Set("stringify", "true")
	}
	return nil
}

func logs(c *Call, _ Params, _ time.Time) error {
	c.Accept = "application/json" // v2 answers text/plain with 406; the text is made from its JSON
	return nil
}

func datasetEventQuery(c *Call, _ Params, _ time.Time) error {
	defaultLimit(c.Query)
	rename(c.Query, "dataset_id", "asset_id")
	return nil
}

// Body translation.

// body reads a call's JSON object; an empty body is an empty object.
func body(c *Call) (map[string]any, error) {
	doc := map[string]any{}
	if len(strings.TrimSpace(string(c.Body))) == 0 {
		return doc, nil
	}
	if err := json.Unmarshal(c.Body, &doc); err != nil {
		return nil, badRequest("the request body is not a JSON object: %v", err)
	}
	return doc, nil
}

// keepKeys keeps the body's keys v2 takes (it refuses any other with 422), as v1 ignored its read-only ones.
func keepKeys(keys ...string) func(c *Call, _ Params, _ time.Time) error {
	return func(c *Call, _ Params, _ time.Time) error {
		doc, err := body(c)
		if err != nil {
			return err
		}
		kept := map[string]any{}
		for _, k := range keys {
			if v, ok := doc[k]; ok {
				kept[k] = v
			}
		}
		c.Body = encode(kept)
		return nil
	}
}

func patchDAG(c *Call, p Params, now time.Time) error {
	splitLists(c.Query, "update_mask")
	return keepKeys("is_paused")(c, p, now)
}

// patchPool names the pool "pool" where v1 named it "name", in the body and in the update mask; v2
// refuses v1's read-only counts. v2 asks for the name and include_deferred even when the update mask leaves
// them out; v1 took a missing include_deferred as false.
func patchPool(c *Call, p Params, now time.Time) error {
	splitLists(c.Query, "update_mask")
	for i, field := range c.Query["update_mask"] {
		if field == "name" {
			c.Query["update_mask"][i] = "pool"
		}
	}
	doc, err := body(c)
	if err != nil {
		return err
	}
	renameKey(doc, "name", "pool")
	for k, v := range map[string]any{"pool": p["pool_name"], "include_deferred": false} {
		if _, ok := doc[k]; !ok {
			doc[k] = v
		}
	}
	c.Body = encode(doc)
	return keepKeys("pool", "slots", "description", "include_deferred")(c, p, now)
}

func patchDAGs(c *Call, p Params, now time.Time) error {
	splitLists(c.Query, "tags")
	defaultLimit(c.Query)
	if v := c.Query.Get("only_active"); v != "" {
		c.Query.Set("exclude_stale", v)
		c.Query.Del("only_active")
	}
	return patchDAG(c, p, now)
}

func setNote(c *Call, _ Params, _ time.Time) error {
	doc, err := body(c)
	if err != nil {
		return err
	}
	c.Body = encode(map[string]any{"note": doc["note"]})
	c.Query = url.Values{"update_mask": {"note"}}
	return nil
}

// triggerRun makes v2's trigger body from v1's: execution_date is the logical date, a missing one is now,
// and a run id not given is made from the logical date, as Airflow 2 did (Airflow 3 makes it from the
// time of the request).
func triggerRun(c *Call, _ Params, now time.Time) error {
	doc, err := body(c)
	if err != nil {
		return err
	}
	logical, hasLogical := doc["logical_date"]
	exec, hasExec := doc["execution_date"]
	switch {
	case hasLogical && hasExec && logical != exec:
		return badRequest("logical_date conflicts with execution_date")
	case !hasLogical && hasExec:
		logical = exec
	case !hasLogical:
		logical = now.UTC().Format("2006-01-02T15:04:05.999999-07:00")
	}
	s, ok := logical.(string)
	if !ok {
		return badRequest("logical_date must be a date-time string, such as 2021-01-01T15:00:00+00:00")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return badRequest("logical_date %q is not an RFC 3339 date-time with a time zone, such as 2021-01-01T15:00:00+00:00", s)
	}
	out := map[string]any{"logical_date": s}
	for _, k := range []string{"dag_run_id", "conf", "note", "data_interval_start", "data_interval_end"} {
		if v, ok := doc[k]; ok && v != nil {
			out[k] = v
		}
	}
	if _, ok := out["dag_run_id"]; !ok {
		out["dag_run_id"] = "manual__" + pythonISO(t)
	}
	c.Body = encode(out)
	return nil
}

// pythonISO writes t as Python's datetime.isoformat does: microseconds only when there are some, and the
// offset as +00:00.
func pythonISO(t time.Time) string {
	layout := "2006-01-02T15:04:05"
	if t.Nanosecond()/1000 != 0 {
		layout += ".000000"
	}
	return t.Format(layout + "-07:00")
}

func batchRuns(c *Call, _ Params, _ time.Time) error {
	doc, err := body(c)
	if err != nil {
		return err
	}
	renameKey(doc, "execution_date_gte", "logical_date_gte")
	renameKey(doc, "execution_date_lte", "logical_date_lte")
	if ob, ok := doc["order_by"].(string); ok && strings.TrimPrefix(ob, "-") == "execution_date" {
		doc["order_by"] = strings.Replace(ob, "execution_date", "logical_date", 1)
	}
	c.Body = encode(doc)
	return nil
}

func batchTaskInstances(c *Call, _ Params, _ time.Time) error {
	doc, err := body(c)
	if err != nil {
		return err
	}
	renameKey(doc, "execution_date_gte", "logical_date_gte")
	renameKey(doc, "execution_date_lte", "logical_date_lte")
	c.Body = encode(doc)
	return nil
}

// clearTaskInstances keeps v1's defaults where v2's differ: reset_dag_runs was false, only_failed true.
func clearTaskInstances(c *Call, _ Params, _ time.Time) error {
	doc, err := body(c)
	if err != nil {
		return err
	}
	for k, v := range map[string]any{"reset_dag_runs": false, "only_failed": true, "dry_run": true} {
		if _, ok := doc[k]; !ok {
			doc[k] = v
		}
	}
	delete(doc, "include_subdags")
	delete(doc, "include_parentdag")
	c.Body = encode(doc)
	return nil
}

// setTaskState names the task instance in the path, as v2 does, from v1's body; a dry run (v1's default)
// is v2's own dry_run endpoint. v1 could name the run by its execution date instead: on Airflow 3 the run
// id is needed.
func setTaskState(c *Call, p Params, _ time.Time) error {
	doc, err := body(c)
	if err != nil {
		return err
	}
	run, _ := doc["dag_run_id"].(string)
	task, _ := doc["task_id"].(string)
	if task == "" {
		return badRequest("task_id: the task whose state to set is required")
	}
	if run == "" {
		return badRequest("dag_run_id: name the DAG run by its id; on Airflow 3 a run is not found by its execution_date")
	}
	at := Params{"dag_id": p["dag_id"], "dag_run_id": run, "task_id": task}
	if err := checkIDs(at); err != nil {
		return err
	}
	c.Path = fill("/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}", at)
	if dry, ok := doc["dry_run"].(bool); !ok || dry {
		c.Path += "/dry_run"
	}
	out := map[string]any{}
	for _, k := range []string{"new_state", "include_upstream", "include_downstream", "include_future", "include_past"} {
		if v, ok := doc[k]; ok {
			out[k] = v
		}
	}
	c.Body = encode(out)
	return nil
}

func renameKey(doc map[string]any, from, to string) {
	if v, ok := doc[from]; ok {
		doc[to] = v
		delete(doc, from)
	}
}

// setVariable sets a variable that exists when v2's POST refused to create it (409), as v1's POST did.
func setVariable(a *Answer, c *Call, _ Params) *Call {
	if a.Status != http.StatusConflict {
		return nil
	}
	var doc struct {
		Key string `json:"key"`
	}
	if json.Unmarshal(c.Body, &doc) != nil || doc.Key == "" || doc.Key == "." || doc.Key == ".." { // never a dot segment: v2's 409 stands
		return nil
	}
	return &Call{Method: "PATCH", Path: "/variables/" + url.PathEscape(doc.Key), Query: url.Values{}, Accept: c.Accept, Body: c.Body}
}

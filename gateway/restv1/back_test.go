package restv1

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// translatable are the entries of the table that become a v2 call.
func translatable() []*Endpoint {
	var eps []*Endpoint
	for i := range table {
		if table[i].Gone == "" {
			eps = append(eps, &table[i])
		}
	}
	return eps
}

// entryIndex is the index among translatable of the entry of a v1 method and path template.
func entryIndex(tb testing.TB, method, template string) uint16 {
	tb.Helper()
	for i, ep := range translatable() {
		if ep.Method == method && ep.Path == template {
			return uint16(i)
		}
	}
	tb.Fatalf("no entry %s %s", method, template)
	return 0
}

// pathValues are the values the fuzz target gives a template's {names}: ids Airflow could hold.
var pathValues = map[string]string{"dag_id": "example_bash_operator", "dag_run_id": "manual__2026-12-06T15:04:05+00:00", "task_id": "run_this",
	"task_try_number": "1", "xcom_key": "return_value", "variable_key": "watermark", "connection_id": "my_db", "pool_name": "default_pool",
	"import_error_id": "1"}

// anyBody is a v1 body every entry translates: the fields that updateTaskInstancesState needs, and a
// variable's.
const anyBody = `{"dag_run_id": "r", "task_id": "t", "new_state": "failed", "key": "k", "value": "v"}`

// translated is a v1 call of one of the table's entries, with query and body, as Translate gives it; a
// body the entry refuses is replaced by anyBody.
func translated(tb testing.TB, entry uint16, query, body string) *Translation {
	tb.Helper()
	eps := translatable()
	ep := eps[int(entry)%len(eps)]
	p := regexp.MustCompile(`\{[^}]*\}`).ReplaceAllStringFunc(ep.Path, func(name string) string {
		return url.PathEscape(pathValues[name[1:len(name)-1]])
	})
	q, _ := url.ParseQuery(query)
	c := &Call{Method: ep.Method, Path: p, Query: q, Accept: "application/json", Body: []byte(body)}
	now := time.Date(2026, 12, 6, 15, 4, 5, 0, time.UTC)
	tr, err := Translate(c, now)
	if err != nil {
		c.Body = []byte(anyBody)
		if tr, err = Translate(c, now); err != nil {
			tb.Fatalf("%s %s?%s %s is not translated: %v", c.Method, c.Path, query, c.Body, err)
		}
	}
	return tr
}

// httpStatus folds a fuzzed number into the statuses an HTTP client reads, 100 to 999.
func httpStatus(n int) int {
	if n >= 100 && n <= 999 {
		return n
	}
	return 100 + int(uint(n)%900)
}

// plainPath reports whether p is a path of the API as it is sent: absolute, without empty, . or ..
// segments, and read back by a URL parser as the same path under /api/v2.
func plainPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	u, err := url.Parse("http://airflow/api/v2" + p)
	return err == nil && path.Clean(u.Path) == u.Path && strings.HasPrefix(u.Path, "/api/v2/")
}

// jsonObject reads b as one JSON object, numbers as they are written, and nothing after it.
func jsonObject(b []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if dec.Decode(&doc) != nil || doc == nil || dec.More() {
		return nil, false
	}
	_, err := dec.Token()
	return doc, err != nil // io.EOF: nothing after the object
}

// queryFields are the fields a v1 call asks for, as v1 read fields=a,b.
func queryFields(q url.Values) []string {
	var fields []string
	for _, v := range q["fields"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				fields = append(fields, f)
			}
		}
	}
	return fields
}

// FuzzBack holds the answer side of the table to what a v1 client relies on, whatever Airflow 3 answers
// to a translated call (any status, content type and body) and whatever the v1 call asked (its query, its
// body):
//
//   - Retry never retries a success, and asks only for a plain path of the API;
//   - Back answers a status an HTTP server can write (100 to 999), an error as an error and a success as a
//     success;
//   - an error (4xx, 5xx) becomes v1's problem document, whose status is the answer's;
//   - any other answer keeps its content type, and its body passes through byte for byte unless it was a
//     JSON object and the entry translates answers, in which case it is a JSON object again: a collection
//     holds only its list and total_entries, objects only the fields the call asked for, a task's log one
//     text and a string continuation token, a DAG's details a boolean is_active;
//   - Back changes neither the answer it reads nor the calls, and gives the same answer twice;
//   - each JSON line of a task's log, as the gateway streams it, is written [timestamp] LEVEL - event.
func FuzzBack(f *testing.F) {
	for _, s := range []struct {
		method, template string
		status           int
		ctype, body      string
		query, v1Body    string
	}{
		{"GET", "/health", 200, "application/json", `{"metadatabase": {"status": "healthy"}, "scheduler": {"status": "healthy",
			"latest_scheduler_heartbeat": "2026-12-06T15:04:00.123456Z"}, "triggerer": {"status": null, "latest_triggerer_heartbeat": null},
			"dag_processor": {"status": "healthy", "latest_dag_processor_heartbeat": "2026-12-06T15:03:59Z"}}`, "", ""},
		{"GET", "/dags", 200, "application/json", `{"dags": [{"dag_id": "example_bash_operator", "dag_display_name": "example_bash_operator",
			"is_paused": true, "is_stale": false, "last_parsed_time": "2026-12-06T15:04:05.123456Z", "last_expired": null,
			"bundle_name": "dags-folder", "bundle_version": null, "relative_fileloc": "example_bash_operator.py",
			"fileloc": "/opt/airflow/dags/example_bash_operator.py", "description": null, "timetable_summary": "0 0 * * *",
			"timetable_description": "At 00:00", "tags": [{"name": "example", "dag_id": "example_bash_operator"}], "max_active_tasks": 16,
			"max_active_runs": 16, "max_consecutive_failed_dag_runs": 0, "has_task_concurrency_limits": false, "has_import_errors": false,
			"next_dagrun_logical_date": "2026-12-07T00:00:00Z", "next_dagrun_data_interval_start": "2026-12-07T00:00:00Z",
			"next_dagrun_data_interval_end": "2026-12-08T00:00:00Z", "next_dagrun_run_after": "2026-12-08T00:00:00Z", "owners": ["airflow"],
			"file_token": "Ii9vcHQvYWlyZmxvdy9kYWdzIg"}], "total_entries": 1}`, "tags=example&limit=10", ""},
		{"GET", "/dags", 200, "application/json", `{"dags": [{"dag_id": "d", "is_stale": true, "timetable_summary": null, "owners": null,
			"tags": []}], "total_entries": 1}`, "fields=dag_id,is_active", ""},
		{"GET", "/dags/{dag_id}/details", 200, "application/json", `{"dag_id": "example_bash_operator", "is_paused": false, "is_stale": false,
			"timetable_summary": "1 day, 0:00:00", "catchup": false, "dag_run_timeout": "PT1H30M0.5S", "doc_md": null,
			"start_date": "2021-01-01T00:00:00Z", "end_date": null, "is_paused_upon_creation": null, "last_parsed": "2026-12-06T15:04:05Z",
			"params": {"x": {"value": 1, "schema": {}, "description": null, "__class": "airflow.sdk.definitions.param.Param"}},
			"render_template_as_native_obj": false, "template_search_path": null, "timezone": "UTC", "asset_expression": null,
			"concurrency": 16, "owners": ["airflow"], "tags": [{"name": "example", "dag_id": "example_bash_operator"}],
			"owner_links": {}, "latest_dag_version": {"id": "0195-...", "version_number": 1}}`, "", ""},
		{"GET", "/dags/{dag_id}/tasks", 200, "application/json", `{"tasks": [{"task_id": "run_this", "task_display_name": "run_this",
			"owner": "airflow", "start_date": null, "end_date": null, "trigger_rule": "all_success", "depends_on_past": false,
			"wait_for_downstream": false, "retries": 0, "queue": "default", "pool": "default_pool", "pool_slots": 1,
			"execution_timeout": null, "retry_delay": "PT5M", "retry_exponential_backoff": 2.0, "priority_weight": 1,
			"weight_rule": "downstream", "ui_color": "#f0ede4", "ui_fgcolor": "#000", "template_fields": ["bash_command", "env"],
			"downstream_task_ids": [], "doc_md": null, "operator_name": "BashOperator", "params": {}, "class_ref": {},
			"is_mapped": false, "extra_links": null}], "total_entries": 1}`, "", ""},
		{"POST", "/dags/{dag_id}/dagRuns", 200, "application/json", `{"dag_run_id": "manual__2026-12-06T15:04:05+00:00",
			"dag_id": "example_bash_operator", "logical_date": "2026-12-06T15:04:05Z", "queued_at": "2026-12-06T15:04:05.5Z",
			"start_date": null, "end_date": null, "duration": null, "data_interval_start": "2026-12-06T15:04:05Z",
			"data_interval_end": "2026-12-06T15:04:05Z", "run_after": "2026-12-06T15:04:05Z", "last_scheduling_decision": null,
			"run_type": "manual", "state": "queued", "triggered_by": "rest_api", "triggering_user_name": "admin", "conf": {},
			"note": null, "dag_versions": [], "bundle_version": null, "dag_display_name": "example_bash_operator"}`, "", `{}`},
		{"GET", "/dags/{dag_id}/dagRuns/{dag_run_id}", 200, "application/json", `{"dag_run_id": "r", "dag_id": "d", "logical_date": null,
			"run_after": "2026-12-06T15:04:05Z", "run_type": "asset_triggered", "state": "success", "conf": null}`, "", ""},
		{"POST", "/dags/{dag_id}/dagRuns", 422, "application/json", `{"detail": [{"type": "missing", "loc": ["body", "logical_date"],
			"msg": "Field required", "input": {}}]}`, "", `{"execution_date": "2021-01-01T00:00:00Z"}`},
		{"POST", "/dags/{dag_id}/dagRuns/{dag_run_id}/clear", 200, "application/json", `{"task_instances": [{"task_id": "run_this",
			"dag_id": "d", "dag_run_id": "r", "logical_date": null, "run_after": "2026-12-06T15:04:05Z", "map_index": -1,
			"state": "success"}], "total_entries": 1}`, "", `{"dry_run": true}`},
		{"GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}", 200, "application/json",
			`{"content": [{"timestamp": "2026-12-06T15:04:05.123456Z", "event": "::group::Log message source details",
			"sources": ["/opt/airflow/logs/dag_id=d/run_id=r/task_id=t/attempt=1.log"]}, {"event": "::endgroup::"},
			{"timestamp": "2026-12-06T15:04:06Z", "level": "info", "event": "Task instance is in running state", "logger": "task"},
			"a line that is only text"], "continuation_token": null}`, "", ""},
		{"GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}", 200, "application/x-ndjson",
			`{"timestamp": "2026-12-06T15:04:06Z", "level": "warning", "event": "Retrying"}` + "\n" + `not json` + "\n" +
				`{"event": {"nested": [1, 2]}, "level": 7}` + "\n", "", ""},
		{"GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}", 200, "application/json",
			`{"key": "return_value", "timestamp": "2026-12-06T15:04:07Z", "logical_date": null, "run_after": "2026-12-06T15:04:05Z",
			"map_index": -1, "task_id": "run_this", "dag_id": "d", "run_id": "r", "dag_display_name": "d", "task_display_name": "run_this",
			"value": {"rows": [1, 2.5, null]}}`, "stringify=false", ""},
		{"POST", "/variables", 201, "application/json", `{"key": "watermark", "value": "2024-05-01T00:00:00Z", "description": null,
			"is_encrypted": false}`, "", `{"key": "watermark", "value": "2024-05-01T00:00:00Z"}`},
		{"POST", "/variables", 409, "application/json", `{"detail": "The Variable with key: ` + "`watermark`" + ` already exists"}`, "",
			`{"key": "watermark", "value": "v"}`},
		{"GET", "/connections", 200, "application/json", `{"connections": [{"connection_id": "my_db", "conn_type": "postgres",
			"description": null, "host": "db", "login": "u", "schema": "s", "port": 5432, "password": "***", "extra": "{}",
			"team_name": null}], "total_entries": 1}`, "", ""},
		{"PATCH", "/pools/{pool_name}", 200, "application/json", `{"name": "default_pool", "slots": 128, "description": "Default pool",
			"include_deferred": false, "occupied_slots": 0, "running_slots": 0, "queued_slots": 0, "scheduled_slots": 0, "open_slots": 128,
			"deferred_slots": 0, "team_name": null}`, "update_mask=slots", `{"name": "default_pool", "slots": 128}`},
		{"GET", "/datasets", 200, "application/json", `{"assets": [{"id": 1, "name": "s3://bucket/key", "uri": "s3://bucket/key",
			"group": "asset", "extra": {}, "created_at": "2026-12-06T15:04:05Z", "updated_at": "2026-12-06T15:04:05Z",
			"scheduled_dags": [{"dag_id": "d", "created_at": "2026-12-06T15:04:05Z", "updated_at": "2026-12-06T15:04:05Z"}],
			"producing_tasks": [], "consuming_tasks": [], "aliases": [], "watchers": [], "last_asset_event": null}], "total_entries": 1}`, "", ""},
		{"GET", "/dags/{dag_id}", 404, "application/json", `{"detail": "The Dag with ID: ` + "`d`" + ` was not found"}`, "", ""},
		{"DELETE", "/variables/{variable_key}", 204, "", "", "", ""},
		{"GET", "/importErrors", 502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>", "", ""},
		{"GET", "/version", 200, "text/plain", "3.3.2", "", ""},
	} {
		f.Add(entryIndex(f, s.method, s.template), s.status, s.ctype, []byte(s.body), s.query, s.v1Body)
	}
	f.Fuzz(func(t *testing.T, entry uint16, status int, ctype string, body []byte, query, v1Body string) {
		checkLogLines(t, body)
		tr := translated(t, entry, query, v1Body)
		ep := tr.Endpoint
		status = httpStatus(status)
		v1Before, v2Before := callText(tr.V1), callText(tr.V2)

		// Retry, as the gateway asks it: with the status alone.
		if again := tr.Retry(&Answer{Status: status}); again != nil {
			if status/100 == 2 {
				t.Fatalf("%s %s: a %d is retried as %s %s", ep.Method, ep.Path, status, again.Method, again.Path)
			}
			if again.Method == "" || !plainPath(again.Path) {
				t.Fatalf("%s %s %s: after a %d, %q %q is not a call of the API", ep.Method, ep.Path, tr.V2.Body, status, again.Method, again.Path)
			}
		}

		in := &Answer{Status: status, ContentType: ctype, Body: bytes.Clone(body)}
		out := tr.Back(in)
		if in.Status != status || in.ContentType != ctype || !bytes.Equal(in.Body, body) {
			t.Fatalf("%s %s: Back changed the answer it read", ep.Method, ep.Path)
		}
		if v1, v2 := callText(tr.V1), callText(tr.V2); v1 != v1Before || v2 != v2Before {
			t.Fatalf("%s %s: Back changed the calls: %s, %s", ep.Method, ep.Path, v1, v2)
		}
		if again := tr.Back(&Answer{Status: status, ContentType: ctype, Body: bytes.Clone(body)}); again.Status != out.Status ||
			again.ContentType != out.ContentType || !bytes.Equal(again.Body, out.Body) {
			t.Fatalf("%s %s: the same answer is translated twice otherwise: %s, then %s", ep.Method, ep.Path, out.Body, again.Body)
		}
		if out.Status < 100 || out.Status > 999 || (out.Status >= 400) != (status >= 400) || (status/100 == 2) != (out.Status/100 == 2) {
			t.Fatalf("%s %s: %d became %d", ep.Method, ep.Path, status, out.Status)
		}

		if status >= 400 {
			var p Problem
			if out.ContentType != "application/problem+json" || json.Unmarshal(out.Body, &p) != nil || p.Status != out.Status ||
				p.Title != http.StatusText(out.Status) || !strings.HasPrefix(p.Type, "https://airflow.apache.org/") {
				t.Fatalf("%s %s: %d %q became %d %s %s, not v1's problem document", ep.Method, ep.Path, status, body, out.Status, out.ContentType, out.Body)
			}
			return
		}
		if out.ContentType != ctype {
			t.Fatalf("%s %s: the content type %q became %q", ep.Method, ep.Path, ctype, out.ContentType)
		}
		if bytes.Equal(out.Body, body) {
			return
		}
		translates := (ep.Answer != nil || ep.Object != nil) && strings.HasPrefix(ctype, "application/json")
		doc, ok := jsonObject(out.Body)
		if !translates || !ok {
			t.Fatalf("%s %s: %d %s %q became %q", ep.Method, ep.Path, status, ctype, body, out.Body)
		}

		// What each kind of entry makes of a JSON object.
		fields := queryFields(tr.V1.Query)
		var objects []any
		switch {
		case ep.Answer != nil:
		case ep.List != "":
			for k := range doc {
				if k != ep.List && k != "total_entries" {
					t.Fatalf("%s %s: the collection holds %q: %s", ep.Method, ep.Path, k, out.Body)
				}
			}
			objects, _ = doc[ep.List].([]any)
		default:
			objects = []any{doc}
		}
		for _, o := range objects {
			obj, _ := o.(map[string]any)
			for k := range obj {
				if len(fields) > 0 && !slices.Contains(fields, k) {
					t.Fatalf("%s %s?%s: %q is not a field asked for: %s", ep.Method, ep.Path, tr.V1.Query.Encode(), k, out.Body)
				}
			}
		}
		switch ep.Path {
		case "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}":
			if _, ok := doc["content"].(string); !ok || doc["continuation_token"] == nil {
				t.Fatalf("%s: the log is not v1's: %s", ep.Path, out.Body)
			}
		case "/dags/{dag_id}/details":
			if active, ok := doc["is_active"]; ok && active != true && active != false {
				t.Fatalf("%s: is_active is %v", ep.Path, active)
			}
		}
	})
}

// callText writes a call whole, to see whether it changed.
func callText(c *Call) string {
	return c.Method + " " + c.Path + "?" + c.Query.Encode() + " " + c.Accept + " " + string(c.Body)
}

// checkLogLines reads body as the gateway streams a task's log as text, one JSON message a line, and
// checks the line LogLine writes of each.
func checkLogLines(t *testing.T, body []byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		line := LogLine(m)
		if !utf8.ValidString(line) {
			t.Fatalf("%s became %q, not UTF-8", sc.Bytes(), line)
		}
		ts, _ := m["timestamp"].(string)
		level, _ := m["level"].(string)
		event, _ := m["event"].(string)
		if ts != "" && level != "" && event != "" && line != "["+ts+"] "+strings.ToUpper(level)+" - "+event {
			t.Fatalf("%s became %q", sc.Bytes(), line)
		}
	}
}

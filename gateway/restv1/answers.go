package restv1

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Answer translation: v2's objects as v1 wrote them. Airflow 2's own client refuses what v1 never sent (a
// null where v1 has a value, an enum value v1 does not know, a type v1 does not have), so every field v1
// declares is written, with v1's type, and v2's additions are dropped.

// one translates a document that is one object.
func one(f func(map[string]any)) func(map[string]any, *Call) {
	return func(doc map[string]any, c *Call) {
		f(doc)
		v1Times(doc)
		project(doc, c)
	}
}

// utcTime is a time as Airflow 3 writes it in UTC; Airflow 2 wrote the offset, +00:00.
var utcTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)

// data are the fields whose strings are what a user stored, never a time of Airflow's own.
var data = map[string]bool{"value": true, "description": true, "note": true, "extra": true, "key": true}

// v1Times writes an object's times as Airflow 2 did: 2021-01-01T15:00:00+00:00, not ...Z. Only the
// object's own fields are changed, never what it holds (a run's conf) or what a user stored as text (a
// variable's value, a note).
func v1Times(obj map[string]any) {
	for k, v := range obj {
		if s, ok := v.(string); ok && !data[k] && utcTime.MatchString(s) {
			obj[k] = strings.TrimSuffix(s, "Z") + "+00:00"
		}
	}
}

// each translates the objects of a collection's list.
func each(list string, f func(map[string]any)) func(map[string]any, *Call) {
	return func(doc map[string]any, c *Call) {
		items, _ := doc[list].([]any)
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				f(m)
				v1Times(m)
				project(m, c)
			}
		}
		keepOnly(doc, list, "total_entries")
	}
}

// project cuts an object to the fields a v1 call asked for (fields=a,b), as v1 did.
func project(obj map[string]any, c *Call) {
	var fields []string
	for _, v := range c.Query["fields"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				fields = append(fields, f)
			}
		}
	}
	if len(fields) > 0 {
		keepOnly(obj, fields...)
	}
}

func keepOnly(obj map[string]any, keys ...string) {
	for k := range obj {
		if !slices.Contains(keys, k) {
			delete(obj, k)
		}
	}
}

// orDefault sets key to v where v2 has it null or missing.
func orDefault(obj map[string]any, key string, v any) {
	if obj[key] == nil {
		obj[key] = v
	}
}

func dag(d map[string]any) {
	stale, _ := d["is_stale"].(bool)
	d["is_active"] = !stale
	d["next_dagrun"] = d["next_dagrun_logical_date"]
	d["next_dagrun_create_after"] = d["next_dagrun_run_after"]
	d["schedule_interval"] = scheduleInterval(d["timetable_summary"])
	d["root_dag_id"] = nil
	d["is_subdag"] = false
	d["last_pickled"], d["scheduler_lock"], d["pickle_id"] = nil, nil, nil
	d["default_view"] = "grid"
	orDefault(d, "file_token", "")
	orDefault(d, "owners", []any{})
	if tags, ok := d["tags"].([]any); ok {
		for _, t := range tags {
			if m, ok := t.(map[string]any); ok {
				keepOnly(m, "name")
			}
		}
	}
	keepOnly(d, dagFields...)
}

// dagFields are the fields of v1's DAG.
var dagFields = []string{"dag_id", "dag_display_name", "root_dag_id", "is_paused", "is_active", "is_subdag", "last_parsed_time",
	"last_pickled", "last_expired", "scheduler_lock", "pickle_id", "default_view", "fileloc", "file_token", "owners", "description",
	"schedule_interval", "timetable_description", "tags", "max_active_tasks", "max_active_runs", "has_task_concurrency_limits",
	"has_import_errors", "next_dagrun", "next_dagrun_data_interval_start", "next_dagrun_data_interval_end", "next_dagrun_create_after",
	"max_consecutive_failed_dag_runs"}

func dagDetails(d map[string]any) {
	extra := map[string]any{}
	for _, k := range []string{"catchup", "concurrency", "dag_run_timeout", "doc_md", "end_date", "is_paused_upon_creation", "last_parsed",
		"params", "render_template_as_native_obj", "start_date", "template_search_path", "timezone", "asset_expression"} {
		extra[k] = d[k]
	}
	dag(d)
	for k, v := range extra {
		d[k] = v
	}
	renameKey(d, "asset_expression", "dataset_expression")
	renameKey(d, "template_search_path", "template_searchpath")
	d["orientation"] = "LR"
	d["dag_run_timeout"] = timeDelta(d["dag_run_timeout"])
	if tp, ok := d["template_searchpath"].([]any); !ok || tp == nil {
		d["template_searchpath"] = nil
	}
}

// scheduleInterval writes v2's timetable summary as v1's schedule: a cron expression or preset as
// {"__type": "CronExpression", "value": ...}, a time delta as {"__type": "TimeDelta", ...}, none as null.
func scheduleInterval(summary any) any {
	s, ok := summary.(string)
	if !ok || s == "" {
		return nil
	}
	if td := pythonTimeDelta.FindStringSubmatch(s); td != nil {
		num := func(s string) int { n, _ := strconv.Atoi(s); return n }
		return map[string]any{"__type": "TimeDelta", "days": num(td[1]), "seconds": num(td[2])*3600 + num(td[3])*60 + num(td[4]), "microseconds": num(td[5])}
	}
	return map[string]any{"__type": "CronExpression", "value": s}
}

// pythonTimeDelta reads str(datetime.timedelta): "1 day, 0:00:00", "2:30:00", "0:00:01.500000".
var pythonTimeDelta = regexp.MustCompile(`^(?:(-?\d+) days?, )?(\d+):(\d\d):(\d\d)(?:\.(\d{6}))?$`)

// timeDelta writes an ISO 8601 duration (PT1H, P1DT5S) as v1's {"__type": "TimeDelta", ...}.
func timeDelta(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	m := isoDuration.FindStringSubmatch(s)
	if m == nil {
		return nil
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	sec, _ := strconv.ParseFloat(m[4], 64)
	whole := int(sec)
	return map[string]any{"__type": "TimeDelta", "days": num(m[1]), "seconds": num(m[2])*3600 + num(m[3])*60 + whole,
		"microseconds": int(math.Round((sec - float64(whole)) * 1e6))}
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?$`)

func task(t map[string]any) {
	// v1's retry_exponential_backoff is a bool; Airflow 3 gives a factor.
	switch v := t["retry_exponential_backoff"].(type) {
	case json.Number:
		f, _ := v.Float64()
		t["retry_exponential_backoff"] = f != 0
	case nil:
		t["retry_exponential_backoff"] = false
	}
	t["execution_timeout"] = timeDelta(t["execution_timeout"])
	t["retry_delay"] = timeDelta(t["retry_delay"])
	orDefault(t, "extra_links", []any{})
	orDefault(t, "template_fields", []any{})
	orDefault(t, "downstream_task_ids", []any{})
}

// runTypes maps v2's run types to v1's; v1 knows backfill, manual, scheduled and dataset_triggered.
var runTypes = map[string]string{"asset_triggered": "dataset_triggered", "asset_materialization": "dataset_triggered", "operator_triggered": "manual"}

func dagRun(r map[string]any) {
	if r["logical_date"] == nil {
		r["logical_date"] = r["run_after"]
	}
	r["execution_date"] = r["logical_date"]
	rt, _ := r["run_type"].(string)
	if v1, ok := runTypes[rt]; ok {
		rt = v1
		r["run_type"] = v1
	}
	r["external_trigger"] = rt == "manual"
	orDefault(r, "conf", map[string]any{})
	keepOnly(r, "dag_run_id", "dag_id", "logical_date", "execution_date", "start_date", "end_date", "data_interval_start",
		"data_interval_end", "last_scheduling_decision", "run_type", "state", "external_trigger", "conf", "note")
}

// clearedRun answers a clear: the run, or with dry_run the task instances it would clear.
func clearedRun(doc map[string]any, c *Call) {
	if _, ok := doc["task_instances"]; ok {
		taskReferences(doc, c)
		return
	}
	one(dagRun)(doc, c)
}

// taskReferences is v1's answer of the calls that clear task instances or set their state: the task
// instances named, without a count.
func taskReferences(doc map[string]any, c *Call) {
	each("task_instances", taskReference)(doc, c)
	delete(doc, "total_entries")
}

func taskInstance(t map[string]any) {
	if t["logical_date"] == nil {
		t["logical_date"] = t["run_after"]
	}
	t["execution_date"] = t["logical_date"]
	t["sla_miss"] = nil
	orDefault(t, "hostname", "")
	orDefault(t, "unixname", "")
	orDefault(t, "executor_config", "")
	orDefault(t, "rendered_fields", map[string]any{})
	for _, k := range []string{"id", "run_after", "dag_display_name", "operator_name", "scheduled_when", "dag_version", "logical_date"} {
		delete(t, k)
	}
}

// taskReference is v1's answer to clearTaskInstances: which task instances, not all of each.
func taskReference(t map[string]any) {
	if t["logical_date"] == nil {
		t["logical_date"] = t["run_after"]
	}
	t["execution_date"] = t["logical_date"]
	keepOnly(t, "task_id", "dag_id", "execution_date", "dag_run_id")
}

// logContent writes v2's structured log as v1's text. v1 answered JSON as {"continuation_token",
// "content"}, the content a text.
func logContent(doc map[string]any, _ *Call) {
	items, _ := doc["content"].([]any)
	var b strings.Builder
	for _, it := range items {
		switch v := it.(type) {
		case string:
			b.WriteString(v)
		case map[string]any:
			b.WriteString(LogLine(v))
		}
		b.WriteByte('\n')
	}
	doc["content"] = b.String()
	// v2 ends a log with a null token; v1's is a string.
	if doc["continuation_token"] == nil {
		doc["continuation_token"] = ""
	}
}

// LogLine writes one of Airflow 3's structured log messages as a line of text, as Airflow 2 wrote it:
// [timestamp] LEVEL - event.
func LogLine(m map[string]any) string {
	var b strings.Builder
	if ts, ok := m["timestamp"].(string); ok && ts != "" {
		b.WriteString("[" + ts + "] ")
	}
	if lvl, ok := m["level"].(string); ok && lvl != "" {
		b.WriteString(strings.ToUpper(lvl) + " - ")
	}
	if ev, ok := m["event"]; ok {
		fmt.Fprint(&b, ev)
	}
	return b.String()
}

func xcom(x map[string]any) {
	if x["logical_date"] == nil {
		x["logical_date"] = x["run_after"]
	}
	x["execution_date"] = x["logical_date"]
	for _, k := range []string{"logical_date", "run_after", "dag_display_name", "task_display_name", "run_id"} {
		delete(x, k)
	}
	if v, ok := x["value"]; ok {
		if _, isText := v.(string); !isText && v != nil {
			x["value"] = string(encode(v))
		}
	}
}

func variable(v map[string]any) {
	keepOnly(v, "key", "value", "description")
}

// setVariableAnswer is v1's answer to setting a variable: what was set, the description only when given.
func setVariableAnswer(doc map[string]any, c *Call) {
	one(variable)(doc, c)
	var sent map[string]any
	if json.Unmarshal(c.Body, &sent) == nil {
		if _, ok := sent["description"]; !ok {
			delete(doc, "description")
		}
	}
}

func connection(c map[string]any) {
	delete(c, "password")
	delete(c, "team_name")
}

// connectionItem is a connection in a list, which in v1 shows no extra.
func connectionItem(c map[string]any) {
	connection(c)
	delete(c, "extra")
}

func pool(p map[string]any) {
	delete(p, "team_name")
}

func importError(e map[string]any) {
	delete(e, "bundle_name")
}

func datasets(doc map[string]any, _ *Call) {
	items, _ := doc["assets"].([]any)
	for _, it := range items {
		if a, ok := it.(map[string]any); ok {
			renameKey(a, "scheduled_dags", "consuming_dags")
			keepOnly(a, "id", "uri", "extra", "created_at", "updated_at", "consuming_dags", "producing_tasks")
		}
	}
	renameKey(doc, "assets", "datasets")
	keepOnly(doc, "datasets", "total_entries")
}

func datasetEvents(doc map[string]any, _ *Call) {
	items, _ := doc["asset_events"].([]any)
	for _, it := range items {
		if e, ok := it.(map[string]any); ok {
			renameKey(e, "asset_id", "dataset_id")
			renameKey(e, "uri", "dataset_uri")
			keepOnly(e, "dataset_id", "dataset_uri", "extra", "source_dag_id", "source_task_id", "source_run_id", "source_map_index", "created_dagruns", "timestamp")
		}
	}
	renameKey(doc, "asset_events", "dataset_events")
	keepOnly(doc, "dataset_events", "total_entries")
}

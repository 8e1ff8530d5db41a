package restv1_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/gateway/restv1"
)

var now = time.Date(2026, 12, 6, 15, 4, 5, 123456000, time.UTC)

func translate(t *testing.T, method, target, body string) *restv1.Translation {
	t.Helper()
	u, _ := url.Parse(target)
	c := &restv1.Call{Method: method, Path: u.Path, Query: u.Query()}
	if body != "" {
		c.Body = []byte(body)
	}
	tr, err := restv1.Translate(c, now)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return tr
}

func TestTriggerTakesV1Bodies(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		// A missing logical date is now, and the run id is made from it as Airflow 2 did.
		{`{}`, `{"dag_run_id":"manual__2026-12-06T15:04:05.123456+00:00","logical_date":"2026-12-06T15:04:05.123456+00:00"}`},
		{``, `{"dag_run_id":"manual__2026-12-06T15:04:05.123456+00:00","logical_date":"2026-12-06T15:04:05.123456+00:00"}`},
		// execution_date is the logical date; v2 refuses the key.
		{`{"execution_date": "2021-01-01T15:00:00+00:00", "conf": {"a": 1}}`,
			`{"conf":{"a":1},"dag_run_id":"manual__2021-01-01T15:00:00+00:00","logical_date":"2021-01-01T15:00:00+00:00"}`},
		{`{"logical_date": "2021-01-01T15:00:00Z", "dag_run_id": "mine"}`, `{"dag_run_id":"mine","logical_date":"2021-01-01T15:00:00Z"}`},
		// Keys v1 read as read-only, and v2 refuses, are dropped.
		{`{"dag_run_id": "r", "logical_date": "2021-01-01T00:00:00+00:00", "state": "queued", "external_trigger": true}`,
			`{"dag_run_id":"r","logical_date":"2021-01-01T00:00:00+00:00"}`},
	} {
		tr := translate(t, "POST", "/dags/d/dagRuns", tt.body)
		if tr.V2.Method != "POST" || tr.V2.Path != "/dags/d/dagRuns" || strings.TrimSpace(string(tr.V2.Body)) != tt.want {
			t.Errorf("%s: %s %s %s, want %s", tt.body, tr.V2.Method, tr.V2.Path, tr.V2.Body, tt.want)
		}
	}
	for body, says := range map[string]string{
		`{"logical_date": "2021-01-01", "execution_date": "2021-01-02"}`: "conflicts",
		`{"logical_date": "yesterday"}`:                                  "RFC 3339",
		`[1]`:                                                            "not a JSON object",
	} {
		_, err := restv1.Translate(&restv1.Call{Method: "POST", Path: "/dags/d/dagRuns", Body: []byte(body)}, now)
		var e *restv1.Error
		if !errorAs(err, &e) || e.Status != 400 || !strings.Contains(e.Message, says) {
			t.Errorf("%s: %v, want 400 saying %q", body, err, says)
		}
	}
}

// TestTaskStateNamesTheTaskInstance: v1 named the task instance in the body and ran dry unless told not
// to; v2 names it in the path and has a dry-run endpoint of its own.
func TestTaskStateNamesTheTaskInstance(t *testing.T) {
	for _, tt := range []struct{ body, path, want string }{
		{`{"dag_run_id": "r1", "task_id": "t", "new_state": "failed", "include_upstream": false}`,
			"/dags/d/dagRuns/r1/taskInstances/t/dry_run", `{"include_upstream":false,"new_state":"failed"}`},
		{`{"dry_run": false, "dag_run_id": "manual__2021-01-01T00:00:00+00:00", "task_id": "t", "new_state": "success"}`,
			"/dags/d/dagRuns/manual__2021-01-01T00:00:00+00:00/taskInstances/t", `{"new_state":"success"}`},
	} {
		tr := translate(t, "POST", "/dags/d/updateTaskInstancesState", tt.body)
		if tr.V2.Method != "PATCH" || tr.V2.Path != tt.path || strings.TrimSpace(string(tr.V2.Body)) != tt.want {
			t.Errorf("%s: %s %s %s, want PATCH %s %s", tt.body, tr.V2.Method, tr.V2.Path, tr.V2.Body, tt.path, tt.want)
		}
	}
	for body, want := range map[string]struct {
		status int
		says   string
	}{
		`{"task_id": "t", "execution_date": "2021-01-01T00:00:00+00:00", "new_state": "failed"}`: {400, "dag_run_id"},
		`{"dag_run_id": "r1", "new_state": "failed"}`:                                            {400, "task_id"},
		`{"dag_run_id": "../x", "task_id": "t", "new_state": "failed"}`:                          {404, "no dag run id"},
	} {
		_, err := restv1.Translate(&restv1.Call{Method: "POST", Path: "/dags/d/updateTaskInstancesState", Body: []byte(body)}, now)
		var e *restv1.Error
		if !errorAs(err, &e) || e.Status != want.status || !strings.Contains(e.Message, want.says) {
			t.Errorf("%s: %v, want %d saying %q", body, err, want.status, want.says)
		}
	}
}

func TestPoolPatchNamesThePool(t *testing.T) {
	tr := translate(t, "PATCH", "/pools/p?update_mask=name,slots", `{"name": "q", "slots": 5, "occupied_slots": 1}`)
	if got := strings.TrimSpace(string(tr.V2.Body)); got != `{"include_deferred":false,"pool":"q","slots":5}` || strings.Join(tr.V2.Query["update_mask"], ",") != "pool,slots" {
		t.Errorf("PATCH /pools/p: %s ?%s", got, tr.V2.Query.Encode())
	}
}

// TestStoredTextIsNotATime: a variable whose value looks like a time comes back as it was stored.
func TestStoredTextIsNotATime(t *testing.T) {
	tr := translate(t, "GET", "/variables/watermark", "")
	a := tr.Back(&restv1.Answer{Status: 200, ContentType: "application/json",
		Body: []byte(`{"key": "watermark", "value": "2024-05-01T00:00:00Z", "description": null}`)})
	if !strings.Contains(string(a.Body), `"value":"2024-05-01T00:00:00Z"`) {
		t.Errorf("the variable's value was changed: %s", a.Body)
	}
}

func errorAs(err error, target **restv1.Error) bool {
	e, ok := err.(*restv1.Error)
	*target = e
	return ok
}

func TestListQueriesBecomeV2s(t *testing.T) {
	for _, tt := range []struct{ method, target, path, query string }{
		{"GET", "/dags?tags=a,b&only_active=false&dag_id_pattern=x", "/dags", "dag_id_pattern=x&exclude_stale=false&limit=100&tags=a&tags=b"},
		{"GET", "/dags?tags=a&tags=b&limit=5&fields=dag_id", "/dags", "limit=5&tags=a&tags=b"},
		{"GET", "/dags/d/dagRuns?execution_date_gte=2021-01-01T00:00:00Z&order_by=-execution_date&limit=0", "/dags/d/dagRuns",
			"limit=100&logical_date_gte=2021-01-01T00%3A00%3A00Z&order_by=-logical_date"},
		{"PATCH", "/dags/d?update_mask=is_paused", "/dags/d", "update_mask=is_paused"},
		{"GET", "/health", "/monitor/health", ""},
		{"GET", "/datasets", "/assets", "limit=100"},
		{"GET", "/variables/a%20b", "/variables/a%20b", ""},
	} {
		tr := translate(t, tt.method, tt.target, "")
		if tr.V2.Path != tt.path || tr.V2.Query.Encode() != tt.query {
			t.Errorf("%s %s: %s?%s, want %s?%s", tt.method, tt.target, tr.V2.Path, tr.V2.Query.Encode(), tt.path, tt.query)
		}
	}
}

func TestEndpointsWithoutCounterpartAre404(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		status       int
		says         string
	}{
		{"GET", "/users", 404, "/auth/fab/v1/users"},
		{"GET", "/roles/Admin", 404, "auth manager"},
		{"GET", "/permissions", 404, "/auth/fab/v1/permissions"},
		{"GET", "/no/such/thing", 404, "/api/v2"},
		{"PUT", "/dags", 405, "method PUT"},
		{"DELETE", "/dags/gw/dagRuns/\U00018280", 404, "no dag run id"},
		{"GET", "/dags/a b", 404, "no dag id"},
	} {
		_, err := restv1.Translate(&restv1.Call{Method: tt.method, Path: tt.path}, now)
		var e *restv1.Error
		if !errorAs(err, &e) || e.Status != tt.status || !strings.Contains(e.Message, tt.says) {
			t.Errorf("%s %s: %v, want %d saying %q", tt.method, tt.path, err, tt.status, tt.says)
		}
	}
}

func TestAnswersCarryV1Fields(t *testing.T) {
	tr := translate(t, "GET", "/dags", "")
	a := tr.Back(&restv1.Answer{Status: 200, ContentType: "application/json", Body: []byte(`{"dags": [{"dag_id": "d", "is_stale": false,
		"timetable_summary": "0 0 * * *", "next_dagrun_logical_date": "2021-01-01T00:00:00Z", "owners": null, "file_token": null,
		"tags": [{"name": "t", "dag_id": "d"}], "bundle_name": "dags-folder"}], "total_entries": 1}`)})
	var doc struct {
		DAGs []map[string]any `json:"dags"`
	}
	if err := json.Unmarshal(a.Body, &doc); err != nil || len(doc.DAGs) != 1 {
		t.Fatalf("%s: %v", a.Body, err)
	}
	d := doc.DAGs[0]
	if d["is_active"] != true || d["next_dagrun"] != "2021-01-01T00:00:00+00:00" || d["is_subdag"] != false || d["file_token"] != "" ||
		d["bundle_name"] != nil || len(d["owners"].([]any)) != 0 {
		t.Errorf("the DAG: %v", d)
	}
	if s, _ := json.Marshal(d["schedule_interval"]); string(s) != `{"__type":"CronExpression","value":"0 0 * * *"}` {
		t.Errorf("schedule_interval: %s", s)
	}
	if tags, _ := json.Marshal(d["tags"]); string(tags) != `[{"name":"t"}]` {
		t.Errorf("tags: %s", tags)
	}

	tr = translate(t, "POST", "/dags/d/dagRuns", "{}")
	a = tr.Back(&restv1.Answer{Status: 200, ContentType: "application/json", Body: []byte(`{"dag_run_id": "r", "dag_id": "d",
		"logical_date": null, "run_after": "2026-12-06T15:04:05Z", "run_type": "asset_triggered", "conf": null, "triggered_by": "rest_api"}`)})
	var run map[string]any
	json.Unmarshal(a.Body, &run)
	if a.Status != 200 || run["execution_date"] != "2026-12-06T15:04:05+00:00" || run["run_type"] != "dataset_triggered" ||
		run["external_trigger"] != false || run["conf"] == nil || run["triggered_by"] != nil {
		t.Errorf("the run: %d %v", a.Status, run)
	}
}

func TestErrorsKeepV1Shape(t *testing.T) {
	tr := translate(t, "POST", "/pools", `{"name": "p"}`)
	for _, tt := range []struct {
		status int
		body   string
		want   int
		says   string
	}{
		{422, `{"detail": [{"type": "missing", "loc": ["body", "slots"], "msg": "Field required"}]}`, 400, "slots: Field required"},
		{422, `{"detail": [{"type": "missing", "loc": ["pool"], "msg": "Field required"}]}`, 400, "pool: Field required"},
		{404, `{"detail": "Dag with dag_id: 'x' not found"}`, 404, "not found"},
		{409, `{"detail": {"reason": "Unique constraint violation", "statement": "hidden"}}`, 409, "Unique constraint"},
	} {
		a := tr.Back(&restv1.Answer{Status: tt.status, ContentType: "application/json", Body: []byte(tt.body)})
		var p restv1.Problem
		if a.Status != tt.want || a.ContentType != "application/problem+json" || json.Unmarshal(a.Body, &p) != nil ||
			p.Status != tt.want || !strings.Contains(p.Detail, tt.says) || !strings.Contains(p.Type, "stable-rest-api-ref") {
			t.Errorf("%d %s: %d %s", tt.status, tt.body, a.Status, a.Body)
		}
	}
	// A pool made is 200 on v1, 201 on v2.
	if a := tr.Back(&restv1.Answer{Status: http.StatusCreated, ContentType: "application/json", Body: []byte(`{"name": "p", "slots": 1}`)}); a.Status != 200 {
		t.Errorf("a pool made: %d", a.Status)
	}
}

func TestVariablePostSetsOneThatExists(t *testing.T) {
	tr := translate(t, "POST", "/variables", `{"key": "k/1", "value": "v"}`)
	if again := tr.Retry(&restv1.Answer{Status: 201}); again != nil {
		t.Errorf("a created variable is retried: %+v", again)
	}
	again := tr.Retry(&restv1.Answer{Status: 409})
	if again == nil || again.Method != "PATCH" || again.Path != "/variables/k%2F1" {
		t.Errorf("after a 409: %+v", again)
	}
}

func TestTemplateNamesRoutes(t *testing.T) {
	for path, want := range map[string]string{
		"/dags/x/dagRuns":                    "/dags/{dag_id}/dagRuns",
		"/dags/x/dagRuns/manual__2021/clear": "/dags/{dag_id}/dagRuns/{dag_run_id}/clear",
		"/monitor/health":                    "/monitor/health",
		"/backfills/12/pause":                "/backfills/...",
	} {
		if got := restv1.Template("GET", path); got != want && !(path == "/dags/x/dagRuns/manual__2021/clear") {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	if got := restv1.Template("POST", "/dags/x/dagRuns/r/clear"); got != "/dags/{dag_id}/dagRuns/{dag_run_id}/clear" {
		t.Errorf("clear: %s", got)
	}
}

// FuzzTranslate checks that any v1 call either is refused with a v1 status or becomes a v2 call whose
// path stays a plain path of the API, whatever the path's values hold.
func FuzzTranslate(f *testing.F) {
	f.Add("POST", "/dags/d/dagRuns", "tags=a,b", `{"execution_date": "2021-01-01T00:00:00Z"}`)
	f.Add("GET", "/dags/../../x", "limit=0", "")
	f.Add("GET", "/variables/a%2F..%2Fb", "", "")
	f.Add("PATCH", "/dags", "update_mask=is_paused&dag_id_pattern=%", `{"is_paused": true}`)
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		q, _ := url.ParseQuery(query)
		tr, err := restv1.Translate(&restv1.Call{Method: method, Path: path, Query: q, Body: []byte(body)}, now)
		if err != nil {
			var e *restv1.Error
			if !errorAs(err, &e) || e.Status < 400 || e.Status > 499 {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			return
		}
		for seg := range strings.SplitSeq(strings.TrimPrefix(tr.V2.Path, "/"), "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("%s %s became %s", method, path, tr.V2.Path)
			}
		}
		if u, err := url.Parse("http://x/api/v2" + tr.V2.Path); err != nil || !strings.HasPrefix(u.Path, "/api/v2/") {
			t.Fatalf("%s %s became %s", method, path, tr.V2.Path)
		}
	})
}

package restscope

import (
	"net/url"
	"testing"
)

// Airflow reads a repeated scalar query parameter by its LAST value (FastAPI/Starlette on Airflow 3,
// connexion's resolve_params on Airflow 2), so a call whose dag_id is given twice must be judged by every
// value, not by the first: ?dag_id=<in scope>&dag_id=<out of scope> lists the event logs of the second.
func TestEventLogsRepeatedDagIDIsNotLetThrough(t *testing.T) {
	for _, api := range []int{1, 2} {
		q, _ := url.ParseQuery("dag_id=team_a_etl&dag_id=b_other")
		d, err := Decide(&Call{API: api, Method: "GET", Path: "/eventLogs", Query: q}, teamA(t), index)
		if err == nil && d.Verdict == Allow && !d.Changed {
			t.Errorf("v%d GET /eventLogs?%s is sent as it is: Airflow reads dag_id=%q, out of scope", api, q.Encode(), q["dag_id"][len(q["dag_id"])-1])
		}
	}
}

package restscope

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// pages answers a listing of n DAGs (dag_0, ...), as Airflow pages it: at most max rows a page. It
// records the queries it was sent.
type pages struct {
	n, max int
	sent   []url.Values
}

func (p *pages) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	p.sent = append(p.sent, q)
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	rows := []map[string]any{}
	for i := offset; i < min(offset+min(limit, p.max), p.n); i++ {
		rows = append(rows, map[string]any{"dag_id": fmt.Sprintf("dag_%d", i), "is_paused": false})
	}
	body, _ := json.Marshal(map[string]any{"dags": rows, "total_entries": p.n})
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(string(body)))}, nil
}

func TestScanningPagesAndCounts(t *testing.T) {
	// dag_1*: dag_1, dag_10..19, dag_100..199 of 250 DAGs, 111 of them.
	scope, _ := commands.NewScope([]string{"dag_1*"}, nil, nil)
	d, err := Decide(&Call{API: 1, Method: "GET", Path: "/dags", Query: url.Values{}}, scope, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		query      string
		max        int
		ids        string
		total      int
		pagesAsked int
	}{
		{"limit=2&offset=0", 100, "dag_1 dag_10", 111, 3},
		{"limit=2&offset=110", 100, "dag_199", 111, 3},
		{"limit=2&offset=111", 100, "", 111, 3},
		{"limit=5&offset=1&fields=is_paused", 100, "", 111, 3},
		{"", 50, "dag_1 dag_10 dag_11", 111, 5}, // Airflow's pages of 50: read to the end all the same
	} {
		t.Run(tt.query, func(t *testing.T) {
			up := &pages{n: 250, max: tt.max}
			r, _ := http.NewRequest("GET", "http://airflow/api/v1/dags?"+tt.query, nil)
			resp, err := Scanning(up, func(*http.Request) *Decision { return d }).RoundTrip(r)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				DAGs  []map[string]any `json:"dags"`
				Total int              `json:"total_entries"`
			}
			json.NewDecoder(resp.Body).Decode(&doc)
			var ids []string
			for _, row := range doc.DAGs {
				if id, ok := row["dag_id"].(string); ok {
					ids = append(ids, id)
				} else if len(row) != 1 {
					t.Errorf("fields=is_paused answered %v", row)
				}
			}
			if tt.query == "" && len(ids) != 100 {
				t.Errorf("the default page of v1 holds %d rows, want 100", len(ids))
			} else if tt.query != "" && strings.Join(ids, " ") != tt.ids {
				t.Errorf("answered %v, want %s", ids, tt.ids)
			}
			if doc.Total != tt.total || len(up.sent) != tt.pagesAsked {
				t.Errorf("total_entries %d after %d pages, want %d after %d", doc.Total, len(up.sent), tt.total, tt.pagesAsked)
			}
			if up.sent[0].Get("fields") != "" {
				t.Errorf("fields went to Airflow, which would leave out the dag_id")
			}
		})
	}
	// Over MaxScanned rows: refused, counted as unfiltered.
	up := &pages{n: MaxScanned + 1, max: 100}
	r, _ := http.NewRequest("GET", "http://airflow/api/v2/dags", nil)
	if _, err := Scanning(up, func(*http.Request) *Decision { return d }).RoundTrip(r); commands.ErrorCode(err) != commands.EFORBIDDEN || !strings.Contains(err.Error(), "narrow it") {
		t.Errorf("a listing over the cap: %v", err)
	}
	if len(up.sent) != MaxScanned/PageSize {
		t.Errorf("%d pages read of a listing over the cap", len(up.sent))
	}
	// A limit that is not a number never reaches Airflow.
	r, _ = http.NewRequest("GET", "http://airflow/api/v2/dags?limit=%2B5", nil)
	if _, err := Scanning(up, func(*http.Request) *Decision { return d }).RoundTrip(r); commands.ErrorCode(err) != commands.EINVALID {
		t.Errorf("limit=+5: %v", err)
	}
}

package gateway_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
)

// dagAnswer is Airflow 3.3's answer to GET /api/v2/dags/gw_conf, as the benchmarks' upstream gives it.
const dagAnswer = `{"dag_id":"gw_conf","dag_display_name":"gw_conf","is_paused":true,"is_stale":false,"last_parsed_time":"2026-12-07T10:00:00Z",` +
	`"last_expired":null,"bundle_name":"dags-folder","bundle_version":null,"relative_fileloc":"gw_conf.py","fileloc":"/home/dags/gw_conf.py",` +
	`"description":null,"timetable_summary":null,"timetable_description":"Never, external triggers only","tags":[],"max_active_tasks":16,` +
	`"max_active_runs":16,"max_consecutive_failed_dag_runs":0,"has_task_concurrency_limits":false,"has_import_errors":false,` +
	`"next_dagrun_logical_date":null,"next_dagrun_data_interval_start":null,"next_dagrun_data_interval_end":null,` +
	`"next_dagrun_run_after":null,"owners":["airflow"],"file_token":"x"}`

// BenchmarkRESTCall sends GET /api/v{1,2}/dags/gw_conf through a gateway to an upstream that answers at
// once, over loopback, as bench/rest.sh does against a real API server: what a proxied (v2) and a
// translated (v1) call cost the gateway, for profiles (-cpuprofile) and allocations. The upstream and
// the client run in the same process, so ns/op is the whole exchange; the profile tells the gateway's
// part.
func BenchmarkRESTCall(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth/token" {
			claims, _ := json.Marshal(map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"access_token": "h.%s.s"}`, base64.RawURLEncoding.EncodeToString(claims))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, dagAnswer)
	}))
	b.Cleanup(upstream.Close)
	u, _ := url.Parse(upstream.URL)
	srv, gw := mustGateway(b, &scriptedExecutor{}, commands.Options{}, withLog(slog.NewTextHandler(io.Discard, nil)))
	gw.SetAirflowAPI(airflowapi.New(u, 3, map[commands.Role]airflowapi.User{commands.RoleAdmin: {Name: "gw-admin", Password: "pw"}}, 5*time.Second), "")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, v := range []string{"v2", "v1"} {
		b.Run(v, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/"+v+"/dags/gw_conf", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", v, resp.StatusCode)
				}
			}
		})
	}
}

var _ = gateway.Options{}

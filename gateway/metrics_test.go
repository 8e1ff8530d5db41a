package gateway_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// pathExecutor answers by command: version exits 0, cheat-sheet 1, `dags list` runs past its limit,
// `variables list` holds its slot until hold is closed; anything else exits 0.
type pathExecutor struct{ hold chan struct{} }

func (p *pathExecutor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	res := &commands.Result{Executor: "subprocess", Duration: 30 * time.Millisecond}
	switch strings.Join(x.Args[:min(2, len(x.Args))], " ") {
	case "cheat-sheet":
		res.ExitCode = 1
	case "dags list":
		res.TimedOut, res.ExitCode = true, 143
	case "variables list":
		select {
		case <-p.hold:
		case <-ctx.Done():
		}
	}
	return res, nil
}

// scrape reads /metrics without credentials, as a scraper of public metrics does, with Prometheus' own
// parser.
func scrape(tb testing.TB, srv *httptest.Server) (map[string]*dto.MetricFamily, string) {
	tb.Helper()
	a := client(srv).As("").Get(tb, "/metrics")
	if a.Status != http.StatusOK {
		tb.Fatalf("/metrics: %d", a.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(a.Body)))
	if err != nil {
		tb.Fatalf("the exposition does not parse: %v", err)
	}
	return fams, string(a.Body)
}

// sample returns the value of the series of a family whose labels include want: a counter's or gauge's
// value, a histogram's count; 0 when there is no such series.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	total := 0.0
series:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

func TestMetricsCountWhatWasSent(t *testing.T) {
	ex := &pathExecutor{hold: make(chan struct{})}
	srv := mustServer(t, ex, commands.Options{MaxConcurrent: 1, QueueTimeout: 200 * time.Millisecond, CommandTimeout: time.Minute,
		LongCommandTimeout: time.Hour, MaxUploadBytes: 64 << 10},
		withOptions(func(o *gateway.Options) { o.PublicMetrics = true })) // the scrapes go on after the address is turned away
	before, _ := scrape(t, srv)
	run := func(line string, tok string) int {
		return client(srv).As(tok).Get(t, "/api/v1/command?command="+url.QueryEscape(line)).Status
	}
	for range 3 {
		if code := run("version", token); code != 200 {
			t.Fatalf("version: %d", code)
		}
	}
	run("dags list; id", token)
	run("dags list --cfg x", token)
	run("cheat-sheet", token)
	if code := run("dags list", token); code != http.StatusGatewayTimeout {
		t.Fatalf("dags list: %d, want 504", code)
	}
	held := make(chan int)
	go func() { held <- run("variables list", token) }()
	for sample(scrapeNow(t, srv), "airflow_gateway_slots_busy", nil) != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	if code := run("version", token); code != http.StatusServiceUnavailable {
		t.Fatalf("version with the slot held: %d", code)
	}
	close(ex.hold)
	<-held
	// Secrets and DAG ids in commands that ran.
	run("dags trigger planted_dag_4711", token)
	run("variables set api_key planted-secret-4711", token)
	// Two deploys: one written, one refused because the file exists.
	for range 2 {
		ctype, body := multipartBody(t, nil, "gw_metrics.py", []byte("# a DAG\n"))
		client(srv).Plugin().Do(t, http.MethodPost, pluginAPI+"api=deploy_dag", body, "Content-Type", ctype)
	}
	// No token, then wrong tokens until the address is turned away.
	run("version", "")
	wrong := 0
	for run("version", "wrong-token-0123456789") == http.StatusUnauthorized {
		wrong++
	}

	after, text := scrape(t, srv)
	delta := func(name string, labels map[string]string) float64 {
		return sample(after, name, labels) - sample(before, name, labels)
	}
	command := func(path, executor, outcome string) map[string]string {
		return map[string]string{"command": path, "executor": executor, "outcome": outcome}
	}
	route := func(status string) map[string]string {
		return map[string]string{"route": "/api/v1/command", "method": "GET", "status": status}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"airflow_gateway_commands_total", command("version", "subprocess", "ok"), 3},
		{"airflow_gateway_commands_total", command("cheat-sheet", "subprocess", "failed"), 1},
		{"airflow_gateway_commands_total", command("dags list", "subprocess", "timed_out"), 1},
		{"airflow_gateway_commands_total", command("version", "none", "unavailable"), 1},
		{"airflow_gateway_commands_total", command("variables list", "subprocess", "ok"), 1},
		{"airflow_gateway_commands_total", nil, 9}, // and trigger and variables set
		{"airflow_gateway_command_duration_seconds", map[string]string{"executor": "subprocess"}, 8},
		{"airflow_gateway_queue_wait_seconds", nil, 8},
		{"airflow_gateway_http_requests_total", route("200"), 7},
		{"airflow_gateway_http_requests_total", route("400"), 2},
		{"airflow_gateway_http_requests_total", route("504"), 1},
		{"airflow_gateway_http_requests_total", route("503"), 1},
		{"airflow_gateway_http_requests_total", route("401"), float64(1 + wrong)},
		{"airflow_gateway_http_requests_total", route("429"), 1},
		{"airflow_gateway_http_requests_total", map[string]string{"route": "/admin/rest_api/api", "status": "200"}, 1},
		{"airflow_gateway_http_requests_total", map[string]string{"route": "/admin/rest_api/api", "status": "400"}, 1},
		{"airflow_gateway_deploys_total", map[string]string{"outcome": "written"}, 1},
		{"airflow_gateway_deploys_total", map[string]string{"outcome": "refused"}, 1},
		{"airflow_gateway_auth_failures_total", nil, float64(wrong)},
		{"airflow_gateway_auth_rate_limited_total", nil, 1},
		{"airflow_gateway_slots", nil, 0}, // a gauge: unchanged
	} {
		if got := delta(c.name, c.labels); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if wrong != 10 {
		t.Errorf("the address was turned away after %d wrong tokens, want 10", wrong)
	}
	for _, leak := range []string{"planted_dag_4711", "planted-secret-4711", "wrong-token", token, "gw_metrics.py"} {
		if strings.Contains(text, leak) {
			t.Errorf("the exposition shows %q", leak)
		}
	}
}

func scrapeNow(tb testing.TB, srv *httptest.Server) map[string]*dto.MetricFamily {
	fams, _ := scrape(tb, srv)
	return fams
}

// TestMetricsNeedATokenUnlessPublic: /metrics answers 401 without a token, and with [metrics] public.
func TestMetricsNeedATokenUnlessPublic(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	if a := client(srv).As("").Get(t, "/metrics"); a.Status != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d", a.Status)
	}
	if a := client(srv).As(viewerToken).Get(t, "/metrics"); a.Status != http.StatusOK {
		t.Errorf("/metrics as a Viewer: %d", a.Status)
	}
}

func TestMetricsCanBeTurnedOff(t *testing.T) {
	admin := client(mustServer(t, &pathExecutor{}, commands.Options{}, withOptions(func(o *gateway.Options) { o.NoMetrics = true })))
	if a := admin.Get(t, "/api/v1/command?command=version"); a.Status != http.StatusOK {
		t.Fatalf("a command with the metrics off: %d", a.Status)
	}
	var doc map[string]any
	if a := admin.Get(t, "/metrics").Decode(t, &doc); a.Status != http.StatusNotFound || !strings.Contains(doc["detail"].(string), "enabled = False") {
		t.Errorf("/metrics with the metrics off: %d %v", a.Status, doc)
	}
}

// BenchmarkMetricsScrape reads /metrics with about 1,000 series in the registry (commands_total filled up
// with made-up paths), in-process: what one Prometheus scrape costs the gateway. It calls ServeHTTP with a
// recorder rather than send requests, so that it measures the gateway and not the network.
func BenchmarkMetricsScrape(b *testing.B) {
	_, gw := mustGateway(b, &pathExecutor{}, commands.Options{})
	series := func() (int, int) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		gw.ServeHTTP(rec, req)
		n := 0
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				n++
			}
		}
		return n, rec.Body.Len()
	}
	base, _ := series()
	gateway.AddCommandSeries(gw, 1000-base)
	n, size := series()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for b.Loop() {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("/metrics: %d", rec.Code)
		}
	}
	b.ReportMetric(float64(n), "series")
	b.ReportMetric(float64(size), "bytes/scrape")
}

// TestMetricsCardinalityIsBounded sends 10,000 requests with random commands, DAG ids and paths: the
// number of series stops growing once every route, status, path and outcome has been seen.
func TestMetricsCardinalityIsBounded(t *testing.T) {
	srv := mustServer(t, &pathExecutor{hold: closedChannel()}, commands.Options{}, withOptions(func(o *gateway.Options) { o.PublicMetrics = true }))
	paths := []string{"dags pause %s", "dags unpause %s", "dags trigger %s -r r%d", "tasks list %s", "dags details %s", "variables get %s",
		"%s list", "dags %s", "version --%s", "dags list-runs %s; rm -rf /%d"}
	count := func() int {
		n := 0
		for name, f := range scrapeNow(t, srv) {
			if !strings.HasPrefix(name, "airflow_gateway_") {
				continue
			}
			for _, m := range f.GetMetric() {
				n++
				if h := m.GetHistogram(); h != nil {
					n += len(h.GetBucket()) + 2 // each bucket, +Inf, the sum and the count are series of their own
				}
			}
		}
		return n
	}
	rng := rand.New(rand.NewPCG(1, 2))
	admin := client(srv)
	var after1000 int
	for i := range 10000 {
		id := fmt.Sprintf("dag_%x", rng.Uint64())
		line := fmt.Sprintf(paths[rng.IntN(len(paths))], id, i)
		target := "/api/v1/command?command=" + url.QueryEscape(line)
		if rng.IntN(10) == 0 {
			target = "/api/v1/" + id // no such route
		}
		admin.Get(t, target)
		if i == 999 {
			after1000 = count()
		}
	}
	final := count()
	// What this traffic can reach: 3 routes (command, unmatched, metrics) x 1 method x at most 5 statuses,
	// each with a request-time histogram of 11 series; 6 command paths x 1 executor x 3 outcomes; the
	// command-time (13) and queue-wait (12) histograms; 9 plain series. A label that took a DAG id or a
	// command string would pass it within the first few hundred requests.
	const bound = 3*5 + 3*11 + 6*3 + 13 + 12 + 9
	t.Logf("%d series after 1,000 random requests, %d after 10,000 (bound %d)", after1000, final, bound)
	if final > bound {
		t.Errorf("%d series after 10,000 requests (%d after 1,000): want at most %d", final, after1000, bound)
	}
}

func closedChannel() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// TestFailedLoginsAreCounted: a login with a token that is not valid is a failed authentication like a
// request with one, in auth_failures_total, and a login from an address turned away is in
// auth_rate_limited_total, whether the token came in the URL or in the form.
func TestFailedLoginsAreCounted(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{},
		withOptions(func(o *gateway.Options) { o.FailedAuthBurst, o.PublicMetrics = 2, true }))
	anonymous := client(srv).As("").NoRedirects()
	var got []int
	for i := range 3 {
		var a *testbed.Answer
		if i%2 == 0 {
			a = anonymous.Get(t, "/login?token=not-a-token")
		} else {
			a = anonymous.Do(t, http.MethodPost, "/login", strings.NewReader("token=not-a-token"), asForm...)
		}
		got = append(got, a.Status)
	}
	if want := []int{401, 401, 429}; !slices.Equal(got, want) {
		t.Fatalf("three bad logins with a burst of 2: %v, want %v", got, want)
	}
	fams := scrapeNow(t, srv)
	if failed, limited := sample(fams, "airflow_gateway_auth_failures_total", nil), sample(fams, "airflow_gateway_auth_rate_limited_total", nil); failed != 2 || limited != 1 {
		t.Errorf("auth_failures_total %v and auth_rate_limited_total %v, want 2 and 1", failed, limited)
	}
}

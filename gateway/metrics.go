package gateway

import (
	"cmp"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
)

// metrics are the gateway's Prometheus series. Every label takes its values from a bounded set: route
// templates, HTTP methods and statuses, command paths of the catalog, executor names, outcomes and job
// states; never a token, a DAG id or an argument.
type metrics struct {
	registry       *prometheus.Registry
	requests       *prometheus.CounterVec
	requestTime    *prometheus.HistogramVec
	commands       *prometheus.CounterVec
	commandTime    *prometheus.HistogramVec
	queueWait      prometheus.Histogram
	authFailures   prometheus.Counter
	rateLimited    prometheus.Counter
	deploys        *prometheus.CounterVec
	scopeRefused   *prometheus.CounterVec
	airflowRefused *prometheus.CounterVec
	jobsStarted    prometheus.Counter
	connsOpen      prometheus.Gauge
	connsRefused   prometheus.Counter
	// off stops the timing and counting of requests and commands, and /metrics answers 404.
	off bool
}

var metricsOff = commands.Errorf(commands.ENOTFOUND, "metrics are turned off on this gateway ([metrics] enabled = False)")

// unmatchedRoute labels requests that match no route.
const unmatchedRoute = "unmatched"

func newMetrics(s *Server) *metrics {
	const ns = "airflow_gateway"
	started := time.Now()
	m := &metrics{
		off:      s.opts.NoMetrics,
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "http_requests_total",
			Help: "HTTP requests answered, by route template, method and status."}, []string{"route", "method", "status"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route template.", Buckets: prometheus.ExponentialBuckets(0.005, 4, 8)}, []string{"route"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "commands_total",
			Help: "Airflow commands by command path, executor and outcome (ok, failed, timed_out, canceled, lost, unavailable)."}, []string{"command", "executor", "outcome"}),
		commandTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "command_duration_seconds",
			Help: "Run time of Airflow commands, from start to exit, by executor.", Buckets: prometheus.ExponentialBuckets(0.01, 3, 10)}, []string{"executor"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "queue_wait_seconds",
			Help: "Time commands waited for a command slot.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "auth_failures_total",
			Help: "Requests with a token or session cookie that is not valid."}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "auth_rate_limited_total",
			Help: "Requests turned away because their address failed to authenticate too often (429)."}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "deploys_total",
			Help: "deploy_dag uploads, by outcome (written, refused)."}, []string{"outcome"}),
		scopeRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "scope_refusals_total",
			Help: "Requests refused by their credential's scope, by reason (out_of_scope, not_dags, all_dags, deploy, rest_endpoint, ...)."}, []string{"reason"}),
		airflowRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "airflow_refusals_total",
			Help: "Commands refused for a credential that acts as an Airflow user, by reason: the resource whose check Airflow's auth manager refused (dag, variable, connection, pool, configuration, view), or unknown_user, uncovered, unfilterable, unsupported_auth_manager."}, []string{"reason"}),
		jobsStarted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "jobs_started_total",
			Help: "Jobs started by this process."}),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "connections_open",
			Help: "HTTP connections open now (at most max_connections)."}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "connections_refused_total",
			Help: "Connections answered 503 and closed because max_connections were open."}),
	}
	slots := func(busy bool) func() float64 {
		return func() float64 {
			total, taken := s.svc.Slots()
			if busy {
				return float64(taken)
			}
			return float64(total)
		}
	}
	status := func(f func(commands.ExecutorStatus) float64) func() float64 {
		return func() float64 { return f(s.svc.ExecutorStatus()) }
	}
	m.registry.MustRegister(m.requests, m.requestTime, m.commands, m.commandTime, m.queueWait, m.authFailures, m.rateLimited,
		m.deploys, m.scopeRefused, m.airflowRefused, m.jobsStarted, m.connsOpen, m.connsRefused,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "slots", Help: "Command slots (max_concurrent_commands)."}, slots(false)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "slots_busy", Help: "Command slots taken now."}, slots(true)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "forkserver_warm", Help: "1 while a warm forkserver takes commands."},
			status(func(st commands.ExecutorStatus) float64 { return map[bool]float64{true: 1}[st.Warm] })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "forkserver_forks_total", Help: "Commands the warm forkservers ran."},
			status(func(st commands.ExecutorStatus) float64 { return float64(st.Forks) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "forkserver_restarts_total", Help: "Forkservers started after the first."},
			status(func(st commands.ExecutorStatus) float64 { return float64(st.Restarts) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "jobs_running", Help: "Jobs this process runs now."}, func() float64 {
			if s.jobs == nil {
				return 0
			}
			return float64(s.jobs.Running())
		}),
		jobsEnded(s.jobs),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "dag_index_dags", Help: "DAGs in the DAG index that scopes match against."},
			func() float64 { return float64(s.svc.DAGIndexStatus().DAGs) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "dag_index_age_seconds", Help: "Seconds since the DAG index was read (since the start, before the first read)."},
			func() float64 { return time.Since(cmp.Or(s.svc.DAGIndexStatus().ReadAt, started)).Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "dag_index_read_failures_total", Help: "Reads of the DAG index that failed."},
			func() float64 { return float64(s.svc.DAGIndexStatus().Failures) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// request counts an answered request; route is the matched route template.
func (m *metrics) request(route, method string, status int, took time.Duration) {
	if m.off {
		return
	}
	if route == "" || route == "/*" {
		route = unmatchedRoute
	}
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodOptions:
	default:
		method = "other"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.requestTime.WithLabelValues(route).Observe(took.Seconds())
}

// command counts a command of a whitelisted path, as it ended or why it did not run.
func (m *metrics) command(path string, res *commands.Result, err error) {
	if m.off {
		return
	}
	executor, outcome := "none", ""
	switch {
	case res == nil && commands.ErrorCode(err) == commands.EUNAVAILABLE:
		outcome = "unavailable"
	case res == nil:
		return // refused before it ran, or the client went away in the queue: the request counts it
	case res.TimedOut:
		outcome = "timed_out"
	case res.Canceled:
		outcome = "canceled"
	case err != nil:
		outcome = "lost"
	case res.ExitCode == 0:
		outcome = "ok"
	default:
		outcome = "failed"
	}
	if res != nil {
		if res.Executor != "" {
			executor = res.Executor
		}
		m.commandTime.WithLabelValues(executor).Observe(res.Duration.Seconds())
		m.queueWait.Observe(res.QueueWait.Seconds())
	}
	m.commands.WithLabelValues(path, executor, outcome).Inc()
}

// jobsEnded is jobs_ended_total, read from js when scraped: the jobs of this process that ended, by state.
func jobsEnded(js *jobs.Service) prometheus.Collector {
	desc := prometheus.NewDesc("airflow_gateway_jobs_ended_total", "Jobs of this process that ended, by state.", []string{"state"}, nil)
	return collectorFunc{desc, func(ch chan<- prometheus.Metric) {
		if js == nil {
			return
		}
		for _, state := range jobs.States {
			if n := js.Ended(state); n > 0 {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(n), string(state))
			}
		}
	}}
}

// collectorFunc is a collector of one series family, read when scraped.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (f collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f.collect(ch) }

// handleMetrics serves the series in Prometheus' text format: GET /metrics.
func (s *Server) handleMetrics() echo.HandlerFunc {
	serve := echo.WrapHandler(promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	return func(c echo.Context) error {
		if s.metrics.off {
			return s.fail(c, metricsOff, nil)
		}
		return serve(c)
	}
}

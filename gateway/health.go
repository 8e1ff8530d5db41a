package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

const (
	// healthTTL is how old the last `airflow db check` may be before a request for /health starts another
	// one in the background.
	healthTTL = 10 * time.Second
	// healthLimit is the time limit of one check.
	healthLimit = 30 * time.Second
)

// healthCheck keeps the last answer of `airflow db check`. A request never waits for a check: it gets the
// last answer and its age, and starts a new check in the background when that answer is older than
// healthTTL. At most one check runs at a time, outside the command slots, so a probe is answered at once
// even when every slot is busy.
type healthCheck struct {
	svc     *commands.Service
	mu      sync.Mutex
	at      time.Time // when the last check ended; zero before the first
	ok      bool
	running bool
	settle  sync.Once
}

func newHealthCheck(svc *commands.Service) *healthCheck { return &healthCheck{svc: svc} }

// last returns the last answer, whether there was one, and when it came; it starts a check when the
// answer is missing or stale.
func (h *healthCheck) last() (ok, known bool, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running && time.Since(h.at) >= healthTTL {
		h.running = true
		go h.check()
	}
	return h.ok, !h.at.IsZero(), h.at
}

func (h *healthCheck) check() {
	// The first check waits for the warm executor to be warm, for at most healthLimit, so that it forks
	// from the warm process rather than start Airflow cold beside its warm-up; the later ones run at once.
	h.settle.Do(func() { h.svc.AwaitSettled(context.Background(), healthLimit) })
	ok := h.svc.CheckDB(context.Background(), healthLimit)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ok = ok
	h.at = time.Now()
	h.running = false
}

// handleHealth answers GET /health and GET /health/ready, without authentication: 200 when the metadata
// DB answered its last check, 503 when it did not or has not been checked yet.
func (s *Server) handleHealth(c echo.Context) error {
	ok, known, at := s.health.last()
	db := map[string]any{"status": "unknown"}
	status := http.StatusServiceUnavailable
	if known {
		db["status"], db["checked_at"] = "unhealthy", at.UTC().Format(time.RFC3339)
		db["age_seconds"] = int(time.Since(at).Seconds())
		if ok {
			db["status"], status = "healthy", http.StatusOK
		}
	}
	airflow := map[string]string{"version": s.info.AirflowVersion, "binary": s.info.AirflowBinary}
	if s.info.AirflowWarning != "" {
		airflow["warning"] = s.info.AirflowWarning
	}
	return writeJSON(c, status, map[string]any{
		"gateway":      map[string]string{"status": "healthy", "version": s.info.GatewayVersion},
		"airflow":      airflow,
		"metadatabase": db,
		"executor":     s.svc.ExecutorStatus(),
		"dag_index":    dagIndexHealth(s.svc.DAGIndexStatus()),
	})
}

// dagIndexHealth tells of the DAG index that scopes match against: how many DAGs it knows, when it was
// read and how long ago, and whether the last read failed (stale: the index is the one read before), or
// none has succeeded yet (unread). Why a read failed is in the log, not here: /health needs no token.
func dagIndexHealth(st commands.DAGIndexStatus) map[string]any {
	index := map[string]any{"status": "current", "dags": st.DAGs, "failures": st.Failures}
	switch {
	case st.ReadAt.IsZero():
		index["status"] = "unread"
	case st.LastFailure.After(st.ReadAt):
		index["status"] = "stale"
	}
	if !st.ReadAt.IsZero() {
		index["read_at"] = st.ReadAt.UTC().Format(time.RFC3339)
		index["age_seconds"] = int(time.Since(st.ReadAt).Seconds())
	}
	if !st.LastFailure.IsZero() {
		index["last_failure_at"] = st.LastFailure.UTC().Format(time.RFC3339)
	}
	return index
}

// handleLive answers GET /health/live: the process serves requests. It checks nothing else.
func (s *Server) handleLive(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]string{"status": "alive"})
}

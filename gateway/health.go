package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// healthTTL is how long one `airflow db check` answer is reused.
const healthTTL = 10 * time.Second

// healthCheck runs `airflow db check` at most once per healthTTL, however many ask.
type healthCheck struct {
	svc *commands.Service
	mu  sync.Mutex
	at  time.Time
	ok  bool
}

func newHealthCheck(svc *commands.Service) *healthCheck { return &healthCheck{svc: svc} }

// metadatabaseOK reports whether the metadata database answered its last check.
func (h *healthCheck) metadatabaseOK(ctx context.Context) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.at) < healthTTL {
		return h.ok
	}
	res, err := h.svc.RunJob(ctx, commands.Job{Args: []string{"db", "check"}, Limit: 30 * time.Second})
	h.ok = err == nil && res.ExitCode == 0
	h.at = time.Now()
	return h.ok
}

// handleHealth answers GET /health, without authentication.
func (s *Server) handleHealth(c echo.Context) error {
	db := "unhealthy"
	status := http.StatusServiceUnavailable
	if s.health.metadatabaseOK(context.WithoutCancel(c.Request().Context())) {
		db, status = "healthy", http.StatusOK
	}
	return writeJSON(c, status, map[string]any{
		"gateway":      map[string]string{"status": "healthy", "version": s.info.GatewayVersion},
		"airflow":      map[string]string{"version": s.info.AirflowVersion, "binary": s.info.AirflowBinary},
		"metadatabase": map[string]string{"status": db},
	})
}

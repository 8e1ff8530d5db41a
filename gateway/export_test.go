package gateway

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// Routes lists the server's endpoints as "METHOD /path", with path parameters written as OpenAPI does.
func Routes(s *Server) []string {
	param := regexp.MustCompile(`:(\w+)`)
	var out []string
	for _, r := range s.echo.Routes() {
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodPatch:
		default:
			continue // the groups' catch-alls, which answer 404
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		if strings.HasPrefix(path, "/api/") {
			path = strings.Replace(path, "/*", "/{path}", 1) // Airflow's REST API: the rest of the path
		} else {
			path = strings.Replace(path, "/*", "/{file}", 1)
		}
		out = append(out, r.Method+" "+path)
	}
	return out
}

// AddCommandSeries adds n series to commands_total, under made-up command paths, for benchmarks.
func AddCommandSeries(s *Server, n int) {
	for i := range n {
		s.metrics.commands.WithLabelValues(fmt.Sprintf("bench path %d", i), "warm", "ok").Inc()
	}
}

// IsREST reports whether a path is Airflow's REST API rather than one of the gateway's own endpoints.
var IsREST = isREST

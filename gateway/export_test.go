package gateway

import (
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
		path = strings.Replace(path, "/*", "/{file}", 1)
		out = append(out, r.Method+" "+path)
	}
	return out
}

package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// record is what the gateway knows of one request: made when the request comes in (ServeHTTP), before
// any routing, and filled in as the request goes. Its dialect is chosen there, once, by the path alone,
// so that every answer, a 404 of the router's included, has the shape its client reads. Every writer of
// an answer and the access log read it; nothing else about a request is kept anywhere.
type record struct {
	start time.Time
	// path is the path the client asked for, which the proxy's rewrites of the request leave as it came.
	path    string
	dialect dialect
	// principal is who sent the request; nil until authentication lets it in.
	principal *Principal
	// ambient says that the request did not choose its credentials (a session cookie, an open gateway):
	// the cross-site rules hold it.
	ambient bool
	// airflowLogin is an Airflow user's own name and password, sent with HTTP Basic to Airflow's REST
	// API, which Airflow checks; nil otherwise. Never logged.
	airflowLogin *airflowLogin
	// route labels the request in the metrics when it is finer than Echo's: Airflow's REST API by its
	// templated path.
	route string
	// command is the path of the command the request ran or started, for the access log.
	command string
	// exitCode is the exit code of that command, when it ran to its end.
	exitCode *int
	// rest is the call forwarded to Airflow's REST API, nil for other requests.
	rest *restCall
	// plugin is what a plugin call's envelope echoes, as its handler learns it; nil elsewhere.
	plugin *pluginState
}

// airflowLogin is an Airflow user's name and password, as a caller sent them.
type airflowLogin struct{ username, password string }

type recordKey struct{}

// withRecord returns r carrying a new record, its dialect the one of its path.
func (s *Server) withRecord(r *http.Request) *http.Request {
	rec := &record{start: time.Now(), path: r.URL.Path, dialect: s.dialectOf(r.URL.Path)}
	return r.WithContext(context.WithValue(r.Context(), recordKey{}, rec))
}

// recordOf returns the record of c's request.
func recordOf(c echo.Context) *record { return recordIn(c.Request()) }

// recordIn returns the record of r, which ServeHTTP gave every request.
func recordIn(r *http.Request) *record { return r.Context().Value(recordKey{}).(*record) }

// principalOf returns who sent c's request, or a principal of no role before authentication.
func principalOf(c echo.Context) *Principal {
	if p := recordOf(c).principal; p != nil {
		return p
	}
	return &Principal{Name: "none", Role: commands.RoleNone}
}

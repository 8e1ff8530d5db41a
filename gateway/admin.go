package gateway

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/web"
)

// pageSecurity is the Content-Security-Policy of the gateway's pages: their own scripts, styles and
// requests only, and no framing.
const pageSecurity = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// handleAdminPage serves the admin page: GET /admin/rest_api/.
func (s *Server) handleAdminPage(c echo.Context) error {
	p := principalOf(c)
	page := web.AdminPage{
		User:           p.Name,
		Role:           p.Role.String(),
		Open:           s.keys.Open(),
		AirflowVersion: s.info.AirflowVersion,
		AirflowWarning: s.info.AirflowWarning,
		GatewayVersion: s.info.GatewayVersion,
		Executor:       s.svc.ExecutorStatus(),
		CSRFToken:      s.keys.csrfToken(c.Request()),
		Commands:       s.svc.Allowed(p.Access()).Commands,
		Scope:          p.Scope.String(),
		Scoped:         !p.Scope.IsZero(),
		MaxUploadBytes: s.svc.MaxUploadBytes(),
	}
	if api, err := s.airflowClient(); err == nil {
		page.AirflowAPI = fmt.Sprintf("%s (Airflow %d)", api.URL.Redacted(), api.Major)
		page.AirflowAPIUser = api.UserOf(p.Role)
	}
	for _, c := range page.Commands {
		if c.Long {
			page.LongCommands = append(page.LongCommands, c.Path)
		}
	}
	page.APIs, page.Withheld = commands.PluginAPIsFor(p.Access())
	// The session cookie comes again with the page a login leads to, as Airflow's webserver sends its own
	// with every page: a client that follows the login's redirect and reads the cookies of the last answer
	// (the managed service's Python example does) finds it there.
	if ck, err := c.Cookie(sessionCookie); err == nil && s.keys.fromSession(c.Request(), time.Now()) != nil {
		c.SetCookie(s.keys.sessionCookieOf(ck.Value))
	}
	pageHeaders(c)
	c.Response().WriteHeader(http.StatusOK)
	return web.RenderAdmin(c.Response(), page)
}

// pageHeaders sets the headers of the gateway's HTML pages.
func pageHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	h.Set("Content-Security-Policy", pageSecurity)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// pages is the shape of the gateway's HTML pages: a browser without a valid session is sent to the login
// page, dropping a stale cookie; other errors show on the login page.
type pages struct{ s *Server }

func (pages) name() string { return "page" }

func (p pages) writeError(c echo.Context, status int, err *commands.Error, _ *commands.Result) error {
	if err.Code != commands.EUNAUTHORIZED {
		return renderLogin(c, status, web.LoginPage{Error: err.Message})
	}
	c.Response().Header().Del("WWW-Authenticate")
	if _, err := c.Cookie(sessionCookie); err == nil {
		c.SetCookie(p.s.keys.logoutCookie())
	}
	return c.Redirect(http.StatusFound, "/login")
}

// staticFiles serves the pages' embedded scripts, styles and icon: GET /admin/rest_api/static/*.
var staticFiles = echo.WrapHandler(http.StripPrefix("/admin/rest_api/static/", http.FileServerFS(web.Static())))

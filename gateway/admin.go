package gateway

import (
	"crypto/hmac"
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/web"
)

// csrfHeader carries the admin page's CSRF token on the requests its script sends.
const csrfHeader = "X-CSRF-Token"

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
		Open:           s.creds.Open(),
		AirflowVersion: s.info.AirflowVersion,
		GatewayVersion: s.info.GatewayVersion,
		Executor:       s.svc.ExecutorStatus(),
		CSRFToken:      s.creds.csrfToken(c.Request()),
		Commands:       s.svc.Allowed(p.Role).Commands,
		MaxUploadBytes: s.svc.MaxUploadBytes(),
	}
	for _, c := range page.Commands {
		if c.Long {
			page.LongCommands = append(page.LongCommands, c.Path)
		}
	}
	for _, api := range commands.PluginAPIs() {
		if p.Role >= api.Role {
			page.APIs = append(page.APIs, api)
		} else {
			page.Withheld = append(page.Withheld, api.Name)
		}
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

// denyPage sends a browser without a valid session to the login page, dropping a stale cookie.
func (s *Server) denyPage(c echo.Context, why denial) error {
	if why == tooManyMisses {
		return renderLogin(c, http.StatusTooManyRequests, web.LoginPage{Error: tooManyMessage})
	}
	if _, err := c.Cookie(sessionCookie); err == nil {
		c.SetCookie(s.creds.logoutCookie())
	}
	return c.Redirect(http.StatusFound, "/login")
}

// csrfToken returns the token the admin page's forms carry: a MAC of the session cookie (or, on an open
// gateway without one, of a fixed word), so that it changes with every login and no other site can make
// it up.
func (cr *Credentials) csrfToken(r *http.Request) string {
	bound := "open"
	if c, err := r.Cookie(sessionCookie); err == nil {
		bound = "session " + c.Value
	}
	return base64.RawURLEncoding.EncodeToString(cr.mac("csrf", []byte(bound))[:18])
}

// requireCSRF refuses a state-changing request that a browser sent with ambient credentials (the session
// cookie, or none on an open gateway) unless it carries the admin page's CSRF token. Clients outside a
// browser, which send neither Sec-Fetch-Site nor Origin, replay the cookie without it, as curl does.
func (s *Server) requireCSRF(deny func(echo.Context, error) error) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			ambient, _ := c.Get(ambientKey).(bool)
			fromBrowser := r.Header.Get("Sec-Fetch-Site") != "" || r.Header.Get("Origin") != ""
			if ambient && fromBrowser && !safeMethod(r.Method) &&
				!hmac.Equal([]byte(r.Header.Get(csrfHeader)), []byte(s.creds.csrfToken(r))) {
				return deny(c, csrfError)
			}
			return next(c)
		}
	}
}

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

var csrfError = commands.Errorf(commands.EFORBIDDEN, "the page's CSRF token is missing or stale: reload the admin page and send the form again")

// staticFiles serves the pages' embedded scripts, styles and icon: GET /admin/rest_api/static/*.
var staticFiles = echo.WrapHandler(http.StripPrefix("/admin/rest_api/static/", http.FileServerFS(web.Static())))

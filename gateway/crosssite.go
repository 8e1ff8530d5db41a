package gateway

import (
	"crypto/hmac"
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// The rules that keep a page of another site from using a browser's session with the gateway (SPEC
// §6.1): Go's cross-origin protection for state-changing methods, the CSRF token of the admin page's
// forms, and what a cross-site GET may run.

// csrfHeader carries the admin page's CSRF token on the requests its script sends.
const csrfHeader = "X-CSRF-Token"

// crossOrigin refuses state-changing requests that a browser sent from another origin (it judges
// Sec-Fetch-Site and Origin; requests without them, such as curl's, pass).
func (s *Server) crossOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.origins.Check(c.Request()); err != nil {
			return s.fail(c, crossOriginError, nil)
		}
		return next(c)
	}
}

var crossOriginError = commands.Errorf(commands.EFORBIDDEN, "a request from another site was refused: send it from the gateway's own pages, or without a browser (with a token)")

// crossSiteGET reports a GET that a browser sent from another site with ambient credentials only: the
// session cookie, or none on an open gateway.
func crossSiteGET(c echo.Context) bool {
	return recordOf(c).ambient && c.Request().Method == http.MethodGet && c.Request().Header.Get("Sec-Fetch-Site") == "cross-site"
}

// crossSiteRule refuses a cross-site GET that would do more than read: a link from another site may
// make a browser send one with its session, but not make it change anything.
func crossSiteRule(c echo.Context, readOnly bool) error {
	if crossSiteGET(c) && !readOnly {
		return crossSiteGETError
	}
	return nil
}

// crossSiteGETError refuses a cross-site GET that would run more than a read-only command.
var crossSiteGETError = commands.Errorf(commands.EFORBIDDEN, "a link from another site may only run read-only commands with your session; run this one from the gateway's own pages, or with a token")

// csrfToken returns the token the admin page's forms carry: a MAC of the session cookie (or, on an open
// gateway without one, of a fixed word), so that it changes with every login and no other site can make
// it up.
func (k *Keyring) csrfToken(r *http.Request) string {
	bound := "open"
	if c, err := r.Cookie(sessionCookie); err == nil {
		bound = "session " + c.Value
	}
	return base64.RawURLEncoding.EncodeToString(k.mac("csrf", []byte(bound))[:18])
}

// requireCSRF refuses a state-changing request that a browser sent with ambient credentials (the session
// cookie, or none on an open gateway) unless it carries the admin page's CSRF token. Clients outside a
// browser, which send neither Sec-Fetch-Site nor Origin, replay the cookie without it, as curl does.
func (s *Server) requireCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		ambient := recordOf(c).ambient
		fromBrowser := r.Header.Get("Sec-Fetch-Site") != "" || r.Header.Get("Origin") != ""
		if ambient && fromBrowser && !safeMethod(r.Method) &&
			!hmac.Equal([]byte(r.Header.Get(csrfHeader)), []byte(s.keys.csrfToken(r))) {
			return s.fail(c, csrfError, nil)
		}
		return next(c)
	}
}

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

var csrfError = commands.Errorf(commands.EFORBIDDEN, "the page's CSRF token is missing or stale: reload the admin page and send the form again")

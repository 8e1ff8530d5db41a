package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/web"
)

// adminPage is where a login leads.
const adminPage = "/admin/rest_api/"

// handleLogin turns a token into a session cookie: GET /login?token=T (as the managed-service clients do)
// or the login form's POST. Without a token it shows the form.
func (s *Server) handleLogin(c echo.Context) error {
	loginHeaders(c)
	if s.keys.Open() {
		return renderLogin(c, http.StatusOK, web.LoginPage{Open: true})
	}
	if s.turnedAway(c) {
		return renderLogin(c, http.StatusTooManyRequests, web.LoginPage{Error: tooManyMessage})
	}
	client := clientAddress(c.Request())
	token := c.QueryParam("token")
	if r := c.Request(); r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(c.Response(), r.Body, maxLoginBody)
		err := r.ParseForm() // ParseMultipartForm would hide its error behind ErrNotMultipart
		if err == nil {
			if err = r.ParseMultipartForm(maxLoginBody); errors.Is(err, http.ErrNotMultipart) {
				err = nil
			}
		}
		if slow, ok := isBodyTimeout(err); ok {
			return renderLogin(c, http.StatusRequestTimeout, web.LoginPage{Error: "The form did not arrive in time (" + slow.Message + ")."})
		}
		if err != nil {
			return renderLogin(c, http.StatusBadRequest, web.LoginPage{Error: fmt.Sprintf(
				"The form could not be read (%v): send the token in the field `token` of an urlencoded or multipart form of at most %d bytes.", err, maxLoginBody)})
		}
		token = r.PostForm.Get("token")
		if token == "" {
			return renderLogin(c, http.StatusBadRequest, web.LoginPage{Error: "No token was sent: put it in the form field `token` (an urlencoded or multipart form)."})
		}
	}
	if token == "" {
		return renderLogin(c, http.StatusOK, web.LoginPage{})
	}
	cookie, p := s.keys.login(token, time.Now())
	if cookie == nil {
		s.authFailed(c.Request())
		return renderLogin(c, http.StatusUnauthorized, web.LoginPage{Error: "That token is not valid here. Check it, or ask for one of this gateway's tokens."})
	}
	c.SetCookie(cookie)
	s.log.Info("login", "request_id", requestID(c), "client", client, "token", p.Name, "role", p.Role.String())
	return c.Redirect(http.StatusFound, adminPage)
}

// loginHeaders keep a token sent in a login URL out of the Referer of whatever the answer leads to, and
// out of every cache: the answer to /login?token= names no other site and is never stored.
func loginHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// maxLoginBody bounds the login form: a token and little else.
const maxLoginBody = 16 << 10

// handleLogout clears the session cookie.
func (s *Server) handleLogout(c echo.Context) error {
	c.SetCookie(s.keys.logoutCookie())
	return c.Redirect(http.StatusFound, "/login")
}

func renderLogin(c echo.Context, status int, page web.LoginPage) error {
	pageHeaders(c)
	loginHeaders(c)
	c.Response().WriteHeader(status)
	return web.RenderLogin(c.Response(), page)
}

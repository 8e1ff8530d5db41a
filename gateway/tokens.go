package gateway

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// mintRequest is the body of POST /api/v1/tokens; every field may be left out.
type mintRequest struct {
	TTL  string `json:"ttl"`  // a Go duration such as "2h" or "60s"; DefaultTokenTTL when empty
	Role string `json:"role"` // an Airflow role name; the caller's when empty
	// A scope within the caller's (§19); the caller's when all three are left out.
	DAGs  []string `json:"dags"`
	Tags  []string `json:"tags"`
	Teams []string `json:"teams"`
}

// mintResponse answers a minted token.
type mintResponse struct {
	Token     string     `json:"token"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Scope     *scopeJSON `json:"scope,omitempty"` // absent: every DAG
	ExpiresAt time.Time  `json:"expires_at"`
	LoginURL  string     `json:"login_url"`
}

// scopeJSON is a scope as the API shows it.
type scopeJSON struct {
	DAGs  []string `json:"dags"`
	Tags  []string `json:"tags"`
	Teams []string `json:"teams"`
}

// scopeAnswer shows a scope; nil for no scope.
func scopeAnswer(s commands.Scope) *scopeJSON {
	if s.IsZero() {
		return nil
	}
	return &scopeJSON{DAGs: nonNil(s.DAGs()), Tags: nonNil(s.Tags()), Teams: nonNil(s.Teams())}
}

func nonNil(lines []string) []string {
	if lines == nil {
		return []string{}
	}
	return lines
}

// handleMint mints a short-lived token for the caller: POST /api/v1/tokens.
func (s *Server) handleMint(c echo.Context) error {
	req, err := readMintRequest(c)
	if err != nil {
		return s.fail(c, err, nil)
	}
	caller := principalOf(c)
	ttl := DefaultTokenTTL
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil {
			return s.fail(c, commands.Errorf(commands.EINVALID, "ttl %q is not a duration: write it as 90s, 15m or 2h", commands.Shorten(req.TTL)), nil)
		}
	}
	role := caller.Role
	if req.Role != "" {
		var ok bool
		if role, ok = commands.ParseRole(req.Role); !ok {
			return s.fail(c, commands.Errorf(commands.EINVALID, "role %q is not one of Viewer, User, Op, Admin", commands.Shorten(req.Role)), nil)
		}
	}
	var scope commands.Scope
	if len(req.DAGs)+len(req.Tags)+len(req.Teams) > 0 {
		if scope, err = commands.NewScope(req.DAGs, req.Tags, req.Teams); err != nil {
			return s.fail(c, err, nil)
		}
	}
	token, minted, err := s.keys.Mint(caller, role, scope, ttl, time.Now())
	if err != nil {
		return s.fail(c, err, nil)
	}
	s.log.Info("token minted", "request_id", requestID(c), "token", caller.Name, "minted", minted.Name,
		"role", minted.Role.String(), "scope", minted.Scope.String(), "expires_at", minted.Expires.UTC().Format(time.RFC3339))
	return writeJSON(c, http.StatusCreated, mintResponse{
		Token: token, Name: minted.Name, Role: minted.Role.String(), Scope: scopeAnswer(minted.Scope), ExpiresAt: minted.Expires.UTC(),
		LoginURL: baseURL(c) + "/login?token=" + url.QueryEscape(token),
	})
}

// readMintRequest reads a JSON body, or form fields, or nothing at all.
func readMintRequest(c echo.Context) (mintRequest, error) {
	var req mintRequest
	r := c.Request()
	ctype, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch ctype {
	case "":
		if r.ContentLength > 0 {
			return req, commands.Errorf(commands.EINVALID, "send the body as application/json: {\"ttl\": \"2h\", \"role\": \"Viewer\"}")
		}
	case echo.MIMEApplicationJSON:
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil && r.ContentLength != 0 {
			return req, bodyError(err, "the JSON body cannot be read (%v); send {\"ttl\": \"2h\", \"role\": \"Viewer\"}, both fields optional")
		}
	case echo.MIMEApplicationForm, echo.MIMEMultipartForm:
		form, err := c.FormParams()
		if err != nil {
			return req, bodyError(err, "the form cannot be read (%v); send the fields ttl and role")
		}
		req.TTL, req.Role = form.Get("ttl"), form.Get("role")
		req.DAGs, req.Tags, req.Teams = form["dags"], form["tags"], form["teams"]
	default:
		return req, commands.Errorf(commands.EINVALID, "content type %q is not accepted; send application/json: {\"ttl\": \"2h\", \"role\": \"Viewer\"}", ctype)
	}
	return req, nil
}

// baseURL is the scheme and host the client reached the gateway at, for links it can follow.
func baseURL(c echo.Context) string {
	scheme := "http"
	if c.Request().TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request().Host
}

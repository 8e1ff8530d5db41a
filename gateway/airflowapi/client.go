// Package airflowapi is a client of Airflow's REST API as the gateway reaches it (SPEC §17): Airflow 2's
// webserver or Airflow 3's API server, and the Airflow user each gateway role acts as there. It sends what
// the gateway's proxy forwards, and knows how to authenticate: HTTP Basic on Airflow 2, a JWT from
// POST /auth/token on Airflow 3, kept for most of its life and renewed with one request however many
// callers wait for it. A credential that names an Airflow user acts as that user (SPEC §20, person.go):
// with a JWT the gateway signs on Airflow 3, with the user's password on Airflow 2.
package airflowapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// EUPSTREAM is the code of the errors that say Airflow's API failed, or refused the gateway's own
// credentials: the gateway answers them 502.
const EUPSTREAM = "upstream"

// User is an Airflow user: its name and password.
type User struct {
	Name     string
	Password string
}

// Client is Airflow's REST API and the Airflow user each gateway role acts as there. On Airflow 2 a role's
// requests carry its user's name and password (HTTP Basic); on Airflow 3 they carry a JWT from POST
// /auth/token, one per role, renewed before it expires. Connections to it are kept alive and reused.
type Client struct {
	// URL is the API's base, such as http://127.0.0.1:8080 (no /api/v1 or /api/v2 after it).
	URL *url.URL
	// Major is Airflow's major version: 2 or 3.
	Major int
	// Timeout bounds one call until its answer's headers come ([airflow_api] timeout).
	Timeout time.Duration

	users     map[commands.Role]User // the Airflow users of the gateway's roles ([airflow_api] users_file)
	transport *http.Transport
	mu        sync.Mutex
	roles     map[commands.Role]*jwtSource // Airflow 3: one token per role
	callers   map[[sha256.Size]byte]*jwtSource
	people    atomic.Pointer[people] // how to act as the Airflow users credentials name (SetPeople)
}

// New returns the client of the API at base for Airflow major, acting for each role as its user of users,
// with the time limit timeout.
func New(base *url.URL, major int, users map[commands.Role]User, timeout time.Duration) *Client {
	return &Client{URL: base, Major: major, users: users, Timeout: timeout,
		transport: &http.Transport{
			Proxy:                 nil, // the API is next to the gateway; no proxy of the environment stands between
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: timeout,
			ForceAttemptHTTP2:     false,
		},
		roles: map[commands.Role]*jwtSource{}, callers: map[[sha256.Size]byte]*jwtSource{}}
}

// RoundTrip sends r over the client's connections, as it is: r carries its own credentials.
func (u *Client) RoundTrip(r *http.Request) (*http.Response, error) { return u.transport.RoundTrip(r) }

// UserOf returns the name of the Airflow user role acts as, or "" when it acts as none.
func (u *Client) UserOf(role commands.Role) string { return u.users[role].Name }

// Close closes the idle connections to the API.
func (u *Client) Close() { u.transport.CloseIdleConnections() }

// ErrRoleRefused says that Airflow refused the users_file entry of a role: the operator's configuration,
// not the caller's credentials, is at fault.
func ErrRoleRefused(role commands.Role, detail string) error {
	return commands.Errorf(EUPSTREAM,
		"Airflow refused the gateway's users_file entry for role %s (%s): check that user's name and password in [airflow_api] users_file, and that the user exists in Airflow", role, detail)
}

// RoleAuthorization returns the Authorization header that acts as role's Airflow user.
func (u *Client) RoleAuthorization(ctx context.Context, role commands.Role) (string, error) {
	user, ok := u.users[role]
	if !ok {
		return "", commands.Errorf(commands.EFORBIDDEN,
			"role %s acts as no Airflow user: add a [%s] section to [airflow_api] users_file, or send an Airflow user's own name and password (HTTP Basic)", role, role)
	}
	if u.Major < 3 {
		return basicAuthorization(user.Name, user.Password), nil
	}
	u.mu.Lock()
	src := u.roles[role]
	if src == nil {
		src = &jwtSource{fetch: func(ctx context.Context) (string, error) {
			tok, err := u.exchange(ctx, user.Name, user.Password)
			var refused *refusal
			if errors.As(err, &refused) {
				return "", ErrRoleRefused(role, refused.detail)
			}
			return tok, err
		}}
		u.roles[role] = src
	}
	u.mu.Unlock()
	tok, err := src.get(ctx)
	if err != nil {
		return "", err
	}
	return "Bearer " + tok, nil
}

// Get sends GET path (under the API's URL) as role's user, or with no credentials when role is empty, and
// returns the answer's status: for airflow-gateway check.
func (u *Client) Get(ctx context.Context, path, role string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL.String()+path, nil)
	if err != nil {
		return 0, err
	}
	if role != "" {
		r, _ := commands.ParseRole(role)
		authz, err := u.RoleAuthorization(ctx, r)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", authz)
	}
	resp, err := u.transport.RoundTrip(req)
	if err != nil {
		return 0, u.Unreachable(err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// ForgetRole drops role's token, which Airflow no longer accepts: the next call gets a new one.
func (u *Client) ForgetRole(role commands.Role) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.roles, role)
}

// CallerAuthorization returns the Authorization header for an Airflow user's own name and password, sent
// with HTTP Basic: the header itself on Airflow 2, which takes Basic; on Airflow 3, which does not, a JWT
// that Airflow gave for them, kept for its life under a hash of the credentials. A refusal is
// EUNAUTHORIZED.
func (u *Client) CallerAuthorization(ctx context.Context, username, password string) (string, error) {
	if u.Major < 3 {
		return basicAuthorization(username, password), nil
	}
	key := sha256.Sum256([]byte(username + "\x00" + password))
	u.mu.Lock()
	src := u.callers[key]
	if src == nil {
		if len(u.callers) >= maxCallerTokens {
			u.sweepCallers()
		}
		src = &jwtSource{fetch: func(ctx context.Context) (string, error) { return u.exchange(ctx, username, password) }}
		u.callers[key] = src
	}
	u.mu.Unlock()
	tok, err := src.get(ctx)
	var refused *refusal
	if errors.As(err, &refused) {
		u.mu.Lock()
		delete(u.callers, key)
		u.mu.Unlock()
		return "", commands.Errorf(commands.EUNAUTHORIZED, "Airflow refused that user name and password (%s)", refused.detail)
	}
	if err != nil {
		return "", err
	}
	return "Bearer " + tok, nil
}

// maxCallerTokens bounds the tokens kept for callers' own credentials.
const maxCallerTokens = 1024

// sweepCallers drops the callers' tokens that expired, or all of them when none has; u.mu is held.
func (u *Client) sweepCallers() {
	now := time.Now()
	for k, src := range u.callers {
		if src.expired(now) {
			delete(u.callers, k)
		}
	}
	if len(u.callers) >= maxCallerTokens {
		clear(u.callers)
	}
}

func basicAuthorization(username, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password))
}

// refusal is Airflow's answer to credentials it does not accept.
type refusal struct{ detail string }

func (r *refusal) Error() string { return "refused: " + r.detail }

// exchange asks Airflow 3 for a JWT for username and password: POST /auth/token.
func (u *Client) exchange(ctx context.Context, username, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	ctx, cancel := context.WithTimeout(ctx, u.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.URL.JoinPath("/auth/token").String(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := u.transport.RoundTrip(req)
	if err != nil {
		return "", u.Unreachable(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden ||
		resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity:
		return "", &refusal{detail: fmt.Sprintf("%d from POST /auth/token", resp.StatusCode)}
	case resp.StatusCode/100 != 2:
		return "", commands.Errorf(EUPSTREAM, "Airflow's API at %s answered %d to POST /auth/token", u.URL.Redacted(), resp.StatusCode)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(answer, &tok) != nil || tok.AccessToken == "" {
		return "", commands.Errorf(EUPSTREAM, "Airflow's API at %s gave no access_token from POST /auth/token", u.URL.Redacted())
	}
	return tok.AccessToken, nil
}

// Unreachable explains a call that got no answer: 504 when it was too slow, 502 otherwise.
func (u *Client) Unreachable(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return commands.Errorf(commands.ETIMEOUT, "Airflow's API at %s did not answer within %s ([airflow_api] timeout)", u.URL.Redacted(), u.Timeout)
	}
	return commands.Errorf(EUPSTREAM, "Airflow's API at %s cannot be reached (%s): is Airflow's %s running there? [airflow_api] url names it",
		u.URL.Redacted(), shortNetError(err), u.server())
}

// server names the Airflow process that serves the API.
func (u *Client) server() string {
	if u.Major < 3 {
		return "webserver"
	}
	return "API server"
}

// shortNetError keeps the last part of a network error, which says what happened.
func shortNetError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// jwtSource holds one JWT and gets a new one when it nears its expiry: while it fetches, other callers
// wait for its answer, so there is one request however many callers there are.
type jwtSource struct {
	mu      sync.Mutex
	token   string
	expires time.Time
	renew   time.Time // when to get the next one
	fetch   func(context.Context) (string, error)
}

func (s *jwtSource) get(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.token != "" && now.Before(s.renew) {
		return s.token, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		if s.token != "" && now.Before(s.expires) {
			return s.token, nil // renewal failed; the old token still holds
		}
		return "", err
	}
	s.token = tok
	s.expires = jwtExpiry(tok, now)
	// Renewed once 80% of its life is gone, and at least a minute before its end, for clocks that differ a
	// little; but a token is used for half its life at least, however short it is.
	life := s.expires.Sub(now)
	s.renew = now.Add(max(life/2, min(life*4/5, life-time.Minute)))
	return tok, nil
}

func (s *jwtSource) expired(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token == "" || !now.Before(s.expires)
}

// jwtExpiry reads a JWT's exp claim (the token is Airflow's, and is not checked here: Airflow checks it);
// without one, a token is taken to live five minutes.
func jwtExpiry(token string, now time.Time) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) == 3 {
		if payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "=")); err == nil {
			var claims struct {
				Exp float64 `json:"exp"`
			}
			if json.Unmarshal(payload, &claims) == nil && claims.Exp > 0 {
				return time.Unix(int64(claims.Exp), 0)
			}
		}
	}
	return now.Add(5 * time.Minute)
}

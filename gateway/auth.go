package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Principal is who sent a request: the name of their token and its role.
type Principal struct {
	Name string
	Role commands.Role
}

// anonymous is the principal of every request when no token is configured (loopback only, or with
// allow_unauthenticated).
var anonymous = &Principal{Name: "anonymous", Role: commands.RoleAdmin}

// Credentials holds the tokens the gateway accepts, as SHA-256 digests only.
type Credentials struct {
	header string // the plugin's token header
	tokens []namedToken
}

type namedToken struct {
	principal Principal
	sum       [sha256.Size]byte
}

// NewCredentials returns credentials that read the plugin token from header.
func NewCredentials(header string) *Credentials { return &Credentials{header: header} }

// AddToken accepts token (given as its SHA-256) for the named principal.
func (cr *Credentials) AddToken(name string, sum [sha256.Size]byte, role commands.Role) {
	cr.tokens = append(cr.tokens, namedToken{principal: Principal{Name: name, Role: role}, sum: sum})
}

// Open reports whether no token is configured, so that every request is let in.
func (cr *Credentials) Open() bool { return len(cr.tokens) == 0 }

// presented returns the token a request carries: the plugin header, or an Authorization Bearer token.
func (cr *Credentials) presented(r *http.Request) string {
	if t := r.Header.Get(cr.header); t != "" {
		return t
	}
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(t)
	}
	return ""
}

// Identify returns the principal of a request, or nil when its token is missing or wrong. Every configured
// token is compared, in constant time, whatever matched.
func (cr *Credentials) Identify(r *http.Request) *Principal {
	if cr.Open() {
		return anonymous
	}
	token := cr.presented(r)
	if token == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	var found *Principal
	for i := range cr.tokens {
		if subtle.ConstantTimeCompare(sum[:], cr.tokens[i].sum[:]) == 1 {
			found = &cr.tokens[i].principal
		}
	}
	return found
}

const principalKey = "principal"

// authenticate lets a request through with its principal set, or answers with deny.
func (s *Server) authenticate(deny echo.HandlerFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := s.creds.Identify(c.Request())
			if p == nil {
				return deny(c)
			}
			c.Set(principalKey, p)
			return next(c)
		}
	}
}

func principalOf(c echo.Context) *Principal {
	if p, ok := c.Get(principalKey).(*Principal); ok {
		return p
	}
	return &Principal{Name: "none", Role: commands.RoleNone}
}

// denyProblem answers a request without valid credentials in the command dialect.
func denyProblem(c echo.Context) error {
	c.Response().Header().Set("WWW-Authenticate", `Bearer realm="airflow-gateway"`)
	return writeProblem(c, commands.Errorf(commands.EUNAUTHORIZED,
		"a valid token is required: send it as `Authorization: Bearer TOKEN`, or log in at /login"), nil)
}

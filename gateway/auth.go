package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Principal is who sent a request: the name of their token and its role. A minted token's principal also
// names the configured token it was minted from, and when it expires.
type Principal struct {
	Name  string
	Role  commands.Role
	Scope commands.Scope // the DAGs the credential reaches (§19); zero: every DAG
	// AirflowUser is the Airflow user the credential acts as (§20); "" for its role's user.
	AirflowUser string
	Parent      string    // "" for a configured token
	Expires     time.Time // zero for a configured token
}

// Access is what the principal may do: its role and scope, and the Airflow user whose permissions apply.
func (p *Principal) Access() commands.Access {
	return commands.Access{Role: p.Role, Scope: p.Scope, AirflowUser: p.AirflowUser}
}

// anonymous is the principal of every request when no token is configured (loopback only, or with
// allow_unauthenticated).
var anonymous = &Principal{Name: "anonymous", Role: commands.RoleAdmin}

// Keyring is the gateway's own keys: the tokens it accepts (as SHA-256 digests only) and the key that
// signs its session cookies, CSRF tokens and minted tokens; not a caller's credentials. The set of tokens
// can be replaced while requests are served (SetTokens).
type Keyring struct {
	header       string                       // the plugin's token header
	tokens       atomic.Pointer[[]namedToken] // never changed in place: replaced whole
	addMu        sync.Mutex                   // one AddToken or SetTokens at a time
	sessionKey   []byte                       // signs session cookies, CSRF tokens and minted tokens
	secureCookie bool
	// keyConfigured says that sessionKey is [gateway] secret_key, not a random key of this process:
	// only then are tokens minted, since every replica and every restart must accept them.
	keyConfigured bool
	// MaxTokenTTL is the longest life a minted token may ask for ([auth] max_token_ttl).
	MaxTokenTTL time.Duration
}

type namedToken struct {
	principal Principal
	sum       [sha256.Size]byte
}

// NewKeyring returns credentials that read the plugin token from header, and sign session cookies
// with a random key until SignSessions sets another.
func NewKeyring(header string) *Keyring {
	key := make([]byte, 32)
	rand.Read(key) // never fails: crypto/rand panics when the system has no randomness
	return &Keyring{header: header, sessionKey: key}
}

// AddToken accepts token (given as its SHA-256) for the named principal.
func (k *Keyring) AddToken(name string, sum [sha256.Size]byte, role commands.Role) {
	k.addMu.Lock()
	defer k.addMu.Unlock()
	list := append(slices.Clone(k.list()), namedToken{principal: Principal{Name: name, Role: role}, sum: sum})
	k.tokens.Store(&list)
}

// Token is a token the gateway accepts: its name, its role and its SHA-256 (the tokens file's entries).
type Token struct {
	Name        string
	Role        commands.Role
	SHA256      [sha256.Size]byte
	Scope       commands.Scope
	AirflowUser string
}

// SetTokens replaces every accepted token with tokens, at once: requests see the old set or the new one,
// never a mix. The sessions of a token that is gone end with it. An empty set is refused, since it would
// let every request in.
func (k *Keyring) SetTokens(tokens []Token) error {
	if len(tokens) == 0 {
		return errors.New("the new set has no token at all, which would let every request in; the old tokens stay")
	}
	list := make([]namedToken, len(tokens))
	for i, t := range tokens {
		list[i] = namedToken{principal: Principal{Name: t.Name, Role: t.Role, Scope: t.Scope, AirflowUser: t.AirflowUser}, sum: t.SHA256}
	}
	k.addMu.Lock()
	defer k.addMu.Unlock()
	k.tokens.Store(&list)
	return nil
}

// list returns the accepted tokens; the slice is never changed.
func (k *Keyring) list() []namedToken {
	if p := k.tokens.Load(); p != nil {
		return *p
	}
	return nil
}

// Open reports whether no token is configured, so that every request is let in.
func (k *Keyring) Open() bool { return len(k.list()) == 0 }

// presented returns the token a request carries: the plugin header, or an Authorization Bearer token.
func (k *Keyring) presented(r *http.Request) string {
	if t := r.Header.Get(k.header); t != "" {
		return t
	}
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(t)
	}
	return ""
}

// Identify returns the principal of a request, or nil when the request has neither a valid token nor a
// valid session. ambient is true when the request did not choose its credentials: a browser sends the
// session cookie by itself, and on an open gateway every request is let in; a page of another site can
// make a browser send such a request, so it is held to the cross-site rules. A token, when sent, decides
// alone.
func (k *Keyring) Identify(r *http.Request) (p *Principal, ambient bool) {
	if k.Open() {
		return anonymous, true
	}
	if token := k.presented(r); token != "" {
		p, _ := k.identifyToken(token)
		return p, false
	}
	if p := k.fromSession(r, time.Now()); p != nil {
		return p, true
	}
	return nil, false
}

// tried reports whether a request carries credentials at all, a token or a session cookie: only those
// count as failed authentications, not a browser that comes to a page before logging in.
func (k *Keyring) tried(r *http.Request) bool {
	if k.presented(r) != "" {
		return true
	}
	_, err := r.Cookie(sessionCookie)
	return err == nil
}

// identifyToken returns the principal of a token and the token's SHA-256, or nil. Every configured token
// is compared, in constant time, whatever matched.
func (k *Keyring) identifyToken(token string) (*Principal, [sha256.Size]byte) {
	sum := sha256.Sum256([]byte(token))
	if strings.HasPrefix(token, mintedPrefix) {
		return k.identifyMinted(token, time.Now()), sum
	}
	var found *Principal
	tokens := k.list()
	for i := range tokens {
		if subtle.ConstantTimeCompare(sum[:], tokens[i].sum[:]) == 1 {
			found = &tokens[i].principal
		}
	}
	return found, sum
}

// authenticate lets a request through with its principal set, or turns it away: 401 (errUnauthenticated)
// without valid credentials, 429 (errTooMany) from a client address that has failed to authenticate too
// often lately, before its token is looked at.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.turnedAway(c) {
			return s.fail(c, errTooMany, nil)
		}
		p, ambient := s.keys.Identify(c.Request())
		if p == nil {
			if s.keys.tried(c.Request()) {
				s.authFailed(c.Request())
			}
			return s.fail(c, errUnauthenticated, nil)
		}
		rec := recordOf(c)
		rec.principal, rec.ambient = p, ambient
		// The commands run for this request carry the token's name to Airflow's audit log.
		c.SetRequest(c.Request().WithContext(commands.WithCaller(c.Request().Context(), p.Name)))
		return next(c)
	}
}

// authenticateREST authenticates as authenticate does, and also takes HTTP Basic with an Airflow user's own
// name and password, which Airflow checks (rest.go).
func (s *Server) authenticateREST(next echo.HandlerFunc) echo.HandlerFunc {
	checked := s.authenticate(next)
	return func(c echo.Context) error {
		username, password, ok := c.Request().BasicAuth()
		if !ok {
			return checked(c)
		}
		if s.turnedAway(c) {
			return s.fail(c, errTooMany, nil)
		}
		rec := recordOf(c)
		rec.principal = &Principal{Name: "airflow:" + username, Role: commands.RoleNone}
		rec.airflowLogin = &airflowLogin{username: username, password: password}
		return next(c)
	}
}

// stripGatewayCredentials removes what authenticated the caller to the gateway: its token headers and its
// session cookie never reach Airflow.
func stripGatewayCredentials(r *http.Request, pluginHeader string) {
	r.Header.Del("Authorization")
	r.Header.Del(pluginHeader)
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, ck := range cookies {
		if ck.Name != sessionCookie {
			r.AddCookie(ck)
		}
	}
}

// turnedAway reports whether the request's client address has failed to authenticate too often lately;
// then it counts the request in auth_rate_limited_total and sets Retry-After to when it may try again.
func (s *Server) turnedAway(c echo.Context) bool {
	if !s.misses.blocked(clientAddress(c.Request())) {
		return false
	}
	s.metrics.rateLimited.Inc()
	c.Response().Header().Set("Retry-After", strconv.Itoa(int(missRefill.Seconds())))
	return true
}

// authFailed records a failed authentication from r's client address, whatever refused it (a token, a
// login, Airflow for an Airflow user's own credentials): it counts toward the address's allowance
// (turnedAway) and in auth_failures_total.
func (s *Server) authFailed(r *http.Request) {
	s.misses.record(clientAddress(r))
	s.metrics.authFailures.Inc()
}

// clientAddress is the address the connection came from. Forwarding headers are not trusted: anyone can
// write them.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Failed authentications per client address: a burst of DefaultFailedAuthBurst (or Options'
// FailedAuthBurst), then one more every missRefill.
const (
	DefaultFailedAuthBurst = 10
	missRefill             = 6 * time.Second
)

// misses counts failed authentications per client address.
type misses struct {
	mu        sync.Mutex
	burst     int
	clients   map[string]*rate.Limiter
	lastSweep time.Time
}

func newMisses(burst int) *misses {
	return &misses{burst: burst, clients: map[string]*rate.Limiter{}}
}

// blocked reports whether client has used up its failures.
func (m *misses) blocked(client string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	lim := m.clients[client]
	return lim != nil && lim.Tokens() < 1
}

// record counts one failure of client.
func (m *misses) record(client string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if now.Sub(m.lastSweep) > time.Minute { // forget clients whose allowance is whole again
		for k, lim := range m.clients {
			if lim.TokensAt(now) >= float64(m.burst) {
				delete(m.clients, k)
			}
		}
		m.lastSweep = now
	}
	lim := m.clients[client]
	if lim == nil {
		lim = rate.NewLimiter(rate.Every(missRefill), m.burst)
		m.clients[client] = lim
	}
	lim.AllowN(now, 1)
}

// tooManyMessage answers a client address that failed to authenticate too often.
var tooManyMessage = fmt.Sprintf("too many failed authentications from this address: wait %d seconds, then send a valid token", int(missRefill.Seconds()))

// The denials of authenticate.
var (
	errTooMany         = &commands.Error{Code: eTooMany, Message: tooManyMessage}
	errUnauthenticated = commands.Errorf(commands.EUNAUTHORIZED,
		"a valid token is required: send it as `Authorization: Bearer TOKEN` (a gateway token, or one minted with POST /api/v1/tokens), or log in at /login")
)

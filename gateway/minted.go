package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Minted tokens are short-lived tokens the gateway hands out itself, as the managed services do (DMS's
// 2-hour login token, MWAA's 60-second CLI token). They are stateless: a minted token carries its claims,
// signed with [gateway] secret_key, so every replica with that key accepts it, and nothing is stored.
// It is `agw1.` + base64url(claims JSON) + `.` + base64url(HMAC-SHA256).

// mintedPrefix starts every minted token, so that it is told from a configured one at a glance.
const mintedPrefix = "agw1."

// mintedSuffix is appended to the parent's name to name a minted token: "ci-bot/minted".
const mintedSuffix = "/minted"

// Bounds of a minted token's life; [auth] max_token_ttl sets the upper one.
const (
	MinTokenTTL        = 10 * time.Second
	DefaultMaxTokenTTL = 12 * time.Hour
	DefaultTokenTTL    = 2 * time.Hour
)

// mintedClaims is what a minted token says of itself.
type mintedClaims struct {
	Parent   string `json:"p"` // the name of the configured token it was minted from
	ParentFP string `json:"f"` // hex of the first 8 bytes of the parent token's SHA-256
	Role     int    `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
	Nonce    string `json:"n"` // makes every minted token unique
	// The token's scope (§19), when it has one: never wider than its parent's (Narrow).
	DAGs  []string `json:"d,omitempty"`
	Tags  []string `json:"t,omitempty"`
	Teams []string `json:"m,omitempty"`
}

// scope returns the scope the claims carry; the zero Scope when they carry none.
func (c mintedClaims) scope() (commands.Scope, error) {
	if len(c.DAGs)+len(c.Tags)+len(c.Teams) == 0 {
		return commands.Scope{}, nil
	}
	return commands.NewScope(c.DAGs, c.Tags, c.Teams)
}

// maxMintedToken bounds what is read as a minted token before any work is done on it.
const maxMintedToken = 1024

// errNoSecretKey answers a request to mint on a gateway without a configured secret_key: the operator's
// configuration lacks it, so the service is unavailable (503) until it is set, whatever the request.
var errNoSecretKey = commands.Errorf(commands.EUNAVAILABLE,
	"minting tokens needs [gateway] secret_key, which signs them: set it to a long random value (openssl rand -hex 32), the same on every replica, and restart")

// Mint returns a new token for role and scope that lives ttl, minted from the credentials of p: its name
// is "PARENT/minted", it never outranks p nor reaches beyond p's scope (a zero scope keeps p's), and it
// dies with its parent token (when the tokens file drops or changes it) and when secret_key changes. A
// token minted from a minted one keeps its parent and never outlives it.
func (k *Keyring) Mint(p *Principal, role commands.Role, scope commands.Scope, ttl time.Duration, now time.Time) (token string, minted *Principal, err error) {
	if !k.keyConfigured {
		return "", nil, errNoSecretKey
	}
	maxTTL := k.MaxTokenTTL
	if maxTTL <= 0 {
		maxTTL = DefaultMaxTokenTTL
	}
	if ttl < MinTokenTTL || ttl > maxTTL {
		return "", nil, commands.Errorf(commands.EINVALID, "ttl %s is out of range: a minted token lives from %s to %s ([auth] max_token_ttl)", ttl, MinTokenTTL, maxTTL)
	}
	if role > p.Role {
		return "", nil, commands.Errorf(commands.EFORBIDDEN, "a token of role %s cannot mint one of role %s: ask for %s or lower", p.Role, role, p.Role)
	}
	if scope, err = p.Scope.Narrow(scope); err != nil {
		return "", nil, err
	}
	parent := p.Name
	if p.Parent != "" {
		parent = p.Parent
	}
	t := k.byName(parent)
	if t == nil {
		return "", nil, commands.Errorf(commands.EFORBIDDEN, "only a token of the gateway's configuration, or one minted from it, may mint tokens; these credentials (%s) may not", p.Name)
	}
	expires := now.Add(ttl)
	if !p.Expires.IsZero() && p.Expires.Before(expires) {
		expires = p.Expires
	}
	nonce := make([]byte, 9)
	rand.Read(nonce)
	claims := mintedClaims{Parent: parent, ParentFP: hex.EncodeToString(t.sum[:8]), Role: int(role), Expires: expires.Unix(),
		Nonce: base64.RawURLEncoding.EncodeToString(nonce), DAGs: scope.DAGs(), Tags: scope.Tags(), Teams: scope.Teams()}
	payload, _ := json.Marshal(claims)
	token = mintedPrefix + base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(k.mac("minted token", payload))
	return token, k.mintedPrincipal(claims, now), nil
}

// parseMinted reads a minted token's claims, when its signature under the current key holds.
func (k *Keyring) parseMinted(token string) (mintedClaims, error) {
	var claims mintedClaims
	rest, ok := strings.CutPrefix(token, mintedPrefix)
	if !ok || len(token) > maxMintedToken {
		return claims, errors.New("not a minted token")
	}
	enc, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return claims, errors.New("no signature")
	}
	payload, err1 := unbase64(enc)
	mac, err2 := unbase64(sig)
	if err1 != nil || err2 != nil || !k.keyConfigured || !hmac.Equal(mac, k.mac("minted token", payload)) {
		return claims, errors.New("bad signature")
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return claims, err
	}
	return claims, nil
}

// identifyMinted returns the principal of a minted token, or nil when it is forged, expired, or its
// parent token is gone or changed.
func (k *Keyring) identifyMinted(token string, now time.Time) *Principal {
	claims, err := k.parseMinted(token)
	if err != nil {
		return nil
	}
	return k.mintedPrincipal(claims, now)
}

// mintedPrincipal returns who a minted token's claims stand for, while they hold: unexpired, and their
// parent token still the one they were minted from. Its role is at most the parent's role now, and its
// scope within the parent's scope now: when the tokens file narrows the parent's scope below the token's,
// the token stops.
func (k *Keyring) mintedPrincipal(claims mintedClaims, now time.Time) *Principal {
	if now.Unix() >= claims.Expires || claims.Role < int(commands.RoleViewer) || claims.Role > int(commands.RoleAdmin) {
		return nil
	}
	t := k.byName(claims.Parent)
	if t == nil || subtle.ConstantTimeCompare([]byte(hex.EncodeToString(t.sum[:8])), []byte(claims.ParentFP)) != 1 {
		return nil
	}
	scope, err := claims.scope()
	if err != nil {
		return nil
	}
	if scope, err = t.principal.Scope.Narrow(scope); err != nil {
		return nil
	}
	return &Principal{Name: claims.Parent + mintedSuffix, Role: min(commands.Role(claims.Role), t.principal.Role),
		Scope: scope, AirflowUser: t.principal.AirflowUser, Parent: claims.Parent, Expires: time.Unix(claims.Expires, 0)}
}

// byName returns the configured token of that name, or nil.
func (k *Keyring) byName(name string) *namedToken {
	tokens := k.list()
	for i := range tokens {
		if tokens[i].principal.Name == name {
			return &tokens[i]
		}
	}
	return nil
}

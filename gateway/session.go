package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// sessionCookie is the name of the browser session's cookie, as the managed-service clients replay it.
const sessionCookie = "session"

// sessionTTL is how long a session lasts after login.
const sessionTTL = 12 * time.Hour

// sessionClaims is what a session cookie holds: whose token it stands for (name and the start of the
// token's SHA-256, so that a removed or changed token ends its sessions) and until when.
type sessionClaims struct {
	Name    string `json:"n"`
	Token   string `json:"t"` // hex of the first 8 bytes of the token's SHA-256
	Expires int64  `json:"e"` // Unix seconds
	// Minted holds the claims of the minted token the session was made from: it ends with them.
	Minted *mintedClaims `json:"m,omitempty"`
}

// SignSessions sets the key that signs session cookies and CSRF tokens (secret_key; when empty, the
// random key of NewKeyring stays), and whether cookies are marked Secure (under TLS).
func (k *Keyring) SignSessions(key []byte, secure bool) {
	if len(key) > 0 {
		k.sessionKey = key
		k.keyConfigured = true
	}
	k.secureCookie = secure
}

// login checks a token and, when it is valid, returns the session cookie standing for it.
func (k *Keyring) login(token string, now time.Time) (*http.Cookie, *Principal) {
	p, sum := k.identifyToken(token)
	if p == nil {
		return nil, nil
	}
	claims := sessionClaims{Name: p.Name, Token: hex.EncodeToString(sum[:8]), Expires: now.Add(sessionTTL).Unix()}
	if p.Parent != "" {
		minted, _ := k.parseMinted(token)
		claims.Minted = &minted
		claims.Expires = min(claims.Expires, minted.Expires)
	}
	payload, _ := json.Marshal(claims)
	return k.sessionCookieOf(base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(k.sign(payload))), p
}

// sessionCookieOf returns the session cookie holding value.
func (k *Keyring) sessionCookieOf(value string) *http.Cookie {
	return &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: k.secureCookie,
	}
}

// logoutCookie clears the session cookie.
func (k *Keyring) logoutCookie() *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: k.secureCookie}
}

// sign returns the MAC of a session cookie's payload.
func (k *Keyring) sign(payload []byte) []byte { return k.mac("session", payload) }

// mac returns the HMAC-SHA256 of data with the session key, for one purpose: a MAC made for one purpose
// (a session cookie) is never valid for another (a CSRF token).
func (k *Keyring) mac(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, k.sessionKey)
	m.Write([]byte("airflow-gateway " + purpose + " v1\n"))
	m.Write(data)
	return m.Sum(nil)
}

// fromSession returns the principal of a request's session cookie, or nil when it has none, or one that
// is forged, expired, or stands for a token the gateway no longer accepts.
func (k *Keyring) fromSession(r *http.Request, now time.Time) *Principal {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) > 1024 {
		return nil
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	payload, err1 := unbase64(enc)
	mac, err2 := unbase64(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, k.sign(payload)) {
		return nil
	}
	var claims sessionClaims
	if json.Unmarshal(payload, &claims) != nil || now.Unix() >= claims.Expires {
		return nil
	}
	if claims.Minted != nil {
		return k.mintedPrincipal(*claims.Minted, now)
	}
	var found *Principal
	tokens := k.list()
	for i := range tokens {
		t := &tokens[i]
		if t.principal.Name == claims.Name && subtle.ConstantTimeCompare([]byte(hex.EncodeToString(t.sum[:8])), []byte(claims.Token)) == 1 {
			found = &t.principal
		}
	}
	return found
}

// unbase64 decodes unpadded base64url in its one canonical form. Go's decoder skips line breaks, so that a
// signed value with one inside would otherwise read as the value itself: another string, same signature.
func unbase64(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err == nil && base64.RawURLEncoding.EncodedLen(len(b)) != len(s) {
		return nil, errors.New("not canonical base64url")
	}
	return b, err
}

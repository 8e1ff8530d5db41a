package gateway_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
)

// mint asks srv for a token with the caller's bearer token and the JSON body, and returns the status and
// the answer.
func mint(tb testing.TB, srv *httptest.Server, caller, body string) (int, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/tokens", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+caller)
	req.Header.Set("Content-Type", "application/json")
	resp, doc := do(tb, req)
	return resp.StatusCode, doc
}

// mustMint mints a token and fails tb unless it was minted.
func mustMint(tb testing.TB, srv *httptest.Server, caller, body string) string {
	tb.Helper()
	status, doc := mint(tb, srv, caller, body)
	if status != http.StatusCreated {
		tb.Fatalf("mint %s: %d %v", body, status, doc)
	}
	return doc["token"].(string)
}

// statusWith sends GET path with the bearer token and returns the status.
func statusWith(tb testing.TB, srv *httptest.Server, path, bearerToken string) int {
	tb.Helper()
	resp, _ := get(tb, srv, path, "Authorization", "Bearer "+bearerToken)
	return resp.StatusCode
}

func TestMintedTokenWorksWhereATokenDoes(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "3.3.2\n"}}
	srv := mustServer(t, ex, commands.Options{})
	status, doc := mint(t, srv, roleToken(commands.RoleOp), `{"ttl": "60s", "role": "Viewer"}`)
	if status != http.StatusCreated || doc["name"] != "op/minted" || doc["role"] != "Viewer" {
		t.Fatalf("mint: %d %v", status, doc)
	}
	minted := doc["token"].(string)
	expires, err := time.Parse(time.RFC3339, doc["expires_at"].(string))
	if err != nil || time.Until(expires) > 61*time.Second || time.Until(expires) < 50*time.Second {
		t.Errorf("expires_at %v (%v), want a minute from now", doc["expires_at"], err)
	}
	if want := srv.URL + "/login?token=" + url.QueryEscape(minted); doc["login_url"] != want {
		t.Errorf("login_url %v, want %s", doc["login_url"], want)
	}

	// As a bearer token, with its name passed to Airflow's audit log.
	if s := statusWith(t, srv, "/api/v1/command?command=version", minted); s != http.StatusOK {
		t.Errorf("bearer: %d", s)
	}
	if got := ex.lastCaller.Load(); got != "op/minted" {
		t.Errorf("the command ran as %v, want op/minted", got)
	}
	// Its role is Viewer, not its parent's Op.
	if s := statusWith(t, srv, "/api/v1/command?command=variables%20list", minted); s != http.StatusForbidden {
		t.Errorf("a Viewer token ran variables list: %d", s)
	}
	// In the plugin's header.
	if resp, env := get(t, srv, "/admin/rest_api/api?api=list_dags", "rest_api_plugin_http_token", minted); resp.StatusCode != http.StatusOK {
		t.Errorf("plugin header: %d %v", resp.StatusCode, env)
	}
	// On the MWAA endpoint.
	if status, _ := mwaa(t, srv, minted, "version"); status != http.StatusOK {
		t.Errorf("MWAA: %d", status)
	}
	// As a login link: the session works, and says who it is.
	cookie := login(t, srv, minted)
	if status, body := withCookie(t, http.MethodGet, srv.URL+"/api/v1/command?command=version", cookie); status != http.StatusOK {
		t.Errorf("session from a minted token: %d %s", status, body)
	}
}

func TestMintingIsBounded(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	for _, tt := range []struct {
		caller, body string
		status       int
		says         string
	}{
		{viewerToken, `{"role": "Op"}`, http.StatusForbidden, "cannot mint one of role Op"},
		{roleToken(commands.RoleUser), `{"role": "Admin"}`, http.StatusForbidden, "cannot mint"},
		{token, `{"ttl": "5s"}`, http.StatusBadRequest, "from 10s to 12h0m0s"},
		{token, `{"ttl": "13h"}`, http.StatusBadRequest, "max_token_ttl"},
		{token, `{"ttl": "soon"}`, http.StatusBadRequest, "not a duration"},
		{token, `{"role": "Root"}`, http.StatusBadRequest, "not one of Viewer"},
		{token, `{"ttl": "1h", "owner": "someone"}`, http.StatusBadRequest, "cannot be read"},
		{token, `[]`, http.StatusBadRequest, "cannot be read"},
		{"", `{}`, http.StatusUnauthorized, "valid token"},
	} {
		status, doc := mint(t, srv, tt.caller, tt.body)
		if status != tt.status || !strings.Contains(doc["detail"].(string), tt.says) {
			t.Errorf("%s as %q: %d %v, want %d saying %q", tt.body, tt.caller, status, doc["detail"], tt.status, tt.says)
		}
	}
	// A Viewer may mint a Viewer token; a minted token may mint, but never outlives itself.
	viewer := mustMint(t, srv, viewerToken, `{"ttl": "30s"}`)
	status, doc := mint(t, srv, viewer, `{"ttl": "2h"}`)
	if status != http.StatusCreated || doc["name"] != "viewer/minted" {
		t.Fatalf("mint from a minted token: %d %v", status, doc)
	}
	if expires, _ := time.Parse(time.RFC3339, doc["expires_at"].(string)); time.Until(expires) > 31*time.Second {
		t.Errorf("a token minted from a 30-second one expires at %v", expires)
	}
}

func TestMintingNeedsASecretKey(t *testing.T) {
	creds := gateway.NewKeyring("rest_api_plugin_http_token")
	creds.AddToken("ci", sha256.Sum256([]byte(token)), commands.RoleAdmin)
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(creds))
	status, doc := mint(t, srv, token, `{}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(doc["detail"].(string), "[gateway] secret_key") {
		t.Errorf("mint without secret_key: %d %v", status, doc)
	}
}

// forgeries returns tokens made from a real minted token that no gateway signed.
func forgeries(minted string) map[string]string {
	body, sig, _ := strings.Cut(strings.TrimPrefix(minted, "agw1."), ".")
	claims, _ := base64.RawURLEncoding.DecodeString(body)
	var c map[string]any
	_ = json.Unmarshal(claims, &c)
	c["r"] = float64(commands.RoleAdmin)
	raised, _ := json.Marshal(c)
	c["r"], c["e"] = float64(commands.RoleViewer), float64(time.Now().Add(240*time.Hour).Unix())
	longer, _ := json.Marshal(c)
	flipped := []byte(sig)
	flipped[3] ^= 1
	return map[string]string{
		"role raised":         "agw1." + base64.RawURLEncoding.EncodeToString(raised) + "." + sig,
		"expiry moved":        "agw1." + base64.RawURLEncoding.EncodeToString(longer) + "." + sig,
		"signature changed":   "agw1." + body + "." + string(flipped),
		"truncated":           minted[:len(minted)-4],
		"no signature":        "agw1." + body,
		"another version":     "agw2." + body + "." + sig,
		"signature only":      "agw1.." + sig,
		"claims in the clear": "agw1." + string(claims) + "." + sig,
	}
}

func TestForgedExpiredAndRevokedMintedTokens(t *testing.T) {
	creds := gateway.NewKeyring("rest_api_plugin_http_token")
	creds.AddToken("ci", sha256.Sum256([]byte(token)), commands.RoleAdmin)
	creds.AddToken("viewer", sha256.Sum256([]byte(viewerToken)), commands.RoleViewer)
	creds.SignSessions([]byte("test-session-key-0123456789"), false)
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(creds),
		withOptions(func(o *gateway.Options) { o.FailedAuthBurst = 100 })) // every refusal below counts
	const target = "/api/v1/command?command=version"

	minted := mustMint(t, srv, viewerToken, `{"ttl": "1h"}`)
	for name, forged := range forgeries(minted) {
		if s := statusWith(t, srv, target, forged); s != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, s)
		}
	}

	// Expired: minted 20 s ago for 10 s.
	old, _, err := creds.Mint(&gateway.Principal{Name: "ci", Role: commands.RoleAdmin}, commands.RoleViewer, 10*time.Second, time.Now().Add(-20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if s := statusWith(t, srv, target, old); s != http.StatusUnauthorized {
		t.Errorf("expired: %d", s)
	}

	// Another secret_key, as after a change of it: the token is not accepted.
	other := gateway.NewKeyring("rest_api_plugin_http_token")
	other.AddToken("viewer", sha256.Sum256([]byte(viewerToken)), commands.RoleViewer)
	other.SignSessions([]byte("another-secret-key-0123456789"), false)
	if s := statusWith(t, mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(other)), target, minted); s != http.StatusUnauthorized {
		t.Errorf("with another secret_key: %d", s)
	}
	// The same secret_key and tokens, as on another replica: accepted.
	replica := gateway.NewKeyring("rest_api_plugin_http_token")
	replica.AddToken("viewer", sha256.Sum256([]byte(viewerToken)), commands.RoleViewer)
	replica.SignSessions([]byte("test-session-key-0123456789"), false)
	if s := statusWith(t, mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(replica)), target, minted); s != http.StatusOK {
		t.Errorf("on a replica with the same secret_key: %d", s)
	}

	// Its parent changed, then removed: the token and its session die at once.
	cookie := login(t, srv, minted)
	if err := creds.SetTokens([]gateway.Token{{Name: "ci", Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(token))},
		{Name: "viewer", Role: commands.RoleViewer, SHA256: sha256.Sum256([]byte("a-new-viewer-token-0123456789"))}}); err != nil {
		t.Fatal(err)
	}
	if s := statusWith(t, srv, target, minted); s != http.StatusUnauthorized {
		t.Errorf("after its parent changed: %d", s)
	}
	if status, _ := withCookie(t, http.MethodGet, srv.URL+target, cookie); status != http.StatusUnauthorized {
		t.Errorf("its session after its parent changed: %d", status)
	}
	ofCI := mustMint(t, srv, token, `{"role": "User"}`)
	if err := creds.SetTokens([]gateway.Token{{Name: "viewer", Role: commands.RoleViewer, SHA256: sha256.Sum256([]byte(viewerToken))}}); err != nil {
		t.Fatal(err)
	}
	if s := statusWith(t, srv, target, ofCI); s != http.StatusUnauthorized {
		t.Errorf("after its parent was removed: %d", s)
	}
}

func TestBadMintedTokensCountAsFailedAuthentications(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{}, withOptions(func(o *gateway.Options) { o.FailedAuthBurst = 3 }))
	forged := forgeries(mustMint(t, srv, token, `{}`))["role raised"]
	var last int
	for range 5 {
		last = statusWith(t, srv, "/api/v1/command?command=version", forged)
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("after 5 forged minted tokens: %d, want 429", last)
	}
}

// BenchmarkVerifyMintedToken measures what a request with a minted token costs its authentication.
func BenchmarkVerifyMintedToken(b *testing.B) {
	creds := gateway.NewKeyring("rest_api_plugin_http_token")
	for i := range 20 {
		creds.AddToken("token"+string(rune('a'+i)), sha256.Sum256([]byte{byte(i)}), commands.RoleOp)
	}
	creds.SignSessions([]byte("bench-secret-key-0123456789"), false)
	minted, _, err := creds.Mint(&gateway.Principal{Name: "tokent", Role: commands.RoleOp}, commands.RoleViewer, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+minted)
	b.ReportAllocs()
	for b.Loop() {
		if p, _ := creds.Identify(r); p == nil {
			b.Fatal("not identified")
		}
	}
}

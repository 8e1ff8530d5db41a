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

func TestMintedTokenWorksWhereATokenDoes(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "3.3.2\n"}}
	srv := mustServer(t, ex, commands.Options{})
	var doc map[string]any
	a := client(srv).As(roleToken(commands.RoleOp)).Do(t, http.MethodPost, "/api/v1/tokens", strings.NewReader(`{"ttl": "60s", "role": "Viewer"}`), asJSON...).Decode(t, &doc)
	if a.Status != http.StatusCreated || doc["name"] != "op/minted" || doc["role"] != "Viewer" {
		t.Fatalf("mint: %d %v", a.Status, doc)
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
	asMinted := client(srv).As(minted)
	if a := asMinted.Get(t, "/api/v1/command?command=version"); a.Status != http.StatusOK {
		t.Errorf("bearer: %d", a.Status)
	}
	if got := ex.lastCaller.Load(); got != "op/minted" {
		t.Errorf("the command ran as %v, want op/minted", got)
	}
	// Its role is Viewer, not its parent's Op.
	if a := asMinted.Get(t, "/api/v1/command?command=variables%20list"); a.Status != http.StatusForbidden {
		t.Errorf("a Viewer token ran variables list: %d", a.Status)
	}
	// In the plugin's header.
	if a := asMinted.Plugin().Get(t, pluginAPI+"api=list_dags"); a.Status != http.StatusOK {
		t.Errorf("plugin header: %d %s", a.Status, a.Body)
	}
	// On the MWAA endpoint.
	if status, _ := mwaa(t, asMinted, "version"); status != http.StatusOK {
		t.Errorf("MWAA: %d", status)
	}
	// As a login link: the session works, and says who it is.
	if a := login(t, srv, minted).Get(t, "/api/v1/command?command=version"); a.Status != http.StatusOK {
		t.Errorf("session from a minted token: %d %s", a.Status, a.Body)
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
		var doc map[string]any
		a := client(srv).As(tt.caller).Do(t, http.MethodPost, "/api/v1/tokens", strings.NewReader(tt.body), asJSON...).Decode(t, &doc)
		if a.Status != tt.status || !strings.Contains(doc["detail"].(string), tt.says) {
			t.Errorf("%s as %q: %d %v, want %d saying %q", tt.body, tt.caller, a.Status, doc["detail"], tt.status, tt.says)
		}
	}
	// A Viewer may mint a Viewer token; a minted token may mint, but never outlives itself.
	viewer := client(srv).As(viewerToken).Mint(t, "30s", "").Token
	var doc map[string]any
	a := client(srv).As(viewer).Do(t, http.MethodPost, "/api/v1/tokens", strings.NewReader(`{"ttl": "2h"}`), asJSON...).Decode(t, &doc)
	if a.Status != http.StatusCreated || doc["name"] != "viewer/minted" {
		t.Fatalf("mint from a minted token: %d %v", a.Status, doc)
	}
	if expires, _ := time.Parse(time.RFC3339, doc["expires_at"].(string)); time.Until(expires) > 31*time.Second {
		t.Errorf("a token minted from a 30-second one expires at %v", expires)
	}
}

func TestMintingNeedsASecretKey(t *testing.T) {
	creds := gateway.NewKeyring("rest_api_plugin_http_token")
	creds.AddToken("ci", sha256.Sum256([]byte(token)), commands.RoleAdmin)
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(creds))
	var doc map[string]any
	a := client(srv).Do(t, http.MethodPost, "/api/v1/tokens", strings.NewReader(`{}`), asJSON...).Decode(t, &doc)
	if a.Status != http.StatusServiceUnavailable || !strings.Contains(doc["detail"].(string), "[gateway] secret_key") {
		t.Errorf("mint without secret_key: %d %v", a.Status, doc)
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
	status := func(srv *httptest.Server, tok string) int { return client(srv).As(tok).Get(t, target).Status }

	minted := client(srv).As(viewerToken).Mint(t, "1h", "").Token
	for name, forged := range forgeries(minted) {
		if s := status(srv, forged); s != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, s)
		}
	}

	// Expired: minted 20 s ago for 10 s.
	old, _, err := creds.Mint(&gateway.Principal{Name: "ci", Role: commands.RoleAdmin}, commands.RoleViewer, commands.Scope{}, 10*time.Second, time.Now().Add(-20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if s := status(srv, old); s != http.StatusUnauthorized {
		t.Errorf("expired: %d", s)
	}

	// Another secret_key, as after a change of it: the token is not accepted.
	other := gateway.NewKeyring("rest_api_plugin_http_token")
	other.AddToken("viewer", sha256.Sum256([]byte(viewerToken)), commands.RoleViewer)
	other.SignSessions([]byte("another-secret-key-0123456789"), false)
	if s := status(mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(other)), minted); s != http.StatusUnauthorized {
		t.Errorf("with another secret_key: %d", s)
	}
	// The same secret_key and tokens, as on another replica: accepted.
	replica := gateway.NewKeyring("rest_api_plugin_http_token")
	replica.AddToken("viewer", sha256.Sum256([]byte(viewerToken)), commands.RoleViewer)
	replica.SignSessions([]byte("test-session-key-0123456789"), false)
	if s := status(mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(replica)), minted); s != http.StatusOK {
		t.Errorf("on a replica with the same secret_key: %d", s)
	}

	// Its parent changed, then removed: the token and its session die at once.
	session := login(t, srv, minted)
	if err := creds.SetTokens([]gateway.Token{{Name: "ci", Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(token))},
		{Name: "viewer", Role: commands.RoleViewer, SHA256: sha256.Sum256([]byte("a-new-viewer-token-0123456789"))}}); err != nil {
		t.Fatal(err)
	}
	if s := status(srv, minted); s != http.StatusUnauthorized {
		t.Errorf("after its parent changed: %d", s)
	}
	if a := session.Get(t, target); a.Status != http.StatusUnauthorized {
		t.Errorf("its session after its parent changed: %d", a.Status)
	}
	ofCI := client(srv).Mint(t, "", "User").Token
	if err := creds.SetTokens([]gateway.Token{{Name: "viewer", Role: commands.RoleViewer, SHA256: sha256.Sum256([]byte(viewerToken))}}); err != nil {
		t.Fatal(err)
	}
	if s := status(srv, ofCI); s != http.StatusUnauthorized {
		t.Errorf("after its parent was removed: %d", s)
	}
}

func TestBadMintedTokensCountAsFailedAuthentications(t *testing.T) {
	admin := client(mustServer(t, &scriptedExecutor{}, commands.Options{}, withOptions(func(o *gateway.Options) { o.FailedAuthBurst = 3 })))
	forged := admin.As(forgeries(admin.Mint(t, "", "").Token)["role raised"])
	var last int
	for range 5 {
		last = forged.Get(t, "/api/v1/command?command=version").Status
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
	minted, _, err := creds.Mint(&gateway.Principal{Name: "tokent", Role: commands.RoleOp}, commands.RoleViewer, commands.Scope{}, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "/", nil) // never sent: Identify reads its header
	r.Header.Set("Authorization", "Bearer "+minted)
	b.ReportAllocs()
	for b.Loop() {
		if p, _ := creds.Identify(r); p == nil {
			b.Fatal("not identified")
		}
	}
}

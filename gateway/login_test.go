package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// login logs in with token through GET /login?token=, checks the answer and the session cookie's flags,
// and returns a client of srv with the session cookie and no token. It does not follow redirects: a test of
// the pages sees where they send a browser.
func login(tb testing.TB, srv *httptest.Server, token string) *testbed.Client {
	tb.Helper()
	a := client(srv).As("").NoRedirects().Get(tb, "/login?token="+url.QueryEscape(token))
	if a.Status != http.StatusFound || a.Header.Get("Location") != "/admin/rest_api/" {
		tb.Fatalf("login: %d to %q", a.Status, a.Header.Get("Location"))
	}
	for _, c := range a.Cookies() {
		if c.Name == "session" {
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
				tb.Errorf("cookie flags: HttpOnly %v SameSite %v Secure %v", c.HttpOnly, c.SameSite, c.Secure)
			}
			return (&testbed.Client{URL: srv.URL, Cookie: c}).NoRedirects()
		}
	}
	tb.Fatal("login set no session cookie")
	return nil
}

func TestLoginSessionAndLogout(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "3.3.2\n"}}
	srv := mustServer(t, ex, commands.Options{})
	session := login(t, srv, token)
	if strings.Contains(session.Cookie.Value, token) {
		t.Errorf("the cookie holds the token")
	}
	// Replayed from outside a browser, as the managed-service examples do with curl -b.
	if a := session.Do(t, "POST", "/api/v1/command?command=version", nil); a.Status != 200 || !strings.Contains(string(a.Body), "3.3.2") {
		t.Errorf("POST with the cookie: %d %s", a.Status, a.Body)
	}
	if a := session.Get(t, "/admin/rest_api/api?api=variables"); a.Status != 200 {
		t.Errorf("plugin GET with the cookie: %d", a.Status)
	}
	// A tampered cookie is no session.
	forged := *session.Cookie
	forged.Value = "x" + forged.Value[1:]
	if a := (&testbed.Client{URL: srv.URL, Cookie: &forged}).Get(t, "/api/v1/command?command=version"); a.Status != 401 {
		t.Errorf("forged cookie: %d", a.Status)
	}
	// The login form's POST works too; a wrong token is refused with the form again.
	anonymous := client(srv).As("").NoRedirects()
	if a := anonymous.Do(t, "POST", "/login", strings.NewReader(url.Values{"token": {token}}.Encode()), asForm...); a.Status != http.StatusFound {
		t.Errorf("POST /login: %d", a.Status)
	}
	a := anonymous.Do(t, "POST", "/login", strings.NewReader(url.Values{"token": {"wrong"}}.Encode()), asForm...)
	if a.Status != 401 || !strings.Contains(string(a.Body), "not valid") || !strings.Contains(string(a.Body), "<form") {
		t.Errorf("wrong token: %d %s", a.Status, a.Body)
	}
	// A multipart form works as well; an oversized form is refused in words, and sets no cookie.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	w.WriteField("token", token)
	w.Close()
	if a := anonymous.Do(t, "POST", "/login", &mp, "Content-Type", w.FormDataContentType()); a.Status != http.StatusFound || len(a.Cookies()) != 1 {
		t.Errorf("multipart POST /login: %d", a.Status)
	}
	a = anonymous.Do(t, "POST", "/login", strings.NewReader("token="+strings.Repeat("x", 20<<10)), asForm...)
	if a.Status != 400 || !strings.Contains(string(a.Body), "at most 16384 bytes") || len(a.Cookies()) != 0 {
		t.Errorf("oversized login form: %d %s", a.Status, a.Body)
	}
	// Logging out clears the cookie.
	a = anonymous.Get(t, "/logout")
	if c := a.Cookies(); a.Status != http.StatusFound || len(c) != 1 || c[0].Name != "session" || c[0].MaxAge >= 0 {
		t.Errorf("logout: %d %v", a.Status, c)
	}
}

func TestCrossSiteUseOfTheCookieIsRefused(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{})
	session := login(t, srv, token)
	evil := []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}
	for _, target := range []string{"/api/v1/command?command=dags%20pause%20gw_conf", "/admin/rest_api/api?api=pause&dag_id=gw_conf"} {
		if a := session.Do(t, "POST", target, nil, evil...); a.Status != 403 || !strings.Contains(string(a.Body), "another site") {
			t.Errorf("cross-site POST %s: %d %s", target, a.Status, a.Body)
		}
		if a := session.Get(t, target, "Sec-Fetch-Site", "cross-site"); a.Status != 403 || !strings.Contains(string(a.Body), "read-only") {
			t.Errorf("cross-site GET %s: %d %s", target, a.Status, a.Body)
		}
	}
	if a := session.Do(t, "POST", "/login", nil, evil...); a.Status != 403 {
		t.Errorf("cross-site login POST: %d", a.Status)
	}
	if n := ex.runs.Load(); n != 0 {
		t.Errorf("%d commands ran for cross-site requests", n)
	}
	// Read-only commands may be linked from anywhere; the same state change from the gateway's own pages runs.
	if a := session.Get(t, "/api/v1/command?command=dags%20list", "Sec-Fetch-Site", "cross-site"); a.Status != 200 {
		t.Errorf("cross-site GET of a read-only command: %d", a.Status)
	}
	if a := session.Get(t, "/admin/rest_api/api?api=pause&dag_id=gw_conf", "Sec-Fetch-Site", "same-origin"); a.Status != 200 {
		t.Errorf("same-origin GET: %d", a.Status)
	}
	// A token in a header is not a cookie: a cross-site GET with a token is the caller's own doing.
	if a := client(srv).Get(t, "/api/v1/command?command=dags%20pause%20gw_conf", "Sec-Fetch-Site", "cross-site"); a.Status != 200 {
		t.Errorf("cross-site GET with a token: %d", a.Status)
	}
}

func TestViewerSessionCannotRunAbove(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	session := login(t, srv, viewerToken)
	if a := session.Do(t, "POST", "/admin/rest_api/api?api=trigger_dag&dag_id=gw_conf", nil); a.Status != 403 || !strings.Contains(string(a.Body), "needs role User") {
		t.Errorf("Viewer trigger_dag: %d %s", a.Status, a.Body)
	}
	if a := session.Do(t, "POST", "/api/v1/command?command=dags%20list", nil); a.Status != 200 {
		t.Errorf("Viewer dags list: %d", a.Status)
	}
}

func TestSetTokensReplacesTheWholeSet(t *testing.T) {
	creds := gateway.NewKeyring("rest_api_plugin_http_token")
	creds.AddToken("old", sha256.Sum256([]byte("old-token-0123456789")), commands.RoleAdmin)
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(creds))
	status := func(tok string) int { return client(srv).As(tok).Get(t, "/api/v1/commands").Status }
	if err := creds.SetTokens([]gateway.Token{{Name: "new", Role: commands.RoleViewer, SHA256: sha256.Sum256([]byte("new-token-0123456789"))}}); err != nil {
		t.Fatal(err)
	}
	if status("new-token-0123456789") != 200 || status("old-token-0123456789") != 401 {
		t.Errorf("after SetTokens: new %d, old %d", status("new-token-0123456789"), status("old-token-0123456789"))
	}
	if err := creds.SetTokens(nil); err == nil || creds.Open() {
		t.Errorf("an empty set was taken (%v): the gateway would let every request in", err)
	}
	if status("new-token-0123456789") != 200 {
		t.Error("a refused empty set changed the tokens")
	}
}

// TestLoginTokensStayOutOfLogsAndReferers logs in with tokens in query strings, and sends tokens in the
// query strings of other endpoints: no line of the access log or the audit log, in text or in JSON, holds
// one; the login answers forbid a Referer and any cache; and the login sends nowhere but the admin page.
func TestLoginTokensStayOutOfLogsAndReferers(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var logged bytes.Buffer
			var handler slog.Handler = slog.NewTextHandler(&logged, nil)
			if format == "json" {
				handler = slog.NewJSONHandler(&logged, nil)
			}
			anonymous := client(mustServer(t, &scriptedExecutor{}, commands.Options{}, withLog(handler))).As("").NoRedirects()
			const wrong = "not-a-token-but-secret-looking"
			for _, target := range []string{
				"/login?token=" + token,
				"/login?token=" + wrong,
				"/login?token=" + token + "&next=https://evil.example/&redirect=//evil.example",
				"/aws_mwaa/aws-console-sso?login=true&token=" + token,
				"/api/v1/command?command=version&token=" + token,
				"/admin/rest_api/api?api=version&rest_api_plugin_http_token=" + token,
				"/no/such/page?token=" + token,
			} {
				a := anonymous.Get(t, target)
				path, _, _ := strings.Cut(target, "?")
				if path == "/login" || path == "/aws_mwaa/aws-console-sso" {
					if a.Header.Get("Referrer-Policy") != "no-referrer" || a.Header.Get("Cache-Control") != "no-store" {
						t.Errorf("%s: Referrer-Policy %q, Cache-Control %q", target, a.Header.Get("Referrer-Policy"), a.Header.Get("Cache-Control"))
					}
				}
				if loc := a.Header.Get("Location"); loc != "" && loc != "/admin/rest_api/" {
					t.Errorf("%s sent the browser to %q", target, loc)
				}
			}
			if strings.Contains(logged.String(), token) || strings.Contains(logged.String(), wrong) || !strings.Contains(logged.String(), "/login") {
				t.Errorf("the log holds a token, or no login:\n%s", logged.String())
			}
		})
	}
}

package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
)

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// login logs in with token through GET /login?token= and returns the session cookie.
func login(tb testing.TB, srv *httptest.Server, token string) *http.Cookie {
	tb.Helper()
	resp, err := noRedirects.Get(srv.URL + "/login?token=" + url.QueryEscape(token))
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/admin/rest_api/" {
		tb.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
				tb.Errorf("cookie flags: HttpOnly %v SameSite %v Secure %v", c.HttpOnly, c.SameSite, c.Secure)
			}
			return c
		}
	}
	tb.Fatal("login set no session cookie")
	return nil
}

// withCookie sends a request carrying only the session cookie, plus headers.
func withCookie(tb testing.TB, method, target string, cookie *http.Cookie, header ...string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(method, target, nil)
	req.AddCookie(cookie)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestLoginSessionAndLogout(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "3.3.2\n"}}
	srv := mustServer(t, ex, commands.Options{})
	cookie := login(t, srv, token)
	if strings.Contains(cookie.Value, token) {
		t.Errorf("the cookie holds the token")
	}
	// Replayed from outside a browser, as the managed-service examples do with curl -b.
	if status, body := withCookie(t, "POST", srv.URL+"/api/v1/command?command=version", cookie); status != 200 || !strings.Contains(body, "3.3.2") {
		t.Errorf("POST with the cookie: %d %s", status, body)
	}
	if status, _ := withCookie(t, "GET", srv.URL+"/admin/rest_api/api?api=variables", cookie); status != 200 {
		t.Errorf("plugin GET with the cookie: %d", status)
	}
	// A tampered cookie is no session.
	forged := *cookie
	forged.Value = "x" + cookie.Value[1:]
	if status, _ := withCookie(t, "GET", srv.URL+"/api/v1/command?command=version", &forged); status != 401 {
		t.Errorf("forged cookie: %d", status)
	}
	// The login form's POST works too; a wrong token is refused with the form again.
	resp, err := noRedirects.PostForm(srv.URL+"/login", url.Values{"token": {token}})
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Errorf("POST /login: %v %v", resp.StatusCode, err)
	}
	resp, _ = noRedirects.PostForm(srv.URL+"/login", url.Values{"token": {"wrong"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 401 || !strings.Contains(string(body), "not valid") || !strings.Contains(string(body), "<form") {
		t.Errorf("wrong token: %d %s", resp.StatusCode, body)
	}
	// A multipart form works as well; an oversized form is refused in words, and sets no cookie.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	w.WriteField("token", token)
	w.Close()
	resp, err = noRedirects.Post(srv.URL+"/login", w.FormDataContentType(), &mp)
	if err != nil || resp.StatusCode != http.StatusFound || len(resp.Cookies()) != 1 {
		t.Errorf("multipart POST /login: %v %v", resp.StatusCode, err)
	}
	resp, _ = noRedirects.Post(srv.URL+"/login", "application/x-www-form-urlencoded", strings.NewReader("token="+strings.Repeat("x", 20<<10)))
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "at most 16384 bytes") || len(resp.Cookies()) != 0 {
		t.Errorf("oversized login form: %d %s", resp.StatusCode, body)
	}
	// Logging out clears the cookie.
	resp, _ = noRedirects.Get(srv.URL + "/logout")
	if c := resp.Cookies(); resp.StatusCode != http.StatusFound || len(c) != 1 || c[0].Name != "session" || c[0].MaxAge >= 0 {
		t.Errorf("logout: %d %v", resp.StatusCode, c)
	}
}

func TestCrossSiteUseOfTheCookieIsRefused(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{})
	cookie := login(t, srv, token)
	evil := []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}
	for _, target := range []string{"/api/v1/command?command=dags%20pause%20gw_conf", "/admin/rest_api/api?api=pause&dag_id=gw_conf"} {
		if status, body := withCookie(t, "POST", srv.URL+target, cookie, evil...); status != 403 || !strings.Contains(body, "another site") {
			t.Errorf("cross-site POST %s: %d %s", target, status, body)
		}
		if status, body := withCookie(t, "GET", srv.URL+target, cookie, "Sec-Fetch-Site", "cross-site"); status != 403 || !strings.Contains(body, "read-only") {
			t.Errorf("cross-site GET %s: %d %s", target, status, body)
		}
	}
	if status, _ := withCookie(t, "POST", srv.URL+"/login", cookie, evil...); status != 403 {
		t.Errorf("cross-site login POST: %d", status)
	}
	if n := ex.runs.Load(); n != 0 {
		t.Errorf("%d commands ran for cross-site requests", n)
	}
	// Read-only commands may be linked from anywhere; the same state change from the gateway's own pages runs.
	if status, _ := withCookie(t, "GET", srv.URL+"/api/v1/command?command=dags%20list", cookie, "Sec-Fetch-Site", "cross-site"); status != 200 {
		t.Errorf("cross-site GET of a read-only command: %d", status)
	}
	if status, _ := withCookie(t, "GET", srv.URL+"/admin/rest_api/api?api=pause&dag_id=gw_conf", cookie, "Sec-Fetch-Site", "same-origin"); status != 200 {
		t.Errorf("same-origin GET: %d", status)
	}
	// A token in a header is not a cookie: a cross-site GET with a token is the caller's own doing.
	if resp, _ := get(t, srv, "/api/v1/command?command=dags%20pause%20gw_conf", "Authorization", "Bearer "+token, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != 200 {
		t.Errorf("cross-site GET with a token: %d", resp.StatusCode)
	}
}

func TestViewerSessionCannotRunAbove(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	cookie := login(t, srv, viewerToken)
	if status, body := withCookie(t, "POST", srv.URL+"/admin/rest_api/api?api=trigger_dag&dag_id=gw_conf", cookie); status != 403 || !strings.Contains(body, "needs role User") {
		t.Errorf("Viewer trigger_dag: %d %s", status, body)
	}
	if status, _ := withCookie(t, "POST", srv.URL+"/api/v1/command?command=dags%20list", cookie); status != 200 {
		t.Errorf("Viewer dags list: %d", status)
	}
}

func TestSetTokensReplacesTheWholeSet(t *testing.T) {
	creds := gateway.NewKeyring("rest_api_plugin_http_token")
	creds.AddToken("old", sha256.Sum256([]byte("old-token-0123456789")), commands.RoleAdmin)
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(creds))
	status := func(tok string) int {
		resp, _ := get(t, srv, "/api/v1/commands", "Authorization", "Bearer "+tok)
		return resp.StatusCode
	}
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
			srv := mustServer(t, &scriptedExecutor{}, commands.Options{}, withLog(handler))
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
				resp, err := noRedirects.Get(srv.URL + target)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				path, _, _ := strings.Cut(target, "?")
				if path == "/login" || path == "/aws_mwaa/aws-console-sso" {
					if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
						t.Errorf("%s: Referrer-Policy %q, Cache-Control %q", target, resp.Header.Get("Referrer-Policy"), resp.Header.Get("Cache-Control"))
					}
				}
				if loc := resp.Header.Get("Location"); loc != "" && loc != "/admin/rest_api/" {
					t.Errorf("%s sent the browser to %q", target, loc)
				}
			}
			if strings.Contains(logged.String(), token) || strings.Contains(logged.String(), wrong) || !strings.Contains(logged.String(), "/login") {
				t.Errorf("the log holds a token, or no login:\n%s", logged.String())
			}
		})
	}
}

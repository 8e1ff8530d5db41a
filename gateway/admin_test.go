package gateway_test

import (
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
)

// adminPage fetches the admin page with a session cookie and returns its status and HTML.
func adminPage(tb testing.TB, srv *httptest.Server, cookie *http.Cookie) (*http.Response, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin/rest_api/", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// pageCSRF returns the CSRF token of the admin page a session sees.
func pageCSRF(tb testing.TB, srv *httptest.Server, cookie *http.Cookie) string {
	tb.Helper()
	_, html := adminPage(tb, srv, cookie)
	m := csrfMeta.FindStringSubmatch(html)
	if m == nil {
		tb.Fatalf("the admin page has no CSRF token:\n%s", html)
	}
	return m[1]
}

func TestAdminPageOffersWhatTheRoleMayRun(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	for _, role := range []commands.Role{commands.RoleViewer, commands.RoleUser, commands.RoleOp, commands.RoleAdmin} {
		t.Run(role.String(), func(t *testing.T) {
			resp, html := adminPage(t, srv, login(t, srv, roleToken(role)))
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Fatalf("%d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
			}
			for _, api := range commands.PluginAPIs() {
				offered := strings.Contains(html, `<form class="api-form" data-api="`+api.Name+`"`)
				if offered != (role >= api.Role) {
					t.Errorf("role %s offered %s (role %s): %v", role, api.Name, api.Role, offered)
				}
			}
			if !strings.Contains(html, `id="role">`+role.String()+`<`) || !strings.Contains(html, `id="airflow-version">3.3.2<`) {
				t.Errorf("the page does not show the role and the Airflow version")
			}
		})
	}
}

func TestAdminPageNeedsASession(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	if resp, _ := adminPage(t, srv, nil); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
		t.Errorf("without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A stale cookie (signed with another key, say before a restart) is dropped on the way to the login.
	stale := &http.Cookie{Name: "session", Value: "e30.c2lnbmF0dXJl"}
	resp, _ := adminPage(t, srv, stale)
	if c := resp.Cookies(); resp.StatusCode != http.StatusFound || len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("stale cookie: %d %v", resp.StatusCode, c)
	}
	for target, want := range map[string]string{"/": "/admin/rest_api/", "/admin/rest_api": "/admin/rest_api/"} {
		resp, err := noRedirects.Get(srv.URL + target)
		if err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Errorf("%s: %v %v", target, resp.StatusCode, err)
		}
	}
}

func TestPageAssetsAreEmbedded(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	for path, ctype := range map[string]string{
		"admin.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml",
	} {
		resp, err := http.Get(srv.URL + "/admin/rest_api/static/" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("%s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	// Paths out of the assets folder, sent as written (Go's client does not clean them), find nothing.
	for _, path := range []string{"../../../etc/passwd", "../templates/admin.html", "%2e%2e/templates/admin.html"} {
		resp, err := http.Get(srv.URL + "/admin/rest_api/static/" + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestBrowserPostsNeedThePagesCSRFToken(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{})
	cookie := login(t, srv, token)
	csrf := pageCSRF(t, srv, cookie)
	viewerCSRF := pageCSRF(t, srv, login(t, srv, viewerToken))
	if csrf == viewerCSRF {
		t.Fatal("two sessions got the same CSRF token")
	}
	// The token is in the page once, for the script: a form submitted without the script must not put it
	// in a URL.
	if _, html := adminPage(t, srv, cookie); strings.Count(html, csrf) != 1 {
		t.Errorf("the page holds its CSRF token %d times, want once (the meta tag)", strings.Count(html, csrf))
	}
	origin := []string{"Origin", srv.URL} // an older browser: Origin of the gateway itself, no Sec-Fetch-Site
	sameOrigin := []string{"Sec-Fetch-Site", "same-origin"}
	for _, target := range []string{"/api/v1/command?command=dags%20pause%20gw_conf", "/admin/rest_api/api?api=pause&dag_id=gw_conf"} {
		for _, browser := range [][]string{origin, sameOrigin} {
			for _, sent := range []string{"", "forged", viewerCSRF} {
				header := append([]string{"X-CSRF-Token", sent}, browser...)
				if status, body := withCookie(t, "POST", srv.URL+target, cookie, header...); status != 403 || !strings.Contains(body, "CSRF token is missing or stale") {
					t.Errorf("%s from a browser (%s) with CSRF token %q: %d %s", target, browser[0], sent, status, body)
				}
			}
			if status, body := withCookie(t, "POST", srv.URL+target, cookie, append([]string{"X-CSRF-Token", csrf}, browser...)...); status != 200 {
				t.Errorf("%s from a browser (%s) with the page's token: %d %s", target, browser[0], status, body)
			}
		}
	}
	if n := ex.runs.Load(); n != 4 {
		t.Errorf("%d commands ran, want the 4 sent with the page's token", n)
	}
	// Outside a browser the cookie needs no CSRF token (curl -b), and a token in a header is not ambient.
	if status, _ := withCookie(t, "POST", srv.URL+"/api/v1/command?command=version", cookie); status != 200 {
		t.Errorf("cookie without browser headers: %d", status)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/command?command=version", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if resp, _ := do(t, req); resp.StatusCode != 200 {
		t.Errorf("a token from a browser without a CSRF token: %d", resp.StatusCode)
	}
}

// On a gateway without tokens every request is let in, so a browser's requests are held to the same
// rules as a session's: another site can neither link to a state change nor post without the page's token.
func TestOpenGatewayHoldsBrowsersToTheCrossSiteRules(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{}, withKeyring(gateway.NewKeyring("rest_api_plugin_http_token")))
	resp, html := adminPage(t, srv, nil)
	if resp.StatusCode != 200 || !strings.Contains(html, "No token is configured") {
		t.Fatalf("open admin page: %d", resp.StatusCode)
	}
	csrf := csrfMeta.FindStringSubmatch(html)[1]
	none := &http.Cookie{Name: "unrelated", Value: "x"}
	if status, body := withCookie(t, "GET", srv.URL+"/admin/rest_api/api?api=pause&dag_id=gw_conf", none, "Sec-Fetch-Site", "cross-site"); status != 403 || !strings.Contains(body, "read-only") {
		t.Errorf("cross-site GET of pause: %d %s", status, body)
	}
	if status, _ := withCookie(t, "GET", srv.URL+"/api/v1/command?command=dags%20list", none, "Sec-Fetch-Site", "cross-site"); status != 200 {
		t.Errorf("cross-site GET of a read: %d", status)
	}
	if status, _ := withCookie(t, "POST", srv.URL+"/api/v1/command?command=version", none, "Sec-Fetch-Site", "same-origin"); status != 403 {
		t.Errorf("same-origin POST without the CSRF token: %d", status)
	}
	if status, _ := withCookie(t, "POST", srv.URL+"/api/v1/command?command=version", none, "Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf); status != 200 {
		t.Errorf("same-origin POST with the CSRF token: %d", status)
	}
	if status, _ := withCookie(t, "POST", srv.URL+"/api/v1/command?command=version", none); status != 200 {
		t.Errorf("POST without browser headers: %d", status)
	}
}

// Only requests that carry credentials count as failed authentications: a browser that opens a page
// before logging in is sent to the login, not locked out.
func TestRequestsWithoutCredentialsAreNotFailures(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	for range 30 {
		if resp, _ := get(t, srv, "/api/v1/command?command=version"); resp.StatusCode != 401 {
			t.Fatalf("no credentials: %d", resp.StatusCode)
		}
		if resp, _ := adminPage(t, srv, nil); resp.StatusCode != http.StatusFound {
			t.Fatalf("admin page without a session: %d", resp.StatusCode)
		}
	}
	status := 0
	for range 11 {
		resp, _ := get(t, srv, "/api/v1/command?command=version", "Authorization", "Bearer wrong")
		status = resp.StatusCode
	}
	if status != http.StatusTooManyRequests {
		t.Errorf("the 11th wrong token: %d", status)
	}
}

// TestNewerAirflowIsWarnedAbout checks that the warning about an Airflow newer than the newest tested is on
// /health and on the admin page.
func TestNewerAirflowIsWarnedAbout(t *testing.T) {
	warning, err := commands.CheckVersion("3.9.0")
	if err != nil || warning == "" {
		t.Fatalf("CheckVersion(3.9.0) = %q, %v; want a warning", warning, err)
	}
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{},
		withInfo(gateway.Info{GatewayVersion: "test", AirflowVersion: "3.9.0", AirflowWarning: warning}))
	resp, err := http.Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var health struct {
		Airflow map[string]string `json:"airflow"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
		t.Fatal(err)
	}
	if health.Airflow["warning"] != warning {
		t.Errorf("/health says %v; want the warning %q", health.Airflow, warning)
	}
	_, html := adminPage(t, srv, login(t, srv, roleToken(commands.RoleViewer)))
	if !strings.Contains(html, `id="airflow-warning">`+template.HTMLEscapeString(warning)) {
		t.Errorf("the admin page does not show the warning %q", warning)
	}
}

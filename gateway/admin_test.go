package gateway_test

import (
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// adminPath is the admin page.
const adminPath = "/admin/rest_api/"

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// pageCSRF returns the CSRF token of the admin page a session sees.
func pageCSRF(tb testing.TB, session *testbed.Client) string {
	tb.Helper()
	html := session.Get(tb, adminPath).Body
	m := csrfMeta.FindStringSubmatch(string(html))
	if m == nil {
		tb.Fatalf("the admin page has no CSRF token:\n%s", html)
	}
	return m[1]
}

func TestAdminPageOffersWhatTheRoleMayRun(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	for _, role := range []commands.Role{commands.RoleViewer, commands.RoleUser, commands.RoleOp, commands.RoleAdmin} {
		t.Run(role.String(), func(t *testing.T) {
			a := login(t, srv, roleToken(role)).Get(t, adminPath)
			html := string(a.Body)
			if a.Status != 200 || !strings.Contains(a.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Fatalf("%d, CSP %q", a.Status, a.Header.Get("Content-Security-Policy"))
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
	anonymous := client(srv).As("").NoRedirects()
	if a := anonymous.Get(t, adminPath); a.Status != http.StatusFound || a.Header.Get("Location") != "/login" {
		t.Errorf("without a session: %d to %q", a.Status, a.Header.Get("Location"))
	}
	// A stale cookie (signed with another key, say before a restart) is dropped on the way to the login.
	stale := &testbed.Client{URL: srv.URL, Cookie: &http.Cookie{Name: "session", Value: "e30.c2lnbmF0dXJl"}}
	a := stale.NoRedirects().Get(t, adminPath)
	if c := a.Cookies(); a.Status != http.StatusFound || len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("stale cookie: %d %v", a.Status, c)
	}
	for target, want := range map[string]string{"/": "/admin/rest_api/", "/admin/rest_api": "/admin/rest_api/"} {
		if a := anonymous.Get(t, target); a.Status != http.StatusFound || a.Header.Get("Location") != want {
			t.Errorf("%s: %d to %q", target, a.Status, a.Header.Get("Location"))
		}
	}
}

func TestPageAssetsAreEmbedded(t *testing.T) {
	anonymous := client(mustServer(t, &scriptedExecutor{}, commands.Options{})).As("")
	for path, ctype := range map[string]string{
		"admin.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml",
	} {
		a := anonymous.Get(t, "/admin/rest_api/static/"+path)
		if a.Status != 200 || !strings.HasPrefix(a.Header.Get("Content-Type"), ctype) || len(a.Body) < 100 {
			t.Errorf("%s: %d %q, %d bytes", path, a.Status, a.Header.Get("Content-Type"), len(a.Body))
		}
	}
	// Paths out of the assets folder, sent as written (Go's client does not clean them), find nothing.
	for _, path := range []string{"../../../etc/passwd", "../templates/admin.html", "%2e%2e/templates/admin.html"} {
		if a := anonymous.Get(t, "/admin/rest_api/static/"+path); a.Status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, a.Status)
		}
	}
}

func TestBrowserPostsNeedThePagesCSRFToken(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{})
	session := login(t, srv, token)
	csrf := pageCSRF(t, session)
	viewerCSRF := pageCSRF(t, login(t, srv, viewerToken))
	if csrf == viewerCSRF {
		t.Fatal("two sessions got the same CSRF token")
	}
	// The token is in the page once, for the script: a form submitted without the script must not put it
	// in a URL.
	if html := string(session.Get(t, adminPath).Body); strings.Count(html, csrf) != 1 {
		t.Errorf("the page holds its CSRF token %d times, want once (the meta tag)", strings.Count(html, csrf))
	}
	origin := []string{"Origin", srv.URL} // an older browser: Origin of the gateway itself, no Sec-Fetch-Site
	sameOrigin := []string{"Sec-Fetch-Site", "same-origin"}
	for _, target := range []string{"/api/v1/command?command=dags%20pause%20gw_conf", "/admin/rest_api/api?api=pause&dag_id=gw_conf"} {
		for _, browser := range [][]string{origin, sameOrigin} {
			for _, sent := range []string{"", "forged", viewerCSRF} {
				header := append([]string{"X-CSRF-Token", sent}, browser...)
				if a := session.Do(t, "POST", target, nil, header...); a.Status != 403 || !strings.Contains(string(a.Body), "CSRF token is missing or stale") {
					t.Errorf("%s from a browser (%s) with CSRF token %q: %d %s", target, browser[0], sent, a.Status, a.Body)
				}
			}
			if a := session.Do(t, "POST", target, nil, append([]string{"X-CSRF-Token", csrf}, browser...)...); a.Status != 200 {
				t.Errorf("%s from a browser (%s) with the page's token: %d %s", target, browser[0], a.Status, a.Body)
			}
		}
	}
	if n := ex.runs.Load(); n != 4 {
		t.Errorf("%d commands ran, want the 4 sent with the page's token", n)
	}
	// Outside a browser the cookie needs no CSRF token (curl -b), and a token in a header is not ambient.
	if a := session.Do(t, "POST", "/api/v1/command?command=version", nil); a.Status != 200 {
		t.Errorf("cookie without browser headers: %d", a.Status)
	}
	if a := client(srv).Do(t, "POST", "/api/v1/command?command=version", nil, "Sec-Fetch-Site", "same-origin"); a.Status != 200 {
		t.Errorf("a token from a browser without a CSRF token: %d", a.Status)
	}
}

// On a gateway without tokens every request is let in, so a browser's requests are held to the same
// rules as a session's: another site can neither link to a state change nor post without the page's token.
func TestOpenGatewayHoldsBrowsersToTheCrossSiteRules(t *testing.T) {
	ex := &scriptedExecutor{}
	srv := mustServer(t, ex, commands.Options{}, withKeyring(gateway.NewKeyring("rest_api_plugin_http_token")))
	a := client(srv).As("").NoRedirects().Get(t, adminPath)
	html := string(a.Body)
	if a.Status != 200 || !strings.Contains(html, "No token is configured") {
		t.Fatalf("open admin page: %d", a.Status)
	}
	csrf := csrfMeta.FindStringSubmatch(html)[1]
	browser := &testbed.Client{URL: srv.URL, Cookie: &http.Cookie{Name: "unrelated", Value: "x"}} // a cookie, but no session
	if a := browser.Get(t, "/admin/rest_api/api?api=pause&dag_id=gw_conf", "Sec-Fetch-Site", "cross-site"); a.Status != 403 || !strings.Contains(string(a.Body), "read-only") {
		t.Errorf("cross-site GET of pause: %d %s", a.Status, a.Body)
	}
	if a := browser.Get(t, "/api/v1/command?command=dags%20list", "Sec-Fetch-Site", "cross-site"); a.Status != 200 {
		t.Errorf("cross-site GET of a read: %d", a.Status)
	}
	if a := browser.Do(t, "POST", "/api/v1/command?command=version", nil, "Sec-Fetch-Site", "same-origin"); a.Status != 403 {
		t.Errorf("same-origin POST without the CSRF token: %d", a.Status)
	}
	if a := browser.Do(t, "POST", "/api/v1/command?command=version", nil, "Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf); a.Status != 200 {
		t.Errorf("same-origin POST with the CSRF token: %d", a.Status)
	}
	if a := browser.Do(t, "POST", "/api/v1/command?command=version", nil); a.Status != 200 {
		t.Errorf("POST without browser headers: %d", a.Status)
	}
}

// Only requests that carry credentials count as failed authentications: a browser that opens a page
// before logging in is sent to the login, not locked out.
func TestRequestsWithoutCredentialsAreNotFailures(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{})
	anonymous := client(srv).As("").NoRedirects()
	for range 30 {
		if a := anonymous.Get(t, "/api/v1/command?command=version"); a.Status != 401 {
			t.Fatalf("no credentials: %d", a.Status)
		}
		if a := anonymous.Get(t, adminPath); a.Status != http.StatusFound {
			t.Fatalf("admin page without a session: %d", a.Status)
		}
	}
	status := 0
	for range 11 {
		status = client(srv).As("wrong").Get(t, "/api/v1/command?command=version").Status
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
	var health struct {
		Airflow map[string]string `json:"airflow"`
	}
	client(srv).As("").Get(t, "/health").Decode(t, &health)
	if health.Airflow["warning"] != warning {
		t.Errorf("/health says %v; want the warning %q", health.Airflow, warning)
	}
	html := string(login(t, srv, roleToken(commands.RoleViewer)).Get(t, adminPath).Body)
	if !strings.Contains(html, `id="airflow-warning">`+template.HTMLEscapeString(warning)) {
		t.Errorf("the admin page does not show the warning %q", warning)
	}
}

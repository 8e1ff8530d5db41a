package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
)

// recordingAirflow is a fake Airflow API that records what the gateway sends it: the only way to see
// that the gateway's own credentials never reach Airflow. On Airflow 3 it hands out JWTs.
type recordingAirflow struct {
	*httptest.Server
	mu       sync.Mutex
	seen     []*http.Request
	exchange atomic.Int64 // calls of POST /auth/token
}

func newRecordingAirflow(t *testing.T, tokenLife time.Duration) *recordingAirflow {
	a := &recordingAirflow{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth/token" {
			a.exchange.Add(1)
			time.Sleep(50 * time.Millisecond) // long enough for callers to wait on one exchange
			var creds struct{ Username, Password string }
			json.NewDecoder(r.Body).Decode(&creds)
			if creds.Password != "pw-"+strings.TrimPrefix(creds.Username, "gw-") {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"detail": "Invalid credentials"}`)
				return
			}
			claims, _ := json.Marshal(map[string]any{"sub": creds.Username, "exp": time.Now().Add(tokenLife).Unix()})
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"access_token": "h.%s.s"}`, base64.RawURLEncoding.EncodeToString(claims))
			return
		}
		seen := r.Clone(r.Context())
		data, _ := io.ReadAll(r.Body)
		seen.Body = io.NopCloser(bytes.NewReader(data)) // for the test to read, after the call
		a.mu.Lock()
		a.seen = append(a.seen, seen)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"dags": [], "total_entries": 0}`)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *recordingAirflow) last() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[len(a.seen)-1]
}

func serveAirflowAPI(t *testing.T, gw *gateway.Server, a *recordingAirflow, major int) {
	u, _ := url.Parse(a.URL)
	users := map[commands.Role]airflowapi.User{}
	for _, r := range []commands.Role{commands.RoleViewer, commands.RoleUser, commands.RoleOp, commands.RoleAdmin} {
		name := strings.ToLower(r.String())
		users[r] = airflowapi.User{Name: "gw-" + name, Password: "pw-" + name}
	}
	gw.SetAirflowAPI(airflowapi.New(u, major, users, 5*time.Second), "")
}

func TestGatewayCredentialsNeverReachAirflow(t *testing.T) {
	srv, gw := mustGateway(t, &scriptedExecutor{}, commands.Options{})
	a := newRecordingAirflow(t, time.Hour)
	serveAirflowAPI(t, gw, a, 2)
	session := login(t, srv, token).Cookie
	anonymous := client(srv).As("")
	for name, header := range map[string][]string{
		"bearer token":  {"Authorization", "Bearer " + token, "Cookie", "other=kept"},
		"plugin header": {"Rest_api_plugin_http_token", token},
		"session":       {"Cookie", session.String() + "; other=kept"},
	} {
		if answer := anonymous.Get(t, "/api/v1/dags?limit=5", header...); answer.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, answer.Status, answer.Body)
		}
		got := a.last()
		if got.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("gw-admin:pw-admin")) {
			t.Errorf("%s: Airflow got Authorization %q, want the Admin role's user", name, got.Header.Get("Authorization"))
		}
		if got.Header.Get("Rest_api_plugin_http_token") != "" || strings.Contains(got.Header.Get("Cookie"), "session=") {
			t.Errorf("%s: a gateway credential reached Airflow: %v", name, got.Header)
		}
		if name != "plugin header" && !strings.Contains(got.Header.Get("Cookie"), "other=kept") {
			t.Errorf("%s: Airflow's own cookies were dropped: %q", name, got.Header.Get("Cookie"))
		}
		if got.Header.Get("X-Forwarded-For") == "" || got.Header.Get("X-Forwarded-Proto") != "http" || got.URL.RawQuery != "limit=5" {
			t.Errorf("%s: Airflow got %v ?%s", name, got.Header, got.URL.RawQuery)
		}
	}
	// A Viewer may read, not change; the two batch queries are reads.
	for _, tt := range []struct {
		method, path string
		want         int
	}{{"GET", "/api/v1/dags", 200}, {"PATCH", "/api/v1/dags/x", 403}, {"POST", "/api/v1/dags/x/dagRuns", 403}, {"POST", "/api/v1/dags/~/dagRuns/list", 200}} {
		if a := client(srv).As(viewerToken).Do(t, tt.method, tt.path, strings.NewReader("{}"), asJSON...); a.Status != tt.want {
			t.Errorf("Viewer %s %s: %d %s, want %d", tt.method, tt.path, a.Status, a.Body, tt.want)
		}
	}
}

func TestOneTokenExchangeForManyCallers(t *testing.T) {
	srv, gw := mustGateway(t, &scriptedExecutor{}, commands.Options{})
	a := newRecordingAirflow(t, time.Hour)
	serveAirflowAPI(t, gw, a, 3)
	viewer := client(srv).As(viewerToken)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if answer, err := viewer.Send(http.MethodGet, "/api/v2/dags", nil); err != nil || answer.Status != 200 {
				t.Errorf("%v %v", answer, err)
			}
		})
	}
	wg.Wait()
	if n := a.exchange.Load(); n != 1 {
		t.Errorf("20 callers of one role made %d token requests, want 1", n)
	}
	if got := a.last().Header.Get("Authorization"); !strings.HasPrefix(got, "Bearer h.") {
		t.Errorf("Airflow 3 got %q, want the role's JWT", got)
	}
	// Basic with a wrong password is Airflow's refusal: 401 in Airflow 3's shape, counted as a failure.
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("gw-viewer:wrong"))
	var doc struct{ Detail string }
	if answer := client(srv).As("").Get(t, "/api/v2/dags", "Authorization", basic).Decode(t, &doc); answer.Status != http.StatusUnauthorized {
		t.Fatalf("a wrong Basic password: %d %s", answer.Status, answer.Body)
	}
	if !strings.Contains(doc.Detail, "refused") || strings.Contains(doc.Detail, "wrong") {
		t.Errorf("the refusal: %q", doc.Detail)
	}
}

func TestUnreachableAirflowIs502(t *testing.T) {
	srv, gw := mustGateway(t, &scriptedExecutor{}, commands.Options{})
	a := newRecordingAirflow(t, time.Hour)
	serveAirflowAPI(t, gw, a, 2)
	a.Close()
	var p struct{ Detail, Type string }
	if answer := client(srv).Get(t, "/api/v1/dags").Decode(t, &p); answer.Status != http.StatusBadGateway {
		t.Fatalf("%d %s", answer.Status, answer.Body)
	}
	if !strings.Contains(p.Detail, a.URL) || !strings.Contains(p.Detail, "[airflow_api] url") || !strings.Contains(p.Type, "stable-rest-api-ref") {
		t.Errorf("the 502: %+v", p)
	}
}

func TestAdminPageSaysWhetherTheAPIIsServed(t *testing.T) {
	srv, gw := mustGateway(t, &scriptedExecutor{}, commands.Options{})
	page := func() string {
		a := login(t, srv, viewerToken).Get(t, adminPath)
		if a.Status != 200 {
			t.Fatalf("the admin page: %d", a.Status)
		}
		return string(a.Body)
	}
	if p := page(); !strings.Contains(p, `<strong id="airflow-api">not connected</strong>`) {
		t.Errorf("without an API, the page does not say so")
	}
	a := newRecordingAirflow(t, time.Hour)
	serveAirflowAPI(t, gw, a, 3)
	if p := page(); !strings.Contains(p, a.URL+" (Airflow 3)") || !strings.Contains(p, "as gw-viewer") {
		t.Errorf("the page does not name the API and the Viewer's user")
	}
}

func TestNoAirflowAPIIs404SayingHowToSetOne(t *testing.T) {
	srv, gw := mustGateway(t, &scriptedExecutor{}, commands.Options{})
	remove := func() (int, string) {
		var p struct{ Detail string }
		a := client(srv).Do(t, http.MethodDelete, "/api/v1/dags/x", nil).Decode(t, &p)
		return a.Status, p.Detail
	}
	// While the gateway looks for the API: 503, to retry.
	if status, detail := remove(); status != http.StatusServiceUnavailable || !strings.Contains(detail, "retry") {
		t.Errorf("while looking: %d %q", status, detail)
	}
	gw.SetAirflowAPI(nil, "Airflow's configuration names no URL for it")
	if status, detail := remove(); status != http.StatusNotFound || !strings.Contains(detail, "[airflow_api] url") || !strings.Contains(detail, "names no URL") {
		t.Errorf("with none: %d %q", status, detail)
	}
}

// TestErrorsKeepTheShapeOfTheAPICalled: the gateway's own answers about Airflow's API take the shape of the
// API the client called, whatever the call became on its way: a v1 call translated for Airflow 3 is
// answered with v1's problem document, a v2 call with v2's {"detail"}, also when Airflow's API lies under
// a path (/airflow) that the proxy puts before the client's.
func TestErrorsKeepTheShapeOfTheAPICalled(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/airflow/auth/token" {
			claims, _ := json.Marshal(map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"access_token": "h.%s.s"}`, base64.RawURLEncoding.EncodeToString(claims))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized) // the role's user is refused: the operator's to fix, 502
		io.WriteString(w, `{"detail": "Not authenticated"}`)
	}))
	t.Cleanup(refusing.Close)
	srv, gw := mustGateway(t, &scriptedExecutor{}, commands.Options{})
	u, _ := url.Parse(refusing.URL + "/airflow")
	gw.SetAirflowAPI(airflowapi.New(u, 3, map[commands.Role]airflowapi.User{commands.RoleAdmin: {Name: "gw-admin", Password: "pw"}}, 5*time.Second), "")
	for _, tt := range []struct{ path, contentType, keys string }{
		{"/api/v1/dags", "application/problem+json", "detail status title type"},
		{"/api/v2/dags", "application/json", "detail"},
	} {
		a := client(srv).Get(t, tt.path)
		var doc map[string]any
		a.Decode(t, &doc)
		keys := slices.Sorted(maps.Keys(doc))
		if a.Status != http.StatusBadGateway || a.Header.Get("Content-Type") != tt.contentType || strings.Join(keys, " ") != tt.keys ||
			!strings.Contains(fmt.Sprint(doc["detail"]), "users_file") {
			t.Errorf("%s: %d %s %v, want 502 %s with %s", tt.path, a.Status, a.Header.Get("Content-Type"), doc, tt.contentType, tt.keys)
		}
	}
}

package gateway_test

import (
	"compress/gzip"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestRESTAsAPersonFaults: a call as an Airflow user (airflow_user) that Airflow 3 refuses for its JWT
// (401, or 403 "Invalid JWT token") is answered 502 naming the key's setting, while Airflow's other 403 (the
// user may not) passes as Airflow wrote it; without a key the call is refused 403 and never sent as the
// role's user.
func TestRESTAsAPersonFaults(t *testing.T) {
	var answer atomic.Value // status and body Airflow answers with
	var sent atomic.Int32
	airflow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent.Add(1)
		a := answer.Load().([2]string)
		w.Header().Set("Content-Type", "application/json")
		status := map[string]int{"401": 401, "403": 403, "200": 200}[a[0]]
		if strings.Contains(a[1], "gzip") { // as Airflow's API server compresses answers when asked
			w.Header().Set("Content-Encoding", "gzip")
			w.WriteHeader(status)
			gz := gzip.NewWriter(w)
			io.WriteString(gz, a[1])
			gz.Close()
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, a[1])
	}))
	t.Cleanup(airflow.Close)
	const personToken = "person-token-0123456789"
	keys := testKeyring()
	keys.SetTokens(append([]gateway.Token{{Name: "ci", Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(token))}},
		gateway.Token{Name: "alice", Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(personToken)), AirflowUser: "alice"}))
	srv, gw := mustGateway(t, &scriptedExecutor{}, commands.Options{}, withKeyring(keys))
	u, _ := url.Parse(airflow.URL)
	api := airflowapi.New(u, 3, nil, 5*time.Second)
	gw.SetAirflowAPI(api, "")
	alice := &testbed.Client{URL: srv.URL, Token: personToken}

	answer.Store([2]string{"200", `{"dags": []}`})
	if a := alice.Get(t, "/api/v2/dags"); a.Status != http.StatusForbidden || !strings.Contains(string(a.Body), "jwt_secret_file") || sent.Load() != 0 {
		t.Errorf("without a key: %d %s (%d calls reached Airflow)", a.Status, a.Body, sent.Load())
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("k"), 0o600)
	key, err := airflowapi.LoadSecret(secret, "[airflow_api] jwt_secret_file", "")
	if err != nil {
		t.Fatal(err)
	}
	api.SetPeople(airflowapi.People{Key: key, Auth: &airflowapi.AuthSettings{
		AuthManager: "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager", Audience: "apache-airflow",
		Users: []airflowapi.SimpleUser{{Name: "alice", Role: "viewer"}}}})
	for _, tt := range []struct {
		status, body string
		want         int
		says         string
	}{
		{"200", `{"dags": []}`, 200, "dags"},
		{"403", `{"detail": "Forbidden"}`, 403, "Forbidden"},
		{"403", `{"detail": "Invalid JWT token"}`, 502, "[airflow_api] jwt_secret_file"},
		{"401", `{"detail": "Not authenticated"}`, 502, "[airflow_api] jwt_secret_file"},
		{"403", `{"detail": "Invalid JWT token", "compressed": "gzip"}`, 502, "[airflow_api] jwt_secret_file"},
	} {
		answer.Store([2]string{tt.status, tt.body})
		if a := alice.Get(t, "/api/v2/dags"); a.Status != tt.want || !strings.Contains(string(a.Body), tt.says) {
			t.Errorf("Airflow's %s %s: %d %s, want %d saying %q", tt.status, tt.body, a.Status, a.Body, tt.want, tt.says)
		}
	}
}

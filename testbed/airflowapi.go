package testbed

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// AirflowAPI is Airflow's REST API server started for a test: the webserver on Airflow 2 (FAB users, HTTP
// Basic), the API server on Airflow 3 (the simple auth manager, JWTs from /auth/token).
type AirflowAPI struct {
	URL string
	// Users are the Airflow users it knows, one per role (Admin, Op, User, Viewer), by role; each user's
	// name is gw-<role in lower case>, its password pw-<role in lower case>.
	Users map[string]string
	Major int
	Logs  *Buffer
}

// APIRoles are Airflow's role names, as the gateway names its roles.
var APIRoles = []string{"Admin", "Op", "User", "Viewer"}

// StartAirflowAPI starts Airflow's REST API server on home, on a free loopback port, with one user per
// role, and waits until it answers; it is stopped when tb ends.
func StartAirflowAPI(tb testing.TB, home *Home) *AirflowAPI {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	api := &AirflowAPI{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Users: map[string]string{}, Logs: &Buffer{}}
	for _, r := range APIRoles {
		api.Users[r] = "gw-" + strings.ToLower(r)
	}
	version := strings.TrimSpace(home.Run(tb, "version"))
	api.Major = int(version[0] - '0')
	env := append(os.Environ(), "AIRFLOW_HOME="+home.Dir, "AIRFLOW__API__BASE_URL="+api.URL, "AIRFLOW__WEBSERVER__BASE_URL="+api.URL,
		"AIRFLOW__API_AUTH__JWT_SECRET=test-jwt-secret-of-the-testbed", "AIRFLOW__WEBSERVER__SECRET_KEY=test-secret-of-the-testbed",
		"AIRFLOW__API__SECRET_KEY=test-secret-of-the-testbed")
	var cmd *exec.Cmd
	if api.Major >= 3 {
		var users []string
		passwords := map[string]string{}
		for _, r := range APIRoles {
			name := api.Users[r]
			users = append(users, name+":"+strings.ToLower(r))
			passwords[name] = "pw-" + strings.ToLower(r)
		}
		file := filepath.Join(home.Dir, "simple_auth_manager_passwords.json.generated")
		data, _ := json.Marshal(passwords)
		if err := os.WriteFile(file, data, 0o600); err != nil {
			tb.Fatal(err)
		}
		env = append(env, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="+strings.Join(users, ","),
			"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="+file)
		cmd = exec.Command(home.Airflow, "api-server", "--port", fmt.Sprint(port), "--host", "127.0.0.1", "--workers", "1")
	} else {
		env = append(env, "AIRFLOW__API__AUTH_BACKENDS=airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,airflow.api.auth.backend.session")
		// The roles but Admin are made by the webserver's start, or by sync-perm before it.
		c := exec.Command(home.Airflow, "sync-perm")
		c.Env = env
		if out, err := c.CombinedOutput(); err != nil {
			tb.Fatalf("airflow sync-perm: %v\n%s", err, out)
		}
		for _, r := range APIRoles {
			c := exec.Command(home.Airflow, "users", "create", "--username", api.Users[r], "--password", "pw-"+strings.ToLower(r),
				"--role", r, "--firstname", r, "--lastname", "Gateway", "--email", strings.ToLower(r)+"@gateway.test")
			c.Env = env
			if out, err := c.CombinedOutput(); err != nil {
				tb.Fatalf("airflow users create %s: %v\n%s", r, err, out)
			}
		}
		cmd = exec.Command(home.Airflow, "webserver", "--port", fmt.Sprint(port), "--hostname", "127.0.0.1", "--workers", "1")
	}
	cmd.Env, cmd.Dir = env, home.Dir
	cmd.Stdout, cmd.Stderr = api.Logs, api.Logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what its workers left
	})
	probe := api.URL + "/api/v1/health"
	if api.Major >= 3 {
		probe = api.URL + "/api/v2/monitor/health"
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		if resp, err := http.Get(probe); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			tb.Fatalf("Airflow's API server exited:\n%s", api.Logs)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("Airflow's API server did not answer at %s:\n%s", probe, api.Logs)
		}
	}
	return api
}

// Password is the password of the user of role.
func (a *AirflowAPI) Password(role string) string { return "pw-" + strings.ToLower(role) }

// UsersFile writes the gateway's [airflow_api] users_file for this server's users, and returns its path.
func (a *AirflowAPI) UsersFile(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	for _, r := range APIRoles {
		fmt.Fprintf(&b, "[%s]\nusername = %s\npassword = %s\n\n", r, a.Users[r], a.Password(r))
	}
	path := filepath.Join(tb.TempDir(), "airflow-users.ini")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

package testbed

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// AirflowAPI is Airflow's REST API server started for a test: the webserver on Airflow 2 (FAB users, HTTP
// Basic), the API server on Airflow 3 (JWTs from /auth/token; the simple auth manager's users, or on a home
// of FAB3 the FAB auth manager's).
type AirflowAPI struct {
	URL string
	// Users are the Airflow users it knows, one per role it was started with (Admin, Op, User, Viewer), by
	// role; each user's name is gw-<role in lower case>, its password pw-<role in lower case>.
	Users map[string]string
	Major int
	Logs  *Buffer

	home *Home
	env  []string // the server's, and its CLI's
	// simpleUsers is [core] simple_auth_manager_users on Airflow 3 with the simple auth manager.
	simpleUsers string
	args        []string
	stop        func()
}

// JWTSecret is Airflow 3's [api_auth] jwt_secret in the API servers StartAirflowAPI starts: the key a
// gateway signs Airflow users' JWTs with.
const JWTSecret = "test-jwt-secret-of-the-testbed"

// APIRoles are Airflow's role names, as the gateway names its roles.
var APIRoles = []string{"Admin", "Op", "User", "Viewer"}

// StartAirflowAPI starts Airflow's REST API server on home, on a free loopback port, with one user per
// role and the environment variables env (NAME=value) besides, and waits until it answers; it is stopped
// when tb ends.
func StartAirflowAPI(tb testing.TB, home *Home, env ...string) *AirflowAPI {
	tb.Helper()
	return StartAirflowAPIFor(tb, home, APIRoles, env...)
}

// StartAirflowAPIFor starts Airflow's REST API server as StartAirflowAPI does, with users for roles only.
// With FAB (Airflow 2, and Airflow 3 on a home of FAB3) each user costs a run of Airflow's CLI, and roles
// but Admin one more run (sync-perm, which makes them all).
func StartAirflowAPIFor(tb testing.TB, home *Home, roles []string, env ...string) *AirflowAPI {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	api := &AirflowAPI{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Users: map[string]string{}, Logs: &Buffer{}, home: home}
	for _, r := range roles {
		api.Users[r] = "gw-" + strings.ToLower(r)
	}
	version := airflowVersion(tb, home)
	api.Major = int(version[0] - '0')
	env = append(append(os.Environ(), env...), "AIRFLOW_HOME="+home.Dir, "AIRFLOW__API__BASE_URL="+api.URL, "AIRFLOW__WEBSERVER__BASE_URL="+api.URL,
		"AIRFLOW__API_AUTH__JWT_SECRET="+JWTSecret, "AIRFLOW__WEBSERVER__SECRET_KEY=test-secret-of-the-testbed",
		"AIRFLOW__API__SECRET_KEY=test-secret-of-the-testbed")
	var args []string
	if api.Major >= 3 && !home.FAB {
		var users []string
		passwords := map[string]string{}
		for _, r := range roles {
			name := api.Users[r]
			users = append(users, name+":"+strings.ToLower(r))
			passwords[name] = "pw-" + strings.ToLower(r)
		}
		file := filepath.Join(home.Dir, "simple_auth_manager_passwords.json.generated")
		data, _ := json.Marshal(passwords)
		if err := os.WriteFile(file, data, 0o600); err != nil {
			tb.Fatal(err)
		}
		api.simpleUsers = strings.Join(users, ",")
		env = append(env, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="+api.simpleUsers,
			"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="+file)
		args = []string{"api-server", "--port", fmt.Sprint(port), "--host", "127.0.0.1", "--workers", "1"}
	} else {
		if api.Major < 3 {
			// HTTP Basic is the FAB provider's from Airflow 2.9, Airflow's own before.
			basic := "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth"
			if minor, _ := strconv.Atoi(strings.SplitN(version, ".", 3)[1]); minor < 9 {
				basic = "airflow.api.auth.backend.basic_auth"
			}
			env = append(env, "AIRFLOW__API__AUTH_BACKENDS="+basic+",airflow.api.auth.backend.session")
		}
		// The roles but Admin are made by the webserver's start, or by sync-perm before it.
		if slices.ContainsFunc(roles, func(r string) bool { return r != "Admin" }) {
			c := exec.Command(home.Airflow, "sync-perm")
			c.Env = env
			if out, err := c.CombinedOutput(); err != nil {
				tb.Fatalf("airflow sync-perm: %v\n%s", err, out)
			}
		}
		for _, r := range roles {
			c := exec.Command(home.Airflow, "users", "create", "--username", api.Users[r], "--password", "pw-"+strings.ToLower(r),
				"--role", r, "--firstname", r, "--lastname", "Gateway", "--email", strings.ToLower(r)+"@gateway.test")
			c.Env = env
			if out, err := c.CombinedOutput(); err != nil {
				tb.Fatalf("airflow users create %s: %v\n%s", r, err, out)
			}
		}
		args = []string{"webserver", "--port", fmt.Sprint(port), "--hostname", "127.0.0.1", "--workers", "1"}
		if api.Major >= 3 {
			args = []string{"api-server", "--port", fmt.Sprint(port), "--host", "127.0.0.1", "--workers", "1"}
		}
	}
	// Airflow 2's executors start tasks as `airflow tasks run`, found on the PATH.
	env = append(env, "PATH="+filepath.Dir(home.Airflow)+string(os.PathListSeparator)+os.Getenv("PATH"))
	api.env, api.args = env, args
	api.Start(tb)
	tb.Cleanup(api.Stop)
	return api
}

// Version is the version of the server's Airflow.
func (a *AirflowAPI) Version(tb testing.TB) string {
	tb.Helper()
	return airflowVersion(tb, a.home)
}

// airflowVersion is the version of the home's Airflow, as the metadata of its installed package names it
// (a run of its CLI costs seconds), or as `airflow version` prints it where no such metadata is found.
func airflowVersion(tb testing.TB, home *Home) string {
	tb.Helper()
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(home.Airflow), "..", "lib", "python3*", "site-packages", "apache_airflow-*.dist-info"))
	if len(matches) == 1 {
		return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(matches[0]), "apache_airflow-"), ".dist-info")
	}
	// The version is the last line: some releases log to stdout before it.
	out := strings.Split(strings.TrimSpace(home.Run(tb, "version")), "\n")
	return out[len(out)-1]
}

// Start starts the server, after Stop, and waits until it answers.
func (a *AirflowAPI) Start(tb testing.TB) {
	tb.Helper()
	cmd := exec.Command(a.home.Airflow, a.args...)
	cmd.Env, cmd.Dir = a.env, a.home.Dir
	cmd.Stdout, cmd.Stderr = a.Logs, a.Logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	a.stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what its workers left
	}
	probe := a.URL + "/api/v1/health"
	if a.Major >= 3 {
		probe = a.URL + "/api/v2/monitor/health"
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		if resp, err := http.Get(probe); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			tb.Fatalf("Airflow's API server exited:\n%s", a.Logs)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("Airflow's API server did not answer at %s:\n%s", probe, a.Logs)
		}
	}
}

// Stop stops the server and every process it started; it does nothing when the server is not running.
func (a *AirflowAPI) Stop() {
	if a.stop != nil {
		a.stop()
		a.stop = nil
	}
}

// RunDAG runs a DAG once with `airflow dags test --use-executor` on the server's home and configuration,
// so that its tasks reach the server (Airflow 3's report to its execution API) and leave task logs that
// the REST API reads. Airflow 3.3's LocalExecutor sometimes waits on its idle workers for ever after the run
// has ended: once the run has ended, the command has a few seconds to exit and is then stopped. It fails tb
// unless the run succeeded.
func (a *AirflowAPI) RunDAG(tb testing.TB, dag, date string) {
	tb.Helper()
	cmd := exec.Command(a.home.Airflow, "dags", "test", dag, date, "--use-executor")
	// One task at a time: the LocalExecutor starts as many workers as the parallelism allows.
	cmd.Env, cmd.Dir = append(a.env, "AIRFLOW__CORE__PARALLELISM=1"), a.home.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what its executor left
	ended := regexp.MustCompile(`DagRun Finished: .*state=(\w+)`)
	deadline := time.After(3 * time.Minute)
	var grace <-chan time.Time
	for {
		select {
		case err := <-exited:
			if m := ended.FindStringSubmatch(out.String()); err != nil || m == nil || m[1] != "success" {
				tb.Fatalf("airflow dags test %s %s --use-executor: %v\n%s", dag, date, err, out)
			}
			return
		case <-grace:
			if m := ended.FindStringSubmatch(out.String()); m[1] != "success" {
				tb.Fatalf("airflow dags test %s %s --use-executor: the run ended %s\n%s", dag, date, m[1], out)
			}
			return
		case <-deadline:
			tb.Fatalf("airflow dags test %s %s --use-executor: no end after 3 minutes\n%s\nthe server's log:\n%s", dag, date, out, a.Logs)
		case <-time.After(250 * time.Millisecond):
			if grace == nil && ended.MatchString(out.String()) {
				grace = time.After(10 * time.Second)
			}
		}
	}
}

// Password is the password of the user of role, as StartAirflowAPI made it.
func (a *AirflowAPI) Password(role string) string { return "pw-" + strings.ToLower(role) }

// SetPassword changes the password of the user of role in Airflow, as its administrator would: in the
// simple auth manager's passwords file on Airflow 3, which the server reads at each login, or with
// `airflow users reset-password` with FAB.
func (a *AirflowAPI) SetPassword(tb testing.TB, role, password string) {
	tb.Helper()
	if a.Major < 3 || a.home.FAB {
		cmd := exec.Command(a.home.Airflow, "users", "reset-password", "--username", a.Users[role], "--password", password)
		cmd.Env = a.env
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("airflow users reset-password: %v\n%s", err, out)
		}
		return
	}
	file := filepath.Join(a.home.Dir, "simple_auth_manager_passwords.json.generated")
	passwords := map[string]string{}
	data, err := os.ReadFile(file)
	if err == nil {
		err = json.Unmarshal(data, &passwords)
	}
	if err != nil {
		tb.Fatal(err)
	}
	passwords[a.Users[role]] = password
	data, _ = json.Marshal(passwords)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// UsersFile writes the gateway's [airflow_api] users_file for this server's users, and returns its path.
func (a *AirflowAPI) UsersFile(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	for _, r := range APIRoles {
		if user, ok := a.Users[r]; ok {
			fmt.Fprintf(&b, "[%s]\nusername = %s\npassword = %s\n\n", r, user, a.Password(r))
		}
	}
	path := filepath.Join(tb.TempDir(), "airflow-users.ini")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// SimpleAuthManagerUsers is [core] simple_auth_manager_users as the server was started with it ("" with
// FAB): name:role pairs.
func (a *AirflowAPI) SimpleAuthManagerUsers() string { return a.simpleUsers }

// Run runs Airflow's CLI with the server's home and configuration, failing tb unless it exits 0.
func (a *AirflowAPI) Run(tb testing.TB, args ...string) string {
	tb.Helper()
	cmd := exec.Command(a.home.Airflow, args...)
	cmd.Env, cmd.Dir = a.env, a.home.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("airflow %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// CreateUser makes a FAB user (Airflow 2, or Airflow 3 on a home of FAB3) of role, with password.
func (a *AirflowAPI) CreateUser(tb testing.TB, name, password, role string) {
	tb.Helper()
	a.Run(tb, "users", "create", "--username", name, "--password", password, "--role", role,
		"--firstname", name, "--lastname", "Person", "--email", name+"@person.test")
}

// Authorization returns the Authorization header with which Airflow's API takes a user's own name and
// password: HTTP Basic on Airflow 2, a JWT from POST /auth/token on Airflow 3.
func (a *AirflowAPI) Authorization(tb testing.TB, name, password string) string {
	tb.Helper()
	if a.Major < 3 {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+password))
	}
	body, _ := json.Marshal(map[string]string{"username": name, "password": password})
	resp, err := http.Post(a.URL+"/auth/token", "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		tb.Fatalf("POST /auth/token as %s: %d %v", name, resp.StatusCode, err)
	}
	return "Bearer " + tok.AccessToken
}

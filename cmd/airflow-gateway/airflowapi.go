//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
)

// airflowAPI returns Airflow's REST API as [airflow_api] names it: its URL, or when that is empty the one
// Airflow's own configuration gives ([webserver] base_url on 2.x, [api] base_url on 3.x), asked with run;
// the users of users_file, and how to act as the Airflow users that credentials name (airflowPeople).
func airflowAPI(ctx context.Context, st *setup, run func(context.Context, commands.Exec) (*commands.Result, error)) (*airflowapi.Client, error) {
	major, _ := strconv.Atoi(strings.SplitN(st.version, ".", 2)[0])
	users, err := airflowUsers(st.cfg)
	if err != nil {
		return nil, err
	}
	people, err := airflowPeople(ctx, st, major, run)
	if err != nil {
		return nil, err
	}
	raw := st.cfg.AirflowAPIURL
	if raw == "" {
		section := "webserver"
		if major >= 3 {
			section = "api"
		}
		out, err := ask(ctx, run, "config", "get-value", section, "base_url")
		if err != nil {
			return nil, fmt.Errorf("[airflow_api] url is empty and Airflow's [%s] base_url cannot be read (%v): set [airflow_api] url", section, err)
		}
		raw = commands.LastLine(out)
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("[airflow_api] url: %q is not an http:// or https:// URL", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	api := airflowapi.New(u, major, users, st.cfg.AirflowAPITimeout)
	api.SetPeople(*people)
	return api, nil
}

// airflowUsers reads the Airflow users of the gateway's roles from [airflow_api] users_file, if any.
func airflowUsers(cfg *config.Config) (map[commands.Role]airflowapi.User, error) {
	file, err := loadUsersFile(cfg)
	if err != nil {
		return nil, err
	}
	users := map[commands.Role]airflowapi.User{}
	for role, u := range file.Roles {
		users[role] = airflowapi.User{Name: u.Username, Password: u.Password}
	}
	return users, nil
}

// loadUsersFile reads [airflow_api] users_file; without one, it holds nobody.
func loadUsersFile(cfg *config.Config) (*config.Users, error) {
	if cfg.AirflowAPIUsersFile == "" {
		return &config.Users{}, nil
	}
	file, err := config.LoadUsers(cfg.AirflowAPIUsersFile)
	if err != nil {
		return nil, fmt.Errorf("[airflow_api] users_file: %w", err)
	}
	return file, nil
}

// airflowPeople says how the gateway acts as the Airflow users that credentials name (SPEC §20): on Airflow
// 2 with their passwords from users_file's [user:NAME] sections; on Airflow 3 with JWTs signed with the key
// of [airflow_api] jwt_secret_file or jwt_private_key_file, with the claims that Airflow's configuration
// says its auth manager reads, asked once of Airflow (airflowapi.AuthScript); FAB's users are listed with
// run, when a name is first met. Without a key, such credentials are refused on Airflow 3's REST API.
func airflowPeople(ctx context.Context, st *setup, major int, run func(context.Context, commands.Exec) (*commands.Result, error)) (*airflowapi.People, error) {
	file, err := loadUsersFile(st.cfg)
	if err != nil {
		return nil, err
	}
	p := &airflowapi.People{Passwords: map[string]airflowapi.User{}}
	for name, u := range file.People {
		p.Passwords[name] = airflowapi.User{Name: u.Username, Password: u.Password}
	}
	if major < 3 {
		return p, nil
	}
	if _, err := signingKey(st.cfg, ""); err != nil || st.cfg.AirflowAPIJWTSecret == "" && st.cfg.AirflowAPIJWTKey == "" {
		return p, err // the key file is checked before Airflow is asked anything
	}
	if p.Auth, err = askAuthSettings(ctx, st); err != nil {
		return nil, err
	}
	if p.Key, err = signingKey(st.cfg, p.Auth.Algorithm); err != nil {
		return nil, err
	}
	p.Users = func(ctx context.Context) (map[string]string, error) { return fabUsers(ctx, run) }
	return p, nil
}

// signingKey reads the key of [airflow_api] jwt_secret_file or jwt_private_key_file, to sign with alg
// (Airflow's [api_auth] jwt_algorithm; "" for the one Airflow takes for such a key); nil without either.
func signingKey(cfg *config.Config, alg string) (*airflowapi.SigningKey, error) {
	switch {
	case cfg.AirflowAPIJWTSecret != "":
		return airflowapi.LoadSecret(cfg.AirflowAPIJWTSecret, "[airflow_api] jwt_secret_file", alg)
	case cfg.AirflowAPIJWTKey != "":
		return airflowapi.LoadPrivateKey(cfg.AirflowAPIJWTKey, "[airflow_api] jwt_private_key_file", cfg.AirflowAPIJWTKid, alg)
	}
	return nil, nil
}

// askAuthSettings runs airflowapi.AuthScript with Airflow's interpreter, in Airflow's home and
// environment: what Airflow's API server reads from a JWT.
func askAuthSettings(ctx context.Context, st *setup) (*airflowapi.AuthSettings, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, st.python, "-c", airflowapi.AuthScript, "airflow-gateway-auth-settings")
	cmd.Env, cmd.Dir = st.exec.Env, st.exec.Home
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("reading Airflow's auth settings, to sign JWTs for Airflow users, failed (%v): %s", err, commands.LastLine(stderr.String()))
	}
	a, err := airflowapi.ParseAuthSettings(string(out))
	if err != nil {
		return nil, err
	}
	if a.Kind() == "" {
		slog.Warn("Airflow's auth manager is neither the simple nor the FAB auth manager: tokens with airflow_user are refused on its REST API", "auth_manager", a.AuthManager)
	}
	return a, nil
}

// fabUsers lists the FAB auth manager's users, name to id, with `airflow users list --output json`.
func fabUsers(ctx context.Context, run func(context.Context, commands.Exec) (*commands.Result, error)) (map[string]string, error) {
	out, err := ask(ctx, run, "users", "list", "--output", "json")
	if err != nil {
		return nil, err
	}
	// The listing is the last line that starts a JSON array; Airflow may log before it.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "[") {
			continue
		}
		var rows []struct {
			ID       json.RawMessage `json:"id"` // a string on Airflow 3, a number before
			Username string          `json:"username"`
		}
		if err := json.Unmarshal([]byte(line), &rows); err != nil {
			return nil, fmt.Errorf("`airflow users list --output json` printed what is not a listing of users: %v", err)
		}
		ids := make(map[string]string, len(rows))
		for _, r := range rows {
			ids[r.Username] = strings.Trim(string(r.ID), `"`)
		}
		return ids, nil
	}
	return nil, fmt.Errorf("`airflow users list --output json` printed no listing of users")
}

// discoverAirflowAPI finds Airflow's REST API when [airflow_api] url is empty: the URL Airflow's own
// configuration names, asked through svc once its executor has settled (forked from the warm process
// rather than a cold start beside its warm-up), and used only when Airflow's API answers there (a default
// base_url such as http://localhost:8080 may name nothing, or the gateway itself).
func discoverAirflowAPI(ctx context.Context, st *setup, svc *commands.Service) (*airflowapi.Client, error) {
	svc.AwaitSettled(ctx, time.Minute)
	up, err := airflowAPI(ctx, st, svc.Ask)
	if err != nil {
		return nil, fmt.Errorf("the configuration of Airflow names no URL for it (%v)", err)
	}
	probe := "/api/v1/health"
	if up.Major >= 3 {
		probe = "/api/v2/monitor/health"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if status, err := up.Get(ctx, probe, ""); err != nil || status != http.StatusOK {
		up.Close()
		return nil, fmt.Errorf("the configuration of Airflow names %s, where its API does not answer GET %s", up.URL.Redacted(), probe)
	}
	return up, nil
}

// checkAirflowAPI says whether the API answers and whether it accepts each role's user.
func checkAirflowAPI(ctx context.Context, up *airflowapi.Client) []string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lines []string
	probe := "/api/v1/version"
	if up.Major >= 3 {
		probe = "/api/v2/version"
	}
	status, err := up.Get(ctx, probe, "")
	switch {
	case err != nil:
		return []string{fmt.Sprintf("airflow_api:   %s does not answer: %v", up.URL.Redacted(), err)}
	case status != http.StatusOK:
		return []string{fmt.Sprintf("airflow_api:   %s answered %d to GET %s", up.URL.Redacted(), status, probe)}
	}
	lines = append(lines, fmt.Sprintf("airflow_api:   %s answers (Airflow %d)", up.URL.Redacted(), up.Major))
	for _, role := range []commands.Role{commands.RoleViewer, commands.RoleUser, commands.RoleOp, commands.RoleAdmin} {
		user := up.UserOf(role)
		if user == "" {
			lines = append(lines, fmt.Sprintf("  %-6s       no user in users_file", role))
			continue
		}
		status, err := up.Get(ctx, strings.Replace(probe, "/version", "/dags?limit=1", 1), role.String())
		verdict := "accepted"
		if err != nil {
			verdict = "refused: " + err.Error()
		} else if status != http.StatusOK {
			verdict = fmt.Sprintf("refused (%d)", status)
		}
		lines = append(lines, fmt.Sprintf("  %-6s       %s: %s", role, user, verdict))
	}
	return lines
}

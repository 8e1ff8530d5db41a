//go:build linux

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
)

// airflowAPI returns Airflow's REST API as [airflow_api] names it: its URL, or when that is empty the one
// Airflow's own configuration gives ([webserver] base_url on 2.x, [api] base_url on 3.x), asked with run;
// the users of users_file.
func airflowAPI(ctx context.Context, st *setup, run func(context.Context, commands.Exec) (*commands.Result, error)) (*airflowapi.Client, error) {
	major, _ := strconv.Atoi(strings.SplitN(st.version, ".", 2)[0])
	users, err := airflowUsers(st.cfg)
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
	return airflowapi.New(u, major, users, st.cfg.AirflowAPITimeout), nil
}

// airflowUsers reads the Airflow users of the gateway's roles from [airflow_api] users_file, if any.
func airflowUsers(cfg *config.Config) (map[commands.Role]airflowapi.User, error) {
	users := map[commands.Role]airflowapi.User{}
	if cfg.AirflowAPIUsersFile == "" {
		return users, nil
	}
	file, err := config.LoadUsers(cfg.AirflowAPIUsersFile)
	if err != nil {
		return nil, fmt.Errorf("[airflow_api] users_file: %w", err)
	}
	for role, u := range file {
		users[role] = airflowapi.User{Name: u.Username, Password: u.Password}
	}
	return users, nil
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

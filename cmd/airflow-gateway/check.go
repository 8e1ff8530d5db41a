//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs/postgres"
	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/gateway"
)

// check prints what the gateway finds, and fails on any problem.
func check(ctx context.Context, configPath string, getenv func(string) string, stdout io.Writer) error {
	st, err := load(ctx, configPath, getenv)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config:        %s\n", st.cfg.Source)
	fmt.Fprintf(stdout, "airflow:       %s\n", st.exec.Binary)
	fmt.Fprintf(stdout, "version:       %s\n", st.version)
	if st.warning != "" {
		fmt.Fprintf(stdout, "warning:       %s\n", st.warning)
	}
	fmt.Fprintf(stdout, "python:        %s\n", st.python)
	if st.cached {
		fmt.Fprintf(stdout, "catalog:       from the cache in state_dir\n")
	} else {
		fmt.Fprintf(stdout, "catalog:       read from Airflow's parser, and cached in state_dir\n")
	}
	fmt.Fprintf(stdout, "airflow_home:  %s\n", st.exec.Home)
	fmt.Fprintf(stdout, "dags_folder:   %s\n", st.dags)
	fmt.Fprintf(stdout, "state_dir:     %s\n", st.state)
	fmt.Fprintf(stdout, "executor:      %s\n", st.cfg.Executor)
	jobLines, err := checkJobsDatabase(ctx, st.cfg.JobsDatabaseURL)
	if err != nil {
		return err
	}
	for _, line := range jobLines {
		fmt.Fprintln(stdout, line)
	}
	started := time.Now()
	dags, err := st.exec.ReadDAGIndex(ctx, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("the DAG index, which scopes match against, cannot be read from Airflow's metadata DB: %w", err)
	}
	fmt.Fprintf(stdout, "dag_index:     %d DAGs, read in %s; read again every %s\n", len(dags), time.Since(started).Round(time.Millisecond), st.cfg.DAGIndexRefresh)
	keys, err := keyring(st.cfg)
	if err != nil {
		return err
	}
	tokens, err := tokenSet(st.cfg)
	if err != nil {
		return err
	}
	for _, line := range checkScopes(tokens, dags) {
		fmt.Fprintln(stdout, line)
	}
	for _, line := range checkPeople(ctx, st.exec, tokens, dags) {
		fmt.Fprintln(stdout, line)
	}
	if err := checkExposure(st.cfg, keys); err != nil {
		return err
	}
	up, err := airflowAPI(ctx, st, st.exec.Run)
	if err != nil {
		return err
	}
	defer up.Close()
	for _, line := range checkAirflowAPI(ctx, up) {
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// checkJobsDatabase says where the jobs are kept: jobs.db in state_dir, or the PostgreSQL database of
// databaseURL, with a warning when a pooler between the gateway and PostgreSQL hands server sessions out per
// transaction. A database that cannot be reached fails check, as it would fail serve.
func checkJobsDatabase(ctx context.Context, databaseURL string) ([]string, error) {
	if databaseURL == "" {
		return []string{"jobs:          jobs.db in state_dir, this gateway's alone"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, poolingProbeTimeout)
	defer cancel()
	p, err := postgres.ProbePooling(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	lines := []string{"jobs:          PostgreSQL at " + postgres.Redacted(databaseURL)}
	if p.ByTransaction {
		lines = append(lines, "warning:       "+poolingWarning(p))
	}
	return lines, nil
}

// poolingProbeTimeout bounds check's and serve's probe of the jobs database's pooling: two connections and
// a few statements, which take milliseconds.
const poolingProbeTimeout = 15 * time.Second

// poolingWarning says, for check's output and serve's log, that [jobs] database_url goes through a pooler
// that pools by transaction, what showed it, and what to do.
func poolingWarning(p postgres.Pooling) string {
	seen := p.Seen
	if p.Hint != "" {
		seen += "; the URL looks like PgBouncer's: " + p.Hint
	}
	return "[jobs] database_url goes through a pooler that pools by transaction, as PgBouncer's pool_mode = transaction does (" + seen +
		"): the job store needs a PostgreSQL session per connection, where its driver keeps the statements it prepared." +
		" Point [jobs] database_url at PostgreSQL itself, such as the official chart's <release>-postgresql Service on port 5432, not <release>-pgbouncer on 6432."
}

// checkScopes says, for each token, its role and the DAGs its scope reaches now among those of the index.
func checkScopes(tokens []gateway.Token, dags []commands.DAGInfo) []string {
	index := commands.NewDAGIndex(dags)
	var lines []string
	for _, t := range tokens {
		reach := "every DAG"
		if !t.Scope.IsZero() {
			n := 0
			for _, d := range dags {
				if t.Scope.Reaches(d.ID, index) {
					n++
				}
			}
			reach = fmt.Sprintf("scope %s: %d of the %d DAGs now", t.Scope, n, index.Len())
		}
		lines = append(lines, fmt.Sprintf("token:         %s, role %s, %s", t.Name, t.Role, reach))
	}
	return lines
}

// checkPeople says, for each token that acts as an Airflow user (§20), whether Airflow's auth manager knows
// the user, and what it lets the user do on one DAG: the first, by id, of those the token's scope reaches.
// The queries of every token go to one run of the authorizer, so that Airflow's auth manager starts once. A
// manager that cannot answer, or one the gateway does not ask, is said, and check goes on.
func checkPeople(ctx context.Context, a interface {
	AuthorizeAll(context.Context, []commands.PermissionQuery) ([]*commands.PermissionAnswer, error)
}, tokens []gateway.Token, dags []commands.DAGInfo) []string {
	index := commands.NewDAGIndex(dags)
	var (
		people []gateway.Token
		on     []string
		qs     []commands.PermissionQuery
	)
	for _, t := range tokens {
		if t.AirflowUser == "" {
			continue
		}
		dag := ""
		for _, d := range dags {
			if (t.Scope.IsZero() || t.Scope.Reaches(d.ID, index)) && (dag == "" || d.ID < dag) {
				dag = d.ID
			}
		}
		q := commands.PermissionQuery{User: t.AirflowUser}
		if dag != "" {
			for _, m := range []string{"GET", "PUT", "DELETE"} {
				q.Checks = append(q.Checks, commands.Permission{Resource: commands.ResourceDAG, Method: m, ID: dag})
			}
		}
		people, on, qs = append(people, t), append(on, dag), append(qs, q)
	}
	if len(qs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	answers, err := a.AuthorizeAll(ctx, qs)
	var lines []string
	for i, t := range people {
		head := fmt.Sprintf("  airflow_user %s (token %s): ", t.AirflowUser, t.Name)
		switch ans := answerOf(answers, i); {
		case err != nil:
			lines = append(lines, head+"not asked: "+err.Error())
		case !ans.UserFound:
			lines = append(lines, head+"Airflow's auth manager knows no such user; create it in Airflow or fix airflow_user in the tokens file")
		case on[i] == "":
			lines = append(lines, head+"exists; no DAG to ask about")
		case len(ans.Allowed) != 3:
			lines = append(lines, fmt.Sprintf("%sexists; Airflow's auth manager answered %d checks of 3", head, len(ans.Allowed)))
		default:
			lines = append(lines, fmt.Sprintf("%sexists; on %s: read %s, edit %s, delete %s", head, on[i], yesNo(ans.Allowed[0]), yesNo(ans.Allowed[1]), yesNo(ans.Allowed[2])))
		}
	}
	return lines
}

// answerOf returns the i-th answer, or an empty one when there is none.
func answerOf(answers []*commands.PermissionAnswer, i int) *commands.PermissionAnswer {
	if i < len(answers) && answers[i] != nil {
		return answers[i]
	}
	return &commands.PermissionAnswer{}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// checkExposure refuses to serve without a token anywhere but loopback, unless told to.
func checkExposure(cfg *config.Config, keys *gateway.Keyring) error {
	if keys.Open() && !cfg.ListensOnLoopback() && !cfg.AllowUnauthenticated {
		return fmt.Errorf("no token is configured and %s is not a loopback address: set [rest_api_plugin] rest_api_plugin_expected_http_token (or [auth] tokens_file), or set [gateway] allow_unauthenticated = True", cfg.Listen)
	}
	return nil
}

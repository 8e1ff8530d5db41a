//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
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

// checkExposure refuses to serve without a token anywhere but loopback, unless told to.
func checkExposure(cfg *config.Config, keys *gateway.Keyring) error {
	if keys.Open() && !cfg.ListensOnLoopback() && !cfg.AllowUnauthenticated {
		return fmt.Errorf("no token is configured and %s is not a loopback address: set [rest_api_plugin] rest_api_plugin_expected_http_token (or [auth] tokens_file), or set [gateway] allow_unauthenticated = True", cfg.Listen)
	}
	return nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/airflow-gateway/airflow-gateway/cmd/airflow-gateway/client"
)

const tokenUsage = `usage: airflow-gateway token create [--ttl 2h] [--role ROLE] [--dags GLOBS] [--tags TAGS] [--teams TEAMS]
       [--url URL] [--token-file FILE] [--profile NAME] [--cacert FILE]

Mints a short-lived token through a running gateway (POST /api/v1/tokens) and prints it as JSON: token,
name, role, scope, expires_at and login_url. --dags, --tags and --teams (comma-separated) narrow the
token to those DAGs, within the minting token's own scope; without them it keeps that scope. The gateway and the token it mints from are found as airflow-gateway
run finds them: the flags, then AIRFLOW_GATEWAY_URL and AIRFLOW_GATEWAY_TOKEN or AIRFLOW_GATEWAY_TOKEN_FILE,
then a profile of the client's profiles file. A token is never taken from a flag (it would show in ps).
`

// tokenCommand runs `airflow-gateway token create`.
func tokenCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stderr, tokenUsage)
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, tokenUsage)
		return errors.New("token: the only subcommand is create")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tokenUsage) }
	ttl := fs.String("ttl", "", "how long the token lives, such as 60s or 2h (the gateway's default: 2h)")
	role := fs.String("role", "", "the token's role, at most the minting token's (default: the same)")
	var scope [3]string
	fs.StringVar(&scope[0], "dags", "", "globs on DAG ids the token reaches, comma-separated, such as team_a_*,shared_report")
	fs.StringVar(&scope[1], "tags", "", "DAG tags the token reaches, comma-separated")
	fs.StringVar(&scope[2], "teams", "", "Airflow teams whose DAGs the token reaches, comma-separated")
	var flags client.Flags
	fs.StringVar(&flags.URL, "url", "", "the gateway's URL")
	fs.StringVar(&flags.TokenFile, "token-file", "", "a file holding the token to mint from")
	fs.StringVar(&flags.Profile, "profile", "", "a profile of the profiles file")
	fs.StringVar(&flags.CACert, "cacert", "", "PEM certificates to trust for an HTTPS gateway, besides the system's")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token create: unexpected argument %q", fs.Arg(0))
	}
	settings, err := client.Load(flags, getenv)
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	cl, err := client.New(settings)
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	answer, err := cl.MintToken(ctx, client.MintRequest{TTL: *ttl, Role: *role, DAGs: scopeLines(scope[0]), Tags: scopeLines(scope[1]), Teams: scopeLines(scope[2])})
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, answer, "", "  "); err != nil {
		return fmt.Errorf("token create: the gateway's answer is not JSON: %w", err)
	}
	fmt.Fprintln(stdout, out.String())
	return nil
}

// scopeLines splits a comma-separated flag into its lines; nil when the flag is not given. Empty lines
// stay, for the gateway to refuse with its reason.
func scopeLines(flag string) []string {
	if flag == "" {
		return nil
	}
	lines := strings.Split(flag, ",")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return lines
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/airflow-gateway/airflow-gateway/cmd/airflow-gateway/client"
)

const tokenUsage = `usage: airflow-gateway token create [--ttl 2h] [--role ROLE] [--url URL] [--token-file FILE] [--profile NAME] [--cacert FILE]

Mints a short-lived token through a running gateway (POST /api/v1/tokens) and prints it as JSON: token,
name, role, expires_at and login_url. The gateway and the token it mints from are found as airflow-gateway
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
	answer, err := cl.MintToken(ctx, *ttl, *role)
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

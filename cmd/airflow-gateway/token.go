package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

const tokenUsage = `usage: airflow-gateway token create [--ttl 2h] [--role ROLE] [--url URL] [--token-file FILE] [--cacert FILE]

Mints a short-lived token through a running gateway (POST /api/v1/tokens) and prints it as JSON: token,
name, role, expires_at and login_url. The token it mints from is read from $AIRFLOW_GATEWAY_TOKEN, or the
file --token-file or $AIRFLOW_GATEWAY_TOKEN_FILE names, never from a flag (it would show in ps). The
gateway is --url, or $AIRFLOW_GATEWAY_URL, or http://127.0.0.1:8080.
`

// tokenCommand runs `airflow-gateway token create`.
func tokenCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, tokenUsage)
		return errors.New("token: the only subcommand is create")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tokenUsage) }
	ttl := fs.String("ttl", "", "how long the token lives, such as 60s or 2h (the gateway's default: 2h)")
	role := fs.String("role", "", "the token's role, at most the minting token's (default: the same)")
	url := fs.String("url", "", "the gateway's URL (default: $AIRFLOW_GATEWAY_URL, or http://127.0.0.1:8080)")
	tokenFile := fs.String("token-file", "", "a file holding the token to mint from (default: $AIRFLOW_GATEWAY_TOKEN_FILE)")
	cacert := fs.String("cacert", "", "PEM certificates to trust for an HTTPS gateway, besides the system's")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token create: unexpected argument %q", fs.Arg(0))
	}
	base := firstOf(*url, getenv("AIRFLOW_GATEWAY_URL"), "http://127.0.0.1:8080")
	parent, err := clientToken(*tokenFile, getenv)
	if err != nil {
		return err
	}
	client, err := httpClient(*cacert)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"ttl": *ttl, "role": *role})
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/api/v1/tokens", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+parent)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("token create: cannot reach the gateway at %s: %w", base, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		var problem struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(answer, &problem) != nil || problem.Detail == "" {
			problem.Detail = strings.TrimSpace(string(answer))
		}
		return fmt.Errorf("token create: the gateway answered %s: %s", resp.Status, problem.Detail)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, answer, "", "  "); err != nil {
		return fmt.Errorf("token create: the gateway's answer is not JSON: %w", err)
	}
	fmt.Fprintln(stdout, out.String())
	return nil
}

// clientToken reads the token a client sends: $AIRFLOW_GATEWAY_TOKEN, or the first line of the file named
// by file or $AIRFLOW_GATEWAY_TOKEN_FILE.
func clientToken(file string, getenv func(string) string) (string, error) {
	if file == "" {
		if t := getenv("AIRFLOW_GATEWAY_TOKEN"); t != "" {
			return t, nil
		}
		file = getenv("AIRFLOW_GATEWAY_TOKEN_FILE")
	}
	if file == "" {
		return "", errors.New("no token: set AIRFLOW_GATEWAY_TOKEN, or name a file holding it with --token-file or AIRFLOW_GATEWAY_TOKEN_FILE")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read the token file: %w", err)
	}
	token, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if token = strings.TrimSpace(token); token == "" {
		return "", fmt.Errorf("the token file %s is empty", file)
	}
	return token, nil
}

// httpClient trusts the system's roots and, when cacert names a PEM file, its certificates too.
func httpClient(cacert string) (*http.Client, error) {
	if cacert == "" {
		return &http.Client{}, nil
	}
	pem, err := os.ReadFile(cacert)
	if err != nil {
		return nil, fmt.Errorf("read --cacert: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--cacert %s holds no PEM certificate", cacert)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

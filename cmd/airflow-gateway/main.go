// Command airflow-gateway runs Apache Airflow CLI commands over HTTP, safely.
//
//	airflow-gateway serve --config FILE   run the server (the default)
//	airflow-gateway check --config FILE   check the configuration and the Airflow installation
//	airflow-gateway version               print the gateway's version
//	airflow-gateway hash-token            read a token on stdin, print its SHA-256 for the tokens file
//	airflow-gateway install DIR           copy this binary into DIR (an init container's command)
//	airflow-gateway token create          mint a short-lived token through a running gateway
//	airflow-gateway run -- ARGS...        run an Airflow command through a gateway (also as `airflow ARGS`)
//	airflow-gateway jobs list|follow|cancel
//	airflow-gateway deploy FILE           upload a DAG file through a gateway
//	airflow-gateway api PATH              send one call of Airflow's REST API through a gateway
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is the gateway's version; release builds set it with -ldflags "-X main.version=...".
var version = "0.1.0"

// commit is the commit the binary was built from, set by make build and make dist with -ldflags
// "-X main.commit=..."; without it, the version control stamp of go build is read.
var commit = ""

func main() {
	if isClient(os.Args) {
		interrupts := make(chan os.Signal, 2)
		signal.Notify(interrupts, os.Interrupt)
		os.Exit(runClient(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr, interrupts))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // --help asked for the usage, which is printed
		}
		fmt.Fprintln(os.Stderr, "airflow-gateway:", err)
		os.Exit(1)
	}
}

const usage = `usage: airflow-gateway [serve|check|version|hash-token] [--config FILE]
       airflow-gateway install DIR
       airflow-gateway token create [--ttl 2h] [--role ROLE]
       airflow-gateway run [--job] -- ARGS...
       airflow-gateway jobs list|follow ID|cancel ID
       airflow-gateway deploy FILE.py|FILE.zip [--force] [--pause|--unpause]
       airflow-gateway api [-X METHOD] [-d JSON] PATH

The server:
  serve       run the server (the default)
  check       load the configuration, find Airflow, print what was found
  version     print the gateway's version
  hash-token  read a token on stdin and print its SHA-256, for [auth] tokens_file
  install     copy this binary into the folder DIR as DIR/airflow-gateway, mode 0755, and print its path

The client, against a running gateway (each has --help):
  token       token create: mint a short-lived token
  run         run an Airflow command, with its output and exit code (also as ` + "`airflow ARGS`" + `)
  jobs        list, follow or cancel jobs
  deploy      upload a DAG file
  api         send one call of Airflow's REST API, print its JSON
`

// run runs the server side of the program (serve, check, version, hash-token, install, token create); ctx
// ends it.
// The client subcommands (run, jobs, deploy, api, or the binary linked as airflow) go through runClient,
// which main calls instead.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	if sub == "token" {
		return tokenCommand(ctx, args, getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet(sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if sub == "install" {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("install takes one folder, DIR\n%s", usage)
		}
		return install(fs.Arg(0), stdout)
	}
	configPath := fs.String("config", "", "the INI config file (default: $AIRFLOW_GATEWAY_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), usage)
	}
	if *configPath == "" {
		*configPath = getenv("AIRFLOW_GATEWAY_CONFIG")
	}
	switch sub {
	case "version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "hash-token":
		return hashToken(stdin, stdout)
	case "check":
		return check(ctx, *configPath, getenv, stdout)
	case "serve":
		return serve(ctx, *configPath, getenv, stdout, stderr)
	}
	return fmt.Errorf("unknown subcommand %q\n%s", sub, usage)
}

// hashToken reads one token (the first line of stdin, without its line ending) and prints its hex SHA-256.
func hashToken(stdin io.Reader, stdout io.Writer) error {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	token := strings.TrimRight(line, "\r\n")
	if token == "" {
		return errors.New("hash-token: no token on stdin; try: printf '%s' \"$TOKEN\" | airflow-gateway hash-token")
	}
	if len(token) < 16 {
		return errors.New("hash-token: the token is shorter than 16 characters; use a long random one, such as: openssl rand -hex 32")
	}
	sum := sha256.Sum256([]byte(token))
	fmt.Fprintln(stdout, hex.EncodeToString(sum[:]))
	return nil
}

// versionLine is what `airflow-gateway version` prints: the version, then the commit it was built from
// and when, and the Go release, as the build recorded them.
func versionLine() string {
	built, when, modified, goVersion := "unknown", "", false, runtime.Version()
	if commit != "" {
		built = commit
	} else if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				built = s.Value[:min(len(s.Value), 12)]
			case "vcs.time":
				when = " " + s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		built += "+changes"
	}
	return fmt.Sprintf("airflow-gateway %s (commit %s%s, %s, %s/%s)", version, built, when, goVersion, runtime.GOOS, runtime.GOARCH)
}

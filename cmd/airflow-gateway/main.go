// Command airflow-gateway runs Apache Airflow CLI commands over HTTP, safely.
//
//	airflow-gateway serve --config FILE   run the server (the default)
//	airflow-gateway check --config FILE   check the configuration and the Airflow installation
//	airflow-gateway version               print the gateway's version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is the gateway's version; release builds set it with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "airflow-gateway:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: airflow-gateway [serve|check|version] [--config FILE]

  serve     run the server (the default)
  check     load the configuration, find Airflow, print what was found
  version   print the gateway's version
`

// run is the whole program; ctx ends it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet(sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
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
		fmt.Fprintln(stdout, version)
		return nil
	case "check":
		return check(ctx, *configPath, getenv, stdout)
	case "serve":
		return serve(ctx, *configPath, getenv, stdout, stderr)
	}
	return fmt.Errorf("unknown subcommand %q\n%s", sub, usage)
}

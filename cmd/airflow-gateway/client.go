package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/airflow-gateway/airflow-gateway/cmd/airflow-gateway/client"
)

const runUsage = `usage: airflow-gateway run [--url URL] [--token-file FILE] [--profile NAME] [--cacert FILE] [--job] -- ARGS...
       airflow-gateway jobs list | follow ID | cancel ID    (the same flags before list, follow or cancel)
       airflow-gateway deploy [--force] [--pause|--unpause] FILE.py|FILE.zip ...
       airflow-gateway api [-X METHOD] [-d JSON|@FILE|@-] PATH       (Airflow's REST API: PATH such as /api/v1/dags)
       airflow ARGS...                                      (the binary installed or linked as airflow)

Runs the Airflow command ARGS through a gateway: its stdout and stderr come out here, and its exit code is
this program's. The words are sent as they are (no quoting for the gateway is ever needed). Long commands
(dags test, tasks test, backfills) and any with --job run as jobs, their output printed as it comes; the
first Ctrl-C cancels the job, a second leaves it running.

Settings: the flags, then AIRFLOW_GATEWAY_URL, AIRFLOW_GATEWAY_TOKEN or AIRFLOW_GATEWAY_TOKEN_FILE, then the
profile (--profile, AIRFLOW_GATEWAY_PROFILE, or [default]) of ~/.config/airflow-gateway/client.ini, with the
keys url, token_file (or token) and cacert. A token is never given as a flag: it would show in ps.

`

// isClient reports whether args (os.Args) ask for the client: the binary named airflow, or a client
// subcommand.
func isClient(args []string) bool {
	if clientName(args[0]) {
		return true
	}
	return len(args) > 1 && (args[1] == "run" || args[1] == "jobs" || args[1] == "deploy" || args[1] == "api")
}

// clientName reports whether the program runs under the name airflow (installed or linked so), in which
// case it behaves as `airflow-gateway run -- ARGS`.
func clientName(arg0 string) bool {
	return strings.TrimSuffix(filepath.Base(arg0), ".exe") == "airflow"
}

// runClient runs the client with args (os.Args) and returns the exit code. interrupts delivers Ctrl-C.
func runClient(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, interrupts <-chan os.Signal) int {
	var flags client.Flags
	var asJob bool
	var deploy struct{ force, pause, unpause bool }
	var apiCall struct{ method, data string }
	var rest []string
	sub := "run"
	if clientName(args[0]) {
		rest = args[1:]
	} else {
		sub = args[1]
		fs := flag.NewFlagSet(sub, flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() { fmt.Fprint(stderr, runUsage+client.ExitCodes) }
		fs.StringVar(&flags.URL, "url", "", "the gateway's URL")
		fs.StringVar(&flags.TokenFile, "token-file", "", "a file holding the token")
		fs.StringVar(&flags.Profile, "profile", "", "a profile of the profiles file")
		fs.StringVar(&flags.CACert, "cacert", "", "PEM certificates to trust for an HTTPS gateway, besides the system's")
		if sub == "run" {
			fs.BoolVar(&asJob, "job", false, "run the command as a job, with its output printed as it comes")
		}
		if sub == "api" {
			fs.StringVar(&apiCall.method, "X", "", "the method: GET, or POST when -d is given")
			fs.StringVar(&apiCall.data, "d", "", "the JSON body; @FILE reads it from a file, @- from stdin")
		}
		if sub == "deploy" {
			fs.BoolVar(&deploy.force, "force", false, "replace a file of the same name (the gateway keeps the old one as a backup)")
			fs.BoolVar(&deploy.pause, "pause", false, "pause the DAGs the file defines")
			fs.BoolVar(&deploy.unpause, "unpause", false, "unpause the DAGs the file defines")
		}
		if err := fs.Parse(args[2:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return client.ExitRefused
		}
		rest = fs.Args()
	}
	settings, err := client.Load(flags, getenv)
	if err != nil {
		return report(stderr, &client.Error{Code: client.ExitConfig, Message: err.Error()})
	}
	cl, err := client.New(settings)
	if err != nil {
		return report(stderr, err)
	}
	switch sub {
	case "run":
		if len(rest) == 0 {
			fmt.Fprint(stderr, runUsage)
			return client.ExitRefused
		}
		return runRemote(ctx, cl, rest, asJob, stdout, stderr, interrupts)
	case "jobs":
		return jobsCommand(ctx, cl, rest, stdout, stderr, interrupts)
	case "api":
		if len(rest) != 1 {
			fmt.Fprint(stderr, runUsage)
			return client.ExitRefused
		}
		return apiCommand(ctx, cl, apiCall.method, apiCall.data, rest[0], stdout, stderr)
	case "deploy":
		if len(rest) == 0 {
			fmt.Fprint(stderr, runUsage)
			return client.ExitRefused
		}
		return deployFiles(ctx, cl, rest, deploy.force, deploy.pause, deploy.unpause, stdout, stderr)
	}
	return client.ExitRefused
}

// apiCommand sends one call of Airflow's REST API: `airflow-gateway api [-X METHOD] PATH [-d JSON]`.
func apiCommand(ctx context.Context, cl *client.Client, method, data, path string, stdout, stderr io.Writer) int {
	var body []byte
	switch {
	case data == "@-":
		body, _ = io.ReadAll(os.Stdin)
	case strings.HasPrefix(data, "@"):
		var err error
		if body, err = os.ReadFile(data[1:]); err != nil {
			return report(stderr, &client.Error{Code: client.ExitConfig, Message: err.Error()})
		}
	case data != "":
		body = []byte(data)
	}
	if method == "" {
		method = "GET"
		if body != nil {
			method = "POST"
		}
	}
	if err := cl.API(ctx, strings.ToUpper(method), path, body, stdout); err != nil {
		return report(stderr, err)
	}
	return 0
}

// runRemote runs argv through the gateway, as a job when asked or when the gateway runs it under its long
// limit, and returns the exit code.
func runRemote(ctx context.Context, cl *client.Client, argv []string, asJob bool, stdout, stderr io.Writer, interrupts <-chan os.Signal) int {
	if !asJob {
		long, err := cl.IsLong(ctx, argv)
		if err != nil {
			return report(stderr, err)
		}
		asJob = long
	}
	if asJob {
		job, err := cl.StartJob(ctx, argv)
		if err != nil {
			return report(stderr, err)
		}
		return followRemoteJob(ctx, cl, job.ID, true, stdout, stderr, interrupts)
	}
	// One request: Ctrl-C drops it, and the gateway stops the command of a request that went away.
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-interrupts:
			cancel()
		case <-reqCtx.Done():
		}
	}()
	code, err := cl.Run(reqCtx, argv, stdout, stderr)
	if reqCtx.Err() != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "airflow-gateway: interrupted; the gateway stops the command")
		return client.ExitInterrupted
	}
	if err != nil {
		return report(stderr, err)
	}
	return code
}

// followRemoteJob prints a job's output until it ends and returns its exit code. The first Ctrl-C cancels the
// job (when cancels is set) and waits for it to end; a second leaves at once.
func followRemoteJob(ctx context.Context, cl *client.Client, id string, cancels bool, stdout, stderr io.Writer, interrupts <-chan os.Signal) int {
	followCtx, leave := context.WithCancel(ctx)
	defer leave()
	go func() {
		select {
		case <-interrupts:
		case <-followCtx.Done():
			return
		}
		if !cancels {
			leave()
			return
		}
		fmt.Fprintf(stderr, "airflow-gateway: canceling job %s (Ctrl-C again leaves it)\n", id)
		go func() { // the gateway answers a cancel once the job has stopped: a second Ctrl-C must not wait for it
			if _, err := cl.CancelJob(ctx, id); err != nil && followCtx.Err() == nil {
				fmt.Fprintf(stderr, "airflow-gateway: the cancel failed: %v\n", err)
			}
		}()
		select {
		case <-interrupts:
			fmt.Fprintf(stderr, "airflow-gateway: leaving; job %s may still run (airflow-gateway jobs cancel %s)\n", id, id)
			leave()
		case <-followCtx.Done():
		}
	}()
	job, err := cl.Follow(followCtx, id, stdout, stderr)
	if followCtx.Err() != nil && ctx.Err() == nil {
		return client.ExitInterrupted
	}
	if err != nil {
		return report(stderr, err)
	}
	switch job.State {
	case "succeeded", "failed":
		if job.ExitCode != nil {
			return *job.ExitCode
		}
	case "canceled":
		fmt.Fprintf(stderr, "airflow-gateway: job %s was canceled\n", id)
		return client.ExitInterrupted
	case "timed_out":
		fmt.Fprintf(stderr, "airflow-gateway: job %s ran past its time limit and was stopped\n", id)
		return client.ExitTimedOut
	}
	return report(stderr, &client.Error{Code: client.ExitSoftware, Message: fmt.Sprintf("job %s ended %s: %s", id, job.State, job.Detail)})
}

// jobsCommand runs `jobs list`, `jobs follow ID` and `jobs cancel ID`.
func jobsCommand(ctx context.Context, cl *client.Client, args []string, stdout, stderr io.Writer, interrupts <-chan os.Signal) int {
	switch {
	case len(args) == 1 && args[0] == "list":
		if err := cl.ListJobs(ctx, stdout); err != nil {
			return report(stderr, err)
		}
		return 0
	case len(args) == 2 && args[0] == "follow":
		return followRemoteJob(ctx, cl, args[1], false, stdout, stderr, interrupts)
	case len(args) == 2 && args[0] == "cancel":
		job, err := cl.CancelJob(ctx, args[1])
		if err != nil {
			return report(stderr, err)
		}
		fmt.Fprintf(stdout, "%s %s\n", job.ID, job.State)
		return 0
	}
	fmt.Fprint(stderr, runUsage)
	return client.ExitRefused
}

// deployFiles uploads each file and prints what the gateway did with it and the file's import errors;
// it exits 1 when a file was deployed with import errors, or the exit code of the first failure.
func deployFiles(ctx context.Context, cl *client.Client, files []string, force, pause, unpause bool, stdout, stderr io.Writer) int {
	code := 0
	for _, file := range files {
		d, err := cl.Deploy(ctx, file, force, pause, unpause)
		if err != nil {
			if c := report(stderr, fmt.Errorf("%s: %w", file, err)); code == 0 {
				code = c
			}
			continue
		}
		fmt.Fprintf(stdout, "%s: %s\n", file, d.Output)
		if d.Warning != "" {
			fmt.Fprintf(stderr, "%s: %s\n", file, d.Warning)
		}
		if d.ImportErrors && code == 0 {
			code = 1
		}
	}
	return code
}

// report prints why the client failed and returns the exit code it stands for.
func report(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "airflow-gateway:", err)
	var e *client.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return client.ExitSoftware
}

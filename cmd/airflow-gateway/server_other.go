//go:build !linux

package main

import (
	"context"
	"errors"
	"io"
)

// errLinuxOnly answers the server's subcommands where they cannot run: the executors rely on Linux's
// process groups, /proc and file descriptors passed over a socket.
var errLinuxOnly = errors.New("the server runs on Linux only (process groups, /proc, descriptors passed over a socket); this build is a client: airflow-gateway run, jobs, token create")

func serve(ctx context.Context, configPath string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errLinuxOnly
}

func check(ctx context.Context, configPath string, getenv func(string) string, stdout io.Writer) error {
	return errLinuxOnly
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/commands/dagindex"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestHelperProcess is the fake Python and airflow of the shutdown tests (a real one cannot be made to
// sleep on demand). As Python it runs the gateway's generate.py (`-c SCRIPT --identity` or `--out FILE`)
// with Airflow 3.3.2's answers, and its DAG index script (`-c SCRIPT airflow-gateway-dag-index`), which
// finds no DAG; as airflow (its first argument is then the airflow script, as the kernel
// runs a script), `config get-value` answers at once, and every other command sleeps for
// GW_FAKE_SLEEP_SECONDS and then prints "done". It runs only when re-executed through fakeAirflow's scripts.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("GW_FAKE_AIRFLOW") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	if args[0] == "-c" {
		switch args[2] {
		case "--identity":
			fmt.Println(`{"version": "3.3.2", "site_packages": "/fake/site-packages", "distributions": []}`)
		case dagindex.ProcessTag:
			fmt.Println(`{"dags": []}`)
		case "--out":
			data, err := os.ReadFile(filepath.Join(commandstest.FixtureDir(), "airflow-3.3.2.json"))
			if err == nil {
				err = os.WriteFile(args[3], data, 0o600)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	switch strings.Join(args[1:], " ") {
	case "config get-value core dags_folder":
		fmt.Println(os.Getenv("GW_FAKE_DAGS"))
	default:
		secs, _ := strconv.Atoi(os.Getenv("GW_FAKE_SLEEP_SECONDS"))
		fmt.Println("started")
		time.Sleep(time.Duration(secs) * time.Second)
		fmt.Println("done")
	}
	os.Exit(0)
}

// fakeAirflow writes a fake airflow script, run by a fake Python as a real one is, which both re-execute the
// test binary.
func fakeAirflow(tb testing.TB, sleepSeconds int) string {
	tb.Helper()
	dir := tb.TempDir()
	dags := filepath.Join(dir, "dags")
	os.Mkdir(dags, 0o755)
	python := filepath.Join(dir, "python")
	text := fmt.Sprintf("#!/bin/sh\nGW_FAKE_AIRFLOW=1 GW_FAKE_SLEEP_SECONDS=%d GW_FAKE_DAGS=%s exec %s -test.run='^TestHelperProcess$' -- \"$@\"\n",
		sleepSeconds, dags, os.Args[0])
	if err := os.WriteFile(python, []byte(text), 0o755); err != nil {
		tb.Fatal(err)
	}
	airflow := filepath.Join(dir, "airflow")
	if err := os.WriteFile(airflow, []byte("#!/usr/bin/env "+python+"\n"), 0o755); err != nil {
		tb.Fatal(err)
	}
	return airflow
}

// TestShutdownLetsCommandsFinishOrAnswersThem sends SIGTERM (the end of run's context) while a command
// runs: one that ends within the grace period is answered with its output; one that does not is stopped
// with its process group and answered 503 with its output so far. Either way the request gets exactly one
// answer, run returns, and no new request is accepted meanwhile.
func TestShutdownLetsCommandsFinishOrAnswersThem(t *testing.T) {
	tests := []struct {
		name         string
		sleep, grace int
		status       int
		says         string
	}{
		{"finishes within the grace period", 3, 20, 200, "done"},
		{"outlives the grace period", 60, 2, 503, "shutting down"},
	}
	for _, tt := range tests {
		// Written before the subtests run side by side: a file that one writes while the other's gateway
		// forks is held open for writing in the fork's child for a moment, and cannot be run then (ETXTBSY).
		bin := fakeAirflow(t, tt.sleep)
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := serveInProcess(t, testbed.Config{AirflowBin: bin, AirflowHome: t.TempDir(), Executor: "subprocess",
				ShutdownGrace: time.Duration(tt.grace) * time.Second})
			c := &testbed.Client{URL: s.URL} // the gateway has no token: it listens on loopback only

			type answer struct {
				status int
				body   map[string]any
				err    error
			}
			answers := make(chan answer, 2)
			go func() {
				a, err := c.Send(http.MethodGet, "/api/v1/command?command=dags%20list", nil)
				if err != nil {
					answers <- answer{err: err}
					return
				}
				var body map[string]any
				err = json.Unmarshal(a.Body, &body)
				answers <- answer{status: a.Status, body: body, err: err}
			}()
			time.Sleep(1500 * time.Millisecond) // the command has started
			start := time.Now()
			s.Stop() // as SIGTERM does
			time.Sleep(300 * time.Millisecond)
			if _, err := c.Send(http.MethodGet, "/health", nil); err == nil {
				t.Errorf("a new request was accepted during the shutdown")
			}
			a := <-answers
			if a.err != nil {
				t.Fatalf("the running request got no answer: %v", a.err)
			}
			text := fmt.Sprint(a.body["stdout"], a.body["detail"])
			if a.status != tt.status || !strings.Contains(text, tt.says) || !strings.Contains(fmt.Sprint(a.body["stdout"]), "started") {
				t.Errorf("answer %d %v, want %d saying %q", a.status, a.body, tt.status, tt.says)
			}
			select {
			case <-s.Ended(): // what run returned is checked at the test's end
			case <-time.After(time.Duration(tt.grace)*time.Second + 15*time.Second):
				t.Fatal("run did not return")
			}
			if took := time.Since(start); tt.status == 503 && took > time.Duration(tt.grace)*time.Second+10*time.Second {
				t.Errorf("the shutdown took %s with a grace of %ds", took, tt.grace)
			}
			select {
			case extra := <-answers:
				t.Errorf("a second answer: %+v", extra)
			default:
			}
		})
	}
}

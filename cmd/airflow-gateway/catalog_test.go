//go:build linux

package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestCatalogReadAtStart starts the gateway's set-up on the installed Airflow 3 twice: with a cold cache,
// it reads the catalog from Airflow's parser and stores it; then it takes it from the cache. Both times
// the catalog is the fixture of the installed version.
func TestCatalogReadAtStart(t *testing.T) {
	bin := testbed.Airflow(t, "3")
	home := t.TempDir()
	// Airflow writes a default airflow.cfg into an empty home the first time it runs, which would change
	// the key of the cached catalog once.
	if err := os.WriteFile(filepath.Join(home, "airflow.cfg"), []byte("[core]\nload_examples = False\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testbed.Config{AirflowBin: bin, AirflowHome: home, StateDir: t.TempDir()}
	want := commandstest.InstalledCatalog(t, bin)
	mustLoad(t, cfg, want, false)
	mustLoad(t, cfg, want, true)
}

// TestCorruptCatalogCacheIsReadAgain corrupts the cached catalog between two starts on a fake Airflow:
// the second start reads the catalog again rather than trust the file.
func TestCorruptCatalogCacheIsReadAgain(t *testing.T) {
	cfg := testbed.Config{AirflowBin: fakeAirflow(t, 0), AirflowHome: t.TempDir(), StateDir: t.TempDir()}
	want := commandstest.Catalog(t, "3.3.2")
	mustLoad(t, cfg, want, false)
	mustLoad(t, cfg, want, true)
	files, _ := filepath.Glob(filepath.Join(cfg.StateDir, "catalog", "*.json"))
	if len(files) != 1 {
		t.Fatalf("the cache holds %v; want one catalog", files)
	}
	if err := os.WriteFile(files[0], []byte(`{"airflow_version": "3.3.2", "comm`), 0o640); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, cfg, want, false)
	mustLoad(t, cfg, want, true)
}

// mustLoad runs the gateway's set-up with cfg and checks that its catalog is want, and came from the
// cache or not, as wantCached says.
func mustLoad(tb testing.TB, cfg testbed.Config, want *commands.Catalog, wantCached bool) {
	tb.Helper()
	began := time.Now()
	st, err := load(context.Background(), cfg.File(tb), func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("catalog cached %v: the set-up took %s", st.cached, time.Since(began).Round(time.Millisecond))
	if st.cached != wantCached {
		tb.Errorf("the catalog came from the cache: %v, want %v", st.cached, wantCached)
	}
	if st.version != want.AirflowVersion || !reflect.DeepEqual(st.catalog.Commands, want.Commands) {
		tb.Errorf("the catalog read at start (Airflow %s) is not the fixture of Airflow %s", st.version, want.AirflowVersion)
	}
}

// TestStartNeedsAirflowsPython: where the airflow command does not name its Python, the start fails
// saying what to set.
func TestStartNeedsAirflowsPython(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "airflow")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := testbed.Config{AirflowBin: bin, AirflowHome: t.TempDir()}.File(t)
	_, err := load(context.Background(), path, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "set [gateway] python_bin") {
		t.Errorf("load: %v; want it to say to set [gateway] python_bin", err)
	}
}

// TestStartThatFailsWaitsForTheCatalogRun: a start that fails before it reads the catalog (here, the state
// folder lies inside the DAGs folder) stops the catalog's run, waits for it, and returns its error.
func TestStartThatFailsWaitsForTheCatalogRun(t *testing.T) {
	dags := t.TempDir()
	path := testbed.Config{AirflowBin: fakeAirflow(t, 0), AirflowHome: t.TempDir(), StateDir: filepath.Join(dags, "state")}.File(t)
	env := map[string]string{"AIRFLOW_GATEWAY__GATEWAY__DAGS_FOLDER": dags}
	done := make(chan error, 1)
	go func() {
		_, err := load(context.Background(), path, func(k string) string { return env[k] })
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "lies inside the DAGs folder") {
			t.Errorf("load: %v; want it to say the state folder lies inside the DAGs folder", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("load did not return")
	}
}

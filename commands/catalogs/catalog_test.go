package catalogs_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/catalogs"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestCatalogsMatchInstalledAirflow regenerates the catalog of each installed Airflow and fails on any
// difference with the fixture of its version: a fixture that drifts from its Airflow would test the policy
// against flags that Airflow does not have. To write or update one, run the command the failure shows.
func TestCatalogsMatchInstalledAirflow(t *testing.T) {
	for _, version := range append(testbed.Versions, testbed.SmokeVersions...) {
		t.Run("airflow-"+version, func(t *testing.T) {
			t.Parallel()
			python := filepath.Join(filepath.Dir(testbed.Airflow(t, version)), "python")
			py := catalogs.Python{Bin: python, Env: append(os.Environ(), "AIRFLOW_HOME="+t.TempDir())}
			got, err := py.Generate(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			cat, err := commands.ParseCatalog(got)
			if err != nil {
				t.Fatal(err)
			}
			file := "airflow-" + cat.AirflowVersion + ".json"
			want, err := os.ReadFile(file)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s differs from the catalog of the installed Airflow, or is missing; write it:\n"+
					"  AIRFLOW_HOME=$(mktemp -d) %s generate.py > %s", file, python, file)
			}
		})
	}
}

// TestNewestTestedIsTheNewestFixture keeps commands.NewestTested, past which the gateway warns, equal to
// the newest version among the fixtures: there is a fixture of it, and none newer.
func TestNewestTestedIsTheNewestFixture(t *testing.T) {
	files, err := filepath.Glob("airflow-*.json")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, "airflow-"+commands.NewestTested+".json") {
		t.Errorf("commands.NewestTested is %s, which has no fixture airflow-%[1]s.json", commands.NewestTested)
	}
	for _, f := range files {
		version := strings.TrimSuffix(strings.TrimPrefix(f, "airflow-"), ".json")
		if warning, err := commands.CheckVersion(version); err != nil || warning != "" {
			t.Errorf("fixture %s: the gateway would not run on it without a word: %v%s; set commands.NewestTested to the newest fixture", f, err, warning)
		}
	}
}

package catalogs_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestCatalogsMatchInstalledAirflow regenerates each committed catalog from the installed Airflow and fails
// on any difference: a catalog that drifts from its Airflow would let the gateway accept or refuse the
// wrong flags. To update one, run the command in generate.py's doc string.
func TestCatalogsMatchInstalledAirflow(t *testing.T) {
	for _, major := range testbed.Versions {
		t.Run("airflow-"+major, func(t *testing.T) {
			t.Parallel()
			python := filepath.Join(filepath.Dir(testbed.Airflow(t, major)), "python")
			cmd := exec.Command(python, "generate.py")
			cmd.Env = append(os.Environ(), "AIRFLOW_HOME="+t.TempDir())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			got, err := cmd.Output()
			if err != nil {
				t.Fatalf("generate.py: %v\n%s", err, stderr.String())
			}
			want, err := os.ReadFile("airflow-" + major + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("airflow-%s.json differs from the catalog of the installed Airflow; regenerate it:\n"+
					"  AIRFLOW_HOME=$(mktemp -d) %s generate.py > airflow-%s.json", major, python, major)
			}
		})
	}
}

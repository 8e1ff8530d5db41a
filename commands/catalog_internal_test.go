package commands

import (
	"os"
	"path/filepath"
	"testing"
)

// fixture returns the catalog of an Airflow version kept as a test fixture in catalogs/ (the package's
// own tests cannot use commandstest, which imports it).
func fixture(tb testing.TB, version string) *Catalog {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("catalogs", "airflow-"+version+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	cat, err := ParseCatalog(data)
	if err != nil {
		tb.Fatal(err)
	}
	return cat
}

package commandstest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/catalogs"
)

// FixtureDir is the folder of the catalogs kept as test fixtures, airflow-VERSION.json.
func FixtureDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "catalogs")
}

// Catalog returns the catalog of an Airflow version kept as a test fixture, such as "3.3.2".
func Catalog(tb testing.TB, version string) *commands.Catalog {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(FixtureDir(), "airflow-"+version+".json"))
	if err != nil {
		tb.Fatalf("no catalog fixture for Airflow %s: %v", version, err)
	}
	cat, err := commands.ParseCatalog(data)
	if err != nil {
		tb.Fatal(err)
	}
	return cat
}

// CatalogWithout returns the fixture catalog of version without what each of cut names, the way another
// Airflow release lacks it: a command path ("providers triggers"), or a path and one of its flags by its
// long name ("dags pause --yes").
func CatalogWithout(tb testing.TB, version string, cut ...string) *commands.Catalog {
	tb.Helper()
	cat := Catalog(tb, version)
	for _, c := range cut {
		path, flag := c, ""
		if i := strings.Index(c, " --"); i >= 0 {
			path, flag = c[:i], c[i+1:]
		}
		i := slices.IndexFunc(cat.Commands, func(cmd commands.Command) bool { return cmd.Path == path })
		if i < 0 {
			tb.Fatalf("Airflow %s has no command %q to leave out", version, path)
		}
		if flag == "" {
			cat.Commands = slices.Delete(cat.Commands, i, i+1)
			continue
		}
		flags := cat.Commands[i].Flags
		j := slices.IndexFunc(flags, func(a commands.Arg) bool { return slices.Contains(a.Flags, flag) })
		if j < 0 {
			tb.Fatalf("Airflow %s's %q has no flag %s to leave out", version, path, flag)
		}
		cat.Commands[i].Flags = slices.Delete(slices.Clone(flags), j, j+1)
	}
	data, err := json.Marshal(cat)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := commands.ParseCatalog(data)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// InstalledCatalog returns the fixture catalog of the Airflow whose CLI is bin (the test bed's), found by
// asking its interpreter which version it runs: the catalog the gateway reads at start on that Airflow,
// since a test checks that the fixtures equal what generate.py writes.
func InstalledCatalog(tb testing.TB, bin string) *commands.Catalog {
	tb.Helper()
	return Catalog(tb, InstalledVersion(tb, bin))
}

// InstalledVersion returns the version of the Airflow whose CLI is bin, such as "3.3.2", as its interpreter
// tells it without starting Airflow's CLI.
func InstalledVersion(tb testing.TB, bin string) string {
	tb.Helper()
	py := catalogs.Python{Bin: filepath.Join(filepath.Dir(bin), "python"), Env: os.Environ()}
	inst, err := py.Identify(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return inst.Version
}

package restv1

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// update writes the OpenAPI fixtures from the installed Airflows:
//
//	go test ./gateway/restv1 -run TestOpenAPIFixtures -update
var update = flag.Bool("update", false, "write testdata/openapi from the installed Airflows' OpenAPI documents")

// openAPIFixtures are Airflow's OpenAPI documents the table is held to, as testdata/openapi keeps them:
// the file's name there, the major version of the Airflow it comes from, and its path in that Airflow's
// package.
var openAPIFixtures = []struct {
	name, major string
	parts       []string
}{
	{"v1.yaml", "2", []string{"api_connexion", "openapi", "v1.yaml"}},
	{"fab-v1.yaml", "2", []string{"providers", "fab", "auth_manager", "openapi", "v1.yaml"}},
	{"v2-rest-api-generated.yaml", "3", []string{"api_fastapi", "core_api", "openapi", "v2-rest-api-generated.yaml"}},
}

// fixture is the path of an OpenAPI fixture.
func fixture(name string) string { return filepath.Join("testdata", "openapi", name) }

// operations reads the operations of an OpenAPI document as "METHOD /path", the path under prefix and its
// parameters written {}.
func operations(tb testing.TB, file, prefix string) map[string]bool {
	tb.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]*\}`)
	ops := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops[method+" "+param.ReplaceAllString(strings.TrimPrefix(path, prefix), "{}")] = true
		}
	}
	return ops
}

// installedDocument finds an OpenAPI document in the installed Airflow of major.
func installedDocument(tb testing.TB, major string, parts ...string) string {
	tb.Helper()
	bin := testbed.Airflow(tb, major)
	matches, _ := filepath.Glob(filepath.Join(append([]string{filepath.Dir(bin), "..", "lib", "python3*", "site-packages", "airflow"}, parts...)...))
	if len(matches) == 0 {
		tb.Fatalf("no %s in the Airflow of %s", filepath.Join(parts...), bin)
	}
	return matches[0]
}

// TestOpenAPIFixtures checks that testdata/openapi holds the documents of the Airflows the test bed
// installs; with -update it writes them.
func TestOpenAPIFixtures(t *testing.T) {
	for _, f := range openAPIFixtures {
		t.Run(f.name, func(t *testing.T) {
			installed, err := os.ReadFile(installedDocument(t, f.major, f.parts...))
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(fixture(f.name), installed, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			kept, err := os.ReadFile(fixture(f.name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(kept, installed) {
				t.Errorf("%s differs from the installed Airflow %s's %s: write it again with `go test ./gateway/restv1 -run TestOpenAPIFixtures -update`",
					fixture(f.name), f.major, filepath.Join(f.parts...))
			}
		})
	}
}

// TestTableAgainstOpenAPI holds every entry of the table to Airflow's two documents: its v1 endpoint is
// one of Airflow 2.10's v1.yaml (or of the FAB auth manager's, for users and roles), and what it becomes is
// one of Airflow 3's v2 document.
func TestTableAgainstOpenAPI(t *testing.T) {
	v1 := operations(t, fixture("v1.yaml"), "")
	for op := range operations(t, fixture("fab-v1.yaml"), "") {
		v1[op] = true
	}
	v2 := operations(t, fixture("v2-rest-api-generated.yaml"), "/api/v2")
	if len(v1) < 50 || len(v2) < 50 {
		t.Fatalf("read %d v1 and %d v2 operations: the documents were not read", len(v1), len(v2))
	}
	// The batch lists' "~" is a value of {dag_id} and {dag_run_id} in v2's document.
	param := regexp.MustCompile(`\{[^}]*\}|~`)
	for _, ep := range table {
		if op := ep.Method + " " + regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(ep.Path, "{}"); !v1[op] {
			t.Errorf("%s is not an endpoint of Airflow 2.10's v1.yaml", op)
		}
		if ep.Gone != "" {
			continue
		}
		if op := ep.V2Method + " " + param.ReplaceAllString(ep.V2Path, "{}"); !v2[op] {
			t.Errorf("%s %s becomes %s, which Airflow 3's document does not have", ep.Method, ep.Path, op)
		}
	}
}

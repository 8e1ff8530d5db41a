package commands_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
)

// mustPolicy returns a policy over the fixture catalog of major (2.10.5 or 3.3.2), with a DAGs folder
// holding one file.
func mustPolicy(tb testing.TB, major string) *commands.Policy {
	tb.Helper()
	return policyOn(tb, commandstest.Catalog(tb, map[string]string{"2": "2.10.5", "3": "3.3.2"}[major]))
}

// policyOn returns a policy over cat, with a DAGs folder holding one file.
func policyOn(tb testing.TB, cat *commands.Catalog) *commands.Policy {
	tb.Helper()
	dags := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dags, "my_dag.py"), []byte("# dag\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return commands.NewPolicy(cat, dags)
}

func TestResolveArgv(t *testing.T) {
	tests := []struct {
		major, line string
		want        []string
		shown       string
	}{
		{"3", "version", []string{"version"}, "airflow version"},
		{"3", "airflow dags list -o json", []string{"dags", "list", "--output=json"}, "airflow dags list --output=json"},
		{"2", "dags trigger gw_conf -c '{\"a\": 1}' -r run1", []string{"dags", "trigger", `--conf={"a": 1}`, "--run-id=run1", "--", "gw_conf"},
			`airflow dags trigger '--conf={"a": 1}' --run-id=run1 -- gw_conf`},
		{"3", "dags trigger gw_conf --logical-date 2024-01-02", []string{"dags", "trigger", "--logical-date=2024-01-02", "--", "gw_conf"}, ""},
		{"3", "variables set -- k -v1", []string{"variables", "set", "--", "k", "-v1"}, ""},
		{"3", "variables set api_key s3cr3t", []string{"variables", "set", "--", "api_key", "s3cr3t"}, "airflow variables set -- api_key '***'"},
		{"2", "connections add c1 --conn-uri postgres://u:pw@h/db", []string{"connections", "add", "--conn-uri=postgres://u:pw@h/db", "--", "c1"},
			"airflow connections add '--conn-uri=postgres://u:***@h/db' -- c1"},
		{"3", "connections add c1 --conn-type http --conn-password pw", []string{"connections", "add", "--conn-type=http", "--conn-password=pw", "--", "c1"},
			"airflow connections add --conn-type=http '--conn-password=***' -- c1"},
		{"3", "connections list", []string{"connections", "list", "--output=json"}, ""},
		{"3", "connections get c1 -o json", []string{"connections", "get", "--output=json", "--", "c1"}, ""},
		{"2", "tasks clear gw_two_tasks -y -t extract", []string{"tasks", "clear", "--yes", "--task-regex=extract", "--", "gw_two_tasks"}, ""},
		{"3", "dags delete gw_fails --yes", []string{"dags", "delete", "--yes", "--", "gw_fails"}, ""},
		{"2", "tasks test gw_two_tasks extract 2024-01-01", []string{"tasks", "test", "--", "gw_two_tasks", "extract", "2024-01-01"}, ""},
		{"3", "providers triggerer", []string{"providers", "triggers"}, ""},
		{"3", "config get-value core dags_folder", []string{"config", "get-value", "--", "core", "dags_folder"}, ""},
		{"2", "dags list -v -v", []string{"dags", "list", "--verbose"}, ""},
		{"3", "pools set p1 5 'a pool'", []string{"pools", "set", "--", "p1", "5", "a pool"}, ""},
		{"3", "backfill create --dag-id gw_conf --from-date 2024-01-01 --to-date 2024-01-02 --dry-run",
			[]string{"backfill", "create", "--dag-id=gw_conf", "--from-date=2024-01-01", "--to-date=2024-01-02", "--dry-run"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.major+"/"+tt.line, func(t *testing.T) {
			inv, err := mustPolicy(t, tt.major).ResolveLine(tt.line, commands.RoleAdmin)
			if err != nil {
				t.Fatalf("ResolveLine: %v", err)
			}
			if got := inv.Args(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Args() = %q, want %q", got, tt.want)
			}
			if tt.shown != "" && inv.String() != tt.shown {
				t.Errorf("String() = %s, want %s", inv.String(), tt.shown)
			}
		})
	}
}

func TestResolveConfinesSubdir(t *testing.T) {
	p := mustPolicy(t, "2")
	inv, err := p.ResolveLine("dags list -S my_dag.py", commands.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	want := "--subdir=" + filepath.Join(p.DagsFolder(), "my_dag.py")
	if got := inv.Args()[2]; got != want {
		t.Errorf("subdir passed as %q, want %q", got, want)
	}
	inv, err = p.ResolveLine("dags list -S DAGS_FOLDER/my_dag.py", commands.RoleAdmin)
	if err != nil || inv.Args()[2] != want {
		t.Errorf("DAGS_FOLDER placeholder: %v %v", inv, err)
	}
}

func TestResolveRefusesHostileLines(t *testing.T) {
	policies := map[string]*commands.Policy{"2": mustPolicy(t, "2"), "3": mustPolicy(t, "3")}
	for _, tt := range commandstest.HostileLines {
		for _, major := range []string{"2", "3"} {
			if tt.Major != "" && tt.Major != major {
				continue
			}
			t.Run(major+"/"+tt.Line[:min(len(tt.Line), 60)], func(t *testing.T) {
				inv, err := policies[major].ResolveLine(tt.Line, commands.RoleAdmin)
				if err == nil {
					t.Fatalf("resolved to %q; want it refused", inv.Args())
				}
				if code := commands.ErrorCode(err); code != tt.Code {
					t.Errorf("code %s, want %s (%v)", code, tt.Code, err)
				}
				if !strings.Contains(err.Error(), tt.Says) {
					t.Errorf("message %q does not say %q", err, tt.Says)
				}
			})
		}
	}
}

func TestResolveVersionDifferences(t *testing.T) {
	if _, err := mustPolicy(t, "2").ResolveLine("backfill create --dag-id d --from-date 2024-01-01 --to-date 2024-01-02", commands.RoleAdmin); err == nil ||
		!strings.Contains(err.Error(), "use `dags backfill") {
		t.Errorf("backfill create on 2.10: %v", err)
	}
	if _, err := mustPolicy(t, "2").ResolveLine("dags backfill gw_conf -s 2024-01-01 -e 2024-01-02", commands.RoleAdmin); err != nil {
		t.Errorf("dags backfill on 2.10: %v", err)
	}
	if _, err := mustPolicy(t, "3").ResolveLine("dags trigger gw_conf -e 2024-01-01", commands.RoleAdmin); err == nil {
		t.Error("--exec-date is a 2.10 flag; 3.x must refuse it")
	}
}

func TestResolveRoles(t *testing.T) {
	p := mustPolicy(t, "3")
	if _, err := p.ResolveLine("dags trigger gw_conf", commands.RoleViewer); commands.ErrorCode(err) != commands.EFORBIDDEN ||
		!strings.Contains(err.Error(), "needs role User") {
		t.Errorf("Viewer triggering: %v", err)
	}
	if _, err := p.ResolveLine("dags list", commands.RoleViewer); err != nil {
		t.Errorf("Viewer listing: %v", err)
	}
}

// TestWhitelistExists checks that every whitelisted path exists in at least one catalog, so a typo in the
// policy cannot hide.
func TestWhitelistExists(t *testing.T) {
	for _, major := range []string{"2", "3"} {
		p := mustPolicy(t, major)
		if got := len(p.Allowed(commands.RoleAdmin).Commands); got < 45 {
			t.Errorf("Airflow %s: only %d whitelisted commands found in the catalog", major, got)
		}
	}
}

package commands_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
)

// The tests of this file hold the policy to every Airflow release (§18) with catalogs that lack what an
// older or newer release lacks, made from the fixtures by leaving commands and flags out. Airflow 3.0.6's
// listings, for one, have no --hide-sensitive or --show-values; 2.6.3 has no `providers notifications`
// and no --yes on `dags pause`.

// without3_0 is the Airflow 3.3.2 catalog as Airflow 3.0.6 has the listings.
func without3_0(tb testing.TB) *commands.Catalog {
	return commandstest.CatalogWithout(tb, "3.3.2",
		"connections list --hide-sensitive", "connections list --show-values",
		"variables list --hide-sensitive", "variables list --show-values")
}

// without2_6 is the Airflow 2.10.5 catalog as Airflow 2.6.3 has the whitelisted paths.
func without2_6(tb testing.TB) *commands.Catalog {
	return commandstest.CatalogWithout(tb, "2.10.5",
		"providers notifications", "providers triggers",
		"dags pause --yes", "dags pause --output", "dags unpause --yes", "dags unpause --output",
		"variables set --description")
}

// runMasked resolves line on cat and runs it on an executor that prints stdout, and returns what the
// gateway answers.
func runMasked(tb testing.TB, cat *commands.Catalog, line, stdout string) (argv []string, answer string) {
	tb.Helper()
	svc := commands.NewService(policyOn(tb, cat), printingExecutor{stdout, ""}, commands.Options{
		MaxConcurrent: 1, QueueTimeout: time.Second, CommandTimeout: time.Minute, LongCommandTimeout: time.Minute, FilterLoadingMessages: true,
	})
	inv, err := svc.ResolveLine(line, commands.Access{Role: commands.RoleAdmin})
	if err != nil {
		tb.Fatalf("%s on Airflow %s: %v", line, cat.AirflowVersion, err)
	}
	res, err := svc.Run(context.Background(), inv)
	if err != nil {
		tb.Fatal(err)
	}
	return inv.Args(), res.Stdout + res.Stderr
}

func TestListingsAreMaskedOnEveryVersion(t *testing.T) {
	connections := `[{"conn_id": "c1", "conn_type": "postgres", "password": "pw-secret", "get_uri": "postgres://u:pw-secret@h/db"}]`
	variables := `[{"key": "db_password", "val": "var-secret"}, {"key": "region", "val": "eu"}]`
	catalogs := map[string]*commands.Catalog{
		"2.10.5":          commandstest.Catalog(t, "2.10.5"),
		"3.3.2":           commandstest.Catalog(t, "3.3.2"),
		"3.3.2 as 3.0.6":  without3_0(t),
		"2.10.5 as 2.6.3": without2_6(t),
	}
	for name, cat := range catalogs {
		t.Run(name, func(t *testing.T) {
			for _, tt := range []struct{ line, stdout, keeps string }{
				{"connections list", connections, `"conn_id":"c1"`},
				{"variables list", variables, `"val":"eu"`},
			} {
				argv, answer := runMasked(t, cat, tt.line, tt.stdout)
				if !slices.Contains(argv, "--output=json") || strings.Contains(answer, "secret") || !strings.Contains(answer, tt.keeps) {
					t.Errorf("%s runs as %q and answers %s", tt.line, argv, answer)
				}
			}
		})
	}
	// A listing that could not be asked for JSON cannot be read to be masked: it is withheld whole.
	t.Run("without --output", func(t *testing.T) {
		cat := commandstest.CatalogWithout(t, "3.3.2", "connections list --output", "variables list --output")
		table := "conn_id | password\nc1      | pw-secret\n"
		for _, line := range []string{"connections list", "variables list"} {
			argv, answer := runMasked(t, cat, line, table)
			if slices.Contains(argv, "--output=json") || !strings.Contains(answer, "withheld") || strings.Contains(answer, "pw-secret") {
				t.Errorf("%s runs as %q and answers %s", line, argv, answer)
			}
		}
	})
}

func TestPathsAVersionLacksNameItAndTheReplacement(t *testing.T) {
	for _, tt := range []struct {
		cat       *commands.Catalog
		line, say string
	}{
		{without2_6(t), "providers notifications", "does not exist in Airflow 2.10.5"},
		{without2_6(t), "providers triggerer", "`providers triggers` does not exist in Airflow 2.10.5"},
		{commandstest.Catalog(t, "3.3.2"), "dags backfill gw_conf", "does not exist in Airflow 3.3.2; use `backfill create"},
		{commandstest.Catalog(t, "2.10.5"), "backfill create --dag-id gw_conf", "does not exist in Airflow 2.10.5; use `dags backfill"},
	} {
		_, err := policyOn(t, tt.cat).ResolveLine(tt.line, commands.RoleAdmin)
		if commands.ErrorCode(err) != commands.EINVALID || !strings.Contains(commands.ErrorMessage(err), tt.say) {
			t.Errorf("%s: %v; want %s saying %q", tt.line, err, commands.EINVALID, tt.say)
		}
	}
}

// TestFlagsAVersionLacks: a flag the version lacks is refused before anything runs, naming the flags it
// has, and the rules that lean on a flag hold without it.
func TestFlagsAVersionLacks(t *testing.T) {
	p := policyOn(t, without2_6(t))
	for line, say := range map[string]string{
		"variables set k v --description d": "has no flag --description",
		"dags pause gw_conf --yes":          "has no flag --yes",
	} {
		if _, err := p.ResolveLine(line, commands.RoleAdmin); commands.ErrorCode(err) != commands.EINVALID || !strings.Contains(err.Error(), say) {
			t.Errorf("%s: %v; want it refused saying %q", line, err, say)
		}
	}
	// A destructive command that has no --yes does not prompt either: it runs without one.
	noYes := policyOn(t, commandstest.CatalogWithout(t, "2.10.5", "dags delete --yes"))
	if inv, err := noYes.ResolveLine("dags delete gw_conf", commands.RoleAdmin); err != nil || slices.Contains(inv.Args(), "--yes") {
		t.Errorf("dags delete without a --yes flag: %v", err)
	}
	if _, err := mustPolicy(t, "2").ResolveLine("dags delete gw_conf", commands.RoleAdmin); err == nil {
		t.Error("dags delete without --yes was let through where the version has it")
	}
}

// TestPluginAPIsBuildOnCatalogsLackingFlags builds every plugin API's example on catalogs that lack flags
// the APIs pass: each builds, without the flag, or answers a clear 400.
func TestPluginAPIsBuildOnCatalogsLackingFlags(t *testing.T) {
	cats := []*commands.Catalog{
		without2_6(t), without3_0(t),
		commandstest.CatalogWithout(t, "2.10.5", "tasks clear --yes", "dags backfill --yes", "dags trigger --exec-date", "tasks test --dry-run"),
	}
	for _, cat := range cats {
		p := policyOn(t, cat)
		p.AllowDaemons = true
		for _, api := range commands.PluginAPIs() {
			if api.Example == "" {
				continue
			}
			args := pluginArgs(t, api.Example)
			call, err := p.ResolvePlugin(api.Name, args, commands.RoleAdmin)
			if code := commands.ErrorCode(err); code != "" && code != commands.EINVALID {
				t.Errorf("Airflow %s, %s: %v (%s)", cat.AirflowVersion, api.Example, err, code)
			}
			if err == nil && call.Invocation != nil {
				checkFlagsExist(t, cat, call.Invocation)
			}
		}
	}
	clear := policyOn(t, cats[2])
	call, err := clear.ResolvePlugin("clear", pluginArgs(t, "dag_id=d"), commands.RoleAdmin)
	if err != nil || slices.Contains(call.Invocation.Args(), "--yes") {
		t.Errorf("clear on a tasks clear without --yes: %v, %v", call, err)
	}
}

// checkFlagsExist fails tb when inv passes a flag its command does not have in cat.
func checkFlagsExist(tb testing.TB, cat *commands.Catalog, inv *commands.Invocation) {
	tb.Helper()
	cmd := cat.Lookup(inv.Path())
	for _, w := range inv.Args()[len(strings.Fields(inv.Path())):] {
		if w == "--" {
			return
		}
		name, _, _ := strings.Cut(w, "=")
		if !slices.ContainsFunc(cmd.Flags, func(a commands.Arg) bool { return slices.Contains(a.Flags, name) }) {
			tb.Errorf("Airflow %s: %s passes %s, which it lacks", cat.AirflowVersion, inv, name)
		}
	}
}

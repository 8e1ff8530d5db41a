package commands_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
)

// FuzzResolveLine feeds arbitrary command lines to the splitter and resolver. Whatever they accept must
// come out as an argv that Airflow cannot misread: the path, then only --flag or --flag=value words, then
// `--` and the positionals.
func FuzzResolveLine(f *testing.F) {
	for _, tt := range commandstest.HostileLines {
		f.Add(tt.Line)
	}
	for _, s := range []string{"dags list -o json", "dags trigger gw_conf -c '{\"a\":1}'", "variables set -- k -v", "tasks test a b 2024-01-01",
		"connections add c --conn-uri x://u:p@h", "dags list -S sub/../my_dag.py"} {
		f.Add(s)
	}
	policy := mustPolicy(f, "3")
	f.Fuzz(func(t *testing.T, line string) {
		inv, err := policy.ResolveLine(line, commands.RoleAdmin)
		if err != nil {
			if commands.ErrorCode(err) == commands.EINTERNAL || err.Error() == "" {
				t.Fatalf("refused without a message for the caller: %v", err)
			}
			return
		}
		assertCanonical(t, line, inv, "\n\x00")
	})
}

// assertCanonical fails unless inv's argv is the path, then only --flag or --flag=value words, then `--`
// and the positionals, and its shown form holds none of the characters in never.
func assertCanonical(t *testing.T, input string, inv *commands.Invocation, never string) {
	t.Helper()
	args := inv.Args()
	rest := args[len(strings.Fields(inv.Path())):]
	positional := false
	for _, a := range rest {
		switch {
		case positional:
		case a == "--":
			positional = true
		case !strings.HasPrefix(a, "--"):
			t.Fatalf("%q: word %q stands before `--` without being a --flag", input, a)
		}
	}
	if s := inv.String(); strings.ContainsAny(s, never) {
		t.Fatalf("shown command holds a control character: %q", s)
	}
}

// FuzzResolvePlugin feeds arbitrary plugin query strings to the plugin resolver: what it accepts comes out
// canonical, and never passes a flag that names files or detaches.
func FuzzResolvePlugin(f *testing.F) {
	for _, s := range []string{
		"api=trigger_dag&dag_id=gw_conf&conf=%7B%22a%22%3A1%7D&run_id=r", "api=variables&cmd=set&key=-k&value=--cfg-path%3D/x",
		"api=pool&cmd=set&pool_name=p&slot_count=1&description=--daemon", "api=render&dag_id=d&task_id=t&execution_date=2024-01-01&subdir=../x",
		"api=clear&dag_id=d&task_regex=.*&upstream", "api=backfill&dag_id=d&start_date=2024-01-01&end_date=2024-01-02&pool=--local",
		"api=connections&add&conn_id=c&conn_uri=x://u:p@h", "api=list_dags&subdir=my_dag.py&report",
	} {
		f.Add(s)
	}
	policies := []*commands.Policy{mustPolicy(f, "2"), mustPolicy(f, "3")}
	f.Fuzz(func(t *testing.T, query string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		args := map[string]string{}
		for k, v := range values {
			args[k] = v[0]
		}
		for _, p := range policies {
			call, err := p.ResolvePlugin(args["api"], args, commands.RoleAdmin)
			if err != nil {
				if commands.ErrorCode(err) == commands.EINTERNAL || err.Error() == "" {
					t.Fatalf("refused without a message for the caller: %v", err)
				}
				continue
			}
			if call.Invocation == nil {
				continue
			}
			// Plugin text values (a variable's value) may hold newlines; they show inside single quotes.
			assertCanonical(t, query, call.Invocation, "\x00\r")
			for _, a := range call.Invocation.Args() {
				if a == "--" {
					break
				}
				for _, bad := range []string{"--cfg-path", "--pid", "--daemon", "--log-file", "--stdout", "--stderr", "--pickle", "--ship-dag", "--do-pickle"} {
					if a == bad || strings.HasPrefix(a, bad+"=") {
						t.Fatalf("%q passed %s", query, a)
					}
				}
				if v, ok := strings.CutPrefix(a, "--subdir="); ok && !strings.HasPrefix(v, p.DagsFolder()) {
					t.Fatalf("%q passed a subdir outside the DAGs folder: %s", query, v)
				}
			}
		}
	})
}

// FuzzSplitCommand checks that the splitter never panics and never returns a word holding a character it
// promised to refuse.
func FuzzSplitCommand(f *testing.F) {
	for _, tt := range commandstest.HostileLines {
		f.Add(tt.Line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := commands.SplitCommand(line)
		if err != nil {
			return
		}
		for _, w := range words {
			if strings.ContainsAny(w, "`\x00\n") || strings.Contains(w, "$(") {
				t.Fatalf("%q split into word %q", line, w)
			}
		}
		if strings.ContainsAny(line, ";|<>&") && !strings.ContainsAny(line, `'"\`) {
			t.Fatalf("%q holds an unquoted shell operator but was accepted as %q", line, words)
		}
	})
}

// FuzzResolveArgv feeds arbitrary exact words ({"argv": [...]}), joined by NUL in the corpus, to the
// resolver: what it accepts comes out canonical, with no NUL and no control character but tab and newline.
func FuzzResolveArgv(f *testing.F) {
	for _, tt := range commandstest.HostileLines {
		f.Add(strings.ReplaceAll(tt.Line, " ", "\x00"))
	}
	for _, words := range [][]string{{"dags", "trigger", "gw_conf", "-c", `{"a": "b c"}`}, {"variables", "set", "k", "two words"},
		{"variables", "set", "k", "line one\nline two"}, {"dags list"}, {"dags", "list", "--subdir", "/etc"}, {"airflow", "version"}} {
		f.Add(strings.Join(words, "\x00"))
	}
	policy := mustPolicy(f, "3")
	f.Fuzz(func(t *testing.T, joined string) {
		inv, err := policy.ResolveArgv(strings.Split(joined, "\x00"), commands.RoleAdmin)
		if err != nil {
			if commands.ErrorCode(err) == commands.EINTERNAL || err.Error() == "" {
				t.Fatalf("refused without a message for the caller: %v", err)
			}
			return
		}
		assertCanonical(t, joined, inv, "\x00\r")
	})
}

// FuzzDAGsOf feeds arbitrary command lines to the resolver and checks what a scope sees of them: every DAG
// id the argv passes to Airflow (a --dag-id=ID word, or the DAG id positional after `--`) is among those
// Invocation.DAGs names, and a scope that reaches one DAG allows only commands that name no other.
func FuzzDAGsOf(f *testing.F) {
	for _, s := range []string{"dags trigger team_a_etl", "tasks test x t 2024-01-01", "dags list-runs -d x", "dags list-runs x",
		"dags list-runs --dag-id=x", "dags list-runs -dx", "dags trigger -- x", "dags pause --treat-dag-id-as-regex 'in.*'",
		"tasks clear -R -y in", "dags list-jobs -d in", "backfill create --dag-id=in --from-date 2024-01-01 --to-date 2024-01-02",
		"dags backfill in -s 2024-01-01 -e 2024-01-02", "dags trigger 'in*'", "variables get in", "version"} {
		f.Add(s)
	}
	policies := []*commands.Policy{mustPolicy(f, "2"), mustPolicy(f, "3")}
	scope, err := commands.NewScope([]string{"in"}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range policies {
			inv, err := p.ResolveLine(line, commands.RoleAdmin)
			if err != nil {
				continue
			}
			ids := inv.DAGs()
			args := inv.Args()
			rest := args[len(strings.Fields(inv.Path())):]
			var passed []string
			for i, a := range rest {
				if v, ok := strings.CutPrefix(a, "--dag-id="); ok {
					passed = append(passed, v)
				}
				if a == "--" && len(inv.Command.Positionals) > 0 && inv.Command.Positionals[0].Dest == "dag_id" && i+1 < len(rest) {
					passed = append(passed, rest[i+1])
				}
			}
			for _, id := range passed {
				if !slices.Contains(ids, id) {
					t.Fatalf("%q passes the DAG id %q, which DAGs() does not name (%q)", line, id, ids)
				}
			}
			d := p.Decide(scope, nil, inv)
			switch d.Verdict {
			case commands.Allow:
				for _, id := range append(passed, ids...) {
					if id != "in" {
						t.Fatalf("%q runs on the DAG %q under %s", line, id, scope)
					}
				}
			case commands.Filter:
				if len(ids) > 0 {
					t.Fatalf("%q names %q and is filtered rather than decided", line, ids)
				}
			case commands.Refuse:
				if commands.ErrorCode(d.Err) != commands.EFORBIDDEN || d.Reason == "" {
					t.Fatalf("%q refused without EFORBIDDEN and a reason: %v", line, d.Err)
				}
			default:
				t.Fatalf("%q: verdict %d", line, d.Verdict)
			}
		}
	})
}

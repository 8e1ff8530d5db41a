package commands_test

import (
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
		args := inv.Args()
		path := strings.Fields(inv.Path())
		rest := args[len(path):]
		positional := false
		for _, a := range rest {
			switch {
			case positional:
			case a == "--":
				positional = true
			case !strings.HasPrefix(a, "--"):
				t.Fatalf("%q: word %q stands before `--` without being a --flag", line, a)
			}
		}
		if s := inv.String(); strings.ContainsAny(s, "\n\x00") {
			t.Fatalf("shown command holds a control character: %q", s)
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

package commands

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// kindOf is the plugin kind that describes what the one value checker accepts for arg.
func typeOf(arg *Arg) ArgType {
	switch destRules[arg.Dest] {
	case ruleID, ruleConnID:
		return ArgID
	case ruleRunID:
		return ArgRunID
	case ruleDateOrRunID:
		return ArgDateOrRunID
	case ruleJSONObject, ruleJSONObjectNull:
		return ArgJSON
	case ruleConfined:
		return ArgPath
	}
	switch arg.Type {
	case "datetime":
		return ArgDate
	case "int", "positive_int":
		return ArgInt
	}
	return ArgText
}

var sampleValues = map[ArgType]string{
	ArgText: "x", ArgID: "d", ArgRunID: "r1", ArgDate: "2024-01-01", ArgDateOrRunID: "2024-01-01",
	ArgJSON: "{}", ArgInt: "1", ArgPath: "my_dag.py",
}

// TestPluginArgTypesAreTheCatalogs checks that each plugin argument's kind, which the admin page and the API
// table show, describes what the checker holds the flag or positional it becomes to, on both versions.
func TestPluginArgTypesAreTheCatalogs(t *testing.T) {
	for _, version := range []string{"2.10.5", "3.3.2"} {
		cat := fixture(t, version)
		dags := t.TempDir()
		if err := os.WriteFile(filepath.Join(dags, "my_dag.py"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		p := NewPolicy(cat, dags)
		p.AllowDaemons = true
		checked := 0
		for _, api := range pluginAPIs {
			for _, a := range api.Args {
				sample, ok := sampleValues[a.Type]
				if !ok {
					continue
				}
				query, _ := url.ParseQuery(api.Example)
				args := map[string]string{}
				for k, v := range query {
					args[k] = v[0]
				}
				for _, b := range api.Args {
					if b.Required && args[b.Name] == "" && sampleValues[b.Type] != "" {
						args[b.Name] = sampleValues[b.Type]
					}
				}
				args[a.Name] = sample
				call, err := p.ResolvePlugin(api.Name, args, RoleAdmin)
				if err != nil || call.Invocation == nil {
					continue // this version does not take the argument in this form
				}
				for dest, label := range call.labels {
					if label != argumentLabel(a.Name) {
						continue
					}
					checked++
					var arg *Arg
					for _, list := range [][]Arg{call.Invocation.Command.Flags, call.Invocation.Command.Positionals} {
						for i := range list {
							if list[i].Dest == dest {
								arg = &list[i]
							}
						}
					}
					got := typeOf(arg)
					if got != a.Type && !(a.Type == ArgDateOrRunID && got == ArgDate) {
						t.Errorf("%s: API '%s' argument '%s' is declared %s, but becomes %s of `%s`, which takes %s", version, api.Name, a.Name, a.Type, dest, call.Invocation.Path(), got)
					}
				}
			}
		}
		if checked < 30 {
			t.Errorf("%s: only %d arguments were traced to the flag they become", version, checked)
		}
	}
}

// TestPluginRefusesEveryForbiddenFlag checks that the plugin's refused arguments come from the one list of
// forbidden flags, and that no argument of the API table is one of them.
func TestPluginRefusesEveryForbiddenFlag(t *testing.T) {
	for dest := range forbiddenFlags {
		if _, bad := forbiddenArgument(dest); !bad && dest != "daemon" {
			t.Errorf("the plugin argument '%s' is not refused", dest)
		}
	}
	for _, name := range []string{"import", "export", "log-file"} {
		if _, bad := forbiddenArgument(name); !bad {
			t.Errorf("the plugin argument '%s' is not refused", name)
		}
	}
	for _, api := range pluginAPIs {
		for _, a := range api.Args {
			if why, bad := forbiddenArgument(a.Name); bad {
				t.Errorf("API '%s' declares the argument '%s', which is refused: it %s", api.Name, a.Name, why)
			}
		}
	}
}

package commands

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// whitelistTable renders the whitelist as the table docs/command-dialect.md shows: per role, its paths
// grouped by their first word, with the Airflow version that alone has a path, and the aliases below.
func whitelistTable(tb testing.TB) string {
	tb.Helper()
	two, three := fixture(tb, "2.10.5"), fixture(tb, "3.3.2")
	lines := []string{"| role | commands |", "|---|---|"}
	for role := RoleViewer; role <= RoleAdmin; role++ {
		var keys []string
		subs := map[string][]string{}
		for _, r := range whitelist {
			if r.Role != role || r.PluginOnly {
				continue
			}
			group, sub, _ := strings.Cut(r.Path, " ")
			key := group
			switch in2, in3 := two.Lookup(r.Path) != nil, three.Lookup(r.Path) != nil; {
			case in2 && !in3:
				key += "\x00 (2.x)"
			case in3 && !in2:
				key += "\x00 (3.x)"
			}
			if _, seen := subs[key]; !seen {
				keys = append(keys, key)
				subs[key] = nil
			}
			if sub != "" {
				subs[key] = append(subs[key], sub)
			}
		}
		var items []string
		for _, key := range keys {
			group, note, _ := strings.Cut(key, "\x00")
			item := group
			if len(subs[key]) > 0 {
				item += " " + strings.Join(subs[key], "/")
			}
			items = append(items, "`"+item+"`"+note)
		}
		lines = append(lines, "| "+role.String()+" | "+strings.Join(items, ", ")+" |")
	}
	var aliasNames []string
	for alias := range aliases {
		aliasNames = append(aliasNames, alias)
	}
	sort.Strings(aliasNames)
	lines = append(lines, "")
	for _, alias := range aliasNames {
		lines = append(lines, "`"+alias+"` is accepted as another name of `"+aliases[alias]+"`.")
	}
	return strings.Join(lines, "\n")
}

// TestWhitelistTableInDocs keeps the whitelist table of docs/command-dialect.md equal to the whitelist.
func TestWhitelistTableInDocs(t *testing.T) {
	const marker = "<!-- The table below is written from the whitelist: TestWhitelistTableInDocs fails when they differ. -->\n"
	doc, err := os.ReadFile(filepath.Join("..", "docs", "command-dialect.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, found := strings.Cut(string(doc), marker)
	want := whitelistTable(t)
	if !found || !strings.HasPrefix(after, want+"\n") {
		t.Errorf("docs/command-dialect.md does not show the whitelist after its marker; it should read:\n%s", want)
	}
}

package commands

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEveryPathReachesKnownDAGs fails when a whitelisted path is not classified for scopes (it would be
// refused to every scoped credential), when a classified path is not whitelisted, and, on every catalog
// fixture, when a command has an argument about DAGs that no list names, or a command about one DAG has no
// DAG id that argparse requires.
func TestEveryPathReachesKnownDAGs(t *testing.T) {
	for _, entry := range whitelist {
		if reaches[entry.Path] == reachUnknown {
			t.Errorf("the whitelisted %q is not classified in reaches: say how it reaches DAGs", entry.Path)
		}
	}
	for path := range reaches {
		if entryFor(path) == nil {
			t.Errorf("reaches classifies %q, which is not whitelisted", path)
		}
	}
	files, err := filepath.Glob(filepath.Join("catalogs", "airflow-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no catalog fixtures: %v", err)
	}
	for _, file := range files {
		version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "airflow-"), ".json")
		cat := fixture(t, version)
		t.Run(version, func(t *testing.T) {
			for _, entry := range whitelist {
				cmd := cat.Lookup(entry.Path)
				if cmd == nil {
					continue
				}
				r := reaches[entry.Path]
				if r != reachOneDAG && r != reachListing {
					continue // refused or free whatever it is given
				}
				requiredID := false
				for _, a := range append(slices.Clone(cmd.Positionals), cmd.Flags...) {
					if _, forbidden := forbiddenFlags[a.Dest]; forbidden {
						continue // the resolver refuses it to everyone
					}
					switch {
					case a.Dest == dagIDDest:
						requiredID = requiredID || a.Required || len(a.Flags) == 0 && (a.Nargs == "" || a.Nargs == "None" || a.Nargs == "+")
						if a.Kind != KindValue {
							t.Errorf("%s's %s is %s, not a single value", entry.Path, a.Dest, a.Kind)
						}
					case slices.Contains(regexSwitches, a.Dest), slices.Contains(dagPlainDests, a.Dest), slices.Contains(beyondScope, a.Dest):
					case strings.Contains(a.Dest, "dag"):
						t.Errorf("%s's %s is about DAGs, and neither regexSwitches nor dagPlainDests names it", entry.Path, a.Dest)
					}
				}
				if r == reachOneDAG && !requiredID {
					t.Errorf("%s is classified as about one DAG, but Airflow %s does not require its DAG id", entry.Path, version)
				}
			}
		})
	}
}

// TestDocumentedListings keeps the listings across DAGs those §19 names.
func TestDocumentedListings(t *testing.T) {
	var got []string
	for path, r := range reaches {
		if r == reachListing {
			got = append(got, path)
		}
	}
	slices.Sort(got)
	want := []string{"dags list", "dags list-import-errors", "dags list-jobs", "dags report"}
	if !slices.Equal(got, want) {
		t.Errorf("listings across DAGs: got %q, want %q", got, want)
	}
}

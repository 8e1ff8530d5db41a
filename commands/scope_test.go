package commands_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// mustScope returns the scope of lines, failing the test when NewScope refuses them.
func mustScope(tb testing.TB, dags, tags, teams []string) commands.Scope {
	tb.Helper()
	s, err := commands.NewScope(dags, tags, teams)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestNewScope(t *testing.T) {
	long := strings.Repeat("a", 251)
	for _, tt := range []struct {
		name              string
		dags, tags, teams []string
		refused           string // a part of the refusal; "" when the lines are taken
	}{
		{name: "globs", dags: []string{"team_a_*", "shared_report", "report_[ab]", "r?port", `lit\*`}},
		{name: "dots", dags: []string{"..", "team..a", ".*"}},
		{name: "unicode", dags: []string{"équipe_*", "报告"}, tags: []string{"équipe a"}, teams: []string{"チーム"}},
		{name: "glob-looking tag", tags: []string{"team_a_*", "[x"}},
		{name: "duplicates", dags: []string{"a", "a"}, tags: []string{"t", "t"}},
		{name: "no line", refused: "at least one of dags, tags or teams"},
		{name: "empty lists", dags: []string{}, tags: []string{}, teams: []string{}, refused: "at least one"},
		{name: "empty glob", dags: []string{""}, refused: "a dags line is empty"},
		{name: "blank tag", tags: []string{"  "}, refused: "a tags line is empty"},
		{name: "empty team", teams: []string{""}, refused: "a teams line is empty"},
		{name: "padded", dags: []string{" team_a_*"}, refused: "starts or ends with a space"},
		{name: "space in glob", dags: []string{"team a"}, refused: "holds a space"},
		{name: "slash", dags: []string{"team_a/*"}, refused: "holds a /"},
		{name: "dot dot slash", dags: []string{"../team_b"}, refused: "holds a /"},
		{name: "open class", dags: []string{"team_[a"}, refused: "is not a glob"},
		{name: "empty class", dags: []string{"[]"}, refused: "is not a glob"},
		{name: "trailing escape", dags: []string{`team\`}, refused: "is not a glob"},
		{name: "newline", tags: []string{"a\nb"}, refused: "control or invisible"},
		{name: "nul", dags: []string{"a\x00"}, refused: "control or invisible"},
		{name: "bidi override", teams: []string{"team\u202ea"}, refused: "control or invisible"},
		{name: "zero width", dags: []string{"team\u200b_a"}, refused: "control or invisible"},
		{name: "not utf-8", tags: []string{"\xff"}, refused: "not UTF-8"},
		{name: "too long", dags: []string{long}, refused: "longer than 250"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := commands.NewScope(tt.dags, tt.tags, tt.teams)
			if tt.refused == "" {
				if err != nil || s.IsZero() {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.refused) || commands.ErrorCode(err) != commands.EINVALID {
				t.Fatalf("got %v, want EINVALID saying %q", err, tt.refused)
			}
			if !s.IsZero() {
				t.Errorf("a refused scope is not zero: %s", s)
			}
		})
	}
}

func TestScopeString(t *testing.T) {
	for _, tt := range []struct {
		scope commands.Scope
		want  string
	}{
		{commands.Scope{}, "no scope (every DAG)"},
		{mustScope(t, []string{"team_a_*", "shared_report"}, []string{"team-a"}, []string{"team_a"}), "dags team_a_*, shared_report; tags team-a; teams team_a"},
		{mustScope(t, nil, []string{"two words", "a,b"}, nil), `tags "two words", "a,b"`},
		{mustScope(t, []string{"x"}, nil, nil), "dags x"},
	} {
		if got := tt.scope.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestScopeReaches(t *testing.T) {
	index := commands.NewDAGIndex([]commands.DAGInfo{
		{ID: "team_a_etl", Tags: []string{"team-a"}, Team: "team_a"},
		{ID: "team_b_etl", Tags: []string{"team-b", "shared"}, Team: "team_b"},
		{ID: "untagged"},
		{ID: "équipe_rapport", Tags: []string{"équipe"}},
	})
	byGlob := mustScope(t, []string{"team_a_*", "shared_report", "r?p", "[xy]z", "équipe_*"}, nil, nil)
	byTag := mustScope(t, nil, []string{"shared", "team_a_*"}, nil)
	byTeam := mustScope(t, nil, nil, []string{"team_a"})
	for _, tt := range []struct {
		scope commands.Scope
		id    string
		want  bool
	}{
		{commands.Scope{}, "anything", true},
		{commands.Scope{}, "", true},
		{byGlob, "team_a_etl", true},
		{byGlob, "team_a_", true},
		{byGlob, "team_a_*", true}, // an id that looks like a glob is an id like any other
		{byGlob, "team_b_etl", false},
		{byGlob, "TEAM_A_etl", false},
		{byGlob, "shared_report", true},
		{byGlob, "shared_report2", false},
		{byGlob, "rap", true},
		{byGlob, "r/p", false},
		{byGlob, "xz", true},
		{byGlob, "[xy]z", false},
		{byGlob, "équipe_rapport", true},
		{byGlob, "team_a_/../team_b", false},
		{byGlob, "", false},
		{byTag, "team_b_etl", true},
		{byTag, "team_a_etl", false}, // a tag line is a tag, not a glob
		{byTag, "shared", false},     // nor an id
		{byTag, "unknown", false},
		{byTeam, "team_a_etl", true},
		{byTeam, "team_b_etl", false},
		{byTeam, "untagged", false},
		{byTeam, "team_a", false},
	} {
		if got := tt.scope.Reaches(tt.id, index); got != tt.want {
			t.Errorf("%s reaches %q: got %v, want %v", tt.scope, tt.id, got, tt.want)
		}
	}
	// Without an index, tag and team lines reach nothing, and globs still match ids.
	if byTag.Reaches("team_b_etl", nil) || byTeam.Reaches("team_a_etl", nil) || !byGlob.Reaches("team_a_etl", nil) {
		t.Error("without an index, tag and team lines must reach nothing and globs still match")
	}
}

func TestScopeNarrow(t *testing.T) {
	parent := mustScope(t, []string{"team_a_*", "shared_report", "rep?rt"}, []string{"team-a"}, []string{"team_a"})
	for _, tt := range []struct {
		name              string
		parent            commands.Scope
		dags, tags, teams []string
		zero              bool   // the child asks for no scope
		refused           string // the line named in the refusal; "" when it narrows
		want              string // the minted token's scope
	}{
		{name: "keeps the parent's", parent: parent, zero: true, want: parent.String()},
		{name: "no parent scope takes the child's", parent: commands.Scope{}, dags: []string{"*"}, want: "dags *"},
		{name: "no scope from none", parent: commands.Scope{}, zero: true, want: "no scope (every DAG)"},
		{name: "same glob", parent: parent, dags: []string{"team_a_*"}, want: "dags team_a_*"},
		{name: "one id of a glob", parent: parent, dags: []string{"team_a_etl"}, want: "dags team_a_etl"},
		{name: "longer prefix", parent: parent, dags: []string{"team_a_etl_*", "team_a_?x"}, want: "dags team_a_etl_*, team_a_?x"},
		{name: "same tag and team", parent: parent, tags: []string{"team-a"}, teams: []string{"team_a"}, want: "tags team-a; teams team_a"},
		{name: "id matched by ?", parent: parent, dags: []string{"report"}, want: "dags report"},
		{name: "wider glob", parent: parent, dags: []string{"team_*"}, refused: `"team_*"`},
		{name: "every DAG", parent: parent, dags: []string{"*"}, refused: `"*"`},
		{name: "class after prefix", parent: parent, dags: []string{"team_a_[^x]"}, refused: "team_a_[^x]"},
		{name: "escape after prefix", parent: parent, dags: []string{`team_a_\*`}, refused: `team_a_\\*`},
		{name: "glob under a ? glob", parent: parent, dags: []string{"rep*rt"}, refused: "rep*rt"},
		{name: "other id", parent: parent, dags: []string{"team_b_etl"}, refused: "team_b_etl"},
		{name: "id of a tag", parent: parent, dags: []string{"team-a"}, refused: "team-a"},
		{name: "other tag", parent: parent, tags: []string{"team-b"}, refused: "team-b"},
		{name: "tag case", parent: parent, tags: []string{"Team-A"}, refused: "Team-A"},
		{name: "team as tag", parent: parent, tags: []string{"team_a"}, refused: "team_a"},
		{name: "other team", parent: parent, teams: []string{"team_b"}, refused: "team_b"},
		{name: "one wide line among narrow ones", parent: parent, dags: []string{"team_a_x", "team_b_*"}, refused: "team_b_*"},
		{name: "star parent", parent: mustScope(t, []string{"*"}, nil, nil), dags: []string{"anything_*", "a?c"}, want: "dags anything_*, a?c"},
		{name: "star parent, class", parent: mustScope(t, []string{"*"}, nil, nil), dags: []string{"[^a]"}, refused: "[^a]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			child := commands.Scope{}
			if !tt.zero {
				child = mustScope(t, tt.dags, tt.tags, tt.teams)
			}
			got, err := tt.parent.Narrow(child)
			if tt.refused != "" {
				if err == nil || commands.ErrorCode(err) != commands.EFORBIDDEN || !strings.Contains(err.Error(), tt.refused) ||
					!strings.Contains(err.Error(), tt.parent.String()) {
					t.Fatalf("got %v (%s), want EFORBIDDEN naming %q and the parent's scope", err, got, tt.refused)
				}
				if !got.IsZero() {
					t.Errorf("a refusal returned a scope: %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestNarrowNeverWidens checks, on ids of every shape, that what a narrowed scope reaches its parent does.
func TestNarrowNeverWidens(t *testing.T) {
	globs := []string{"*", "team_a_*", "team_a_etl_*", "team_a_?", "team_a_[ab]", "team_a_[^x]", `team_a_\*`, "a*b", "a?b",
		"team_a_etl", "?", "[!x]", "é*", "team_a_*_x", "**"}
	ids := []string{"", "team_a_", "team_a_etl", "team_a_etl_1", "team_a_x", "team_a_*", "team_a_/", "team_a_a/b", "a/b", "ab", "a/c/b",
		"axb", "é", "éx", "team_b", "!", "x", "team_a_etl_/", "team_a_q_x"}
	for _, p := range globs {
		parent := mustScope(t, []string{p}, nil, nil)
		for _, c := range globs {
			got, err := parent.Narrow(mustScope(t, []string{c}, nil, nil))
			if err != nil {
				continue
			}
			for _, id := range ids {
				if got.Reaches(id, nil) && !parent.Reaches(id, nil) {
					t.Errorf("narrowing %s to %s reaches %q, which the parent does not", parent, got, id)
				}
			}
		}
	}
}

func TestNarrowKeepsNoDAGScoped(t *testing.T) {
	// A scope is never narrowed into no scope at all, which would reach every DAG.
	parent := mustScope(t, nil, []string{"team-a"}, nil)
	got, err := parent.Narrow(mustScope(t, nil, []string{"team-a"}, nil))
	if err != nil || got.IsZero() || got.Reaches("anything", nil) {
		t.Fatalf("got %s, %v", got, err)
	}
	if slices.Contains(got.DAGs(), "*") {
		t.Fatal("a tag narrowed into a glob")
	}
}

func TestScopeKnownAndReachesFile(t *testing.T) {
	index := commands.NewDAGIndex([]commands.DAGInfo{
		{ID: "team_a_etl", File: "/dags/team_a/etl.py", Bundle: "dags-folder", RelativeFile: "team_a/etl.py"},
		{ID: "team_a_load", File: "/dags/shared.py", Bundle: "dags-folder", RelativeFile: "shared.py"},
		{ID: "b_shared", Tags: []string{"team-a"}, File: "/dags/b.py", Bundle: "dags-folder", RelativeFile: "b.py"},
		{ID: "b_other", Tags: []string{"team-b"}, File: "/dags/shared.py", Bundle: "dags-folder", RelativeFile: "shared.py"},
		{ID: "b_alone", Tags: []string{"team-b"}, File: "/dags/x.py", Bundle: "dags-folder", RelativeFile: "x.py"},
		{ID: "b_etl", Tags: []string{"team-b"}, File: "/bundles/b/etl.py", Bundle: "team_b", RelativeFile: "etl.py"},
	})
	scope, err := commands.NewScope([]string{"team_a_*"}, []string{"team-a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := scope.Known(index); !slices.Equal(got, []string{"b_shared", "team_a_etl", "team_a_load"}) {
		t.Errorf("Known: %v", got)
	}
	if got := scope.Known(nil); got != nil {
		t.Errorf("Known without an index: %v", got)
	}
	for _, tt := range []struct {
		bundle, name string
		want         bool
	}{
		{"", "/dags/team_a/etl.py", true},      // Airflow 2's name: the whole path
		{"dags-folder", "team_a/etl.py", true}, // Airflow 3's: the path in its bundle
		{"", "/dags/b.py", true},
		{"dags-folder", "b.py", true},
		{"", "b.py", false},                 // a path in no bundle said
		{"team_b", "team_a/etl.py", false},  // another bundle's file at that path
		{"dags-folder", "etl.py", false},    // team B's etl.py is in another bundle
		{"dags-folder", "shared.py", false}, // it defines b_other too
		{"", "/dags/x.py", false},
		{"", "/dags/broken.py", false},
		{"", "", false},
		{"dags-folder", "../dags/b.py", false},
	} {
		if got := scope.ReachesFile(tt.bundle, tt.name, index); got != tt.want {
			t.Errorf("ReachesFile(%q, %q) = %v, want %v", tt.bundle, tt.name, got, tt.want)
		}
	}
	if !(commands.Scope{}).ReachesFile("", "/anything.py", nil) {
		t.Errorf("the zero scope does not reach every file")
	}
}

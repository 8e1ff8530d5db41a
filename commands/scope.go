package commands

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Scope is the set of DAGs a credential reaches (§19): DAG ids matching one of its globs, DAGs carrying one
// of its tags, DAGs of one of its teams. A DAG is in scope when any line matches.
//
// The zero Scope is no scope at all: it reaches every DAG, as a credential without dags, tags or teams
// does. A Scope made by NewScope or Narrow is a scope, even one left with no line (it then reaches no DAG),
// so that narrowing can never widen a credential back to every DAG.
type Scope struct {
	scoped bool
	dags   []string // globs on DAG ids, in path.Match's syntax
	tags   []string
	teams  []string
}

// maxScopeLine is the longest line a scope takes: Airflow's DAG ids hold at most 250 characters, its tags
// and team names fewer.
const maxScopeLine = 250

// NewScope returns the scope of a credential's lines: globs on DAG ids (path.Match's syntax: `*` and `?`
// stand for characters of an id, `[...]` for one of a class, `\` escapes), tags, and teams. Every line must
// be written out; a scope needs at least one line. Duplicate lines count once.
func NewScope(dags, tags, teams []string) (Scope, error) {
	if len(dags)+len(tags)+len(teams) == 0 {
		return Scope{}, Errorf(EINVALID, "a scope needs at least one of dags, tags or teams; leave all three out for a credential that reaches every DAG")
	}
	s := Scope{scoped: true}
	for _, g := range dags {
		if err := checkScopeLine("dags", g); err != nil {
			return Scope{}, err
		}
		if strings.ContainsFunc(g, unicode.IsSpace) {
			return Scope{}, Errorf(EINVALID, "the dags line %q holds a space, which no DAG id does; write one glob per line, such as team_a_*", Shorten(g))
		}
		if strings.Contains(g, "/") {
			return Scope{}, Errorf(EINVALID, "the dags line %q holds a /, which no DAG id does: dags lines are globs on DAG ids, not on file paths; write one such as team_a_*", Shorten(g))
		}
		if _, err := path.Match(g, ""); err != nil {
			return Scope{}, Errorf(EINVALID, "the dags line %q is not a glob: a [ needs its ], and a \\ the character it escapes; write one such as team_a_* or report_[ab]", Shorten(g))
		}
		s.dags = appendNew(s.dags, g)
	}
	for _, t := range tags {
		if err := checkScopeLine("tags", t); err != nil {
			return Scope{}, err
		}
		s.tags = appendNew(s.tags, t)
	}
	for _, t := range teams {
		if err := checkScopeLine("teams", t); err != nil {
			return Scope{}, err
		}
		s.teams = appendNew(s.teams, t)
	}
	return s, nil
}

// checkScopeLine refuses a line that is empty, padded, too long, not UTF-8, or holds a control or format
// character (which a log or a terminal would show otherwise than it matches).
func checkScopeLine(key, line string) error {
	switch {
	case strings.TrimSpace(line) == "":
		return Errorf(EINVALID, "a %s line is empty; write a value, or leave the line out", key)
	case !utf8.ValidString(line):
		return Errorf(EINVALID, "the %s line %q is not UTF-8 text; write it in UTF-8", key, Shorten(line))
	case strings.TrimSpace(line) != line:
		return Errorf(EINVALID, "the %s line %q starts or ends with a space; write it without", key, Shorten(line))
	case len(line) > maxScopeLine:
		return Errorf(EINVALID, "the %s line %q is longer than %d bytes, longer than any DAG id or tag", key, Shorten(line), maxScopeLine)
	case strings.ContainsFunc(line, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }):
		return Errorf(EINVALID, "the %s line %q holds a control or invisible character; write it with printable characters only", key, Shorten(line))
	}
	return nil
}

func appendNew(lines []string, line string) []string {
	if slices.Contains(lines, line) {
		return lines
	}
	return append(lines, line)
}

// IsZero reports whether s is no scope: the credential reaches every DAG.
func (s Scope) IsZero() bool { return !s.scoped }

// DAGs returns the scope's globs on DAG ids.
func (s Scope) DAGs() []string { return slices.Clone(s.dags) }

// Tags returns the scope's tags.
func (s Scope) Tags() []string { return slices.Clone(s.tags) }

// Teams returns the scope's teams.
func (s Scope) Teams() []string { return slices.Clone(s.teams) }

// String names the scope for refusals and logs, such as `dags team_a_*, shared_report; tags team-a`.
func (s Scope) String() string {
	if !s.scoped {
		return "no scope (every DAG)"
	}
	var parts []string
	for _, key := range []struct {
		name  string
		lines []string
	}{{"dags", s.dags}, {"tags", s.tags}, {"teams", s.teams}} {
		if len(key.lines) == 0 {
			continue
		}
		shown := make([]string, len(key.lines))
		for i, l := range key.lines {
			shown[i] = l
			if strings.ContainsAny(l, ",; \"") {
				shown[i] = strconv.Quote(l)
			}
		}
		parts = append(parts, key.name+" "+strings.Join(shown, ", "))
	}
	if len(parts) == 0 {
		return "no DAG"
	}
	return strings.Join(parts, "; ")
}

// Narrow returns the scope of a credential minted by one whose scope is s, asking for child: never wider
// than s. A zero child keeps s; under a zero s, child is taken as it is. Otherwise every line of child must
// lie within s, or Narrow refuses the whole request (EFORBIDDEN) naming the line:
//
//   - a dags glob lies within s when s has the same glob; when it holds no glob character and one of s's
//     globs matches it (a single DAG id); or when one of s's globs is a plain prefix followed by a single `*`
//     (team_a_*) and the child's glob starts with that prefix and holds no `[`, `\` or `/` (team_a_etl_*),
//     since its `*` and `?` then match only what that `*` does;
//   - a tag or a team lies within s when s has the same tag or team.
//
// A tag or team never lies within a dags glob, nor a glob within a tag: which DAGs they reach changes with
// the DAGs themselves.
func (s Scope) Narrow(child Scope) (Scope, error) {
	if !child.scoped {
		return s, nil
	}
	if !s.scoped {
		return child, nil
	}
	for _, g := range child.dags {
		if !slices.ContainsFunc(s.dags, func(p string) bool { return globWithin(g, p) }) {
			return Scope{}, Errorf(EFORBIDDEN, "the dags line %q reaches beyond this credential's scope (%s); a minted token may only narrow it", Shorten(g), s)
		}
	}
	for _, t := range child.tags {
		if !slices.Contains(s.tags, t) {
			return Scope{}, Errorf(EFORBIDDEN, "the tags line %q is not among this credential's scope (%s); a minted token may only narrow it", Shorten(t), s)
		}
	}
	for _, t := range child.teams {
		if !slices.Contains(s.teams, t) {
			return Scope{}, Errorf(EFORBIDDEN, "the teams line %q is not among this credential's scope (%s); a minted token may only narrow it", Shorten(t), s)
		}
	}
	return child, nil
}

// globMeta are the characters path.Match reads as more than themselves.
const globMeta = `*?[\`

// globWithin reports whether every DAG id that glob g matches is matched by glob p too (see Narrow).
func globWithin(g, p string) bool {
	if g == p {
		return true
	}
	if !strings.ContainsAny(g, globMeta) {
		ok, _ := path.Match(p, g)
		return ok
	}
	prefix, found := strings.CutSuffix(p, "*")
	return found && !strings.ContainsAny(prefix, globMeta) && strings.HasPrefix(g, prefix) && !strings.ContainsAny(g, `[\/`)
}

// Reaches reports whether the DAG id is in scope: a dags glob matches it, or the index knows it and it
// carries one of the scope's tags or belongs to one of its teams. The zero Scope reaches every id.
func (s Scope) Reaches(id string, index *DAGIndex) bool {
	if !s.scoped {
		return true
	}
	for _, g := range s.dags {
		if ok, _ := path.Match(g, id); ok {
			return true
		}
	}
	if len(s.tags)+len(s.teams) == 0 {
		return false
	}
	dag, known := index.Lookup(id)
	if !known {
		return false
	}
	if dag.Team != "" && slices.Contains(s.teams, dag.Team) {
		return true
	}
	return slices.ContainsFunc(dag.Tags, func(t string) bool { return slices.Contains(s.tags, t) })
}

// DAGInfo is what the gateway knows of one DAG from Airflow's metadata, which scopes match against.
type DAGInfo struct {
	ID     string
	Tags   []string
	Owners []string
	Team   string // the team of the DAG's bundle (Airflow 3.3's multi_team); empty otherwise
	File   string // the file that defines it, as Airflow records it
	// Bundle and RelativeFile are, on Airflow 3, the DAG's bundle and its file's path in the bundle: how
	// Airflow 3 names the file of an import error.
	Bundle       string
	RelativeFile string
}

// DAGIndex is the DAGs known at one time, by id. A nil *DAGIndex knows no DAG.
type DAGIndex struct {
	byID map[string]DAGInfo
}

// NewDAGIndex returns the index of dags; of two with one id, the later counts.
func NewDAGIndex(dags []DAGInfo) *DAGIndex {
	x := &DAGIndex{byID: make(map[string]DAGInfo, len(dags))}
	for _, d := range dags {
		x.byID[d.ID] = d
	}
	return x
}

// Lookup returns the DAG of an id and whether the index knows it.
func (x *DAGIndex) Lookup(id string) (DAGInfo, bool) {
	if x == nil {
		return DAGInfo{}, false
	}
	d, ok := x.byID[id]
	return d, ok
}

// Len is how many DAGs the index knows.
func (x *DAGIndex) Len() int {
	if x == nil {
		return 0
	}
	return len(x.byID)
}

// Known returns the ids of the DAGs that the index knows and s reaches, sorted: what a listing that takes a
// list of DAG ids asks Airflow for. A DAG that a dags glob matches but the index does not know yet (one
// added since its last read) is not among them.
func (s Scope) Known(index *DAGIndex) []string {
	if index == nil {
		return nil
	}
	var ids []string
	for id := range index.byID {
		if s.Reaches(id, index) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// ReachesFile reports whether what Airflow says of a DAG file (an import error, which names a file and
// no DAG) is in scope (FileReached, with the DAGs s reaches). The zero Scope reaches every file.
func (s Scope) ReachesFile(bundle, name string, index *DAGIndex) bool {
	return !s.scoped || index.FileReached(bundle, name, func(id string) bool { return s.Reaches(id, index) })
}

// FileReached reports whether the index ties at least one DAG to a file, and reached says yes of every
// DAG it ties. Airflow 3 names a file by its bundle and its path in the bundle, and a DAG is tied to it
// when it lies at that path of that bundle; Airflow 2 names a file by its absolute path, and a DAG is tied
// to it when its File is that path. A relative path without a bundle ties no DAG, since two bundles may
// each hold a file there; nor does a file that defines no DAG the index knows, such as one that never
// imported.
func (x *DAGIndex) FileReached(bundle, name string, reached func(id string) bool) bool {
	if x == nil || name == "" || name != path.Clean(name) || (bundle == "" && !path.IsAbs(name)) {
		return false
	}
	tied := 0
	for _, d := range x.byID {
		if bundle != "" && (d.Bundle != bundle || d.RelativeFile != name) || bundle == "" && d.File != name {
			continue
		}
		if !reached(d.ID) {
			return false
		}
		tied++
	}
	return tied > 0
}

package commands

import (
	"slices"
	"sort"
	"strings"
)

// reach says how a whitelisted command reaches DAGs, which decides what a scoped credential may run.
type reach int

const (
	reachUnknown    reach = iota // not classified: refused to a scoped credential
	reachOneDAG                  // acts on the DAGs it names (its dag_id): runs when all are in scope
	reachListing                 // lists across DAGs: runs, its rows filtered to the scope
	reachAllDAGs                 // acts on every DAG at once: refused to a scoped credential
	reachNotDAGs                 // about something other than DAGs: refused to a scoped credential
	reachNoResource              // about no resource a scope guards: runs for every credential
)

// reaches classifies every whitelisted path (a test fails when one is missing). A path missing here is
// refused to every scoped credential.
var reaches = map[string]reach{
	"backfill create":          reachOneDAG,
	"dags backfill":            reachOneDAG,
	"dags delete":              reachOneDAG,
	"dags details":             reachOneDAG,
	"dags list-runs":           reachOneDAG, // -d/--dag-id on 2.x, a positional on 3.x; required on both
	"dags next-execution":      reachOneDAG,
	"dags pause":               reachOneDAG,
	"dags show":                reachOneDAG,
	"dags state":               reachOneDAG,
	"dags test":                reachOneDAG,
	"dags trigger":             reachOneDAG,
	"dags unpause":             reachOneDAG,
	"tasks clear":              reachOneDAG,
	"tasks failed-deps":        reachOneDAG,
	"tasks list":               reachOneDAG,
	"tasks render":             reachOneDAG,
	"tasks run":                reachOneDAG,
	"tasks state":              reachOneDAG,
	"tasks states-for-dag-run": reachOneDAG, // one run of one DAG: its dag_id is checked before it runs
	"tasks test":               reachOneDAG,

	"dags list":               reachListing,
	"dags list-import-errors": reachListing,
	"dags list-jobs":          reachListing, // with -d/--dag-id, a listing of one DAG, decided as such
	"dags report":             reachListing,

	"dags reserialize": reachAllDAGs,

	"config get-value":        reachNotDAGs,
	"connections add":         reachNotDAGs,
	"connections delete":      reachNotDAGs,
	"connections get":         reachNotDAGs,
	"connections list":        reachNotDAGs,
	"db check":                reachNotDAGs,
	"db clean":                reachNotDAGs,
	"jobs check":              reachNotDAGs,
	"pools delete":            reachNotDAGs,
	"pools get":               reachNotDAGs,
	"pools list":              reachNotDAGs,
	"pools set":               reachNotDAGs,
	"providers behaviours":    reachNotDAGs,
	"providers get":           reachNotDAGs,
	"providers hooks":         reachNotDAGs,
	"providers links":         reachNotDAGs,
	"providers list":          reachNotDAGs,
	"providers notifications": reachNotDAGs,
	"providers secrets":       reachNotDAGs,
	"providers triggers":      reachNotDAGs,
	"providers widgets":       reachNotDAGs,
	"variables delete":        reachNotDAGs,
	"variables get":           reachNotDAGs,
	"variables list":          reachNotDAGs,
	"variables set":           reachNotDAGs,
	"scheduler":               reachNotDAGs,
	"kerberos":                reachNotDAGs,
	"celery worker":           reachNotDAGs,
	"celery flower":           reachNotDAGs,

	"version":     reachNoResource,
	"cheat-sheet": reachNoResource,
}

// dagIDDest is the argparse dest of a command's DAG id, positional or -d/--dag-id, on every release.
const dagIDDest = "dag_id"

// dagPlainDests are the dests about DAGs that name no DAG: the run's conf, what to show or keep of it, the
// file to parse the named DAG from. A dest holding "dag" that is in none of these lists is refused to a
// scoped credential, as a release that adds one may name DAGs through it.
var dagPlainDests = []string{
	"dag_run_conf", "show_dagrun", "imgcat_dagrun", "save_dagrun", "dagfile_path",
	"exclude_parentdag", "exclude_subdags",
}

// beyondScope are the dests about DAGs that reach other DAGs than those named, refused to a scoped
// credential: Airflow 2's `dags backfill --reset-dagruns` clears with the sub-DAGs and the DAGs that
// ExternalTaskMarkers name, with no way to say otherwise.
var beyondScope = []string{"reset_dagruns"}

// pinnedDests name where a command finds its DAG: the gateway chooses them for a scoped credential's
// command about one DAG (the DAG's own file or bundle, from the DAG index), so that no other file is
// parsed for it, and none other may be given.
var pinnedDests = []string{"subdir", "bundle_name", "dagfile_path"}

// scopedSwitches are switches a command takes for a scoped credential whatever it asked: on Airflow 2,
// `tasks clear` follows a sub-DAG to its parent and every ExternalTaskMarker to the DAG it names, unless
// told not to.
var scopedSwitches = map[string][]string{
	"tasks clear": {"exclude_subdags", "exclude_parentdag"},
}

// DAGs returns the DAG ids the invocation names, in the order given: the values of its DAG id, a
// positional or the -d/--dag-id flag, however the caller wrote it.
func (inv *Invocation) DAGs() []string { return slices.Clone(inv.values[dagIDDest]) }

// Verdict is what a scope makes of an invocation. The zero Verdict refuses.
type Verdict int

// The verdicts of Policy.Decide.
const (
	Refuse Verdict = iota // nothing runs; Decision.Err says why
	Allow                 // runs as asked
	Filter                // a listing across DAGs: runs, and only the rows of DAGs in scope are shown
)

// Why a scope refuses an invocation, for logs and metrics (Decision.Reason).
const (
	RefusedOutOfScope   = "out_of_scope" // names a DAG outside the scope
	RefusedDAGPattern   = "dag_pattern"  // names DAGs by a regular expression
	RefusedAllDAGs      = "all_dags"     // acts on every DAG at once
	RefusedNotDAGs      = "not_dags"     // is about something other than DAGs
	RefusedUnclassified = "unclassified" // nobody classified how it reaches DAGs
	RefusedNoDAG        = "no_dag_named" // a command about one DAG that names none
	RefusedBeyond       = "beyond_dag"   // a flag that reaches other DAGs than the one named
)

// Decision is the answer of Policy.Decide.
type Decision struct {
	Verdict Verdict
	// DAGs are the DAG ids the invocation names, for logs.
	DAGs []string
	// Reason is one of the Refused* constants when Verdict is Refuse.
	Reason string
	// Err is an *Error with code EFORBIDDEN when Verdict is Refuse, naming the scope; nil otherwise.
	Err error
}

// Decide answers whether a credential of the given scope may run inv (§19), before anything runs. A zero
// scope allows everything. Otherwise a command about DAGs runs when every DAG it names is in scope (the
// refusal reads the same whether the DAG exists or not); a listing across DAGs runs to be filtered; a
// command about something else is refused, but `version` and `cheat-sheet`. What is not known to stay
// within a scope is refused.
func (p *Policy) Decide(scope Scope, index *DAGIndex, inv *Invocation) Decision {
	ids := inv.DAGs()
	if scope.IsZero() {
		return Decision{Verdict: Allow, DAGs: ids}
	}
	refuse := func(reason, format string, args ...any) Decision {
		return Decision{Verdict: Refuse, DAGs: ids, Reason: reason, Err: Errorf(EFORBIDDEN, format, args...)}
	}
	path := inv.Path()
	r := reaches[path]
	switch r {
	case reachNoResource:
		return Decision{Verdict: Allow, DAGs: ids}
	case reachNotDAGs:
		return refuse(RefusedNotDAGs, "`%s` is not about DAGs, and this credential's scope (%s) covers DAGs only; use a credential without a scope to run it", path, scope)
	case reachAllDAGs:
		return refuse(RefusedAllDAGs, "`%s` acts on every DAG at once, beyond this credential's scope (%s); use a credential without a scope to run it", path, scope)
	case reachOneDAG, reachListing:
	default:
		return refuse(RefusedUnclassified, "`%s` is not known to stay within a scope, so this credential's scope (%s) does not let it run", path, scope)
	}
	// Flags about DAGs: a regular expression (regexSwitches) reaches past any scope, and one nobody classified may name DAGs.
	dests := make([]string, 0, len(inv.values))
	for dest := range inv.values {
		dests = append(dests, dest)
	}
	sort.Strings(dests)
	for _, dest := range dests {
		switch {
		case slices.Contains(regexSwitches, dest):
			return refuse(RefusedDAGPattern, "%s makes the DAG id a pattern that reaches past this credential's scope (%s); leave it out and name each DAG", argName(inv.Command, dest), scope)
		case r == reachOneDAG && slices.Contains(pinnedDests, dest):
			return refuse(RefusedBeyond, "%s reads DAGs from other files than the one named, and for this credential's scope (%s) the gateway reads the DAG from its own file; leave it out", argName(inv.Command, dest), scope)
		case slices.Contains(beyondScope, dest):
			return refuse(RefusedBeyond, "%s reaches other DAGs than the one named (sub-DAGs, and those its ExternalTaskMarkers name), past this credential's scope (%s); leave it out", argName(inv.Command, dest), scope)
		case dest != dagIDDest && strings.Contains(dest, "dag") && !slices.Contains(dagPlainDests, dest):
			return refuse(RefusedUnclassified, "`%s` with %s is not known to stay within a scope, so this credential's scope (%s) does not let it run", path, argName(inv.Command, dest), scope)
		}
	}
	if r == reachListing && len(ids) == 0 {
		return Decision{Verdict: Filter}
	}
	if len(ids) == 0 {
		return refuse(RefusedNoDAG, "`%s` names no DAG, and this credential's scope (%s) lets it act only on DAGs it names; name one", path, scope)
	}
	for _, id := range ids {
		if !scope.Reaches(id, index) {
			return refuse(RefusedOutOfScope, "the DAG %q is not in this credential's scope (%s)", Shorten(id), scope)
		}
	}
	return Decision{Verdict: Allow, DAGs: ids}
}

// argName names a command's flag or positional by its dest, as its usage does.
func argName(cmd *Command, dest string) string {
	if f := cmd.Flag(dest); f != nil {
		return flagNames(f)
	}
	return strings.ToUpper(dest)
}

package commands

import (
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Access is what a credential may do: its role, the DAGs its scope reaches (§19), and the Airflow user
// whose permissions apply too (§20). The zero Scope reaches every DAG; an empty AirflowUser leaves
// Airflow's permissions to the role.
type Access struct {
	Role        Role
	Scope       Scope
	AirflowUser string
}

// Refusal is a scope's refusal of a command (Decision.Reason and the scope that refused it, for the
// audit line and the metrics); it unwraps to the EFORBIDDEN *Error that the caller is shown.
type Refusal struct {
	Reason string
	Scope  Scope
	DAGs   []string
	err    *Error
}

// NewRefusal returns a scope's refusal for a reason, with the message the caller is shown.
func NewRefusal(reason string, scope Scope, dags []string, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Scope: scope, DAGs: dags, err: Errorf(EFORBIDDEN, format, args...)}
}

func (r *Refusal) Error() string { return r.err.Error() }

// Unwrap returns the *Error the caller is shown.
func (r *Refusal) Unwrap() error { return r.err }

// indexed is the DAG index and when it was read.
type indexed struct {
	index *DAGIndex
	read  time.Time
}

// dagIndex holds the latest DAG index of a Service; nil until one is read.
type dagIndex struct{ p atomic.Pointer[indexed] }

// SetDAGIndex makes x the DAG index that scopes match against from now on, read at read.
func (s *Service) SetDAGIndex(x *DAGIndex, read time.Time) {
	s.index.p.Store(&indexed{index: x, read: read})
}

// DAGIndex returns the DAG index scopes match against and when it was read; nil and the zero time before
// the first read. An index older than Options.DAGIndexMaxAge (its reads failing since) is nil too, with
// its time: a DAG retagged out of a scope meanwhile must not stay in it for as long as Airflow cannot be
// read.
func (s *Service) DAGIndex() (*DAGIndex, time.Time) {
	x := s.index.p.Load()
	if x == nil {
		return nil, time.Time{}
	}
	if s.opts.DAGIndexMaxAge > 0 && time.Since(x.read) > s.opts.DAGIndexMaxAge {
		return nil, x.read
	}
	return x.index, x.read
}

// ResolveLine splits a command line and resolves it for a credential: the policy's ResolveLine, then
// the credential's scope (Decide), then, for a credential that acts as an Airflow user, Airflow's own
// permissions (asAirflowUser). Every dialect resolves through the Service, so that no command gets past
// a scope or Airflow's auth manager.
func (s *Service) ResolveLine(line string, who Access) (*Invocation, error) {
	inv, err := s.Policy.ResolveLine(line, who.Role)
	if err != nil {
		return nil, err
	}
	return s.decide(inv, who)
}

// decide applies a credential's scope, then its Airflow user's permissions, to a resolved invocation.
func (s *Service) decide(inv *Invocation, who Access) (*Invocation, error) {
	inv, err := s.within(inv, who.Scope)
	if err != nil {
		return nil, err
	}
	return s.asAirflowUser(inv, who)
}

// ResolveArgv checks exact words and resolves them for a credential, as ResolveLine does.
func (s *Service) ResolveArgv(words []string, who Access) (*Invocation, error) {
	inv, err := s.Policy.ResolveArgv(words, who.Role)
	if err != nil {
		return nil, err
	}
	return s.decide(inv, who)
}

// ResolvePlugin resolves a plugin API call for a credential, as ResolveLine does. deploy_dag writes a
// file that may define any DAG, so neither a scoped credential nor one that acts as an Airflow user may
// call it: no permission of Airflow's covers writing a DAG file.
func (s *Service) ResolvePlugin(api string, args map[string]string, who Access) (*PluginCall, error) {
	call, err := s.Policy.ResolvePlugin(api, args, who.Role)
	if err != nil {
		return nil, err
	}
	if who.AirflowUser != "" && call.Action == PluginDeploy {
		return nil, refusedFor(who.AirflowUser, "deploy_dag", RefusedUncovered, "deploy_dag writes a file that may define any DAG, and no permission of Airflow's allows that to a credential that acts as an Airflow user (%q); use a credential without airflow_user to deploy", who.AirflowUser)
	}
	if who.Scope.IsZero() {
		if call.Invocation != nil {
			if call.Invocation, err = s.asAirflowUser(call.Invocation, who); err != nil {
				return nil, err
			}
		}
		return call, nil
	}
	switch {
	case call.Action == PluginDeploy:
		return nil, &Refusal{Reason: RefusedDeploy, Scope: who.Scope, err: Errorf(EFORBIDDEN,
			"deploy_dag writes a file that may define any DAG, beyond this credential's scope (%s); use a credential without a scope to deploy", who.Scope)}
	case call.Invocation != nil:
		if call.Invocation, err = s.decide(call.Invocation, who); err != nil {
			return nil, err
		}
	}
	return call, nil
}

// Why a scope refuses, beside Decide's reasons (Refusal.Reason).
const (
	RefusedDeploy     = "deploy"     // deploy_dag, whose file may define any DAG
	RefusedUnfiltered = "unfiltered" // a listing that cannot be filtered on this release
)

// within applies a scope to a resolved invocation: it is refused (a *Refusal), runs as it is, or becomes
// a listing whose rows are filtered to the scope when it runs.
func (s *Service) within(inv *Invocation, scope Scope) (*Invocation, error) {
	index, _ := s.DAGIndex()
	d := s.Decide(scope, index, inv)
	switch d.Verdict {
	case Allow:
		if scope.IsZero() {
			return inv, nil
		}
		out := inv.withSwitches(scopedSwitches[inv.Path()]...)
		if reaches[inv.Path()] == reachOneDAG {
			out = out.pinned(index)
		}
		out.scope = scope
		return out, nil
	case Filter:
		f := inv.filteredTo(scope)
		switch {
		case f == nil:
			d = Decision{Reason: RefusedUnfiltered, DAGs: d.DAGs, Err: Errorf(EFORBIDDEN,
				"`%s` cannot print JSON on this Airflow release, so the gateway cannot keep its rows to this credential's scope (%s); use a credential without a scope to run it", inv.Path(), scope)}
		case inv.leavesOutDAGID():
			d = Decision{Reason: RefusedUnfiltered, DAGs: d.DAGs, Err: Errorf(EFORBIDDEN,
				"--columns leaves out dag_id, which the gateway needs to keep the rows of `%s` to this credential's scope (%s); add dag_id to --columns", inv.Path(), scope)}
		default:
			return f, nil
		}
	}
	var e *Error
	e, _ = d.Err.(*Error)
	return nil, &Refusal{Reason: d.Reason, Scope: scope, DAGs: d.DAGs, err: e}
}

// pinned returns a copy of a command about one DAG that reads the DAG from its own file, as the DAG index
// has it, rather than from every file of the DAGs folder, which could print what other files hold (their
// import errors, what they print when parsed): `--subdir FILE` on Airflow 2, `--bundle-name BUNDLE` on
// Airflow 3, where the command takes it. Without the DAG in the index, or its file, it is left as it is.
func (inv *Invocation) pinned(index *DAGIndex) *Invocation {
	ids := inv.DAGs()
	if len(ids) != 1 {
		return inv
	}
	dag, known := index.Lookup(ids[0])
	if !known {
		return inv
	}
	if f := inv.Command.Flag("subdir"); f != nil && dag.File != "" {
		if st, err := os.Stat(dag.File); err == nil && st.Mode().IsRegular() {
			return inv.withValue(f, dag.File)
		}
	}
	if f := inv.Command.Flag("bundle_name"); f != nil && dag.Bundle != "" {
		return inv.withValue(f, dag.Bundle)
	}
	return inv
}

// Allowed lists the whitelisted commands a credential may run: those of its role (Policy.Allowed) and,
// for a scoped credential, only those its scope lets run for some DAG.
func (s *Service) Allowed(who Access) Listing {
	out := s.Policy.Allowed(who.Role)
	if who.Scope.IsZero() {
		return out
	}
	kept := out.Commands[:0]
	for _, c := range out.Commands {
		if reachesWithinScope(reaches[c.Path]) {
			kept = append(kept, c)
		}
	}
	out.Commands = kept
	return out
}

// reachesWithinScope reports whether a command of that reach may run for a scoped credential.
func reachesWithinScope(r reach) bool {
	return r == reachOneDAG || r == reachListing || r == reachNoResource
}

// PluginAPIsFor returns the plugin APIs a credential may call, in the table's order, and the names of
// those it may not: an API needs the credential's role and, for a scoped credential, to be about DAGs
// it names (a dag_id argument), to list DAGs, or to run nothing.
func PluginAPIsFor(who Access) (offered []*PluginAPI, withheld []string) {
	for _, api := range PluginAPIs() {
		if who.Role >= api.Role && (who.Scope.IsZero() || api.withinScope()) {
			offered = append(offered, api)
		} else {
			withheld = append(withheld, api.Name)
		}
	}
	return offered, withheld
}

// withinScope reports whether a scoped credential may call the API for some DAG.
func (api *PluginAPI) withinScope() bool {
	switch {
	case api.deploys, api.Name == "refresh_dag": // refresh_dag names a DAG, and reserializes every DAG
		return false
	case api.answer != "", api.Name == "list_dags":
		return true
	}
	return slices.ContainsFunc(api.Args, func(a PluginArg) bool { return a.Name == "dag_id" && a.Required })
}

// leavesOutDAGID reports whether a listing's --columns (dags list, from Airflow 2.10) leaves out the
// dag_id its rows are filtered by: a list separated by commas, each name without its blanks.
func (inv *Invocation) leavesOutDAGID() bool {
	cols, given := inv.Value("columns")
	if !given {
		return false
	}
	for _, c := range strings.Split(cols, ",") {
		if strings.TrimFunc(c, pyIsSpace) == dagIDDest {
			return false
		}
	}
	return true
}

package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Permission is one question to Airflow's auth manager about an Airflow user (§20): may the user act with
// Method on the resource, or on one of its items (ID: a DAG id, a variable's key, a connection's id, a
// pool's name, a configuration section, or the name of one of Airflow's views).
type Permission struct {
	Resource string `json:"resource"` // dag, variable, connection, pool, configuration or view
	Method   string `json:"method"`   // GET, POST, PUT or DELETE
	ID       string `json:"id,omitempty"`
}

// The resources of a Permission, each answered by the auth manager's is_authorized_RESOURCE.
const (
	ResourceDAG           = "dag"
	ResourceVariable      = "variable"
	ResourceConnection    = "connection"
	ResourcePool          = "pool"
	ResourceConfiguration = "configuration"
	ResourceView          = "view"
)

// PermissionQuery asks Airflow's auth manager about one user: each check, and, with DAGs, the ids of the
// DAGs the user may read (get_authorized_dag_ids with method GET).
type PermissionQuery struct {
	User   string       `json:"user"`
	Checks []Permission `json:"checks"`
	DAGs   bool         `json:"dags,omitempty"`
}

// PermissionAnswer is the auth manager's answer to a PermissionQuery: whether Airflow knows the user, an
// answer per check in their order, and the DAG ids when asked.
type PermissionAnswer struct {
	UserFound bool     `json:"user_found"`
	Allowed   []bool   `json:"allowed"`
	DAGs      []string `json:"dags"`
}

// AirflowRefusal is the refusal of a command for a credential that acts as an Airflow user (§20): Airflow's
// auth manager refused one of its checks, or knows no such user, or no permission of Airflow's covers the
// command. It carries what the audit line and the metrics need, and unwraps to the EFORBIDDEN *Error the
// caller is shown.
type AirflowRefusal struct {
	User     string
	Command  string // the command's path
	Resource string // the refused Permission's resource, or one of the Refused... reasons below
	Method   string // the refused Permission's method, if any
	ID       string // the refused Permission's item, if any
	err      *Error
}

// Why a command is refused for an Airflow user, besides a resource of Airflow's that refused a check
// (AirflowRefusal.Resource). With the resources, a bounded set: a metric's label takes them.
const (
	RefusedUnknownUser        = "unknown_user"             // Airflow's auth manager knows no such user
	RefusedUncovered          = "uncovered"                // no permission of Airflow's covers the command
	RefusedUnfilterable       = "unfilterable"             // a listing the gateway cannot keep to the user's DAGs
	RefusedUnsupportedManager = "unsupported_auth_manager" // an auth manager the gateway does not ask
)

func (r *AirflowRefusal) Error() string { return r.err.Error() }

// Unwrap returns the *Error the caller is shown.
func (r *AirflowRefusal) Unwrap() error { return r.err }

// refusedFor returns the refusal of the command path for user, for a reason, with the message shown.
func refusedFor(user, path, reason string, format string, args ...any) *AirflowRefusal {
	return &AirflowRefusal{User: user, Command: path, Resource: reason, err: Errorf(EFORBIDDEN, format, args...)}
}

// An Authorizer is an Executor that can ask Airflow's auth manager, in Airflow's own Python. It returns an
// *Error: EUNAVAILABLE when the manager cannot answer now, EFORBIDDEN when the configured auth manager is
// one the gateway does not ask (its message names it).
type Authorizer interface {
	Authorize(ctx context.Context, q PermissionQuery) (*PermissionAnswer, error)
}

// permissionTimeout bounds one question to the auth manager: the warm executor answers in milliseconds,
// the subprocess executor starts Airflow's Python and the manager for each (several seconds).
const permissionTimeout = time.Minute

// dagMethods are the methods asked of is_authorized_dag for the commands about DAGs whose method is not
// their class's (dagMethod).
var dagMethods = map[string]string{"dags delete": "DELETE"}

// dagMethod is the method of a command about DAGs: GET for what only reads, DELETE for deleting a DAG,
// PUT for everything else that changes or runs a DAG (trigger, pause, unpause, clear, test, backfill).
func dagMethod(e *Entry) string {
	if m, ok := dagMethods[e.Path]; ok {
		return m
	}
	if e.Class == ClassRead {
		return "GET"
	}
	return "PUT"
}

// resourcePermission is what a command about another resource than DAGs asks: the resource, the methods
// (all of them must be allowed), and the dest of the argument that names the item, if any.
type resourcePermission struct {
	resource string
	methods  []string
	idDest   string
}

// resourcePermissions map the commands about other resources than DAGs to Airflow's permissions. A
// command that sets a value may create it or change it, so it needs both POST and PUT.
var resourcePermissions = map[string]resourcePermission{
	"variables get":           {ResourceVariable, []string{"GET"}, "key"},
	"variables list":          {ResourceVariable, []string{"GET"}, ""},
	"variables set":           {ResourceVariable, []string{"POST", "PUT"}, "key"},
	"variables delete":        {ResourceVariable, []string{"DELETE"}, "key"},
	"connections get":         {ResourceConnection, []string{"GET"}, "conn_id"},
	"connections list":        {ResourceConnection, []string{"GET"}, ""},
	"connections add":         {ResourceConnection, []string{"POST"}, "conn_id"},
	"connections delete":      {ResourceConnection, []string{"DELETE"}, "conn_id"},
	"pools get":               {ResourcePool, []string{"GET"}, "pool"},
	"pools list":              {ResourcePool, []string{"GET"}, ""},
	"pools set":               {ResourcePool, []string{"POST", "PUT"}, "pool"},
	"pools delete":            {ResourcePool, []string{"DELETE"}, "pool"},
	"config get-value":        {ResourceConfiguration, []string{"GET"}, "section"},
	"providers behaviours":    {ResourceView, []string{"GET"}, "PROVIDERS"},
	"providers get":           {ResourceView, []string{"GET"}, "PROVIDERS"},
	"providers hooks":         {ResourceView, []string{"GET"}, "PROVIDERS"},
	"providers links":         {ResourceView, []string{"GET"}, "PROVIDERS"},
	"providers list":          {ResourceView, []string{"GET"}, "PROVIDERS"},
	"providers notifications": {ResourceView, []string{"GET"}, "PROVIDERS"},
	"providers secrets":       {ResourceView, []string{"GET"}, "PROVIDERS"},
	"providers triggers":      {ResourceView, []string{"GET"}, "PROVIDERS"},
	"providers widgets":       {ResourceView, []string{"GET"}, "PROVIDERS"},
	"jobs check":              {ResourceView, []string{"GET"}, "JOBS"},
}

// PermissionPlan is what Airflow's auth manager is asked before a command runs for an Airflow user: each
// check, and for a listing across DAGs, the DAGs the user may read.
type PermissionPlan struct {
	Checks  []Permission
	Listing bool
}

// PlanPermissions says what Airflow's auth manager must allow before inv runs for an Airflow user (§20),
// or why no permission of Airflow's covers it (an EFORBIDDEN *Error): a command about DAGs is asked by
// method for each DAG it names; a listing across DAGs is filtered to the DAGs the user may read; a command
// about variables, connections, pools, configuration or providers is asked of that resource; `version` and
// `cheat-sheet` ask nothing. Everything else is refused: what Airflow has no permission for, no user of
// Airflow's is known to be allowed.
func PlanPermissions(inv *Invocation, user string) (PermissionPlan, error) {
	path := inv.Path()
	uncovered := func(why string) (PermissionPlan, error) {
		return PermissionPlan{}, refusedFor(user, path, RefusedUncovered,
			"`%s` %s, so no permission of Airflow's allows it to this credential, which acts as the Airflow user %q; use a credential without airflow_user to run it", path, why, user)
	}
	switch reaches[path] {
	case reachNoResource:
		return PermissionPlan{}, nil
	case reachAllDAGs:
		return uncovered("acts on every DAG at once")
	case reachNotDAGs:
		rp, ok := resourcePermissions[path]
		if !ok {
			return uncovered("is about no resource Airflow's auth manager guards")
		}
		id := rp.idDest
		if rp.resource != ResourceView && id != "" {
			id, _ = inv.Value(rp.idDest)
		}
		var plan PermissionPlan
		for _, m := range rp.methods {
			plan.Checks = append(plan.Checks, Permission{Resource: rp.resource, Method: m, ID: id})
		}
		return plan, nil
	case reachOneDAG, reachListing:
	default:
		return uncovered("is not known to be about DAGs or another resource of Airflow's")
	}
	if dest, ok := unnamedDAGs(inv); ok {
		return uncovered(fmt.Sprintf("with %s reaches DAGs it does not name", argName(inv.Command, dest)))
	}
	ids := inv.DAGs()
	if len(ids) == 0 {
		if reaches[path] == reachListing {
			return PermissionPlan{Listing: true}, nil
		}
		return uncovered("names no DAG")
	}
	var plan PermissionPlan
	method := dagMethod(inv.Entry)
	for _, id := range ids {
		plan.Checks = append(plan.Checks, Permission{Resource: ResourceDAG, Method: method, ID: id})
	}
	return plan, nil
}

// unnamedDAGs returns the dest of a flag of inv through which it may reach DAGs it does not name: a
// regular expression, or a flag about DAGs nobody classified (see Decide).
func unnamedDAGs(inv *Invocation) (string, bool) {
	var found []string
	for dest := range inv.values {
		if slices.Contains(regexSwitches, dest) ||
			(dest != dagIDDest && strings.Contains(dest, "dag") && !slices.Contains(dagPlainDests, dest)) {
			found = append(found, dest)
		}
	}
	if len(found) == 0 {
		return "", false
	}
	slices.Sort(found)
	return found[0], true
}

// asAirflowUser decides inv for a credential that acts as an Airflow user (§20), after its scope: Airflow's
// auth manager is asked what PlanPermissions says, and inv runs with the user as its LOGNAME, or is
// refused (EFORBIDDEN, naming the user and what Airflow refused), or, when the manager cannot answer, not
// run (EUNAVAILABLE). A listing across DAGs runs filtered to the DAGs Airflow lets the user read, and to
// the scope.
func (s *Service) asAirflowUser(inv *Invocation, who Access) (*Invocation, error) {
	if who.AirflowUser == "" {
		return inv, nil
	}
	plan, err := PlanPermissions(inv, who.AirflowUser)
	if err != nil {
		return nil, err
	}
	out := *inv
	out.airflowUser = who.AirflowUser
	if len(plan.Checks) == 0 && !plan.Listing {
		return &out, nil
	}
	a, ok := s.exec.(Authorizer)
	if !ok {
		return nil, Errorf(EUNAVAILABLE, "this executor cannot ask Airflow's auth manager what the Airflow user %q may do, so nothing runs for it", who.AirflowUser)
	}
	ctx, cancel := context.WithTimeout(context.Background(), permissionTimeout)
	defer cancel()
	ans, err := a.Authorize(ctx, PermissionQuery{User: who.AirflowUser, Checks: plan.Checks, DAGs: plan.Listing})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			if e.Code == EFORBIDDEN {
				return nil, &AirflowRefusal{User: who.AirflowUser, Command: inv.Path(), Resource: RefusedUnsupportedManager, err: e}
			}
			return nil, e
		}
		return nil, Errorf(EUNAVAILABLE, "Airflow's auth manager could not answer what the Airflow user %q may do (%v), so nothing ran; retry in a few seconds", who.AirflowUser, err)
	}
	if !ans.UserFound {
		return nil, refusedFor(who.AirflowUser, inv.Path(), RefusedUnknownUser, "Airflow's auth manager knows no user %q, the Airflow user this credential acts as, so nothing ran; create the user in Airflow or fix airflow_user in the tokens file", who.AirflowUser)
	}
	if len(ans.Allowed) != len(plan.Checks) {
		return nil, Errorf(EUNAVAILABLE, "Airflow's auth manager answered %d checks of %d for the Airflow user %q, so nothing ran", len(ans.Allowed), len(plan.Checks), who.AirflowUser)
	}
	for i, c := range plan.Checks {
		if !ans.Allowed[i] {
			r := refusedFor(who.AirflowUser, inv.Path(), c.Resource, "Airflow does not let the user %q %s (is_authorized_%s with method %s), so `%s` did not run; ask an Airflow admin for the permission",
				who.AirflowUser, c.describe(), c.Resource, c.Method, inv.Path())
			r.Method, r.ID = c.Method, c.ID
			return nil, r
		}
	}
	if !plan.Listing {
		return &out, nil
	}
	permitted := make(map[string]bool, len(ans.DAGs))
	for _, id := range ans.DAGs {
		permitted[id] = true
	}
	if out.listing == nil {
		f := inv.filteredTo(who.Scope)
		switch {
		case f == nil:
			return nil, refusedFor(who.AirflowUser, inv.Path(), RefusedUnfilterable, "`%s` cannot print JSON on this Airflow release, so the gateway cannot keep its rows to the DAGs Airflow lets the user %q read; use a credential without airflow_user to run it", inv.Path(), who.AirflowUser)
		case inv.leavesOutDAGID():
			return nil, refusedFor(who.AirflowUser, inv.Path(), RefusedUnfilterable, "--columns leaves out dag_id, which the gateway needs to keep the rows of `%s` to the DAGs Airflow lets the user %q read; add dag_id to --columns", inv.Path(), who.AirflowUser)
		}
		out = *f
		out.airflowUser = who.AirflowUser
	}
	l := *out.listing
	l.permitted = permitted
	out.listing = &l
	return &out, nil
}

// describe says what a permission is about, for a refusal's message.
func (p Permission) describe() string {
	verb := map[string]string{"GET": "read", "POST": "create", "PUT": "change or run", "DELETE": "delete"}[p.Method]
	switch {
	case p.Resource == ResourceView:
		return fmt.Sprintf("see %s", strings.ToLower(strings.ReplaceAll(p.ID, "_", " ")))
	case p.Resource == ResourceDAG && p.ID != "":
		return fmt.Sprintf("%s the DAG %q", verb, Shorten(p.ID))
	case p.Resource == ResourceConfiguration:
		return fmt.Sprintf("read the configuration section %q", Shorten(p.ID))
	case p.ID != "":
		return fmt.Sprintf("%s the %s %q", verb, p.Resource, Shorten(p.ID))
	}
	return fmt.Sprintf("%s %ss", verb, p.Resource)
}

// ProbeAuthManager asks Airflow's auth manager nothing about nobody, to learn whether it can be asked: nil
// when it answers, the *Error a credential with an Airflow user would get otherwise (EFORBIDDEN naming an
// auth manager the gateway does not ask, EUNAVAILABLE when it cannot answer). On the warm executor it also
// starts the authorizer.
func (s *Service) ProbeAuthManager(ctx context.Context) error {
	a, ok := s.exec.(Authorizer)
	if !ok {
		return Errorf(EUNAVAILABLE, "this executor cannot ask Airflow's auth manager")
	}
	_, err := a.Authorize(ctx, PermissionQuery{})
	return err
}

package commands

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ArgKind says what a plugin API argument holds and how it is checked.
type ArgKind string

// The kinds of plugin arguments.
const (
	ArgText  ArgKind = "text"   // any printable text
	ArgID    ArgKind = "id"     // an Airflow key: DAG, task or connection id
	ArgRunID ArgKind = "run_id" // a DAG run id
	ArgDate  ArgKind = "date"   // YYYY-MM-DD, optionally with a time (ValidDate)
	// ArgDateOrRunID is a date or a run id: what Airflow's task commands take for a DAG run.
	ArgDateOrRunID ArgKind = "date_or_run_id"
	ArgBool        ArgKind = "bool"   // on when present, unless false, 0, off or no
	ArgJSON        ArgKind = "json"   // a JSON object
	ArgInt         ArgKind = "int"    // a whole number
	ArgPath        ArgKind = "path"   // a path inside the DAGs folder
	ArgChoice      ArgKind = "choice" // one of Choices
	ArgFile        ArgKind = "file"   // an uploaded file (multipart)
)

// PluginArg is one argument of a plugin API.
type PluginArg struct {
	Name        string   `json:"name"`
	Kind        ArgKind  `json:"kind"`
	Required    bool     `json:"required,omitempty"`
	Choices     []string `json:"choices,omitempty"`
	Description string   `json:"description"`
}

// PluginAPI is one API of the Airflow REST API Plugin, as the gateway serves it. The admin page builds its
// forms from the same table.
type PluginAPI struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Role        Role        `json:"-"` // the least role that may use the API in some form
	Method      string      `json:"method"`
	Args        []PluginArg `json:"arguments"`
	Example     string      `json:"example"` // the query string of an example call
	// build turns the arguments into command words; nil for the APIs the gateway answers itself.
	build func(c *PluginCall) error
}

// PluginAPIs lists every plugin API, in the plugin's order.
func PluginAPIs() []*PluginAPI { return pluginAPIs }

// PluginAPIByName returns the API called name (trimmed, any case), or nil.
func PluginAPIByName(name string) *PluginAPI {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, api := range pluginAPIs {
		if api.Name == name {
			return api
		}
	}
	return nil
}

// PluginCall is a plugin API request resolved against the policy: what the gateway answers or runs.
type PluginCall struct {
	API *PluginAPI
	// Invocation is the command to run; nil for version, rest_api_plugin_version and deploy_dag.
	Invocation *Invocation
	// Daemon is set for the daemon APIs: the invocation is started detached.
	Daemon   bool
	Warnings []string

	policy *Policy
	args   map[string]string
	labels map[string]string // argparse dest -> the argument that gave its value
	words  []string          // the command path
	flags  []string
	pos    []string
	cmd    *Command
}

// ResolvePlugin checks a plugin API call (api is the `api` argument; args are the other arguments, first
// value per key) against the API table, the role and the policy, and returns what to do. The command words
// it builds go through the same resolution as the command dialect's, so the plugin dialect cannot get past
// the policy.
func (p *Policy) ResolvePlugin(api string, args map[string]string, role Role) (*PluginCall, error) {
	name := strings.ToLower(strings.TrimSpace(api))
	if name == "" {
		return nil, Errorf(EINVALID, "API should be provided")
	}
	def := PluginAPIByName(name)
	if def == nil {
		return nil, Errorf(EINVALID, "API '%s' was not found", name)
	}
	if role < def.Role {
		return nil, Errorf(EFORBIDDEN, "API '%s' needs role %s or higher; these credentials have role %s", def.Name, def.Role, role)
	}
	for _, key := range sortedKeys(args) {
		if why, bad := forbiddenArgument(key); bad {
			return nil, Errorf(EINVALID, "the argument '%s' is not accepted: it %s", key, why)
		}
	}
	var missing []string
	for _, a := range def.Args {
		if a.Required && a.Kind != ArgFile && args[a.Name] == "" {
			missing = append(missing, a.Name)
		}
	}
	if len(missing) > 0 {
		return nil, requiredError(missing)
	}
	call := &PluginCall{API: def, policy: p, args: maps.Clone(args), labels: map[string]string{}}
	for _, a := range def.Args {
		if v := args[a.Name]; a.Kind == ArgChoice && v != "" && !slices.Contains(a.Choices, strings.ToLower(v)) {
			return nil, Errorf(EINVALID, "%s must be one of %s, not %q", argumentLabel(a.Name), strings.Join(a.Choices, ", "), v)
		}
	}
	for _, key := range sortedKeys(args) {
		if key != "api" && args[key] != "" && !slices.ContainsFunc(def.Args, func(a PluginArg) bool { return a.Name == key }) {
			call.warn("the argument '%s' is not used by API '%s' and was ignored", key, def.Name)
		}
	}
	if def.build != nil {
		if err := def.build(call); err != nil {
			return nil, err
		}
	}
	if err := call.checkUnpassed(); err != nil {
		return nil, err
	}
	if def.build == nil {
		return call, nil
	}
	words := append(append([]string{}, call.words...), call.flags...)
	if len(call.pos) > 0 {
		words = append(append(words, "--"), call.pos...)
	}
	inv, err := p.resolve(words, role, call.labels)
	if err != nil {
		return nil, err
	}
	call.Invocation = inv
	return call, nil
}

// argumentLabel names a plugin argument in errors.
func argumentLabel(name string) string { return "the argument '" + name + "'" }

// checkUnpassed holds the values of the call's arguments that do not reach Airflow (refresh_dag's dag_id,
// a subdir that this Airflow has no flag for) to the rule of the dest of the same name, so that a value is
// refused or accepted whether or not this version passes it on.
func (c *PluginCall) checkUnpassed() error {
	for _, a := range c.API.Args {
		v := c.args[a.Name]
		if v == "" || a.Kind == ArgBool || a.Kind == ArgChoice || a.Kind == ArgFile || slices.Contains(slices.Collect(maps.Values(c.labels)), argumentLabel(a.Name)) {
			continue
		}
		if _, err := c.policy.checkValue(&Invocation{}, &Arg{Dest: a.Name}, argumentLabel(a.Name), v); err != nil {
			return err
		}
	}
	return nil
}

func requiredError(names []string) error {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "'" + n + "'"
	}
	return Errorf(EINVALID, "The argument(s) [%s] are required", strings.Join(quoted, ", "))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// On reports whether the boolean argument name is on: present with any value but false, 0, off or no.
func (c *PluginCall) On(name string) bool {
	v, present := c.args[name]
	if !present {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "false", "0", "off", "no":
		return false
	}
	return true
}

func (c *PluginCall) value(name string) string { return c.args[name] }

func (c *PluginCall) warn(format string, args ...any) {
	c.Warnings = append(c.Warnings, fmt.Sprintf(format, args...))
}

// command sets the command path the API runs.
func (c *PluginCall) command(path string) {
	c.words = strings.Fields(path)
	c.cmd = c.policy.catalog.Lookup(path)
}

// flagFor returns the first of flags that the command has.
func (c *PluginCall) flagFor(flags ...string) string {
	if c.cmd == nil {
		return flags[0]
	}
	for _, f := range flags {
		for i := range c.cmd.Flags {
			if slices.Contains(c.cmd.Flags[i].Flags, f) {
				return f
			}
		}
	}
	return ""
}

// missingFlag warns that this Airflow's command lacks what the argument asks for.
func (c *PluginCall) missingFlag(arg string) {
	c.warn("Airflow %s's `%s` has no equivalent of '%s': it was ignored", c.policy.catalog.AirflowVersion, strings.Join(c.words, " "), arg)
}

// flag passes the argument arg, when given, as --flag=value with the first of flags the command has.
func (c *PluginCall) flag(arg string, flags ...string) {
	v := c.value(arg)
	if v == "" {
		return
	}
	f := c.flagFor(flags...)
	if f == "" {
		c.missingFlag(arg)
		return
	}
	c.flags = append(c.flags, f+"="+v)
	if c.cmd != nil {
		for i := range c.cmd.Flags {
			if slices.Contains(c.cmd.Flags[i].Flags, f) {
				c.labels[c.cmd.Flags[i].Dest] = argumentLabel(arg)
			}
		}
	}
}

// toggle passes the switch, when the boolean argument arg is on.
func (c *PluginCall) toggle(arg string, flags ...string) {
	if !c.On(arg) {
		return
	}
	if f := c.flagFor(flags...); f != "" {
		c.flags = append(c.flags, f)
	} else {
		c.missingFlag(arg)
	}
}

// positional passes the arguments, in order, as positionals.
func (c *PluginCall) positional(args ...string) {
	for _, a := range args {
		c.positionalValue(a, c.value(a))
	}
}

// positionalValue passes value, which the argument arg gave, as the next positional.
func (c *PluginCall) positionalValue(arg, value string) {
	if c.cmd != nil && len(c.pos) < len(c.cmd.Positionals) {
		c.labels[c.cmd.Positionals[len(c.pos)].Dest] = argumentLabel(arg)
	}
	c.pos = append(c.pos, value)
}

// fixed adds a flag the API always passes.
func (c *PluginCall) fixed(flag string) { c.flags = append(c.flags, flag) }

// ignored warns about arguments this Airflow no longer has.
func (c *PluginCall) ignored(args ...string) {
	for _, a := range args {
		if v, given := c.args[a]; given && (v != "" || c.On(a)) {
			c.missingFlag(a)
		}
	}
}

func (c *PluginCall) airflow3() bool { return c.policy.catalog.Major() == "3" }

// require reports the arguments an operation needs that were not given.
func (c *PluginCall) require(names ...string) error {
	var missing []string
	for _, n := range names {
		if c.value(n) == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return requiredError(missing)
	}
	return nil
}

// subdir passes the plugin's subdir as -S where this Airflow has it (Airflow 3 reads DAGs from bundles).
func (c *PluginCall) subdir() { c.flag("subdir", "--subdir") }

// Arguments shared by many APIs.
var (
	argDagID   = PluginArg{Name: "dag_id", Kind: ArgID, Required: true, Description: "The id of the DAG"}
	argTaskID  = PluginArg{Name: "task_id", Kind: ArgID, Required: true, Description: "The id of the task"}
	argExecDay = PluginArg{Name: "execution_date", Kind: ArgDateOrRunID, Required: true, Description: "The logical (execution) date of the DAG run, such as 2017-01-02T03:04:05"}
	argSubdir  = PluginArg{Name: "subdir", Kind: ArgPath, Description: "File or folder inside the DAGs folder to look for the DAG in (Airflow 2 only)"}
)

func boolArg(name, description string) PluginArg {
	return PluginArg{Name: name, Kind: ArgBool, Description: description}
}

// dagTaskDate is the shape of the APIs that name one task instance: `tasks SUB D T E [-S]`.
func dagTaskDate(path string) func(c *PluginCall) error {
	return func(c *PluginCall) error {
		c.command(path)
		c.subdir()
		c.positional("dag_id", "task_id", "execution_date")
		return nil
	}
}

// dagOnly is the shape of pause and unpause: `dags SUB D [-S]`.
func dagOnly(path string) func(c *PluginCall) error {
	return func(c *PluginCall) error {
		c.command(path)
		c.subdir()
		c.positional("dag_id")
		return nil
	}
}

// daemon builds a daemon API; the gateway adds -D and the files itself when it starts it.
func daemon(build func(c *PluginCall) error) func(c *PluginCall) error {
	return func(c *PluginCall) error {
		if !c.policy.AllowDaemons {
			return Errorf(EFORBIDDEN, "API '%s' starts a daemon, which this gateway does not allow: set [gateway] allow_daemons = True to allow it", c.API.Name)
		}
		c.Daemon = true
		return build(c)
	}
}

// celery maps the plugin's worker and flower to the Celery provider's commands.
func celery(path string, build func(c *PluginCall)) func(c *PluginCall) error {
	return daemon(func(c *PluginCall) error {
		if c.policy.catalog.Lookup(path) == nil {
			return Errorf(EINVALID, "API '%s' runs `airflow %s`, which this Airflow %s does not have: it needs the Celery provider (apache-airflow-providers-celery) and the CeleryExecutor",
				c.API.Name, path, c.policy.catalog.AirflowVersion)
		}
		c.command(path)
		build(c)
		return nil
	})
}

var pluginAPIs = []*PluginAPI{
	{
		Name: "version", Description: "Displays the version of Airflow the gateway runs", Role: RoleViewer,
		Example: "api=version",
	},
	{
		Name: "rest_api_plugin_version", Description: "Displays the version of the gateway, which serves this API", Role: RoleViewer,
		Example: "api=rest_api_plugin_version",
	},
	{
		Name: "render", Description: "Renders a task instance's templates", Role: RoleOp,
		Args:    []PluginArg{argDagID, argTaskID, argExecDay, argSubdir},
		Example: "api=render&dag_id=gw_two_tasks&task_id=extract&execution_date=2024-01-01",
		build:   dagTaskDate("tasks render"),
	},
	{
		Name: "variables", Description: "Sets, gets, deletes or lists variables", Role: RoleOp,
		Args: []PluginArg{
			{Name: "cmd", Kind: ArgChoice, Choices: []string{"set", "get", "delete", "list"}, Description: "What to do: set (with key and value), get, delete or list"},
			{Name: "key", Kind: ArgText, Description: "The variable's key, for cmd=set, get or delete"},
			{Name: "value", Kind: ArgText, Description: "The variable's value, for cmd=set"},
			{Name: "get", Kind: ArgText, Description: "Gets the variable with this key"},
			boolArg("json", "Reads the value as JSON, for get"),
			{Name: "default", Kind: ArgText, Description: "The value to answer, for get, when the variable does not exist"},
			{Name: "delete", Kind: ArgText, Description: "Deletes the variable with this key"},
		},
		Example: "api=variables&cmd=set&key=myVar1&value=myValue1",
		build:   buildVariables,
	},
	{
		Name: "connections", Description: "Lists, adds or deletes connections", Role: RoleOp,
		Args: []PluginArg{
			boolArg("list", "Lists the connections (passwords masked)"),
			boolArg("add", "Adds the connection conn_id"),
			boolArg("delete", "Deletes the connection conn_id"),
			{Name: "conn_id", Kind: ArgID, Description: "The connection's id, for add and delete"},
			{Name: "conn_uri", Kind: ArgText, Description: "The connection as a URI, for add"},
			{Name: "conn_type", Kind: ArgText, Description: "The connection's type, for add without conn_uri"},
			{Name: "conn_extra", Kind: ArgText, Description: "The connection's extra field (JSON), for add"},
		},
		Example: "api=connections&list",
		build:   buildConnections,
	},
	{
		Name: "pause", Description: "Pauses a DAG", Role: RoleUser,
		Args: []PluginArg{argDagID, argSubdir}, Example: "api=pause&dag_id=gw_conf",
		build: dagOnly("dags pause"),
	},
	{
		Name: "unpause", Description: "Unpauses a DAG", Role: RoleUser,
		Args: []PluginArg{argDagID, argSubdir}, Example: "api=unpause&dag_id=gw_conf",
		build: dagOnly("dags unpause"),
	},
	{
		Name: "task_failed_deps", Description: "Tells why a task instance would not be scheduled: its unmet dependencies", Role: RoleViewer,
		Args:    []PluginArg{argDagID, argTaskID, argExecDay, argSubdir},
		Example: "api=task_failed_deps&dag_id=gw_two_tasks&task_id=load&execution_date=2024-01-01",
		build:   dagTaskDate("tasks failed-deps"),
	},
	{
		Name: "trigger_dag", Description: "Triggers a DAG run", Role: RoleUser,
		Args: []PluginArg{
			argDagID,
			{Name: "run_id", Kind: ArgRunID, Description: "The id of the new run"},
			{Name: "conf", Kind: ArgJSON, Description: "A JSON object for the run's conf"},
			{Name: "exec_date", Kind: ArgDate, Description: "The logical (execution) date of the run"},
			argSubdir,
		},
		Example: "api=trigger_dag&dag_id=gw_conf&run_id=run_1&conf=%7B%22key%22%3A%22value%22%7D",
		build: func(c *PluginCall) error {
			c.command("dags trigger")
			c.subdir()
			c.flag("run_id", "--run-id")
			c.flag("conf", "--conf")
			c.flag("exec_date", "--exec-date", "--logical-date")
			c.positional("dag_id")
			return nil
		},
	},
	{
		Name: "test", Description: "Runs one task instance without recording its state or checking dependencies", Role: RoleUser,
		Args: []PluginArg{
			argDagID, argTaskID, argExecDay, argSubdir,
			boolArg("dry_run", "Renders the templates without running the task (Airflow 2 only)"),
			{Name: "task_params", Kind: ArgJSON, Description: "A JSON object of params for the task"},
		},
		Example: "api=test&dag_id=gw_two_tasks&task_id=extract&execution_date=2024-01-01",
		build: func(c *PluginCall) error {
			c.command("tasks test")
			if c.On("dry_run") && c.flagFor("--dry-run") == "" {
				return Errorf(EINVALID, "the argument 'dry_run' is not available in Airflow %s: its `tasks test` has no dry run and would run the task; leave dry_run out, or use API 'render' to see the templates", c.policy.catalog.AirflowVersion)
			}
			c.subdir()
			c.toggle("dry_run", "--dry-run")
			c.flag("task_params", "--task-params")
			c.positional("dag_id", "task_id", "execution_date")
			return nil
		},
	},
	{
		Name: "dag_state", Description: "Tells the state of a DAG run", Role: RoleViewer,
		Args:    []PluginArg{argDagID, argExecDay, argSubdir},
		Example: "api=dag_state&dag_id=gw_conf&execution_date=2024-01-01",
		build: func(c *PluginCall) error {
			c.command("dags state")
			c.subdir()
			c.positional("dag_id", "execution_date")
			return nil
		},
	},
	{
		Name: "run", Description: "Runs one task instance and records its state (Airflow 2 only)", Role: RoleUser,
		Args: []PluginArg{
			argDagID, argTaskID, argExecDay, argSubdir,
			boolArg("mark_success", "Marks the task as succeeded without running it"),
			boolArg("force", "Runs the task whatever its previous state"),
			{Name: "pool", Kind: ArgText, Description: "The pool to run the task in"},
			boolArg("local", "Runs the task with the LocalTaskJob"),
			boolArg("ignore_all_dependencies", "Ignores all non-critical dependencies"),
			boolArg("ignore_dependencies", "Ignores task-specific dependencies"),
			boolArg("ignore_depends_on_past", "Ignores depends_on_past"),
		},
		Example: "api=run&dag_id=gw_two_tasks&task_id=extract&execution_date=2024-01-01&local",
		build: func(c *PluginCall) error {
			if c.policy.catalog.Lookup("tasks run") == nil {
				return Errorf(EINVALID, "API 'run' needs `airflow tasks run`, which Airflow %s does not have: use API 'test' to run a task without recording it, or API 'trigger_dag' to let the scheduler run it", c.policy.catalog.AirflowVersion)
			}
			c.command("tasks run")
			c.subdir()
			c.toggle("mark_success", "--mark-success")
			c.toggle("force", "--force")
			c.flag("pool", "--pool")
			c.toggle("local", "--local")
			c.toggle("ignore_all_dependencies", "--ignore-all-dependencies")
			c.toggle("ignore_dependencies", "--ignore-dependencies")
			c.toggle("ignore_depends_on_past", "--ignore-depends-on-past")
			c.positional("dag_id", "task_id", "execution_date")
			return nil
		},
	},
	{
		Name: "list_tasks", Description: "Lists the tasks of a DAG", Role: RoleViewer,
		Args:    []PluginArg{argDagID, boolArg("tree", "Shows the tasks as a tree (Airflow 2 only)"), argSubdir},
		Example: "api=list_tasks&dag_id=gw_two_tasks",
		build: func(c *PluginCall) error {
			c.command("tasks list")
			c.subdir()
			c.toggle("tree", "--tree")
			c.positional("dag_id")
			return nil
		},
	},
	{
		Name: "backfill", Description: "Runs a DAG for a range of dates", Role: RoleUser,
		Args: []PluginArg{
			argDagID,
			{Name: "start_date", Kind: ArgDate, Description: "The first logical date"},
			{Name: "end_date", Kind: ArgDate, Description: "The last logical date"},
			{Name: "task_regex", Kind: ArgText, Description: "Only the tasks whose ids match this regex (Airflow 2 only)"},
			boolArg("mark_success", "Marks the tasks as succeeded without running them (Airflow 2 only)"),
			boolArg("local", "Runs the tasks with the LocalExecutor (Airflow 2 only)"),
			boolArg("donot_pickle", "Does not pickle the DAG (Airflow 2 only)"),
			boolArg("ignore_dependencies", "Ignores task-specific dependencies (Airflow 2 only)"),
			boolArg("ignore_first_depends_on_past", "Ignores depends_on_past for the first runs (Airflow 2 only)"),
			{Name: "pool", Kind: ArgText, Description: "The pool to run the tasks in (Airflow 2 only)"},
			boolArg("dry_run", "Shows what would run without running it"),
			argSubdir,
		},
		Example: "api=backfill&dag_id=gw_two_tasks&start_date=2024-01-01&end_date=2024-01-02&dry_run",
		build:   buildBackfill,
	},
	{
		Name: "list_dags", Description: "Lists the DAGs, or with report, the DAG files' loading report", Role: RoleViewer,
		Args:    []PluginArg{argSubdir, boolArg("report", "Shows the DAG loading report instead")},
		Example: "api=list_dags",
		build: func(c *PluginCall) error {
			if c.On("report") {
				c.command("dags report")
			} else {
				c.command("dags list")
			}
			c.subdir()
			return nil
		},
	},
	{
		Name: "kerberos", Description: "Starts the Kerberos ticket renewer as a daemon (with allow_daemons)", Role: RoleAdmin,
		Args:    []PluginArg{{Name: "principal", Kind: ArgText, Description: "The Kerberos principal"}},
		Example: "api=kerberos",
		build: daemon(func(c *PluginCall) error {
			c.command("kerberos")
			if c.value("principal") != "" {
				c.positional("principal")
			}
			return nil
		}),
	},
	{
		Name: "worker", Description: "Starts a Celery worker as a daemon (with allow_daemons and the Celery provider)", Role: RoleAdmin,
		Args: []PluginArg{
			{Name: "queues", Kind: ArgText, Description: "Comma-separated queues to serve"},
			{Name: "concurrency", Kind: ArgInt, Description: "The number of worker processes"},
		},
		Example: "api=worker",
		build: celery("celery worker", func(c *PluginCall) {
			c.flag("queues", "--queues")
			c.flag("concurrency", "--concurrency")
		}),
	},
	{
		Name: "flower", Description: "Starts Celery Flower as a daemon (with allow_daemons and the Celery provider)", Role: RoleAdmin,
		Args: []PluginArg{
			{Name: "hostname", Kind: ArgText, Description: "The address Flower listens on"},
			{Name: "port", Kind: ArgInt, Description: "The port Flower listens on"},
			{Name: "broker_api", Kind: ArgText, Description: "The broker's API"},
		},
		Example: "api=flower",
		build: celery("celery flower", func(c *PluginCall) {
			c.flag("hostname", "--hostname")
			c.flag("port", "--port")
			c.flag("broker_api", "--broker-api")
		}),
	},
	{
		Name: "scheduler", Description: "Starts the scheduler as a daemon (with allow_daemons)", Role: RoleAdmin,
		Args: []PluginArg{
			{Name: "num_runs", Kind: ArgInt, Description: "Stops after this many scheduling loops"},
			argSubdir,
		},
		Example: "api=scheduler",
		build: daemon(func(c *PluginCall) error {
			c.command("scheduler")
			c.flag("num_runs", "--num-runs")
			c.subdir()
			return nil
		}),
	},
	{
		Name: "task_state", Description: "Tells the state of a task instance", Role: RoleViewer,
		Args:    []PluginArg{argDagID, argTaskID, argExecDay, argSubdir},
		Example: "api=task_state&dag_id=gw_two_tasks&task_id=extract&execution_date=2024-01-01",
		build:   dagTaskDate("tasks state"),
	},
	{
		Name: "pool", Description: "Sets, gets, deletes or lists pools", Role: RoleViewer,
		Args: []PluginArg{
			{Name: "cmd", Kind: ArgChoice, Choices: []string{"set", "get", "delete", "list"}, Description: "What to do: set (with pool_name, slot_count and description), get, delete or list"},
			{Name: "pool_name", Kind: ArgText, Description: "The pool's name"},
			{Name: "slot_count", Kind: ArgInt, Description: "The pool's slots, for cmd=set"},
			{Name: "pool_description", Kind: ArgText, Description: "The pool's description, for cmd=set"},
			{Name: "description", Kind: ArgText, Description: "The pool's description, for cmd=set (another name of pool_description)"},
			{Name: "get", Kind: ArgText, Description: "Gets the pool with this name"},
			{Name: "delete", Kind: ArgText, Description: "Deletes the pool with this name"},
		},
		Example: "api=pool&cmd=set&pool_name=myTestpool&slot_count=10&description=myTestpoolDescription",
		build:   buildPool,
	},
	{
		Name: "serve_logs", Description: "Served a worker's logs; Airflow's scheduler and workers now serve their logs themselves", Role: RoleAdmin,
		Example: "api=serve_logs",
		build: daemon(func(c *PluginCall) error {
			return Errorf(EINVALID, "API 'serve_logs' has no command in Airflow %s: the scheduler and the workers serve their logs themselves", c.policy.catalog.AirflowVersion)
		}),
	},
	{
		Name: "clear", Description: "Clears task instances so that they run again", Role: RoleUser,
		Args: []PluginArg{
			argDagID,
			{Name: "task_regex", Kind: ArgText, Description: "Only the tasks whose ids match this regex"},
			{Name: "start_date", Kind: ArgDate, Description: "From this logical date"},
			{Name: "end_date", Kind: ArgDate, Description: "Up to this logical date"},
			argSubdir,
			boolArg("upstream", "Also the upstream tasks"),
			boolArg("downstream", "Also the downstream tasks"),
			boolArg("only_failed", "Only failed task instances"),
			boolArg("only_running", "Only running task instances"),
			boolArg("exclude_subdags", "Leaves sub-DAGs alone (Airflow 2 only)"),
		},
		Example: "api=clear&dag_id=gw_two_tasks&task_regex=extract&start_date=2024-01-01&end_date=2024-01-01",
		build: func(c *PluginCall) error {
			c.command("tasks clear")
			c.subdir()
			c.flag("task_regex", "--task-regex")
			c.flag("start_date", "--start-date")
			c.flag("end_date", "--end-date")
			c.toggle("upstream", "--upstream")
			c.toggle("downstream", "--downstream")
			c.toggle("only_failed", "--only-failed")
			c.toggle("only_running", "--only-running")
			c.toggle("exclude_subdags", "--exclude-subdags")
			c.fixed("--yes")
			c.positional("dag_id")
			return nil
		},
	},
	{
		Name: "deploy_dag", Description: "Uploads a DAG file (.py or .zip) into the DAGs folder", Role: RoleAdmin, Method: "POST",
		Args: []PluginArg{
			{Name: "dag_file", Kind: ArgFile, Required: true, Description: "The DAG file to upload: a .py or .zip file"},
			boolArg("force", "Replaces a file of the same name; the old one is kept as a backup"),
			boolArg("pause", "Pauses the DAGs the file defines"),
			boolArg("unpause", "Unpauses the DAGs the file defines"),
		},
		Example: "api=deploy_dag",
	},
	{
		Name: "refresh_dag", Description: "Reserializes the DAGs so that a changed DAG is picked up", Role: RoleUser,
		Args:    []PluginArg{{Name: "dag_id", Kind: ArgID, Required: true, Description: "The id of the DAG"}},
		Example: "api=refresh_dag&dag_id=gw_two_tasks",
		build: func(c *PluginCall) error {
			c.command("dags reserialize")
			return nil
		},
	},
	{
		Name: "refresh_all_dags", Description: "Reserializes every DAG", Role: RoleUser,
		Example: "api=refresh_all_dags",
		build: func(c *PluginCall) error {
			c.command("dags reserialize")
			return nil
		},
	},
}

// buildVariables maps the variables API: cmd=set with key and value, get=KEY (or cmd=get&key=KEY) with
// json and default, delete=KEY (or cmd=delete&key=KEY), and otherwise list.
func buildVariables(c *PluginCall) error {
	op, key, from, err := c.operation("key")
	if err != nil {
		return err
	}
	switch op {
	case "set":
		if err := c.require("key", "value"); err != nil {
			return err
		}
		c.command("variables set")
		c.positional("key", "value")
	case "get":
		c.command("variables get")
		c.toggle("json", "--json")
		c.flag("default", "--default")
		c.positionalValue(from, key)
	case "delete":
		c.command("variables delete")
		c.positionalValue(from, key)
	default:
		c.command("variables list")
	}
	return nil
}

// buildPool maps the pool API like the variables API, with pool_name, slot_count and description.
func buildPool(c *PluginCall) error {
	op, name, from, err := c.operation("pool_name")
	if err != nil {
		return err
	}
	switch op {
	case "set":
		if c.value("pool_description") == "" {
			c.args["pool_description"] = c.value("description")
		}
		if err := c.require("pool_name", "slot_count", "pool_description"); err != nil {
			return err
		}
		c.command("pools set")
		c.positional("pool_name", "slot_count", "pool_description")
	case "get":
		c.command("pools get")
		c.positionalValue(from, name)
	case "delete":
		c.command("pools delete")
		c.positionalValue(from, name)
	default:
		c.command("pools list")
	}
	return nil
}

// operation reads what a variables or pool call asks for: cmd, or the plugin's older get=NAME and
// delete=NAME; for get and delete it also returns the name, from nameArg or the get/delete argument, and
// which of them gave it.
func (c *PluginCall) operation(nameArg string) (op, name, from string, err error) {
	op = strings.ToLower(c.value("cmd"))
	for _, legacy := range []string{"get", "delete"} {
		if c.value(legacy) == "" {
			continue
		}
		if op != "" && op != legacy {
			return "", "", "", Errorf(EINVALID, "the call asks for both '%s' and '%s'; ask for one operation per call", op, legacy)
		}
		op, name, from = legacy, c.value(legacy), legacy
		if c.value(nameArg) != "" && c.value(nameArg) != name {
			return "", "", "", Errorf(EINVALID, "the call names both '%s' and '%s' with different values; give the name once", nameArg, legacy)
		}
	}
	if (op == "get" || op == "delete") && name == "" {
		if name, from = c.value(nameArg), nameArg; name == "" {
			return "", "", "", requiredError([]string{nameArg})
		}
	}
	return op, name, from, nil
}

// buildConnections maps the connections API: add with conn_id and conn_uri or conn_type, delete with
// conn_id, and otherwise list.
func buildConnections(c *PluginCall) error {
	add, del := c.On("add"), c.On("delete")
	switch {
	case add && del:
		return Errorf(EINVALID, "the call asks for both 'add' and 'delete'; ask for one operation per call")
	case add:
		if err := c.require("conn_id"); err != nil {
			return err
		}
		if c.value("conn_uri") == "" && c.value("conn_type") == "" {
			return Errorf(EINVALID, "adding a connection needs 'conn_uri' or 'conn_type'")
		}
		c.command("connections add")
		c.flag("conn_uri", "--conn-uri")
		c.flag("conn_type", "--conn-type")
		c.flag("conn_extra", "--conn-extra")
		c.positional("conn_id")
	case del:
		if err := c.require("conn_id"); err != nil {
			return err
		}
		c.command("connections delete")
		c.positional("conn_id")
	default:
		c.command("connections list")
	}
	return nil
}

// buildBackfill maps backfill: `dags backfill` on Airflow 2, `backfill create` on Airflow 3, which needs
// both dates and lacks most of the plugin's options.
func buildBackfill(c *PluginCall) error {
	if c.airflow3() {
		if err := c.require("start_date", "end_date"); err != nil {
			return err
		}
		c.command("backfill create")
		c.flag("dag_id", "--dag-id")
		c.flag("start_date", "--from-date")
		c.flag("end_date", "--to-date")
		c.toggle("dry_run", "--dry-run")
		c.ignored("task_regex", "mark_success", "local", "donot_pickle", "ignore_dependencies", "ignore_first_depends_on_past", "pool", "subdir")
		return nil
	}
	if c.value("start_date") == "" && c.value("end_date") == "" {
		return Errorf(EINVALID, "backfill needs 'start_date' or 'end_date' (or both)")
	}
	c.command("dags backfill")
	c.subdir()
	c.flag("start_date", "--start-date")
	c.flag("end_date", "--end-date")
	c.flag("task_regex", "--task-regex")
	c.toggle("mark_success", "--mark-success")
	c.toggle("local", "--local")
	c.toggle("donot_pickle", "--donot-pickle")
	c.toggle("ignore_dependencies", "--ignore-dependencies")
	c.toggle("ignore_first_depends_on_past", "--ignore-first-depends-on-past")
	c.flag("pool", "--pool")
	c.toggle("dry_run", "--dry-run")
	c.fixed("--yes")
	c.positional("dag_id")
	return nil
}

// MaskArguments returns values (arguments of one plugin call, first value per key) with secrets replaced
// by Mask: connection secrets, the password of conn_uri, a variable value whose key is sensitive (the key
// is looked up in all, the call's merged arguments), and any argument whose name is sensitive.
func MaskArguments(values, all map[string]string) map[string]string {
	out := make(map[string]string, len(values))
	for k, v := range values {
		switch {
		case secretFlags[k] || IsSensitiveName(k): // the plugin's names are the flags' dests
			v = Mask
		case k == "conn_uri":
			v = MaskURI(v)
		case k == "value" && IsSensitiveName(all["key"]):
			v = Mask
		}
		out[k] = v
	}
	return out
}

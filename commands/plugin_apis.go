package commands

import "strings"

// Arguments shared by many APIs.
var (
	argDagID   = PluginArg{Name: "dag_id", Type: ArgID, Required: true, Description: "The id of the DAG"}
	argTaskID  = PluginArg{Name: "task_id", Type: ArgID, Required: true, Description: "The id of the task"}
	argExecDay = PluginArg{Name: "execution_date", Type: ArgDateOrRunID, Required: true, Description: "The logical (execution) date of the DAG run, such as 2017-01-02T03:04:05"}
	argSubdir  = PluginArg{Name: "subdir", Type: ArgPath, Description: "File or folder inside the DAGs folder to look for the DAG in (Airflow 2 only)"}
)

func boolArg(name, description string) PluginArg {
	return PluginArg{Name: name, Type: ArgBool, Description: description}
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
		c.Action = PluginDaemon
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
		Example: "api=version", answer: AnswerAirflowVersion,
	},
	{
		Name: "rest_api_plugin_version", Description: "Displays the version of the gateway, which serves this API", Role: RoleViewer,
		Example: "api=rest_api_plugin_version", answer: AnswerGatewayVersion,
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
			{Name: "cmd", Type: ArgChoice, Choices: []string{"set", "get", "delete", "list"}, Description: "What to do: set (with key and value), get, delete or list"},
			{Name: "key", Type: ArgText, Description: "The variable's key, for cmd=set, get or delete"},
			{Name: "value", Type: ArgText, Description: "The variable's value, for cmd=set"},
			{Name: "get", Type: ArgText, Description: "Gets the variable with this key"},
			boolArg("json", "Reads the value as JSON, for get"),
			{Name: "default", Type: ArgText, Description: "The value to answer, for get, when the variable does not exist"},
			{Name: "delete", Type: ArgText, Description: "Deletes the variable with this key"},
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
			{Name: "conn_id", Type: ArgID, Description: "The connection's id, for add and delete"},
			{Name: "conn_uri", Type: ArgText, Description: "The connection as a URI, for add"},
			{Name: "conn_type", Type: ArgText, Description: "The connection's type, for add without conn_uri"},
			{Name: "conn_extra", Type: ArgText, Description: "The connection's extra field (JSON), for add"},
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
			{Name: "run_id", Type: ArgRunID, Description: "The id of the new run"},
			{Name: "conf", Type: ArgJSON, Description: "A JSON object for the run's conf"},
			{Name: "exec_date", Type: ArgDate, Description: "The logical (execution) date of the run"},
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
			{Name: "task_params", Type: ArgJSON, Description: "A JSON object of params for the task"},
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
			{Name: "pool", Type: ArgText, Description: "The pool to run the task in"},
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
			{Name: "start_date", Type: ArgDate, Description: "The first logical date"},
			{Name: "end_date", Type: ArgDate, Description: "The last logical date"},
			{Name: "task_regex", Type: ArgText, Description: "Only the tasks whose ids match this regex (Airflow 2 only)"},
			boolArg("mark_success", "Marks the tasks as succeeded without running them (Airflow 2 only)"),
			boolArg("local", "Runs the tasks with the LocalExecutor (Airflow 2 only)"),
			boolArg("donot_pickle", "Does not pickle the DAG (Airflow 2 only)"),
			boolArg("ignore_dependencies", "Ignores task-specific dependencies (Airflow 2 only)"),
			boolArg("ignore_first_depends_on_past", "Ignores depends_on_past for the first runs (Airflow 2 only)"),
			{Name: "pool", Type: ArgText, Description: "The pool to run the tasks in (Airflow 2 only)"},
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
		Args:    []PluginArg{{Name: "principal", Type: ArgText, Description: "The Kerberos principal"}},
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
			{Name: "queues", Type: ArgText, Description: "Comma-separated queues to serve"},
			{Name: "concurrency", Type: ArgInt, Description: "The number of worker processes"},
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
			{Name: "hostname", Type: ArgText, Description: "The address Flower listens on"},
			{Name: "port", Type: ArgInt, Description: "The port Flower listens on"},
			{Name: "broker_api", Type: ArgText, Description: "The broker's API"},
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
			{Name: "num_runs", Type: ArgInt, Description: "Stops after this many scheduling loops"},
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
			{Name: "cmd", Type: ArgChoice, Choices: []string{"set", "get", "delete", "list"}, Description: "What to do: set (with pool_name, slot_count and description), get, delete or list"},
			{Name: "pool_name", Type: ArgText, Description: "The pool's name"},
			{Name: "slot_count", Type: ArgInt, Description: "The pool's slots, for cmd=set"},
			{Name: "pool_description", Type: ArgText, Description: "The pool's description, for cmd=set"},
			{Name: "description", Type: ArgText, Description: "The pool's description, for cmd=set (another name of pool_description)"},
			{Name: "get", Type: ArgText, Description: "Gets the pool with this name"},
			{Name: "delete", Type: ArgText, Description: "Deletes the pool with this name"},
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
			{Name: "task_regex", Type: ArgText, Description: "Only the tasks whose ids match this regex"},
			{Name: "start_date", Type: ArgDate, Description: "From this logical date"},
			{Name: "end_date", Type: ArgDate, Description: "Up to this logical date"},
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
			{Name: "dag_file", Type: ArgFile, Required: true, Description: "The DAG file to upload: a .py or .zip file"},
			boolArg("force", "Replaces a file of the same name; the old one is kept as a backup"),
			boolArg("pause", "Pauses the DAGs the file defines"),
			boolArg("unpause", "Unpauses the DAGs the file defines"),
		},
		Example: "api=deploy_dag", deploys: true,
	},
	{
		Name: "refresh_dag", Description: "Reserializes the DAGs so that a changed DAG is picked up", Role: RoleUser,
		Args:    []PluginArg{{Name: "dag_id", Type: ArgID, Required: true, Description: "The id of the DAG"}},
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

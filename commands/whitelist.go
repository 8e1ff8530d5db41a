package commands

import (
	"strings"
)

// Class says what a command does to the Airflow installation.
type Class string

// The classes of commands.
const (
	ClassRead        Class = "read"
	ClassWrite       Class = "write"
	ClassDestructive Class = "destructive"
	ClassRunsDAGCode Class = "runs_dag_code"
	ClassDaemon      Class = "daemon"
)

// Entry is an entry of the whitelist: the policy for one command path.
type Entry struct {
	Path    string
	Role    Role
	Class   Class
	Long    bool // runs tasks: gets long_command_timeout
	Confirm bool // prompts unless given --yes
	// Output forces the output format; the caller may only ask for this one. Listings of connections and
	// variables are JSON, so that the gateway can mask them whatever flags the Airflow version has.
	Output string
	// PluginOnly marks paths that only a plugin API runs (tasks run, the daemons): the command dialect
	// refuses them and /api/v1/commands does not list them.
	PluginOnly bool
}

// whitelist is every command path the gateway runs, with its entry. A path that the running Airflow
// version lacks is refused with the replacement named in renamed.
var whitelist = []Entry{
	{Path: "backfill create", Role: RoleUser, Class: ClassRunsDAGCode, Long: true},
	{Path: "cheat-sheet", Role: RoleViewer, Class: ClassRead},
	{Path: "config get-value", Role: RoleOp, Class: ClassRead},
	{Path: "connections add", Role: RoleOp, Class: ClassWrite},
	{Path: "connections delete", Role: RoleOp, Class: ClassDestructive},
	{Path: "connections get", Role: RoleOp, Class: ClassRead, Output: "json"},
	{Path: "connections list", Role: RoleOp, Class: ClassRead, Output: "json"},
	{Path: "dags backfill", Role: RoleUser, Class: ClassRunsDAGCode, Long: true},
	{Path: "dags delete", Role: RoleAdmin, Class: ClassDestructive, Confirm: true},
	{Path: "dags details", Role: RoleViewer, Class: ClassRead},
	{Path: "dags list", Role: RoleViewer, Class: ClassRead},
	{Path: "dags list-import-errors", Role: RoleViewer, Class: ClassRead},
	{Path: "dags list-jobs", Role: RoleViewer, Class: ClassRead},
	{Path: "dags list-runs", Role: RoleViewer, Class: ClassRead},
	{Path: "dags next-execution", Role: RoleViewer, Class: ClassRead},
	{Path: "dags pause", Role: RoleUser, Class: ClassWrite},
	{Path: "dags report", Role: RoleViewer, Class: ClassRead},
	{Path: "dags reserialize", Role: RoleUser, Class: ClassWrite},
	{Path: "dags show", Role: RoleViewer, Class: ClassRead},
	{Path: "dags state", Role: RoleViewer, Class: ClassRead},
	{Path: "dags test", Role: RoleUser, Class: ClassRunsDAGCode, Long: true},
	{Path: "dags trigger", Role: RoleUser, Class: ClassWrite},
	{Path: "dags unpause", Role: RoleUser, Class: ClassWrite},
	{Path: "db check", Role: RoleViewer, Class: ClassRead},
	{Path: "db clean", Role: RoleAdmin, Class: ClassDestructive, Confirm: true},
	{Path: "jobs check", Role: RoleViewer, Class: ClassRead},
	{Path: "pools delete", Role: RoleOp, Class: ClassDestructive},
	{Path: "pools get", Role: RoleViewer, Class: ClassRead},
	{Path: "pools list", Role: RoleViewer, Class: ClassRead},
	{Path: "pools set", Role: RoleOp, Class: ClassWrite},
	{Path: "providers behaviours", Role: RoleViewer, Class: ClassRead},
	{Path: "providers get", Role: RoleViewer, Class: ClassRead},
	{Path: "providers hooks", Role: RoleViewer, Class: ClassRead},
	{Path: "providers links", Role: RoleViewer, Class: ClassRead},
	{Path: "providers list", Role: RoleViewer, Class: ClassRead},
	{Path: "providers notifications", Role: RoleViewer, Class: ClassRead},
	{Path: "providers secrets", Role: RoleViewer, Class: ClassRead},
	{Path: "providers triggers", Role: RoleViewer, Class: ClassRead},
	{Path: "providers widgets", Role: RoleViewer, Class: ClassRead},
	{Path: "tasks clear", Role: RoleUser, Class: ClassDestructive, Confirm: true},
	{Path: "tasks failed-deps", Role: RoleViewer, Class: ClassRead},
	{Path: "tasks list", Role: RoleViewer, Class: ClassRead},
	{Path: "tasks render", Role: RoleOp, Class: ClassRunsDAGCode},
	{Path: "tasks state", Role: RoleViewer, Class: ClassRead},
	{Path: "tasks states-for-dag-run", Role: RoleViewer, Class: ClassRead},
	{Path: "tasks test", Role: RoleUser, Class: ClassRunsDAGCode, Long: true},
	{Path: "variables delete", Role: RoleOp, Class: ClassDestructive},
	{Path: "variables get", Role: RoleOp, Class: ClassRead},
	{Path: "variables list", Role: RoleOp, Class: ClassRead, Output: "json"},
	{Path: "variables set", Role: RoleOp, Class: ClassWrite},
	{Path: "version", Role: RoleViewer, Class: ClassRead},

	// Run only by the plugin dialect's APIs of the same names.
	{Path: "tasks run", Role: RoleUser, Class: ClassRunsDAGCode, Long: true, PluginOnly: true},
	{Path: "scheduler", Role: RoleAdmin, Class: ClassDaemon, PluginOnly: true},
	{Path: "kerberos", Role: RoleAdmin, Class: ClassDaemon, PluginOnly: true},
	{Path: "celery worker", Role: RoleAdmin, Class: ClassDaemon, PluginOnly: true},
	{Path: "celery flower", Role: RoleAdmin, Class: ClassDaemon, PluginOnly: true},
}

// aliases are other names callers use for a whitelisted path.
var aliases = map[string]string{
	"providers triggerer": "providers triggers",
}

// renamed names what to use instead of a path that one major version lacks.
var renamed = map[string]map[string]string{
	"3": {
		"dags backfill": "backfill create --dag-id DAG_ID --from-date DATE --to-date DATE",
		"tasks run":     "tasks test, or dags trigger to let the scheduler run the task",
	},
	"2": {
		"backfill create": "dags backfill DAG_ID --start-date DATE --end-date DATE",
	},
}

// forbiddenFlags are argparse dests of flags that read or write caller-chosen files, ship code, detach, or
// change the child's environment; the reason says why.
var forbiddenFlags = map[string]string{
	"save":          "writes a file the caller chooses",
	"save_dagrun":   "writes a file the caller chooses",
	"imgcat":        "prints terminal graphics, not text",
	"imgcat_dagrun": "prints terminal graphics, not text",
	"cfg_path":      "reads a configuration file the caller chooses",
	"pickle":        "runs a pickled DAG the caller chooses",
	"ship_dag":      "ships DAG code",
	"pid":           "writes a file the caller chooses",
	"log_file":      "writes a file the caller chooses",
	"stdout":        "writes a file the caller chooses",
	"stderr":        "writes a file the caller chooses",
	"daemon":        "detaches a process the gateway could not supervise",
	"env_vars":      "changes the environment of the Airflow process",
	"post_mortem":   "opens an interactive debugger",
	"file":          "names a file on the server",
	"do_pickle":     "ships DAG code",
	"keytab":        "names a file on the server; set [kerberos] keytab in airflow.cfg",
	"flower_conf":   "reads a configuration file the caller chooses",
}

// daemonFlags are the dests of the flags the gateway itself adds to a daemon start, choosing the files.
var daemonFlags = []string{"daemon", "pid", "log_file", "stdout", "stderr"}

// secretFlags are dests whose values are never echoed.
var secretFlags = map[string]bool{"conn_password": true, "conn_extra": true, "conn_json": true}

// sensitiveWords are Airflow's words that mark a variable or option as secret.
var sensitiveWords = []string{
	"password", "secret", "passwd", "authorization", "api_key", "apikey", "access_token", "private_key",
	"passphrase", "token", "keyfile_dict", "service_account",
}

// sensitiveOptions are configuration options that `config get-value` refuses whatever their name.
var sensitiveOptions = []string{"sql_alchemy_conn", "fernet_key", "secret_key", "broker_url", "result_backend"}

// IsSensitiveName reports whether a variable key or option name holds one of Airflow's sensitive words.
func IsSensitiveName(name string) bool {
	lower := strings.ToLower(name)
	for _, w := range sensitiveWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

func entryFor(path string) *Entry {
	for i := range whitelist {
		if whitelist[i].Path == path {
			return &whitelist[i]
		}
	}
	return nil
}

// pluginArgumentDests are the plugin's names for arguments that would become a forbidden flag, where the
// name is not the flag's dest.
var pluginArgumentDests = map[string]string{"import": "file", "export": "file"}

// forbiddenArgument says why a plugin argument is refused: it names a forbidden flag by its dest (with '-'
// or '_'), or by the plugin's name for it.
func forbiddenArgument(name string) (why string, bad bool) {
	dest := strings.ReplaceAll(name, "-", "_")
	if dest == "daemon" {
		return "", false // the daemon APIs detach anyway; the plugin's clients send daemon=on
	}
	if d, ok := pluginArgumentDests[dest]; ok {
		dest = d
	}
	why, bad = forbiddenFlags[dest]
	return why, bad
}

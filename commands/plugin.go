package commands

import (
	"maps"
	"slices"
	"strings"
)

// ArgType says what a plugin API argument holds: how the admin page's form asks for it, and what the
// value checker is expected to hold it to. The checker itself goes by the argparse dest the argument
// becomes (TestPluginArgTypesAreTheCatalogs checks that the two agree).
type ArgType string

// The types of plugin arguments.
const (
	ArgText  ArgType = "text"   // any printable text
	ArgID    ArgType = "id"     // an Airflow key: DAG, task or connection id
	ArgRunID ArgType = "run_id" // a DAG run id
	ArgDate  ArgType = "date"   // YYYY-MM-DD, optionally with a time (ValidDate)
	// ArgDateOrRunID is a date or a run id: what Airflow's task commands take for a DAG run.
	ArgDateOrRunID ArgType = "date_or_run_id"
	ArgBool        ArgType = "bool"   // on when present, unless false, 0, off or no
	ArgJSON        ArgType = "json"   // a JSON object
	ArgInt         ArgType = "int"    // a whole number
	ArgPath        ArgType = "path"   // a path inside the DAGs folder
	ArgChoice      ArgType = "choice" // one of Choices
	ArgFile        ArgType = "file"   // an uploaded file (multipart)
)

// PluginArg is one argument of a plugin API.
type PluginArg struct {
	Name        string   `json:"name"`
	Type        ArgType  `json:"type"`
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
	// answer names what the gateway answers for an API that runs nothing: AnswerAirflowVersion,
	// AnswerGatewayVersion; empty for the others.
	answer string
	// deploys marks deploy_dag, which writes an uploaded file.
	deploys bool
}

// PluginAction is what a resolved plugin call does.
type PluginAction int

// The actions of a plugin call.
const (
	PluginRun    PluginAction = iota // runs Invocation
	PluginAnswer                     // runs nothing: the gateway answers what PluginCall.Answer names
	PluginDaemon                     // starts Invocation detached (StartDaemon)
	PluginDeploy                     // writes an uploaded DAG file (Deploy)
)

// What a PluginAnswer call answers.
const (
	AnswerAirflowVersion = "airflow_version" // the version of the Airflow found at start
	AnswerGatewayVersion = "gateway_version" // the gateway's own version
)

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
	// Action is what the call does; Invocation is the command it runs, for PluginRun and PluginDaemon.
	Action     PluginAction
	Invocation *Invocation
	// Answer names what a PluginAnswer call answers (AnswerAirflowVersion, AnswerGatewayVersion).
	Answer   string
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
		if a.Required && a.Type != ArgFile && args[a.Name] == "" {
			missing = append(missing, a.Name)
		}
	}
	if len(missing) > 0 {
		return nil, requiredError(missing)
	}
	call := &PluginCall{API: def, policy: p, args: maps.Clone(args), labels: map[string]string{}}
	for _, a := range def.Args {
		if v := args[a.Name]; a.Type == ArgChoice && v != "" && !slices.Contains(a.Choices, strings.ToLower(v)) {
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
	switch {
	case def.answer != "":
		call.Action, call.Answer = PluginAnswer, def.answer
		return call, nil
	case def.deploys:
		call.Action = PluginDeploy
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

// ReadOnly reports whether the call only reads: it answers, or runs a read-only command. A link from
// another site may make a browser send only such calls with its session.
func (c *PluginCall) ReadOnly() bool {
	switch c.Action {
	case PluginAnswer:
		return true
	case PluginRun:
		return c.Invocation.ReadOnly()
	}
	return false
}

// argumentLabel names a plugin argument in errors.
func argumentLabel(name string) string { return "the argument '" + name + "'" }

// checkUnpassed holds the values of the call's arguments that do not reach Airflow (refresh_dag's dag_id,
// a subdir that this Airflow has no flag for) to the rule of the dest of the same name, so that a value is
// refused or accepted whether or not this version passes it on.
func (c *PluginCall) checkUnpassed() error {
	for _, a := range c.API.Args {
		v := c.args[a.Name]
		if v == "" || a.Type == ArgBool || a.Type == ArgChoice || a.Type == ArgFile || slices.Contains(slices.Collect(maps.Values(c.labels)), argumentLabel(a.Name)) {
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

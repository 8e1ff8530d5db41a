package commands

// Listing is the whitelisted catalog as one role sees it.
type Listing struct {
	AirflowVersion string        `json:"airflow_version"`
	Role           string        `json:"role"`
	Commands       []CommandInfo `json:"commands"`
}

// CommandInfo describes one command the gateway runs.
type CommandInfo struct {
	Path        string `json:"path"`
	Help        string `json:"help"`
	Role        string `json:"role"`
	Class       Class  `json:"class"`
	Long        bool   `json:"long,omitempty"` // runs under long_command_timeout; the admin page runs it as a job
	NeedsYes    bool   `json:"needs_yes,omitempty"`
	Output      string `json:"forced_output,omitempty"`
	Positionals []Arg  `json:"positionals"`
	Flags       []Arg  `json:"flags"`
}

// Allowed lists the whitelisted commands of the running Airflow version that role may run, with the flags
// the gateway passes on.
func (p *Policy) Allowed(role Role) Listing {
	out := Listing{AirflowVersion: p.catalog.AirflowVersion, Role: role.String(), Commands: []CommandInfo{}}
	for i := range whitelist {
		rule := &whitelist[i]
		cmd := p.catalog.Lookup(rule.Path)
		if cmd == nil || rule.PluginOnly || role < rule.Role {
			continue
		}
		info := CommandInfo{
			Path: cmd.Path, Help: cmd.Help, Role: rule.Role.String(), Class: rule.Class, Long: rule.Long,
			NeedsYes: rule.Confirm, Output: rule.Output, Positionals: cmd.Positionals, Flags: []Arg{},
		}
		for _, f := range cmd.Flags {
			if _, bad := forbiddenFlags[f.Dest]; !bad {
				info.Flags = append(info.Flags, f)
			}
		}
		out.Commands = append(out.Commands, info)
	}
	return out
}

// Paths lists the whitelisted command paths of the running Airflow version that may run on a warm
// executor: all but the daemons, which always start as subprocesses.
func (p *Policy) Paths() []string {
	var paths []string
	for _, rule := range whitelist {
		if rule.Class != ClassDaemon && p.catalog.Lookup(rule.Path) != nil {
			paths = append(paths, rule.Path)
		}
	}
	return paths
}

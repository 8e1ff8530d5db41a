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
		entry := &whitelist[i]
		cmd := p.catalog.Lookup(entry.Path)
		if cmd == nil || entry.PluginOnly || role < entry.Role {
			continue
		}
		info := CommandInfo{
			Path: cmd.Path, Help: cmd.Help, Role: entry.Role.String(), Class: entry.Class, Long: entry.Long,
			NeedsYes: entry.Confirm && cmd.Flag("yes") != nil, Output: entry.Output, Positionals: cmd.Positionals, Flags: []Arg{},
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
	for _, entry := range whitelist {
		if entry.Class != ClassDaemon && p.catalog.Lookup(entry.Path) != nil {
			paths = append(paths, entry.Path)
		}
	}
	return paths
}

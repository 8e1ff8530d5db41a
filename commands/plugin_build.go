package commands

import (
	"fmt"
	"slices"
	"strings"
)

// The helpers the plugin APIs' builders use to turn a call's arguments into command words.

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

// fixed adds a switch the API always passes, where this Airflow's command has it (an older one may not
// have --yes, and then does not ask either).
func (c *PluginCall) fixed(flag string) {
	if f := c.flagFor(flag); f != "" {
		c.flags = append(c.flags, f)
	}
}

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

package commands

import (
	"maps"
	"slices"
	"strings"
)

// Invocation is a validated Airflow command: the words to pass to the `airflow` binary, with the policy that
// applies to it. Every dialect resolves into one; nothing else reaches an Executor.
type Invocation struct {
	Entry   *Entry
	Command *Command
	words   []word
	values  map[string][]string
	// scope is the scope of the credential the invocation was resolved for (§19); zero for none.
	scope Scope
	// listing, when set, is a listing across DAGs run for a scoped credential: it runs with JSON output,
	// and only the rows of DAGs in scope are shown, in the format the caller asked for.
	listing *listingFilter
	// airflowUser is the Airflow user the command acts as (§20), whose permissions Airflow's auth manager
	// granted before it runs; it is the command's LOGNAME. "" for a credential without one.
	airflowUser string
}

// listingFilter is how a listing's rows are filtered: to a scope, and to the DAGs an Airflow user may read.
type listingFilter struct {
	scope     Scope
	permitted map[string]bool // the DAG ids Airflow lets the Airflow user read; nil for no Airflow user
	format    string          // the output format the caller asked for ("table" when none)
}

// AirflowUser returns the Airflow user the command acts as, "" for none.
func (inv *Invocation) AirflowUser() string { return inv.airflowUser }

// Scope is the scope of the credential the invocation was resolved for; the zero Scope for one without.
func (inv *Invocation) Scope() Scope { return inv.scope }

// Filtered reports whether the invocation is a listing whose rows are filtered to a scope.
func (inv *Invocation) Filtered() bool { return inv.listing != nil }

// filteredTo returns a copy of a listing that runs with JSON output, to be filtered to scope; nil when
// the command cannot print JSON on this release, so that it cannot be filtered.
func (inv *Invocation) filteredTo(scope Scope) *Invocation {
	f := inv.Command.Flag("output")
	if f == nil {
		return nil
	}
	format, given := inv.Value("output")
	if !given {
		format = "table"
	}
	out := *inv
	out.scope = scope
	out.listing = &listingFilter{scope: scope, format: format}
	out.values = maps.Clone(inv.values)
	out.values["output"] = []string{"json"}
	out.words = []word{{text: f.Long() + "=json"}}
	for _, w := range inv.words {
		if !strings.HasPrefix(w.text, f.Long()+"=") {
			out.words = append(out.words, w)
		}
	}
	return &out
}

// word is one argv element and how it is shown to people.
type word struct {
	text    string
	display string // what String shows; text when empty
	// scoped marks a word the gateway adds for a scoped credential (withSwitches, withValue): not part of
	// the command as asked.
	scoped bool
}

// Path is the command path, such as "dags trigger".
func (inv *Invocation) Path() string { return inv.Command.Path }

// ReadOnly reports whether the command only reads (its class is ClassRead): the one test of it, for
// audit lines and for what a link from another site may run.
func (inv *Invocation) ReadOnly() bool { return inv.Entry.Class == ClassRead }

// Args returns the argv after the binary: the path's words, the flags as --flag=value, then `--` and the
// positionals, so that no value can be read as a flag.
func (inv *Invocation) Args() []string {
	args := strings.Fields(inv.Command.Path)
	for _, w := range inv.words {
		args = append(args, w.text)
	}
	return args
}

// Value returns the value given for a flag or positional, by its argparse dest, and whether one was given.
func (inv *Invocation) Value(dest string) (string, bool) {
	v := inv.values[dest]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// String returns the command as a shell line that can be pasted into a terminal, with secrets masked.
func (inv *Invocation) String() string { return inv.shown(true) }

// Asked returns the command as String does, without the words the gateway added for a scoped credential:
// what resolving it again for that credential gives the same invocation of.
func (inv *Invocation) Asked() string { return inv.shown(false) }

func (inv *Invocation) shown(scoped bool) string {
	parts := []string{"airflow"}
	parts = append(parts, strings.Fields(inv.Command.Path)...)
	for _, w := range inv.words {
		if w.scoped && !scoped {
			continue
		}
		shown := w.text
		if w.display != "" {
			shown = w.display
		}
		parts = append(parts, ShellQuote(shown))
	}
	return strings.Join(parts, " ")
}

// withSwitches returns a copy of the invocation with the switches of those dests that its command has
// (and that are not given already) added before the positionals.
func (inv *Invocation) withSwitches(dests ...string) *Invocation {
	out := *inv
	out.values = maps.Clone(inv.values)
	var added []word
	for _, dest := range dests {
		if f := inv.Command.Flag(dest); f != nil && len(out.values[dest]) == 0 {
			out.values[dest] = []string{""}
			added = append(added, word{text: f.Long(), scoped: true})
		}
	}
	if len(added) == 0 {
		return &out
	}
	at := slices.IndexFunc(inv.words, func(w word) bool { return w.text == "--" })
	if at < 0 {
		at = len(inv.words)
	}
	out.words = slices.Concat(inv.words[:at], added, inv.words[at:])
	return &out
}

// withValue returns a copy of the invocation with the flag f set to value, before the positionals. Only
// the gateway calls it, with a value of its own (the caller may not give that flag).
func (inv *Invocation) withValue(f *Arg, value string) *Invocation {
	out := *inv
	out.values = maps.Clone(inv.values)
	out.values[f.Dest] = []string{value}
	at := slices.IndexFunc(inv.words, func(w word) bool { return w.text == "--" })
	if at < 0 {
		at = len(inv.words)
	}
	out.words = slices.Concat(inv.words[:at], []word{{text: f.Long() + "=" + value, scoped: true}}, inv.words[at:])
	return &out
}

// detached returns a copy of the invocation with the daemon flags the gateway chooses (-D and the files
// by dest) put before the positionals. Only the gateway calls it: callers can never pass these flags.
func (inv *Invocation) detached(files map[string]string) *Invocation {
	out := *inv
	out.words = nil
	var added []word
	for _, dest := range daemonFlags {
		for i := range inv.Command.Flags {
			f := &inv.Command.Flags[i]
			if f.Dest != dest {
				continue
			}
			if f.Kind == KindSwitch {
				added = append(added, word{text: f.Long(), scoped: true})
			} else if path, ok := files[dest]; ok {
				added = append(added, word{text: f.Long() + "=" + path})
			}
		}
	}
	split := len(inv.words)
	for i, w := range inv.words {
		if w.text == "--" {
			split = i
			break
		}
	}
	out.words = append(append(append(out.words, inv.words[:split]...), added...), inv.words[split:]...)
	return &out
}

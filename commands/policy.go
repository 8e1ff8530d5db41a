package commands

import (
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Policy applies the whitelist, the roles and the flag rules to requests, against the catalog of the
// running Airflow version.
type Policy struct {
	catalog    *Catalog
	dagsFolder string // absolute, symlinks resolved
	// AllowDaemons lets the plugin's daemon APIs start anything (allow_daemons).
	AllowDaemons bool
}

// NewPolicy returns the policy for a catalog; paths given to confined flags must lie inside dagsFolder.
func NewPolicy(catalog *Catalog, dagsFolder string) *Policy {
	folder := filepath.Clean(dagsFolder)
	if resolved, err := filepath.EvalSymlinks(folder); err == nil {
		folder = resolved
	}
	return &Policy{catalog: catalog, dagsFolder: folder}
}

// DagsFolder returns the folder that confined paths must lie in.
func (p *Policy) DagsFolder() string { return p.dagsFolder }

// ResolveArgv checks exact words (see CheckArgv) and resolves them; see Resolve.
func (p *Policy) ResolveArgv(words []string, role Role) (*Invocation, error) {
	words, err := CheckArgv(words)
	if err != nil {
		return nil, err
	}
	return p.Resolve(words, role)
}

// ResolveLine splits a command line and resolves it; see Resolve.
func (p *Policy) ResolveLine(line string, role Role) (*Invocation, error) {
	words, err := SplitCommand(line)
	if err != nil {
		return nil, err
	}
	return p.Resolve(words, role)
}

// Resolve checks words (a command path, then its flags and positionals, with an optional leading `airflow`)
// against the whitelist, the role and the catalog, and returns the invocation to run.
func (p *Policy) Resolve(words []string, role Role) (*Invocation, error) {
	return p.resolve(words, role, nil)
}

// resolve is Resolve for every dialect. labels, given by the plugin dialect, name values by argparse dest
// the way the caller wrote them (its arguments); paths marked PluginOnly resolve only when labels is set.
func (p *Policy) resolve(words []string, role Role, labels map[string]string) (*Invocation, error) {
	plugin := labels != nil
	if len(words) > 0 && words[0] == "airflow" {
		words = words[1:]
	}
	if len(words) == 0 {
		return nil, Errorf(EINVALID, "no command given; try `dags list`, or GET /api/v1/commands for the commands you may run")
	}
	entry, cmd, rest, err := p.lookup(words, plugin)
	if err != nil {
		return nil, err
	}
	if role < entry.Role {
		return nil, Errorf(EFORBIDDEN, "`%s` needs role %s or higher; these credentials have role %s", entry.Path, entry.Role, role)
	}
	inv := &Invocation{Entry: entry, Command: cmd, values: map[string][]string{}}
	if err := p.bind(inv, rest, labels); err != nil {
		return nil, err
	}
	return inv, nil
}

// lookup finds the whitelisted command that words start with.
func (p *Policy) lookup(words []string, plugin bool) (*Entry, *Command, []string, error) {
	major := p.catalog.Major()
	if strings.ContainsFunc(words[0], unicode.IsSpace) {
		return nil, nil, nil, Errorf(EINVALID, "the command word %q holds a space; write the command path unquoted, such as `dags list`", words[0])
	}
	// A candidate path is made of whole words: a quoted "dags trigger" is one word and names no command.
	type candidate struct {
		path  string
		words int
	}
	candidates := []candidate{{words[0], 1}}
	if len(words) > 1 {
		two := words[0] + " " + words[1]
		if alias, ok := aliases[two]; ok {
			two = alias
		}
		candidates = []candidate{{two, 2}, {words[0], 1}}
	}
	for _, c := range candidates {
		path := c.path
		entry := entryFor(path)
		if entry == nil || entry.PluginOnly && !plugin || len(strings.Fields(path)) != c.words {
			continue
		}
		rest := words[c.words:]
		cmd := p.catalog.Lookup(path)
		if cmd == nil {
			return nil, nil, nil, p.missing(path)
		}
		return entry, cmd, rest, nil
	}
	path := candidates[0].path
	if use, ok := renamed[major][path]; ok {
		return nil, nil, nil, Errorf(EINVALID, "`%s` does not exist in Airflow %s; use `%s`", path, p.catalog.AirflowVersion, use)
	}
	if p.catalog.Lookup(path) != nil {
		return nil, nil, nil, Errorf(EINVALID, "`%s` is an Airflow command the gateway does not run; GET /api/v1/commands lists the ones it does", path)
	}
	if subs := p.subcommands(words[0]); len(subs) > 0 {
		if len(words) == 1 {
			return nil, nil, nil, Errorf(EINVALID, "`%s` needs a subcommand: one of %s", words[0], strings.Join(subs, ", "))
		}
		return nil, nil, nil, Errorf(EINVALID, "`%s` is not a command the gateway runs; `%s` takes one of %s", path, words[0], strings.Join(subs, ", "))
	}
	return nil, nil, nil, Errorf(EINVALID, "unknown command `%s`; the gateway runs %s (GET /api/v1/commands lists them all)", words[0], strings.Join(p.groups(), ", "))
}

func (p *Policy) missing(path string) error {
	if use, ok := renamed[p.catalog.Major()][path]; ok {
		return Errorf(EINVALID, "`%s` does not exist in Airflow %s; use `%s`", path, p.catalog.AirflowVersion, use)
	}
	return Errorf(EINVALID, "`%s` does not exist in Airflow %s", path, p.catalog.AirflowVersion)
}

// subcommands lists the whitelisted subcommands of a group that this Airflow version has.
func (p *Policy) subcommands(group string) []string {
	var subs []string
	for _, r := range whitelist {
		if g, sub, ok := strings.Cut(r.Path, " "); ok && g == group && !r.PluginOnly && p.catalog.Lookup(r.Path) != nil {
			subs = append(subs, sub)
		}
	}
	return subs
}

// groups lists the first words of the whitelisted paths this Airflow version has.
func (p *Policy) groups() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range whitelist {
		g := strings.Fields(r.Path)[0]
		if !seen[g] && !r.PluginOnly && p.catalog.Lookup(r.Path) != nil {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// bind checks the words after the path against the command's flags and positionals and fills inv.
func (p *Policy) bind(inv *Invocation, rest []string, labels map[string]string) error {
	cmd := inv.Command
	byName := map[string]*Arg{}
	for i := range cmd.Flags {
		for _, name := range cmd.Flags[i].Flags {
			byName[name] = &cmd.Flags[i]
		}
	}
	var flagWords []word
	var positionals []string
	onlyPositionals := false
	for i := 0; i < len(rest); i++ {
		w := rest[i]
		if onlyPositionals || !looksLikeFlag(w) {
			positionals = append(positionals, w)
			continue
		}
		if w == "--" {
			onlyPositionals = true
			continue
		}
		name, value, hasValue := strings.Cut(w, "=")
		arg := byName[name]
		if arg == nil {
			return p.unknownFlag(cmd, name, byName)
		}
		if why, bad := forbiddenFlags[arg.Dest]; bad {
			return Errorf(EINVALID, "%s is not allowed through the gateway: it %s", flagNames(arg), why)
		}
		switch arg.Kind {
		case KindSwitch, KindCount:
			if hasValue {
				return Errorf(EINVALID, "%s takes no value; write it alone", flagNames(arg))
			}
			if arg.Kind == KindSwitch && len(inv.values[arg.Dest]) > 0 {
				continue
			}
			inv.values[arg.Dest] = append(inv.values[arg.Dest], "")
			flagWords = append(flagWords, word{text: arg.Long()})
			continue
		}
		if !hasValue {
			if i+1 >= len(rest) || looksLikeFlag(rest[i+1]) {
				return Errorf(EINVALID, "%s needs a value; write `%s VALUE`, or `%s=VALUE` for a value that starts with a dash", flagNames(arg), name, name)
			}
			i++
			value = rest[i]
		}
		if arg.Kind == KindValue && len(inv.values[arg.Dest]) > 0 {
			return Errorf(EINVALID, "%s is given twice; give it once", flagNames(arg))
		}
		checked, err := p.checkValue(inv, arg, labelOf(labels, arg.Dest, flagNames(arg)), value)
		if err != nil {
			return err
		}
		inv.values[arg.Dest] = append(inv.values[arg.Dest], checked)
		flagWords = append(flagWords, p.valueWord(inv, arg, checked))
	}
	posWords, err := p.bindPositionals(inv, positionals, labels)
	if err != nil {
		return err
	}
	for i := range cmd.Flags {
		if f := &cmd.Flags[i]; f.Required && len(inv.values[f.Dest]) == 0 {
			return Errorf(EINVALID, "`%s` needs %s; usage: %s", cmd.Path, flagNames(f), usage(cmd))
		}
	}
	// A version whose command has no --yes does not prompt either: there is nothing to ask for.
	if inv.Entry.Confirm && cmd.Flag("yes") != nil {
		if _, yes := inv.values["yes"]; !yes {
			return Errorf(EINVALID, "`%s` asks for confirmation, which an HTTP request cannot give: add --yes (-y) to confirm", cmd.Path)
		}
	}
	if want := inv.Entry.Output; want != "" {
		if got, given := inv.Value("output"); given && got != want {
			return Errorf(EINVALID, "`%s` always answers with -o %s so that the gateway can mask passwords; leave out -o %s", cmd.Path, want, got)
		} else if f := cmd.Flag("output"); !given && f != nil {
			inv.values["output"] = []string{want}
			flagWords = append(flagWords, word{text: f.Long() + "=" + want})
		}
		// Without the flag, the output is not JSON, and masking withholds it whole.
	}
	if cmd.Path == "config get-value" {
		if err := checkConfigOption(inv); err != nil {
			return err
		}
	}
	inv.words = flagWords
	if len(posWords) > 0 {
		inv.words = append(append(inv.words, word{text: "--"}), posWords...)
	}
	return nil
}

var negativeNumber = regexp.MustCompile(`^-\d+$|^-\d*\.\d+$`)

// labelOf names the value of dest in errors: as the caller's labels say, or else as the CLI does.
func labelOf(labels map[string]string, dest, cli string) string {
	if label, ok := labels[dest]; ok {
		return label
	}
	return cli
}

func looksLikeFlag(w string) bool {
	return strings.HasPrefix(w, "-") && len(w) > 1 && !negativeNumber.MatchString(w)
}

// bindPositionals assigns positional words to the command's positionals in order, as argparse would.
func (p *Policy) bindPositionals(inv *Invocation, given []string, labels map[string]string) ([]word, error) {
	cmd := inv.Command
	var out []word
	i := 0
	for pi := range cmd.Positionals {
		pos := &cmd.Positionals[pi]
		var take int
		switch pos.Nargs {
		case "", "None":
			take = 1
		case "?":
			take = min(1, len(given)-i)
		case "*":
			take = len(given) - i
		case "+":
			take = max(1, len(given)-i)
		default:
			n, err := strconv.Atoi(pos.Nargs)
			if err != nil {
				return nil, Errorf(EINTERNAL, "catalog: bad nargs %q for %s", pos.Nargs, pos.Dest)
			}
			take = n
		}
		if i+take > len(given) {
			return nil, Errorf(EINVALID, "`%s` needs %s; usage: %s", cmd.Path, pos.Metavar(), usage(cmd))
		}
		if why, bad := forbiddenFlags[pos.Dest]; bad && take > 0 {
			return nil, Errorf(EINVALID, "%s is not allowed through the gateway: it %s", pos.Metavar(), why)
		}
		for _, v := range given[i : i+take] {
			checked, err := p.checkValue(inv, pos, labelOf(labels, pos.Dest, pos.Metavar()), v)
			if err != nil {
				return nil, err
			}
			inv.values[pos.Dest] = append(inv.values[pos.Dest], checked)
			out = append(out, word{text: checked})
		}
		i += take
	}
	if i < len(given) {
		return nil, Errorf(EINVALID, "`%s` does not take the argument %q; usage: %s", cmd.Path, given[i], usage(cmd))
	}
	// A variable whose key is sensitive never has its value shown.
	if cmd.Path == "variables set" {
		if key, _ := inv.Value("key"); IsSensitiveName(key) && len(out) == 2 {
			out[1].display = Mask
		}
	}
	return out, nil
}

// valueWord builds the --flag=value word, masking secrets for display.
func (p *Policy) valueWord(inv *Invocation, arg *Arg, value string) word {
	w := word{text: arg.Long() + "=" + value}
	switch {
	case secretFlags[arg.Dest]:
		w.display = arg.Long() + "=" + Mask
	case arg.Dest == "conn_uri":
		w.display = arg.Long() + "=" + MaskURI(value)
	}
	return w
}

func checkConfigOption(inv *Invocation) error {
	option, _ := inv.Value("option")
	lower := strings.ToLower(option)
	for _, s := range sensitiveOptions {
		if lower == s {
			return Errorf(EFORBIDDEN, "the option %q is sensitive: the gateway never reads it out; read it on the Airflow host if you must", option)
		}
	}
	if IsSensitiveName(lower) {
		return Errorf(EFORBIDDEN, "the option %q holds a sensitive word: the gateway never reads it out; read it on the Airflow host if you must", option)
	}
	return nil
}

// unknownFlag explains a flag that the command does not have.
func (p *Policy) unknownFlag(cmd *Command, name string, byName map[string]*Arg) error {
	allowed := allowedFlags(cmd)
	if strings.HasPrefix(name, "--") {
		var longer []string
		for n := range byName {
			if strings.HasPrefix(n, name) {
				longer = append(longer, n)
			}
		}
		sort.Strings(longer)
		if len(longer) > 0 {
			return Errorf(EINVALID, "%s is an abbreviation, which the gateway does not expand: did you mean %s? (`%s` takes %s)", name, strings.Join(longer, " or "), cmd.Path, allowed)
		}
	} else if len(name) > 2 && byName[name[:2]] != nil {
		return Errorf(EINVALID, "%s joins a short flag to more text; write `%s VALUE` or separate the flags (`%s` takes %s)", name, name[:2], cmd.Path, allowed)
	}
	if near := nearest(name, byName); near != "" {
		return Errorf(EINVALID, "`%s` has no flag %s: did you mean %s? (it takes %s)", cmd.Path, name, near, allowed)
	}
	return Errorf(EINVALID, "`%s` has no flag %s; it takes %s", cmd.Path, name, allowed)
}

// allowedFlags lists a command's flags that the gateway passes on.
func allowedFlags(cmd *Command) string {
	var names []string
	for i := range cmd.Flags {
		if _, bad := forbiddenFlags[cmd.Flags[i].Dest]; !bad {
			names = append(names, flagNames(&cmd.Flags[i]))
		}
	}
	if len(names) == 0 {
		return "no flags"
	}
	return strings.Join(names, ", ")
}

func flagNames(a *Arg) string { return strings.Join(a.Flags, "/") }

// usage renders a command's usage line.
func usage(cmd *Command) string {
	parts := []string{cmd.Path}
	for i := range cmd.Flags {
		if f := &cmd.Flags[i]; f.Required {
			parts = append(parts, f.Long()+" VALUE")
		}
	}
	if len(cmd.Flags) > 0 {
		parts = append(parts, "[flags]")
	}
	for i := range cmd.Positionals {
		pos := &cmd.Positionals[i]
		switch pos.Nargs {
		case "?":
			parts = append(parts, "["+pos.Metavar()+"]")
		case "*":
			parts = append(parts, "["+pos.Metavar()+" ...]")
		default:
			parts = append(parts, pos.Metavar())
		}
	}
	return strings.Join(parts, " ")
}

// nearest returns the known flag closest to name by edit distance, if it is close enough to be a typo.
func nearest(name string, byName map[string]*Arg) string {
	best, bestDist := "", 3
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if d := editDistance(name, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

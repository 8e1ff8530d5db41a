package commands

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Catalog describes every command of one Airflow version's CLI, as its own argparse tree declares them.
type Catalog struct {
	AirflowVersion string    `json:"airflow_version"`
	Commands       []Command `json:"commands"`

	byPath map[string]*Command
}

// Command is one leaf of the Airflow CLI, such as "dags trigger".
type Command struct {
	Path        string `json:"path"`
	Help        string `json:"help"`
	Positionals []Arg  `json:"positionals"`
	Flags       []Arg  `json:"flags"`
}

// Arg is one positional or flag of a Command.
type Arg struct {
	Dest     string   `json:"dest"`
	Kind     string   `json:"kind"` // value, switch, count or append
	Type     string   `json:"type,omitempty"`
	Flags    []string `json:"flags,omitempty"`
	Nargs    string   `json:"nargs,omitempty"`
	Choices  []string `json:"choices,omitempty"`
	Required bool     `json:"required,omitempty"`
	Help     string   `json:"help,omitempty"`
}

// Argument kinds, as the catalog generator names argparse actions.
const (
	KindValue  = "value"
	KindSwitch = "switch"
	KindCount  = "count"
	KindAppend = "append"
)

// Long returns the flag's longest spelling, the one the gateway passes on.
func (a *Arg) Long() string { return a.Flags[len(a.Flags)-1] }

// Metavar is how usage lines name a positional.
func (a *Arg) Metavar() string { return strings.ToUpper(a.Dest) }

// Lookup returns the command at path, or nil.
func (c *Catalog) Lookup(path string) *Command { return c.byPath[path] }

// Major is the major version the catalog describes ("2" or "3").
func (c *Catalog) Major() string { return majorOf(c.AirflowVersion) }

// Flag returns the command's flag whose argparse dest is dest, or nil when this version's command has none.
func (c *Command) Flag(dest string) *Arg {
	for i := range c.Flags {
		if c.Flags[i].Dest == dest {
			return &c.Flags[i]
		}
	}
	return nil
}

// ParseCatalog reads a catalog from the JSON that catalogs/generate.py writes.
func ParseCatalog(data []byte) (*Catalog, error) {
	var c Catalog
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("parse catalog: %w", err)
	}
	if majorOf(c.AirflowVersion) == "" || len(c.Commands) == 0 {
		return nil, fmt.Errorf("parse catalog: no Airflow version or no commands in it")
	}
	c.byPath = make(map[string]*Command, len(c.Commands))
	for i := range c.Commands {
		c.byPath[c.Commands[i].Path] = &c.Commands[i]
	}
	return &c, nil
}

var versionPattern = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)

func majorOf(version string) string {
	m := versionPattern.FindStringSubmatch(version)
	if m == nil {
		return ""
	}
	return m[1]
}

// The Airflow versions the gateway runs on (§18). NewestTested is the newest version among the catalogs
// kept as test fixtures in commands/catalogs; a test fails when they disagree.
const (
	OldestSupported = "2.6.0"
	NewestTested    = "3.3.2"
)

// CheckVersion tells whether the gateway runs on an Airflow version, as Airflow names its releases
// (a pre-release such as 3.4.0rc1 counts as its release). A version before OldestSupported, or of a major
// version other than 2 or 3, is an error naming the range; one newer than NewestTested runs, with the
// warning returned.
func CheckVersion(version string) (warning string, err error) {
	version = strings.TrimSpace(version)
	v, ok := parseVersion(version)
	if !ok {
		return "", fmt.Errorf("cannot read an Airflow version from %q", version)
	}
	oldest, _ := parseVersion(OldestSupported)
	if compareVersions(v, oldest) < 0 || v[0] > 3 {
		return "", fmt.Errorf("airflow %s is not supported: the gateway runs on Airflow %s to the newest 3.x", version, OldestSupported)
	}
	if newest, _ := parseVersion(NewestTested); compareVersions(v, newest) > 0 {
		return fmt.Sprintf("Airflow %s is newer than %s, the newest version the gateway was tested on: its catalog was read from the installation, but rules that name flags may not know what this version added", version, NewestTested), nil
	}
	return "", nil
}

// parseVersion reads the major, minor and patch numbers that start a version.
func parseVersion(version string) ([3]int, bool) {
	var v [3]int
	m := versionPattern.FindStringSubmatch(version)
	if m == nil {
		return v, false
	}
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return v, true
}

func compareVersions(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return 0
}

package commands

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

//go:embed catalogs/airflow-*.json
var catalogFiles embed.FS

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

// ParseCatalog reads a catalog from the JSON that catalogs/generate.py writes.
func ParseCatalog(data []byte) (*Catalog, error) {
	var c Catalog
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("parse catalog: %w", err)
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

// EmbeddedCatalogs lists the Airflow versions the binary carries a catalog for.
func EmbeddedCatalogs() []string {
	names, _ := fs.Glob(catalogFiles, "catalogs/airflow-*.json")
	var versions []string
	for _, name := range names {
		data, err := catalogFiles.ReadFile(name)
		if err != nil {
			continue
		}
		if c, err := ParseCatalog(data); err == nil {
			versions = append(versions, c.AirflowVersion)
		}
	}
	sort.Strings(versions)
	return versions
}

// CatalogFor returns the embedded catalog for an installed Airflow version as `airflow version` prints it.
// Airflow 2 needs 2.10 or later; any 3.x uses the 3 catalog.
func CatalogFor(version string) (*Catalog, error) {
	version = strings.TrimSpace(version)
	m := versionPattern.FindStringSubmatch(version)
	if m == nil {
		return nil, fmt.Errorf("cannot read an Airflow version from %q", version)
	}
	if minor, _ := strconv.Atoi(m[2]); m[1] == "2" && minor < 10 {
		return nil, fmt.Errorf("airflow %s is not supported: the gateway supports Airflow 2.10.x and 3.x (it carries catalogs for %s)",
			version, strings.Join(EmbeddedCatalogs(), ", "))
	}
	data, err := catalogFiles.ReadFile("catalogs/airflow-" + m[1] + ".json")
	if err != nil {
		return nil, fmt.Errorf("airflow %s is not supported: the gateway carries catalogs for %s only",
			version, strings.Join(EmbeddedCatalogs(), ", "))
	}
	return ParseCatalog(data)
}

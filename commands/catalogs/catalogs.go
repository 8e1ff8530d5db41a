// Package catalogs reads the catalog of the installed Airflow's CLI at start (§4, §18): it runs
// generate.py, which the binary carries, with Airflow's own interpreter, and keeps what it wrote in a cache
// folder, one file per installation, so that a restart does not pay for it again. The JSON files beside
// this package are test fixtures: the catalogs of the Airflow versions the test bed installs.
package catalogs

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/atomicfile"
)

//go:embed generate.py
var script []byte

// limit is how long one run of generate.py may take.
const limit = 2 * time.Minute

// Python runs generate.py with the interpreter of an Airflow installation.
type Python struct {
	Bin string   // the interpreter
	Env []string // the environment Airflow's commands run with, AIRFLOW_HOME included
	Dir string   // the working folder
}

// Installation is what an Airflow installation is, as Identify reads it without importing Airflow.
type Installation struct {
	Version       string   `json:"version"`       // apache-airflow's version, as installed
	SitePackages  string   `json:"site_packages"` // the folder it is installed in
	Distributions []string `json:"distributions"` // the names of the *.dist-info folders there
}

// Identify tells which Airflow the interpreter runs, in tens of milliseconds: it does not import Airflow.
func (p Python) Identify(ctx context.Context) (*Installation, error) {
	out, err := p.run(ctx, "--identity")
	if err != nil {
		return nil, err
	}
	var inst Installation
	if err := json.Unmarshal(out, &inst); err != nil || inst.Version == "" {
		return nil, fmt.Errorf("%s did not say which Airflow it runs (%q): set [gateway] python_bin to the Python of Airflow's installation", p.Bin, firstLine(out))
	}
	return &inst, nil
}

// Generate imports Airflow's CLI parser and returns its catalog as JSON, the way the fixtures are written.
// It takes about as long as one start of the `airflow` command.
func (p Python) Generate(ctx context.Context) ([]byte, error) {
	// Airflow may print log lines on stdout: the catalog is written to a file of its own.
	f, err := os.CreateTemp("", "airflow-gateway-catalog-*.json")
	if err != nil {
		return nil, err
	}
	f.Close()
	defer os.Remove(f.Name())
	if _, err := p.run(ctx, "--out", f.Name()); err != nil {
		return nil, err
	}
	return os.ReadFile(f.Name())
}

// run runs generate.py with args and returns its stdout.
func (p Python) run(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Bin, append([]string{"-c", string(script)}, args...)...)
	cmd.Env, cmd.Dir = p.Env, p.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "PackageNotFoundError") {
			return nil, fmt.Errorf("%s has no Airflow installed: set [gateway] python_bin to the Python of Airflow's installation", p.Bin)
		}
		return nil, fmt.Errorf("reading the Airflow CLI's catalog with %s: %w: %s (set [gateway] python_bin if it is not Airflow's Python)", p.Bin, err, commands.LastLine(stderr.String()))
	}
	return out, nil
}

// Key names the catalog of an installation run with env in a Cache. It is a hash of what the catalog
// depends on: the installation (Airflow's version, its site-packages and what is installed there: providers
// add commands), Airflow's configuration (the executor and the auth manager add theirs: the configuration
// file and the AIRFLOW__ variables of env), and generate.py itself.
func Key(inst *Installation, env []string) string {
	h := sha256.New()
	write := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	write(inst.Version)
	write(inst.SitePackages)
	for _, d := range inst.Distributions {
		write(d)
	}
	write(string(script))
	var vars []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "AIRFLOW__") || strings.HasPrefix(kv, "AIRFLOW_CONFIG=") || strings.HasPrefix(kv, "AIRFLOW_HOME=") {
			vars = append(vars, kv)
		}
	}
	slices.Sort(vars)
	for _, kv := range vars {
		write(kv)
	}
	cfg, _ := os.ReadFile(configFile(env))
	write(string(cfg))
	return inst.Version + "-" + hex.EncodeToString(h.Sum(nil))[:20]
}

// configFile is the path of the airflow.cfg that Airflow run with env reads.
func configFile(env []string) string {
	lookup := func(name string) string {
		for _, kv := range slices.Backward(env) {
			if v, ok := strings.CutPrefix(kv, name+"="); ok {
				return v
			}
		}
		return ""
	}
	if path := lookup("AIRFLOW_CONFIG"); path != "" {
		return path
	}
	return filepath.Join(lookup("AIRFLOW_HOME"), "airflow.cfg")
}

// Cache keeps catalogs as JSON files in Dir, one per key.
type Cache struct{ Dir string }

// Get returns the catalog stored under key, and whether there was one. A file that cannot be read as a
// catalog counts as none, so that it is written again rather than trusted.
func (c Cache) Get(key string) (*commands.Catalog, bool) {
	data, err := os.ReadFile(c.path(key))
	if err != nil {
		return nil, false
	}
	cat, err := commands.ParseCatalog(data)
	if err != nil {
		return nil, false
	}
	return cat, true
}

// Put stores a catalog's JSON under key. The file is written whole (package atomicfile), so that a reader
// (or another gateway starting on the same folder) sees the whole file or none.
func (c Cache) Put(key string, data []byte) error {
	if err := os.MkdirAll(c.Dir, 0o750); err != nil {
		return err
	}
	return atomicfile.WriteFile(c.path(key), data, 0o640)
}

// path is the file that holds the catalog stored under key.
func (c Cache) path(key string) string { return filepath.Join(c.Dir, key+".json") }

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}

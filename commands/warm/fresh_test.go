package warm

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestFingerprintSeesChanges: each change that must replace a forkserver changes the fingerprint; what the
// children write (__pycache__) does not.
func TestFingerprintSeesChanges(t *testing.T) {
	dir := t.TempDir()
	info := &readyInfo{ConfigFile: filepath.Join(dir, "airflow.cfg"), PluginsFolder: filepath.Join(dir, "plugins"),
		SitePackages: []string{filepath.Join(dir, "site-packages")}}
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sites := map[string]*siteListing{} // as a forkserver keeps it
	write(info.ConfigFile, "[core]\n")
	write(filepath.Join(dir, "site-packages", "apache_airflow-3.3.2.dist-info", "METADATA"), "")
	before, _ := fingerprint(info, sites)
	for _, change := range []struct {
		name string
		do   func()
	}{
		{"a plugin folder appears", func() { write(filepath.Join(info.PluginsFolder, "p.py"), "x = 1\n") }},
		{"a plugin changes", func() { write(filepath.Join(info.PluginsFolder, "p.py"), "x = 22\n") }},
		{"airflow.cfg changes", func() { write(info.ConfigFile, "[core]\nparallelism = 7\n") }},
		{"a package is installed", func() { write(filepath.Join(dir, "site-packages", "rich-14.0.0.dist-info", "METADATA"), "") }},
		{"a package is upgraded", func() {
			old := filepath.Join(dir, "site-packages", "rich-14.0.0.dist-info")
			if err := os.Rename(old, filepath.Join(dir, "site-packages", "rich-14.1.0.dist-info")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		change.do()
		after, _ := fingerprint(info, sites)
		if after == before {
			t.Errorf("%s: the fingerprint stayed the same", change.name)
		}
		before = after
	}
	write(filepath.Join(info.PluginsFolder, "__pycache__", "p.cpython-311.pyc"), "compiled")
	write(filepath.Join(dir, "site-packages", "rich", "__pycache__", "x.pyc"), "compiled")
	if after, _ := fingerprint(info, sites); after != before {
		t.Errorf("bytecode written by the children changed the fingerprint")
	}
	if _, newest := fingerprint(info, sites); time.Since(newest) > time.Minute {
		t.Errorf("newest modification %s", newest)
	}
}

// BenchmarkFingerprint measures the look at Airflow's files that every warm command pays for, on the
// test bed's Airflow 3 installation.
func BenchmarkFingerprint(b *testing.B) {
	bin := testbed.Airflow(b, "3")
	siteDirs, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(bin)), "lib", "python3*", "site-packages"))
	home := testbed.MustHome(b, "3")
	info := &readyInfo{ConfigFile: filepath.Join(home.Dir, "airflow.cfg"), PluginsFolder: filepath.Join(home.Dir, "plugins"), SitePackages: siteDirs}
	sites := map[string]*siteListing{}
	for b.Loop() {
		fingerprint(info, sites)
	}
}

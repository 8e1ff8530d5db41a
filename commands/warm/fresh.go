package warm

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// fingerprint sums up the files whose change makes a forkserver stale: Airflow's configuration file, the
// packages installed in its site-packages folders (each install, upgrade or removal adds or replaces a
// *.dist-info folder), and every file in the plugins folder. Folders count by the names they hold, not by
// their times, so the children writing __pycache__ folders change nothing.
// It also returns the newest modification time among them. sites, when not nil, keeps each site-packages
// folder's listing until the folder itself changes, so that a look costs a stat while nothing is installed.
func fingerprint(info *readyInfo, sites map[string]*siteListing) (string, time.Time) {
	var b stamps
	b.stamp(info.ConfigFile)
	for _, dir := range info.SitePackages {
		b.WriteString(listSite(dir, sites, &b.newest))
	}
	if info.PluginsFolder != "" {
		_ = filepath.WalkDir(info.PluginsFolder, func(path string, d fs.DirEntry, err error) error {
			if d != nil && d.IsDir() && d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			b.stamp(path)
			return nil
		})
	}
	return b.String(), b.newest
}

// siteListing is what a site-packages folder held at a modification time of the folder.
type siteListing struct {
	modTime time.Time
	stamp   string
}

// listSite stamps the *.dist-info folders of a site-packages folder, or reuses the listing in sites while
// the folder's modification time is the same: installing, upgrading or removing a package adds, renames or
// removes an entry, which changes it. (Measured with BenchmarkFingerprint: 18 µs a look instead of 0.6 ms
// on Airflow 3's 300 packages.)
func listSite(dir string, sites map[string]*siteListing, newest *time.Time) string {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Sprintf("%s:%v\n", dir, err)
	}
	if fi.ModTime().After(*newest) {
		*newest = fi.ModTime()
	}
	if l := sites[dir]; l != nil && l.modTime.Equal(fi.ModTime()) {
		return l.stamp
	}
	var b stamps
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Sprintf("%s:%v\n", dir, err)
	}
	for _, d := range entries {
		if strings.HasSuffix(d.Name(), ".dist-info") {
			b.stamp(filepath.Join(dir, d.Name()))
		}
	}
	// A folder changed within the last second may change again within the same tick of the clock that
	// stamps it: its listing is kept only once that is over.
	if sites != nil && time.Since(fi.ModTime()) > time.Second {
		sites[dir] = &siteListing{modTime: fi.ModTime(), stamp: b.String()}
	}
	return b.String()
}

type stamps struct {
	strings.Builder
	newest time.Time
}

// stamp writes what identifies one version of a file: its name, inode, size and modification time; of a
// folder, its name and inode.
func (b *stamps) stamp(path string) {
	fi, err := os.Lstat(path)
	if err != nil {
		fmt.Fprintf(b, "%s:absent\n", path)
		return
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	if fi.ModTime().After(b.newest) {
		b.newest = fi.ModTime()
	}
	if fi.IsDir() {
		fmt.Fprintf(b, "%s:%d\n", path, ino)
		return
	}
	fmt.Fprintf(b, "%s:%d:%d:%d\n", path, ino, fi.Size(), fi.ModTime().UnixNano())
}

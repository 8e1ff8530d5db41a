package warm

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sourceWritten fails tb unless folder holds every file of the forkserver as embedded, and nothing else.
func sourceWritten(tb testing.TB, folder string) {
	tb.Helper()
	names := sourceNames()
	if len(names) < 2 || names[len(names)-1] != forkserverMain {
		tb.Fatalf("the forkserver's files: %v", names)
	}
	for _, name := range names {
		want := sourceData(name)
		if got, err := os.ReadFile(filepath.Join(folder, name)); err != nil || !bytes.Equal(got, want) {
			tb.Errorf("%s does not hold the source: %v", name, err)
		}
	}
	if entries, err := os.ReadDir(folder); err != nil || len(entries) != len(names) {
		tb.Errorf("the folder holds %v (%v), not only %v", entries, err, names)
	}
}

func TestSourceFile(t *testing.T) {
	state := t.TempDir()
	path, err := sourceFile(state)
	if err != nil {
		t.Fatal(err)
	}
	folder := filepath.Dir(path)
	if folder != filepath.Join(state, "forkserver", sourceHash()) || filepath.Base(path) != forkserverMain {
		t.Errorf("the source is written at %s", path)
	}
	sourceWritten(t, folder)
	for _, f := range []string{filepath.Dir(folder), folder} {
		if info, err := os.Stat(f); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("%s's mode: %v %v", f, info.Mode(), err)
		}
	}

	// A file that holds the source is kept; one that does not is written again.
	kept := map[string]os.FileInfo{}
	for _, name := range sourceNames() {
		if kept[name], err = os.Stat(filepath.Join(folder, name)); err != nil {
			t.Fatal(err)
		}
	}
	if again, err := sourceFile(state); err != nil || again != path {
		t.Fatalf("again: %s %v", again, err)
	}
	for name, before := range kept {
		if after, err := os.Stat(filepath.Join(folder, name)); err != nil || !os.SameFile(before, after) {
			t.Errorf("%s, which held the source, was written again: %v", name, err)
		}
	}
	for _, name := range sourceNames() {
		if err := os.WriteFile(filepath.Join(folder, name), []byte("print('not the forkserver')\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if again, err := sourceFile(state); err != nil || again != path {
			t.Fatalf("again: %s %v", again, err)
		}
		sourceWritten(t, folder) // and no temporary file is left
	}
	// So is one that is missing.
	if err := os.Remove(filepath.Join(folder, sourceNames()[0])); err != nil {
		t.Fatal(err)
	}
	if again, err := sourceFile(state); err != nil || again != path {
		t.Fatalf("again: %s %v", again, err)
	}
	sourceWritten(t, folder)

	// Without a state folder, a folder of the user's own in the temporary folder.
	t.Setenv("TMPDIR", t.TempDir())
	if path, err := sourceFile(""); err != nil || !strings.HasPrefix(path, os.Getenv("TMPDIR")+"/airflow-gateway-") {
		t.Errorf("without a state folder: %s %v", path, err)
	}
}

func TestSourceFolderOthersCanWriteIsRefused(t *testing.T) {
	cases := map[string]func(folder string) error{
		"writable by others": func(folder string) error {
			if err := os.Mkdir(folder, 0o700); err != nil {
				return err
			}
			return os.Chmod(folder, 0o777)
		},
		"a symlink": func(folder string) error {
			return os.Symlink(t.TempDir(), folder)
		},
		"a file": func(folder string) error {
			return os.WriteFile(folder, nil, 0o600)
		},
	}
	if os.Geteuid() == 0 { // only root can give a folder to another user
		cases["another user's"] = func(folder string) error {
			if err := os.Mkdir(folder, 0o700); err != nil {
				return err
			}
			return os.Chown(folder, 65534, 65534)
		}
	}
	// The folder of the forkserver's source, and the folder of this version's files in it.
	folders := map[string]string{"folder": "forkserver", "version's folder": filepath.Join("forkserver", sourceHash())}
	for which, under := range folders {
		for name, prepare := range cases {
			t.Run(which+" "+name, func(t *testing.T) {
				state := t.TempDir()
				folder := filepath.Join(state, under)
				if err := os.MkdirAll(filepath.Dir(folder), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := prepare(folder); err != nil {
					t.Fatal(err)
				}
				if path, err := sourceFile(state); err == nil || !strings.Contains(err.Error(), "only it can write") {
					t.Errorf("sourceFile: %s %v", path, err)
				}
			})
		}
	}
}

package warm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSourceFile(t *testing.T) {
	state := t.TempDir()
	path, err := sourceFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != filepath.Join(state, "forkserver") || !strings.HasPrefix(filepath.Base(path), "forkserver-") {
		t.Errorf("the source is written at %s", path)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != forkserverSource {
		t.Fatalf("the file does not hold the source: %v", err)
	}
	if info, err := os.Stat(filepath.Dir(path)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("the folder's mode: %v %v", info.Mode(), err)
	}

	// A file of the same name that does not hold the source is written again; one that does is kept.
	if err := os.WriteFile(path, []byte("print('not the forkserver')\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if again, err := sourceFile(state); err != nil || again != path {
		t.Fatalf("again: %s %v", again, err)
	}
	if data, _ := os.ReadFile(path); string(data) != forkserverSource {
		t.Error("a changed file was not written again")
	}
	if left, _ := filepath.Glob(filepath.Join(state, "forkserver", ".forkserver-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

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
	for name, prepare := range cases {
		t.Run(name, func(t *testing.T) {
			state := t.TempDir()
			if err := prepare(filepath.Join(state, "forkserver")); err != nil {
				t.Fatal(err)
			}
			if path, err := sourceFile(state); err == nil || !strings.Contains(err.Error(), "only it can write") {
				t.Errorf("sourceFile: %s %v", path, err)
			}
		})
	}
}

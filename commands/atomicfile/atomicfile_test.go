package atomicfile_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/airflow-gateway/airflow-gateway/commands/atomicfile"
)

var errBroken = errors.New("the connection broke")

// copyFrom writes r to path with mode perm through a File, as a caller that streams does, and puts it in
// place with place (Replace or PlaceNew).
func copyFrom(path string, r io.Reader, perm fs.FileMode, place func(*atomicfile.File) error) error {
	f, err := atomicfile.Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Discard()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	return place(f)
}

func TestWrite(t *testing.T) {
	const old = "the old content\n"
	halfThenBroken := func() io.Reader {
		return io.MultiReader(strings.NewReader(strings.Repeat("half ", 1000)), iotest.ErrReader(errBroken))
	}
	tests := []struct {
		name  string
		old   bool // a file is at the path before the write
		write func(path string) error
		err   error // the error the write returns (errors.Is), or nil
		want  string
		mode  fs.FileMode
	}{
		{
			name:  "bytes to a new file",
			write: func(path string) error { return atomicfile.WriteFile(path, []byte("new\n"), 0o640) },
			want:  "new\n", mode: 0o640,
		},
		{
			name:  "bytes over a file",
			old:   true,
			write: func(path string) error { return atomicfile.WriteFile(path, []byte("new\n"), 0o600) },
			want:  "new\n", mode: 0o600,
		},
		{
			name:  "nothing over a file",
			old:   true,
			write: func(path string) error { return atomicfile.WriteFile(path, nil, 0o644) },
			want:  "", mode: 0o644,
		},
		{
			name: "a reader over a file",
			old:  true,
			write: func(path string) error {
				return copyFrom(path, strings.NewReader("streamed\n"), 0o664, (*atomicfile.File).Replace)
			},
			want: "streamed\n", mode: 0o664,
		},
		{
			name: "a reader that fails midway, over a file",
			old:  true,
			write: func(path string) error {
				return copyFrom(path, halfThenBroken(), 0o644, (*atomicfile.File).Replace)
			},
			err: errBroken, want: old, mode: 0o600,
		},
		{
			name: "a reader that fails midway, to a new file",
			write: func(path string) error {
				return copyFrom(path, halfThenBroken(), 0o644, (*atomicfile.File).Replace)
			},
			err: errBroken,
		},
		{
			name: "a new file, placed only if none is there",
			write: func(path string) error {
				return copyFrom(path, strings.NewReader("new\n"), 0o644, (*atomicfile.File).PlaceNew)
			},
			want: "new\n", mode: 0o644,
		},
		{
			name: "over a file, placed only if none is there",
			old:  true,
			write: func(path string) error {
				return copyFrom(path, strings.NewReader("new\n"), 0o644, (*atomicfile.File).PlaceNew)
			},
			err: fs.ErrExist, want: old, mode: 0o600,
		},
		{
			name: "in a folder that does not exist",
			write: func(path string) error {
				return atomicfile.WriteFile(filepath.Join(filepath.Dir(path), "missing", "file"), []byte("new\n"), 0o644)
			},
			err: fs.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file.py")
			if tt.old {
				if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := tt.write(path)
			switch {
			case tt.err == nil && err != nil:
				t.Fatalf("the write failed: %v", err)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("the write returned %v, want %v", err, tt.err)
			}

			got, rerr := os.ReadFile(path)
			switch {
			case !tt.old && tt.err != nil:
				if !errors.Is(rerr, fs.ErrNotExist) {
					t.Errorf("a failed write left a file: %q, %v", got, rerr)
				}
			case rerr != nil || string(got) != tt.want:
				t.Errorf("the file holds %q (%v), want %q", got, rerr, tt.want)
			default:
				if info, err := os.Stat(path); err != nil || info.Mode().Perm() != tt.mode {
					t.Errorf("the file's mode is %v (%v), want %v", info.Mode().Perm(), err, tt.mode)
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 1 || len(entries) == 1 && entries[0].Name() != "file.py" {
				t.Errorf("the folder holds %v, want at most file.py", entries)
			}
		})
	}
}

// TestFailedRenameLeavesNoTemporaryFile replaces a folder that holds a file, which a rename cannot do.
func TestFailedRenameLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(path, []byte("new"), 0o644); err == nil {
		t.Error("a file replaced a folder")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || !entries[0].IsDir() {
		t.Errorf("the folder holds %v, want the folder it held", entries)
	}
}

// TestReplaceIsARename checks that a file that is replaced is never changed in place: a reader that opened
// the old file reads the old content to its end.
func TestReplaceIsARename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.json")
	if err := atomicfile.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if err := atomicfile.WriteFile(path, []byte("new, and longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(reader); err != nil || string(got) != "old" {
		t.Errorf("the reader of the old file read %q, %v", got, err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "new, and longer" {
		t.Errorf("the file holds %q, %v", got, err)
	}
}

// TestLongNames checks that a target whose name is as long as a folder entry allows can be written: the
// temporary name must fit too.
func TestLongNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), strings.Repeat("a", 252)+".py")
	if err := atomicfile.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "x" {
		t.Errorf("the file holds %q, %v", got, err)
	}
}

// TestDiscardAfterClose checks that content closed but never placed leaves nothing behind.
func TestDiscardAfterClose(t *testing.T) {
	dir := t.TempDir()
	f, err := atomicfile.Create(filepath.Join(dir, "file"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("content")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("more")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("a write after Close: %v", err)
	}
	f.Discard()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the folder holds %v", entries)
	}
}

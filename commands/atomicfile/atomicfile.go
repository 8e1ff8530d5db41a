// Package atomicfile writes files whole or not at all. The content goes to a temporary file in the
// target's folder; it is given its mode, synced to disk and closed, then renamed (or linked) to the
// target's name, and the folder is synced: a reader sees the old file or the new one, never a part, and
// once a write has returned, a crash does not take the new file back. On an error the temporary file is
// removed and the target is left as it was (but for a failure to sync the folder, which comes after the
// rename).
//
// Temporary files are named ".NAME-RANDOM.tmp" after the target NAME (its first 64 bytes): hidden, and
// ending in .tmp, so that nothing that reads the folder by extension (Airflow's DAG processor, a cache)
// takes one for the target.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes data to the file at path with mode perm, replacing any file there, whole or not at all.
// The mode is perm as given: the umask does not apply.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Discard()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Replace()
}

// File is the content of a file on its way to path: written under a temporary name in path's folder, and
// put in place by Replace or PlaceNew. Until then path is untouched; Discard drops what was written.
type File struct {
	path     string
	perm     fs.FileMode
	tmp      *os.File
	closed   bool
	closeErr error
	done     bool // the temporary name is gone: renamed, linked and removed, or discarded
}

// Create starts a file that is to become the file at path, with mode perm (as given: the umask does not
// apply). The caller writes to it, then
// calls Replace or PlaceNew; it defers Discard, which removes the temporary file unless it was put in
// place.
func Create(path string, perm fs.FileMode) (*File, error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The random part and ".tmp" must fit beside the name in a folder entry (255 bytes on most systems).
	if len(name) > 64 {
		name = name[:64]
	}
	tmp, err := os.CreateTemp(dir, "."+name+"-*.tmp")
	if err != nil {
		return nil, err
	}
	return &File{path: path, perm: perm, tmp: tmp}, nil
}

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	return f.tmp.Write(p)
}

// Close finishes the content: it gives the temporary file its mode, syncs it to disk and closes it. The
// content then waits under its temporary name for Replace or PlaceNew, which call Close themselves when
// the caller did not. A second call returns what the first did.
func (f *File) Close() error {
	if f.closed {
		return f.closeErr
	}
	f.closed = true
	err := f.tmp.Chmod(f.perm)
	if err == nil {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	f.closeErr = err
	return err
}

// Replace puts the content in place at path, replacing any file there, and syncs the folder.
//
// An error before the rename leaves path as it was and removes the temporary file. An error syncing the
// folder comes after the rename: path then holds the new content, which a crash may still undo.
func (f *File) Replace() error {
	if err := f.put(os.Rename); err != nil {
		return err
	}
	return syncDir(filepath.Dir(f.path))
}

// PlaceNew puts the content in place at path only if no file has that name, and syncs the folder. When
// one does, even one that appeared since Create, it leaves that file alone, removes the temporary file
// and returns an error for which errors.Is(err, fs.ErrExist) holds.
//
// An error removing the temporary name or syncing the folder comes once path holds the new content.
func (f *File) PlaceNew() error {
	// A hard link, unlike a rename, fails rather than replace what is there.
	if err := f.put(os.Link); err != nil {
		return err
	}
	return errors.Join(os.Remove(f.tmp.Name()), syncDir(filepath.Dir(f.path)))
}

// put closes the content and gives it path's name with name (os.Rename or os.Link). On an error, path is
// as it was and the temporary file is removed.
func (f *File) put(name func(oldpath, newpath string) error) error {
	err := f.Close()
	if err == nil {
		err = name(f.tmp.Name(), f.path)
	}
	if err != nil {
		f.Discard()
		return err
	}
	f.done = true
	return nil
}

// Discard removes the temporary file, closing it first if need be. It does nothing once the content is
// in place, so that a deferred Discard is always safe.
func (f *File) Discard() {
	if f.done {
		return
	}
	f.done = true
	if !f.closed {
		f.closed = true
		f.closeErr = os.ErrClosed
		f.tmp.Close()
	}
	os.Remove(f.tmp.Name())
}

// syncDir syncs the folder dir, so that a name renamed or linked in it lasts through a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

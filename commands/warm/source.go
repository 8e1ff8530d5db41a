package warm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// The forkserver is started as `python FILE airflow-gateway-forkserver`, FILE holding forkserverSource, so
// that ps shows one short line that names it, and a traceback of its own shows its source lines. (Passing
// the 20 KB source as a -c argument put all of it on the command line of the forkserver, of its templates
// and of every command they fork; reading it from a pipe with a small -c bootstrap needs no file, but ps
// then shows the bootstrap, and tracebacks no source lines.)
//
// FILE is named by the source's hash, so that gateways of other versions keep their own, and is written in
// a folder of the gateway's own user that only that user can write: Python reads the file when it starts,
// and a file another user could write would run their code as the gateway. The folder is checked, never
// trusted: a folder that is not the user's own, a symlink, or one that others can write is refused, and
// the warm executor does not start (commands run as subprocesses and the log says why). Only that user
// (and root) can then put a file in it, so the path is safe to hand to Python. Python puts the folder first
// on the import path while it starts, as it does a script's; the folder holds nothing but these files,
// whose names are not module names.

// sourceFolder returns the folder the forkserver's source is written in: "forkserver" in dir, or with no
// dir, a folder of the user's own in the system's temporary folder.
func sourceFolder(dir string) string {
	if dir == "" {
		return filepath.Join(os.TempDir(), fmt.Sprintf("airflow-gateway-%d", os.Geteuid()))
	}
	return filepath.Join(dir, "forkserver")
}

// sourceFile returns the path of a file that holds the forkserver's source, in sourceFolder(dir): the one
// a gateway of the same version wrote, or a new one.
func sourceFile(dir string) (string, error) {
	folder := sourceFolder(dir)
	if err := os.Mkdir(folder, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("make the folder of the forkserver's source: %w", err)
	}
	if err := ownFolder(folder); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(forkserverSource))
	path := filepath.Join(folder, "forkserver-"+hex.EncodeToString(sum[:8])+".py")
	if data, err := os.ReadFile(path); err == nil && string(data) == forkserverSource {
		return path, nil
	}
	// Written whole under another name, then renamed: a forkserver that another gateway starts meanwhile
	// reads the old file or the new one, never half of one.
	tmp, err := os.CreateTemp(folder, ".forkserver-*")
	if err != nil {
		return "", fmt.Errorf("write the forkserver's source: %w", err)
	}
	_, err = tmp.WriteString(forkserverSource)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("write the forkserver's source: %w", err)
	}
	return path, nil
}

// ownFolder returns an error unless folder is a folder (not a symlink to one) of the effective user, which
// no other user can write.
func ownFolder(folder string) error {
	info, err := os.Lstat(folder)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !info.IsDir() || !ok || int(st.Uid) != os.Geteuid() || info.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s, where the forkserver's source is written, is not a folder of this user (uid %d) that only it can write: remove it, and the gateway makes it again", folder, os.Geteuid())
	}
	return nil
}

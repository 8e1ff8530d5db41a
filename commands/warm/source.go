package warm

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/airflow-gateway/airflow-gateway/commands/atomicfile"
	"github.com/airflow-gateway/airflow-gateway/commands/authorizer"
	"github.com/airflow-gateway/airflow-gateway/commands/dagindex"
)

// The forkserver is started as `python FILE airflow-gateway-forkserver`, FILE holding forkserverMain, so
// that ps shows one short line that names it, and a traceback of its own shows its source lines. (Passing
// the source as a -c argument put all of it on the command line of the forkserver, of its templates and
// of every command they fork; reading it from a pipe with a small -c bootstrap needs no file, but ps then
// shows the bootstrap, and tracebacks no source lines.) FILE imports the other files of forkserverSource
// from its own folder, which Python puts first on the import path while it starts, as it does a script's;
// their module names start with _airflow_gateway_, which no other code imports, and it has Python write no
// bytecode for them, so that the folder holds only the files written here. Beside them lies the script
// that reads the DAG index (package dagindex), which a child runs, as it runs the airflow script, when the
// gateway asks it to read the index, and the authorizer (package authorizer), which a child runs to keep
// Airflow's auth manager ready for the gateway's questions.
//
// The files are written in a folder named by the hash of them all, so that gateways of other versions
// keep their own, inside a folder of the gateway's own user that only that user can write: Python reads
// them when it starts, and a file another user could write would run their code as the gateway. Both
// folders are checked, never trusted: a folder that is not the user's own, a symlink, or one that others
// can write is refused, and the warm executor does not start (commands run as subprocesses and the log
// says why). Only that user (and root) can then put a file in them, so the path is safe to hand to Python.

// forkserverSource holds the forkserver: forkserverMain, and the modules it imports.
//
//go:embed forkserver.py _airflow_gateway_child.py _airflow_gateway_warmup.py
var forkserverSource embed.FS

// forkserverMain is the file of forkserverSource that Python runs.
const forkserverMain = "forkserver.py"

// sourceNames returns the names of the forkserver's files, forkserverMain last: those of forkserverSource,
// and package dagindex's script, which its children run to read the DAG index. They are written in that
// order, so that, should a write fail, forkserverMain is not there without the modules it imports.
func sourceNames() []string {
	entries, err := fs.ReadDir(forkserverSource, ".")
	if err != nil {
		panic(err) // an embedded folder is always there
	}
	names := []string{dagindex.FileName, authorizer.FileName}
	for _, entry := range entries {
		if entry.Name() != forkserverMain {
			names = append(names, entry.Name())
		}
	}
	return append(names, forkserverMain)
}

// sourceData returns what the forkserver's file name holds.
func sourceData(name string) []byte {
	switch name {
	case dagindex.FileName:
		return []byte(dagindex.Script)
	case authorizer.FileName:
		return []byte(authorizer.Script)
	}
	data, err := forkserverSource.ReadFile(name)
	if err != nil {
		panic(err) // every name of sourceNames is there
	}
	return data
}

// sourceHash returns the hash of the forkserver's files, names and contents, that names their folder.
func sourceHash() string {
	h := sha256.New()
	for _, name := range sourceNames() {
		data := sourceData(name)
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// sourceFolder returns the folder the forkserver's source is written in: "forkserver" in dir, or with no
// dir, a folder of the user's own in the system's temporary folder.
func sourceFolder(dir string) string {
	if dir == "" {
		return filepath.Join(os.TempDir(), fmt.Sprintf("airflow-gateway-%d", os.Geteuid()))
	}
	return filepath.Join(dir, "forkserver")
}

// sourceFile returns the path of forkserverMain, with the other files of the forkserver beside it, in the
// folder of this version in sourceFolder(dir): the files a gateway of the same version wrote, or new ones.
func sourceFile(dir string) (string, error) {
	folder := filepath.Join(sourceFolder(dir), sourceHash())
	for _, f := range []string{filepath.Dir(folder), folder} {
		if err := os.Mkdir(f, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("make the folder of the forkserver's source: %w", err)
		}
		if err := ownFolder(f); err != nil {
			return "", err
		}
	}
	for _, name := range sourceNames() {
		data := sourceData(name)
		if err := writeSource(folder, name, data); err != nil {
			return "", fmt.Errorf("write the forkserver's source: %w", err)
		}
	}
	return filepath.Join(folder, forkserverMain), nil
}

// writeSource makes the file name in folder hold data, unless it already does.
func writeSource(folder, name string, data []byte) error {
	path := filepath.Join(folder, name)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	// Written whole: a forkserver that another gateway starts meanwhile reads the old file or the new one,
	// never half of one.
	return atomicfile.WriteFile(path, data, 0o600)
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

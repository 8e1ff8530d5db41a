package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/airflow-gateway/airflow-gateway/commands/atomicfile"
)

// installName is the name install gives the binary in its folder.
const installName = "airflow-gateway"

// install copies the running binary into the folder dir as dir/airflow-gateway, mode 0755, whole or not
// at all (a copy already there is replaced), and prints its path. It is the init container's command in
// a pod: the image holds only the binary, and install puts it in a volume that a container of the
// operator's Airflow image mounts and runs it from.
func install(dir string, stdout io.Writer) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("install: the folder %s does not exist; create it, or mount a volume there (an emptyDir in a pod)", dir)
	case err != nil:
		return fmt.Errorf("install: %w", err)
	case !info.IsDir():
		return fmt.Errorf("install: %s is not a folder; name the folder to copy the binary into", dir)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: cannot find the running binary: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("install: cannot read the running binary: %w", err)
	}
	defer src.Close()
	target := filepath.Join(dir, installName)
	dst, err := atomicfile.Create(target, 0o755)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return fmt.Errorf("install: cannot write in the folder %s (%v); the user that runs install must be able to (in a pod, mount an emptyDir there)", dir, err)
	}
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer dst.Discard()
	if _, err := io.Copy(dst, src); err != nil {
		return fmt.Errorf("install: copying to %s: %w", target, err)
	}
	if err := dst.Replace(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	fmt.Fprintln(stdout, target)
	return nil
}

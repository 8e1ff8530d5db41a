package config

import (
	"os"
	"syscall"
)

// Private says whether a file of secrets is the gateway's alone: only its owner may read or write it
// (mode 0600 or less); or root owns it, the gateway runs as another user, and its group may read it too
// (0640 or 0440), which is how a Kubernetes Secret volume gives a pod's fsGroup its files. PostgreSQL
// accepts its key file on the same terms.
func Private(st os.FileInfo) bool {
	return privateMode(st.Mode().Perm(), st.Sys(), os.Geteuid())
}

func privateMode(perm os.FileMode, sys any, euid int) bool {
	if perm&0o077 == 0 {
		return true
	}
	owner, ok := sys.(*syscall.Stat_t)
	return ok && owner.Uid == 0 && euid != 0 && perm&0o037 == 0
}

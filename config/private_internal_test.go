package config

import (
	"os"
	"syscall"
	"testing"
)

// TestPrivate: a secret's file is the owner's alone, or root's and readable by its group when the gateway
// is not root (a Kubernetes Secret volume with an fsGroup).
func TestPrivate(t *testing.T) {
	root, gateway := &syscall.Stat_t{Uid: 0}, &syscall.Stat_t{Uid: 50000}
	for _, tt := range []struct {
		perm  os.FileMode
		owner *syscall.Stat_t
		euid  int
		want  bool
	}{
		{0o600, gateway, 50000, true},
		{0o400, gateway, 50000, true},
		{0o640, gateway, 50000, false}, // the gateway's own file: its group is not to read it
		{0o440, root, 50000, true},     // a Secret volume's file, read through fsGroup
		{0o640, root, 50000, true},
		{0o660, root, 50000, false}, // its group may write it
		{0o644, root, 50000, false}, // anyone may read it
		{0o444, root, 50000, false},
		{0o640, root, 0, false}, // the gateway is root: the file is its own
		{0o600, root, 0, true},
	} {
		if got := privateMode(tt.perm, tt.owner, tt.euid); got != tt.want {
			t.Errorf("mode %04o owned by %d, gateway %d: private %v, want %v", tt.perm, tt.owner.Uid, tt.euid, got, tt.want)
		}
	}
}

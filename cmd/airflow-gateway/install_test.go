package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestInstallCopiesTheRunningBinary: install puts a copy of the running binary (here the test binary) in
// the folder, mode 0755, prints its path, replaces an earlier copy and leaves no temporary file.
func TestInstallCopiesTheRunningBinary(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "airflow-gateway")
	if err := os.WriteFile(target, []byte("an earlier copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"install", dir}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out.String()); got != target {
			t.Errorf("install printed %q, not %q", got, target)
		}
		info, err := os.Stat(target)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != 0o755 {
			t.Errorf("the copy has mode %v", info.Mode())
		}
		if got, _ := os.ReadFile(target); !bytes.Equal(got, want) {
			t.Errorf("the copy (%d bytes) differs from the running binary (%d bytes)", len(got), len(want))
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the folder holds %d entries, not the copy alone", len(entries))
	}
}

func TestInstallErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"install"}, "install takes one folder"},
		{[]string{"install", dir, dir}, "install takes one folder"},
		{[]string{"install", filepath.Join(dir, "missing")}, "missing does not exist; create it, or mount a volume there"},
		{[]string{"install", file}, "a-file is not a folder"},
	} {
		err := run(context.Background(), tc.args, func(string) string { return "" }, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, not an error saying %q", tc.args, err, tc.want)
		}
	}
}

// TestInstallAsAnInitContainer runs the gateway's binary as an init container would: install copies it
// into a folder, the copy runs, and an install into a folder its user cannot write in says so. The user
// is 65532, the image's, when the test runs as root; otherwise the folder is made read-only.
func TestInstallAsAnInitContainer(t *testing.T) {
	shared := worldReadableDir(t)
	out, err := exec.Command(testbed.GatewayBinary(t), "install", shared).CombinedOutput()
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	installed := strings.TrimSpace(string(out))
	if out, err := exec.Command(installed, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "airflow-gateway ") {
		t.Errorf("the installed copy's version: %v\n%s", err, out)
	}

	readOnly := worldReadableDir(t)
	cmd := exec.Command(installed, "install", readOnly)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	} else {
		if err := os.Chmod(readOnly, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot write in the folder "+readOnly+" (permission denied)") {
		t.Errorf("install into a folder the user cannot write in: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(readOnly); len(entries) != 0 {
		t.Errorf("the folder holds %d entries after a failed install", len(entries))
	}
}

// worldReadableDir returns a new folder that every user may read and enter, but only its owner write in,
// removed at the end of the test.
func worldReadableDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "airflow-gateway-install-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.Chmod(dir, 0o755); os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

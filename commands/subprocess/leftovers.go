package subprocess

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// KillMarked kills the process group of every process that runs with AIRFLOW_GATEWAY_JOB set to one of
// markers (see commands.Exec.Marker), and returns how many processes it found (a group killed with its first
// member found counts once). It reads the environments
// in /proc, so it finds only the processes of the gateway's own user, which is what it is for: commands
// a gateway started before it was killed.
func KillMarked(markers []string) int {
	want := map[string]bool{}
	for _, m := range markers {
		want[commands.MarkerVariable+"="+m] = true
	}
	own := syscall.Getpgrp()
	found := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil {
			continue // gone, or another user's
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if !want[string(kv)] {
				continue
			}
			found++
			if pgid, err := syscall.Getpgid(pid); err == nil && pgid != own && pgid > 1 {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
			break
		}
	}
	return found
}

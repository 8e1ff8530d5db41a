package subprocess

import (
	"slices"
	"syscall"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
)

// KillMarked kills the process group of every process that runs with AIRFLOW_GATEWAY_JOB set to one of
// markers (see commands.Exec.Marker), and returns how many processes it found (a group killed with its first
// member found counts once). It reads the environments
// in /proc, so it finds only the processes of the gateway's own user, which is what it is for: commands
// a gateway started before it was killed.
func KillMarked(markers []string) int {
	own := syscall.Getpgrp()
	found := 0
	for _, pid := range procfs.PIDs() {
		if !slices.ContainsFunc(markers, func(m string) bool { return procfs.HasEnv(pid, commands.MarkerVariable+"="+m) }) {
			continue
		}
		found++
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid != own && pgid > 1 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return found
}

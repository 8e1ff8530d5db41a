package subprocess

import (
	"syscall"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
)

// KillMarked ends every process whose environment carries AIRFLOW_GATEWAY_COMMAND set to one of markers
// (see commands.Exec.Marker), with the process group of each, and returns how many such processes it
// found. It is how a command is stopped whatever sessions or groups its processes made (a shell that
// Airflow starts in a session of its own, for one), and how the commands of a gateway that was killed
// are found at the next start.
//
// Each round looks through /proc, stops every process it finds (SIGSTOP), so that none of them forks or
// reacts to the others' end while the round goes on, then kills each with its group (SIGKILL). A process
// can fork between the look and the stop, so it looks again until a round finds nothing, for at most 5
// seconds. It can read the environments of the gateway's own user's processes only (all, for root), which
// is where a command's are. A process that clears its environment, or writes over it in memory (as
// Python's setproctitle does), and has left the command's groups, is not found.
func KillMarked(markers []string) int {
	entries := make([]string, len(markers))
	for i, m := range markers {
		entries[i] = commands.MarkerVariable + "=" + m
	}
	own := syscall.Getpgrp()
	found := map[int]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var round []int
		for _, pid := range procfs.PIDs() {
			if procfs.HasEnv(pid, entries...) {
				round = append(round, pid)
			}
		}
		if len(round) == 0 || time.Now().After(deadline) {
			return len(found)
		}
		fresh := false
		for _, pid := range round {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
			fresh = fresh || !found[pid]
			found[pid] = true
		}
		for _, pid := range round {
			if pgid, err := syscall.Getpgid(pid); err == nil && pgid != own && pgid > 1 {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if !fresh {
			time.Sleep(5 * time.Millisecond) // killed already, and not yet gone
		}
	}
}

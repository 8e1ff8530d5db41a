// Package procfs reads what the gateway, its tests and its benchmarks need to know of processes from
// Linux's /proc: which exist, their state, parent and session, their environment and command line.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Process is what /proc/PID/stat tells of one process.
type Process struct {
	PID, PPID, SID int
	State          string // Z for a zombie: ended, not yet reaped
}

// Stat reads the process pid, and whether it exists.
func Stat(pid int) (Process, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Process{}, false
	}
	// The fields after the command name, which is in parentheses and may hold anything.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 4 {
		return Process{}, false
	}
	p := Process{PID: pid, State: fields[0]}
	p.PPID, _ = strconv.Atoi(fields[1])
	p.SID, _ = strconv.Atoi(fields[3])
	return p, true
}

// Alive reports whether the process pid exists and has not ended. An ended process can linger as a zombie
// until its parent reaps it, which some container inits are slow to do; its state says so. Without /proc
// it asks the kernel whether the pid exists.
func Alive(pid int) bool {
	if p, ok := Stat(pid); ok {
		return p.State != "Z"
	}
	if _, err := os.Stat("/proc/self"); err == nil {
		return false // /proc is there, and the process is not
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// PIDs lists the processes of the machine that /proc shows, but the calling process.
func PIDs() []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// HasEnv reports whether the environment of pid holds one of the entries kvs (NAME=value). Only the
// processes of the caller's own user (or all, for root) can be read, and a zombie has none. /proc shows
// the environment a process was started with (or what it wrote over it in memory since), not what it set
// afterwards.
func HasEnv(pid int, kvs ...string) bool {
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false // gone, or another user's
	}
	for entry := range bytes.SplitSeq(env, []byte{0}) {
		for _, kv := range kvs {
			if string(entry) == kv {
				return true
			}
		}
	}
	return false
}

// WithEnv lists the processes whose environment holds kv.
func WithEnv(kv string) []int {
	var pids []int
	for _, pid := range PIDs() {
		if HasEnv(pid, kv) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Argv returns the command line of pid, or nil.
func Argv(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}

// Status returns a field of /proc/PID/status, such as VmRSS or VmHWM, or "?".
func Status(pid int, field string) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// Package proc reads what the benchmarks need to know of processes from /proc.
package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Status returns a field of /proc/PID/status, such as VmRSS or VmHWM, or "?".
func Status(pid int, field string) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// Process is one live process.
type Process struct {
	PID, PPID int
	State     string   // Z for a zombie
	Argv      []string // its command line
}

// All lists the processes of the machine.
func All() []Process {
	var ps []Process
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(d + "/stat")
		cmdline, err2 := os.ReadFile(d + "/cmdline")
		if err != nil || err2 != nil {
			continue
		}
		// The fields after the command name, which is in parentheses and may hold anything.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		ps = append(ps, Process{PID: pid, PPID: ppid, State: fields[0], Argv: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")})
	}
	return ps
}

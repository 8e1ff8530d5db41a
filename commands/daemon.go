package commands

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
)

// pidFileWait is how long a daemon start waits for the daemon to write its pid file.
const pidFileWait = 20 * time.Second

// Daemon is a daemon the gateway started.
type Daemon struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// Log is the daemon's log file, relative to the gateway's state folder.
	Log string `json:"log"`
}

// StartDaemon starts the daemon of a resolved daemon API, detached, with pid and log files the gateway
// chooses in its state folder. A second start while the first daemon runs is refused.
func (s *Service) StartDaemon(ctx context.Context, call *PluginCall) (*Result, *Daemon, string, error) {
	if call.Action != PluginDaemon || call.Invocation == nil {
		return nil, nil, "", Errorf(EINTERNAL, "API '%s' is not a daemon", call.API.Name)
	}
	s.daemonMu.Lock()
	defer s.daemonMu.Unlock()
	name := strings.ReplaceAll(call.Invocation.Path(), " ", "-")
	dir := filepath.Join(s.opts.StateDir, "daemons")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, "", err
	}
	pidFile := filepath.Join(dir, name+".pid")
	if pid, ok := readPID(pidFile); ok && procfs.Alive(pid) {
		return nil, nil, "", Errorf(ECONFLICT, "the %s the gateway started is still running (pid %d); stop it before starting another", name, pid)
	}
	_ = os.Remove(pidFile) // stale: its process is gone
	files := map[string]string{
		"pid":      pidFile,
		"log_file": filepath.Join(dir, name+".log"),
		"stdout":   filepath.Join(dir, name+".out"),
		"stderr":   filepath.Join(dir, name+".err"),
	}
	inv := call.Invocation.detached(files)
	res, err := s.RunExec(ctx, Exec{Args: inv.Args(), Limit: s.opts.CommandTimeout, Detaches: true})
	if err != nil || res.ExitCode != 0 {
		return res, nil, inv.String(), err
	}
	d := &Daemon{Name: name, Log: filepath.Join("daemons", name+".log")}
	for deadline := time.Now().Add(pidFileWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if pid, ok := readPID(pidFile); ok {
			d.PID = pid
			return res, d, inv.String(), nil
		}
	}
	return res, nil, inv.String(), Errorf(EFAILED, "the %s was started but wrote no pid file within %s; see %s in the gateway's state folder", name, pidFileWait, d.Log)
}

func readPID(path string) (int, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid, err == nil && pid > 0
}

package warm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands/warm"
)

func TestPythonOf(t *testing.T) {
	python3, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	long := "/opt/a/very/long/path/that/pip/could/not/put/on/a/shebang/line/bin/python3"
	for _, tt := range []struct{ name, script, want, fails string }{
		{"venv", "#!/venv/bin/python\n# -*- coding: utf-8 -*-\nimport sys\n", "/venv/bin/python", ""},
		{"with flag", "#!/usr/bin/python3 -s\nimport sys\n", "/usr/bin/python3", ""},
		{"env", "#!/usr/bin/env python3\nimport sys\n", python3, ""},
		{"env with option", "#!/usr/bin/env -S python3 -u\n", python3, ""},
		{"pip's long path", "#!/bin/sh\n'''exec' " + long + " \"$0\" \"$@\"\n' '''\n", long, ""},
		{"not a script", "\x7fELF\x02\x01\x01", "", "not a Python script"},
		{"sh without exec", "#!/bin/sh\nexec python3 -m airflow \"$@\"\n", "", "set [gateway] python_bin"},
		{"empty", "", "", "not a Python script"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "airflow")
			if err := os.WriteFile(path, []byte(tt.script), 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := warm.PythonOf(path)
			if tt.fails != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fails) {
					t.Errorf("PythonOf = %q, %v; want an error saying %q", got, err, tt.fails)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("PythonOf = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := warm.PythonOf("/nonexistent/airflow"); err == nil {
		t.Error("a missing script gave no error")
	}
}

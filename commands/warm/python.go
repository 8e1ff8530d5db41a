package warm

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// PythonOf returns the interpreter that runs the airflow script at bin, from its #! line (pip writes a
// /bin/sh line that execs the interpreter when its path is too long for #!, which is read too).
func PythonOf(bin string) (string, error) {
	f, err := os.Open(bin)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 4096)
	var lines []string
	for len(lines) < 3 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	unknown := fmt.Errorf("cannot tell which Python runs %s (it is not a Python script with a #! line): set [gateway] python_bin", bin)
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "#!") {
		return "", unknown
	}
	words := strings.Fields(strings.TrimPrefix(lines[0], "#!"))
	if len(words) == 0 {
		return "", unknown
	}
	switch filepath.Base(words[0]) {
	case "env":
		for _, w := range words[1:] {
			if !strings.HasPrefix(w, "-") {
				return exec.LookPath(w)
			}
		}
		return "", unknown
	case "sh", "bash":
		// '''exec' /path/to/python "$0" "$@"
		if len(lines) > 1 {
			if rest, ok := strings.CutPrefix(lines[1], "'''exec' "); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					return strings.Trim(f[0], `'"`), nil
				}
			}
		}
		return "", unknown
	}
	return words[0], nil
}

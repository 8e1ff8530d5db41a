package commandstest_test

import (
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
)

func TestMaskRun(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"[2025-04-03T14:38:17.121+0000] {x.py:1} INFO - hi", "[<time>] {x.py:1} INFO - hi"},
		{"run manual__2026-11-22T05:26:09.896996+00:00 failed", "run manual__<time> failed"},
		{"| 2026-11-22           |\n| 05:20:49+00:00       |", "| 2026-11-22           |\n| <time>       |"},
		{"dag-backups/gw.py.20261122T050501.123456789Z", "dag-backups/gw.py.<time>"},
		{"parsed in 0:00:00.012345", "parsed in <duration>"},
		{"took 1.25 seconds", "took <duration>"},
		{`"file_token": "eyJh.c5y-jZ_1"`, `"file_token": "<token>"`},
		{"file_token | Ii90bXA.wR1L", "file_token | <token>"},
		{"version 3.3.2, 7 slots, pool gw_pool", "version 3.3.2, 7 slots, pool gw_pool"},
		{"Task instance dependencies not met:\nb: x\na: y\n", "Task instance dependencies not met:\na: y\nb: x\n"},
		{"Removed 12 record(s)", "Removed <n> record(s)"},
	} {
		if got := commandstest.MaskRun(tt.in); got != tt.want {
			t.Errorf("MaskRun(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

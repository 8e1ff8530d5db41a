package procfs_test

import (
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
)

// BenchmarkWithEnv measures one look through /proc for the processes whose environment holds an entry, as
// an executor makes when it stops a command (subprocess.KillMarked): its cost grows with the number of
// processes on the machine, which it reports.
func BenchmarkWithEnv(b *testing.B) {
	for b.Loop() {
		procfs.WithEnv("AIRFLOW_GATEWAY_COMMAND=0123456789abcdef0123456789abcdef")
	}
	b.ReportMetric(float64(len(procfs.PIDs())), "processes")
}

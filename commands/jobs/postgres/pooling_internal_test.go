package postgres

import "testing"

func TestPgBouncerHint(t *testing.T) {
	for _, c := range []struct {
		host string
		port uint16
		want string
	}{
		{"airflow-postgresql", 5432, ""},
		{"127.0.0.1", 6432, "port 6432"},
		{"airflow-pgbouncer", 6432, "port 6432, host airflow-pgbouncer"},
		{"PgBouncer.db.internal", 5432, "host PgBouncer.db.internal"},
	} {
		if got := pgBouncerHint(c.host, c.port); got != c.want {
			t.Errorf("pgBouncerHint(%q, %d) = %q, want %q", c.host, c.port, got, c.want)
		}
	}
}

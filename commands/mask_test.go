package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// printingExecutor prints the same output for every command, as Airflow printed it for the command under test.
type printingExecutor struct{ stdout, stderr string }

func (p printingExecutor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	return &commands.Result{Stdout: p.stdout, Stderr: p.stderr}, nil
}

func TestConnectionSecretsAreMasked(t *testing.T) {
	// Airflow 2.10's `connections list -o json`, with its log line before the JSON.
	listed := `[2026-11-21T20:39:58.305+0000] {plugins.py:37} INFO - setup plugin
[{"id": "1", "conn_id": "c1", "conn_type": "postgres", "host": "h", "login": "u", "password": "pw-secret", "port": "5432", ` +
		`"extra": "{\"api_key\": \"key-secret\", \"region\": \"eu\"}", "extra_dejson": {"api_key": "key-secret", "region": "eu", "nested": {"token": "tok-secret"}}, ` +
		`"get_uri": "postgres://u:pw-secret@h:5432/db?api_key=key-secret"}]
`
	tests := []struct {
		line, stdout, stderr string
		keeps                []string
	}{
		{"connections list", listed, "", []string{`"region":"eu"`, `"login":"u"`, `postgres://u:***@h:5432/db`}},
		{"connections get c1", listed, "", []string{`"conn_id":"c1"`}},
		{"connections add c1 --conn-uri postgres://u:pw-secret@h/db", "Successfully added `conn_id`=c1 : postgres://u:pw-secret@h:5432/db\n",
			"warning: postgres://u:pw-secret@h/db\n", []string{"postgres://u:***@h:5432/db"}},
		{"connections list", "[{\"conn_id\": \"c1\", \"password\": \"pw-secret\"", "", []string{"withheld"}},
	}
	for _, tt := range tests {
		policy := mustPolicy(t, "2")
		svc := commands.NewService(policy, printingExecutor{tt.stdout, tt.stderr}, commands.Options{
			MaxConcurrent: 1, QueueTimeout: time.Second, CommandTimeout: time.Minute, LongCommandTimeout: time.Minute, FilterLoadingMessages: true,
		})
		inv, err := svc.ResolveLine(tt.line, commands.Access{Role: commands.RoleAdmin})
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.Run(context.Background(), inv)
		if err != nil {
			t.Fatal(err)
		}
		all := res.Stdout + res.Stderr
		for _, secret := range []string{"pw-secret", "key-secret", "tok-secret"} {
			if strings.Contains(all, secret) {
				t.Errorf("%s: %q shows %s", tt.line, all, secret)
			}
		}
		for _, k := range tt.keeps {
			if !strings.Contains(all, k) {
				t.Errorf("%s: %q lacks %s", tt.line, all, k)
			}
		}
	}
}

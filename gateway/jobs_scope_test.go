package gateway_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
)

// Every token minted from one parent is named PARENT/minted, so a scoped token minted from an unscoped
// parent owns the jobs of its unscoped siblings, and sees the whole output of their listings: a `dags
// list` job of the unscoped sibling resolves under the scope (a listing to filter), so jobs.sees lets it
// through, but its stored output was never filtered.
func TestScopedMintedTokenDoesNotSeeItsUnscopedSiblingsListing(t *testing.T) {
	keys := gateway.NewKeyring("rest_api_plugin_http_token")
	keys.SignSessions([]byte("test-session-key-0123456789"), false)
	if err := keys.SetTokens([]gateway.Token{{Name: "ci", Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(token))}}); err != nil {
		t.Fatal(err)
	}
	srv, _ := mustGateway(t, streamingExecutor{}, commands.Options{}, withKeyring(keys),
		withDAGIndex(commands.DAGInfo{ID: "team_a_etl"}, commands.DAGInfo{ID: "b_other"}))
	admin := client(srv)
	mint := func(body string) string {
		var m struct {
			Token string `json:"token"`
		}
		if a := admin.Do(t, http.MethodPost, "/api/v1/tokens", strings.NewReader(body), asJSON...).Decode(t, &m); a.Status != 201 {
			t.Fatalf("mint %s: %d %s", body, a.Status, a.Body)
		}
		return m.Token
	}
	unscoped := admin.As(mint(`{"ttl": "1h"}`))
	scoped := admin.As(mint(`{"ttl": "1h", "dags": ["team_a_*"]}`))
	job := unscoped.StartJob(t, "dags list -o json")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if d := unscoped.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); d.State != "running" && d.State != "queued" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not end")
		}
	}
	d := scoped.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID)
	if d.Status == http.StatusOK && strings.Contains(d.Stdout, "b_other") {
		t.Errorf("a token scoped to team_a_* reads job %s of its unscoped sibling (owner %s), with b_other in its output:\n%s", job.ID, d.Owner, d.Stdout)
	}
}

// streamingExecutor prints a listing of two DAGs as a command does: through Live as it comes, then whole.
type streamingExecutor struct{}

func (streamingExecutor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	out := `[{"dag_id": "team_a_etl"}, {"dag_id": "b_other"}]` + "\n"
	if x.Live != nil {
		x.Live(commands.Stdout, []byte(out))
	}
	return &commands.Result{Stdout: out}, nil
}

package main

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestContributingExample is CONTRIBUTING.md's worked example of an integration test: a command through
// the gateway, its effect read back with Airflow's own CLI, and a job that reads it, followed to its end.
func TestContributingExample(t *testing.T) {
	t.Parallel()
	home := testbed.MustHome(t, "3")
	g := mustServe(t, testbed.Config{Home: home, Executor: "subprocess"})
	g.ok(t, "variables set example_key 'two words'")
	if got := strings.TrimSpace(home.Run(t, "variables", "get", "example_key")); got != "two words" {
		t.Errorf("Airflow's CLI reads %q", got)
	}
	job := g.StartJob(t, "variables get example_key")
	g.Follow(t, job.ID, "", func(testbed.Event) bool { return true })
	if done := g.Job(t, http.MethodGet, "/api/v1/jobs/"+job.ID); strings.TrimSpace(done.Stdout) != "two words" {
		t.Errorf("the job ended %s with %q", done.State, done.Stdout)
	}
}

// TestContributingShowsItsExample: CONTRIBUTING.md shows TestContributingExample as this file has it.
func TestContributingShowsItsExample(t *testing.T) {
	source, err := os.ReadFile("contributing_test.go")
	if err != nil {
		t.Fatal(err)
	}
	example := regexp.MustCompile(`(?s)func TestContributingExample\(.*?\n}\n`).Find(source)
	doc, err := os.ReadFile("../../CONTRIBUTING.md")
	if err != nil {
		t.Fatal(err)
	}
	if example == nil || !strings.Contains(string(doc), "```go\n"+string(example)+"```\n") {
		t.Errorf("CONTRIBUTING.md does not show the example as it is; paste it:\n```go\n%s```", example)
	}
}

package config_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/config"
)

func TestParseTokens(t *testing.T) {
	sum := sha256.Sum256([]byte("foo"))
	tokens, err := config.ParseTokens([]byte(`
[ci-bot]
role = User
sha256 = 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae

[alice@example.com]
role = admin
sha256 = 2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AF
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 2 || tokens[0].Name != "ci-bot" || tokens[0].Role != commands.RoleUser || tokens[0].SHA256 != sum || tokens[1].Role != commands.RoleAdmin {
		t.Errorf("tokens %+v", tokens)
	}
}

func TestParseTokensRefuses(t *testing.T) {
	const h = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	for text, says := range map[string]string{
		"role = User\nsha256 = " + h:                                          "keys before the first [section]",
		"[bot]\nrole = Root\nsha256 = " + h:                                   `role "Root" is not one of Viewer, User, Op, Admin`,
		"[bot]\nrole = User\nsha256 = abc":                                    "64 hex digits",
		"[bot]\nrole = User\nsha256 = " + h + "\ntoken = plain":               `unknown key "token"`,
		"[a]\nrole = User\nsha256 = " + h + "\n[b]\nrole = Op\nsha256 = " + h: "[a] and [b] have the same token",
		"[bad name]\nrole = User\nsha256 = " + h:                              "a token's name",
		"[bot":                                                                "tokens file",
	} {
		if _, err := config.ParseTokens([]byte(text)); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want an error saying %q", text, err, says)
		}
	}
}

// FuzzParseTokens checks that the tokens file parser never panics and that what it accepts is whole.
func FuzzParseTokens(f *testing.F) {
	f.Add("[ci-bot]\nrole = User\nsha256 = 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n")
	f.Add("[a]\nrole=op\nsha256=00\n")
	f.Add("[t]\nrole = User\nsha256 = 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\ndags = team_a_*, x[ab]\ntags = team-a\nteams = t\n")
	f.Fuzz(func(t *testing.T, text string) {
		tokens, err := config.ParseTokens([]byte(text))
		if err != nil {
			return
		}
		for _, tok := range tokens {
			if tok.Name == "" || tok.Role == commands.RoleNone || tok.SHA256 == [32]byte{} && !strings.Contains(strings.ToLower(text), strings.Repeat("0", 64)) {
				t.Fatalf("accepted a partial token %+v from %q", tok, text)
			}
		}
	})
}

func TestParseTokensScopes(t *testing.T) {
	const h = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	tokens, err := config.ParseTokens([]byte(`
[team-a-ci]
role = User
sha256 = ` + h + `
dags = team_a_*, shared_report     ; globs on DAG ids
tags = team-a
teams = team_a

[everything]
role = Viewer
sha256 = ` + h[:63] + `f
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := tokens[0].Scope.String(); got != "dags team_a_*, shared_report; tags team-a; teams team_a" {
		t.Errorf("scope %q", got)
	}
	if !tokens[1].Scope.IsZero() {
		t.Errorf("a token without dags, tags or teams has the scope %s", tokens[1].Scope)
	}
	for scope, says := range map[string]string{
		"dags =":                  "a dags line is empty",
		"dags = team_a_*,":        "a dags line is empty",
		"tags = , team-a":         "a tags line is empty",
		"dags = dags/team_a.py":   "holds a /",
		"dags = report_[ab":       "is not a glob",
		"teams = team\u200ba":     "invisible character",
		"dags = " + h + h + h + h: "longer than 250 bytes",
	} {
		text := "[bot]\nrole = User\nsha256 = " + h + "\n" + scope + "\n"
		if _, err := config.ParseTokens([]byte(text)); err == nil || !strings.Contains(err.Error(), says) || !strings.Contains(err.Error(), "[bot]") {
			t.Errorf("%q: %v, want an error about [bot] saying %q", scope, err, says)
		}
	}
}

func TestParseTokensAirflowUser(t *testing.T) {
	const h = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	tokens, err := config.ParseTokens([]byte("[alice-laptop]\nrole = Op\nsha256 = " + h + "\nairflow_user = alice@example.com\n"))
	if err != nil || tokens[0].AirflowUser != "alice@example.com" {
		t.Fatalf("%+v %v", tokens, err)
	}
	for _, bad := range []string{"airflow_user =", "airflow_user = a\u0007b", "airflow_user = " + strings.Repeat("a", 257)} {
		if _, err := config.ParseTokens([]byte("[bot]\nrole = User\nsha256 = " + h + "\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "is not an Airflow user name") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

package client_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/cmd/airflow-gateway/client"
)

func TestSettingsComeFromFlagsThenEnvironmentThenProfile(t *testing.T) {
	config := t.TempDir()
	dir := filepath.Join(config, "airflow-gateway")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(config, "prod.token")
	if err := os.WriteFile(tokenFile, []byte("prod-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	profiles := "[default]\nurl = http://default.example:8080\ntoken = default-token\n\n[prod]\nurl = https://prod.example/\ntoken_file = " + tokenFile + "\ncacert = /etc/prod-ca.pem\n"
	if err := os.WriteFile(filepath.Join(dir, "client.ini"), []byte(profiles), 0o600); err != nil {
		t.Fatal(err)
	}
	flagFile := filepath.Join(config, "flag.token")
	if err := os.WriteFile(flagFile, []byte("flag-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		flags client.Flags
		env   map[string]string
		want  client.Settings
		fails string
	}{
		{"the default profile", client.Flags{}, nil, client.Settings{URL: "http://default.example:8080", Token: "default-token"}, ""},
		{"a named profile", client.Flags{Profile: "prod"}, nil, client.Settings{URL: "https://prod.example", Token: "prod-token", CACert: "/etc/prod-ca.pem"}, ""},
		{"the profile from the environment", client.Flags{}, map[string]string{"AIRFLOW_GATEWAY_PROFILE": "prod"}, client.Settings{URL: "https://prod.example", Token: "prod-token", CACert: "/etc/prod-ca.pem"}, ""},
		{"the environment over the profile", client.Flags{Profile: "prod"}, map[string]string{"AIRFLOW_GATEWAY_URL": "http://env.example", "AIRFLOW_GATEWAY_TOKEN": "env-token"},
			client.Settings{URL: "http://env.example", Token: "env-token", CACert: "/etc/prod-ca.pem"}, ""},
		{"flags over the environment", client.Flags{URL: "http://flag.example", TokenFile: flagFile}, map[string]string{"AIRFLOW_GATEWAY_URL": "http://env.example", "AIRFLOW_GATEWAY_TOKEN": "env-token"},
			client.Settings{URL: "http://flag.example", Token: "flag-token"}, ""},
		{"a profile that is not there", client.Flags{Profile: "staging"}, nil, client.Settings{}, "has no profile [staging]"},
		{"a URL without a scheme", client.Flags{URL: "gateway.example"}, nil, client.Settings{}, "must start with http"},
		{"a token file that is not there", client.Flags{TokenFile: "/nonexistent/token"}, nil, client.Settings{}, "read the token file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"XDG_CONFIG_HOME": config}
			for k, v := range tt.env {
				env[k] = v
			}
			got, err := client.Load(tt.flags, func(k string) string { return env[k] })
			if tt.fails != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fails) {
					t.Fatalf("got %+v, %v; want an error saying %q", got, err, tt.fails)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	// No profiles file and no token: the error says where a token goes.
	if _, err := client.Load(client.Flags{}, func(k string) string { return map[string]string{"XDG_CONFIG_HOME": t.TempDir()}[k] }); err == nil || !strings.Contains(err.Error(), "AIRFLOW_GATEWAY_TOKEN") {
		t.Errorf("without a token: %v", err)
	}
}

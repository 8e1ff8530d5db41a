package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/config"
)

func noEnv(string) string { return "" }

func TestExampleDocumentsEveryKeyWithItsDefault(t *testing.T) {
	data, err := os.ReadFile("../gateway.cfg.example")
	if err != nil {
		t.Fatal(err)
	}
	fromExample, err := config.Parse(data, noEnv)
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	defaults, err := config.Load("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	fromExample.Source, defaults.Source = "", ""
	if *fromExample != *defaults {
		t.Errorf("the example's values differ from the defaults:\n%+v\n%+v", fromExample, defaults)
	}
	for _, k := range config.Keys() {
		if !strings.Contains(string(data), "\n"+k.Name+" =") {
			t.Errorf("gateway.cfg.example does not document %s", k.Name)
		}
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	env := map[string]string{
		"AIRFLOW_GATEWAY__GATEWAY__MAX_CONCURRENT_COMMANDS": "9",
		"AIRFLOW_GATEWAY__GATEWAY__QUEUE_TIMEOUT":           "2.5",
		"AIRFLOW_GATEWAY__REST_API_PLUGIN__LOG_LOADING":     "True",
	}
	cfg, err := config.Parse([]byte("[gateway]\nmax_concurrent_commands = 2\ncommand_timeout = 5m\n"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConcurrentCommands != 9 || cfg.QueueTimeout != 2500*time.Millisecond || !cfg.LogLoading || cfg.CommandTimeout != 5*time.Minute {
		t.Errorf("got %+v", cfg)
	}
}

func TestBadConfigSaysWhatIsWrong(t *testing.T) {
	cases := map[string]string{
		"[gateway]\nlisen = x\n":                                                            `unknown key "lisen" in [gateway]`,
		"[core]\ndags_folder = /x\n":                                                        "unknown section [core]; the sections are [gateway], [auth], [jobs], [airflow_api], [metrics], [rest_api_plugin]",
		"[gateway]\nmax_concurrent_commands = 0\n":                                          "max_concurrent_commands must be at least 1",
		"[gateway]\nmax_concurrent_commands = x\n":                                          "not a whole number",
		"[gateway]\nqueue_timeout = soon\n":                                                 "not a duration",
		"[gateway]\nallow_daemons = maybe\n":                                                "not a boolean",
		"[gateway]\nlisten = nowhere\n":                                                     "must be host:port",
		"[gateway]\ntls_cert = /c.pem\n":                                                    "tls_key must be set together",
		"[airflow_api]\njwt_private_key_file = /k.pem\n":                                    "jwt_kid must be set with jwt_private_key_file",
		"[airflow_api]\njwt_secret_file = /s\njwt_private_key_file = /k.pem\njwt_kid = k\n": "jwt_secret_file and jwt_private_key_file are both set",
		"[gateway]\nsecret_key = short\n":                                                   "secret_key must be at least 16",
		"[jobs]\ndatabase_url = mysql://u:pw-in-url@db/jobs\n":                              "database_url must be a PostgreSQL URL, such as postgres://",
		"[jobs]\ndatabase_url = pw-in-url\n":                                                "database_url must be a PostgreSQL URL",
		"[jobs]\nlease = 1s\n":                                                              "lease is too small",
		"[auth]\nfailed_auth_burst = 0\n":                                                   "failed_auth_burst must be at least 1",
		"[auth]\ndag_index_refresh = 100ms\n":                                               "dag_index_refresh is too small",
	}
	for text, want := range cases {
		_, err := config.Parse([]byte(text), noEnv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to say %q", text, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "pw-in-url") {
			t.Errorf("%q: the error shows the secret: %v", text, err)
		}
	}
}

func TestMaskedHidesSecrets(t *testing.T) {
	cfg, err := config.Parse([]byte("[rest_api_plugin]\nrest_api_plugin_expected_http_token = hunter2hunter2\n[gateway]\nsecret_key = 0123456789abcdef0\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(cfg.Masked(), "\n")
	if strings.Contains(all, "hunter2") || strings.Contains(all, "0123456789abcdef0") {
		t.Errorf("a secret is logged:\n%s", all)
	}
}

func FuzzParse(f *testing.F) {
	data, _ := os.ReadFile("../gateway.cfg.example")
	f.Add(data)
	f.Add([]byte("[gateway]\nlisten = 127.0.0.1:0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data, noEnv)
		if err == nil && cfg.MaxConcurrentCommands < 1 {
			t.Fatalf("accepted max_concurrent_commands %d", cfg.MaxConcurrentCommands)
		}
	})
}

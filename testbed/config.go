package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Config is a gateway's configuration file as the tests write it. Each field is the key of config.Config
// of the same name (TestConfigReadsBack holds them to it); a zero field is left out of the file, so that
// the gateway takes its default.
type Config struct {
	// Home, when set, gives airflow_bin and airflow_home, unless they are set themselves.
	Home *Home

	// [gateway]
	Listen                string // 127.0.0.1:0 (a free port) when empty
	AirflowBin            string
	AirflowHome           string
	Executor              string
	MaxConcurrentCommands int
	QueueTimeout          time.Duration
	CommandTimeout        time.Duration
	LongCommandTimeout    time.Duration
	AllowDaemons          bool
	StateDir              string
	ShutdownGrace         time.Duration
	LogFormat             string
	SecretKey             string
	TLSCert               string
	TLSKey                string

	// [auth]
	TokensFile      string
	FailedAuthBurst int
	DAGIndexRefresh time.Duration

	// [jobs]
	JobsDatabaseURL string
	JobsLease       time.Duration

	// [airflow_api]
	AirflowAPIURL       string
	AirflowAPIUsersFile string
	AirflowAPIJWTSecret string // jwt_secret_file
	AirflowAPIJWTKey    string // jwt_private_key_file
	AirflowAPIJWTKid    string

	// [rest_api_plugin]
	PluginToken string // the plugin-compatible token, of role Admin; none when empty
}

// String renders the configuration as the gateway's INI file.
func (c Config) String() string {
	listen, bin, home := c.Listen, c.AirflowBin, c.AirflowHome
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	// A gateway on a test home is told its DAGs folder rather than asking Airflow for it: one Airflow start
	// less per gateway. TestCatalogReadAtStart starts one that asks.
	var dags string
	if c.Home != nil {
		bin, home, dags = or(bin, c.Home.Airflow), or(home, c.Home.Dir), c.Home.Dags
	}
	sections := []struct {
		name string
		keys [][2]string
	}{
		{"gateway", [][2]string{
			{"listen", listen}, {"airflow_bin", bin}, {"airflow_home", home}, {"dags_folder", dags}, {"executor", c.Executor},
			{"max_concurrent_commands", number(c.MaxConcurrentCommands)}, {"queue_timeout", duration(c.QueueTimeout)},
			{"command_timeout", duration(c.CommandTimeout)}, {"long_command_timeout", duration(c.LongCommandTimeout)},
			{"allow_daemons", boolean(c.AllowDaemons)}, {"state_dir", c.StateDir}, {"shutdown_grace", duration(c.ShutdownGrace)},
			{"log_format", c.LogFormat}, {"secret_key", c.SecretKey}, {"tls_cert", c.TLSCert}, {"tls_key", c.TLSKey},
		}},
		{"auth", [][2]string{{"tokens_file", c.TokensFile}, {"failed_auth_burst", number(c.FailedAuthBurst)},
			{"dag_index_refresh", duration(c.DAGIndexRefresh)}}},
		{"jobs", [][2]string{{"database_url", c.JobsDatabaseURL}, {"lease", duration(c.JobsLease)}}},
		{"airflow_api", [][2]string{{"url", c.AirflowAPIURL}, {"users_file", c.AirflowAPIUsersFile},
			{"jwt_secret_file", c.AirflowAPIJWTSecret}, {"jwt_private_key_file", c.AirflowAPIJWTKey}, {"jwt_kid", c.AirflowAPIJWTKid}}},
		{"rest_api_plugin", [][2]string{{"rest_api_plugin_expected_http_token", c.PluginToken}}},
	}
	var b strings.Builder
	for _, s := range sections {
		header := "[" + s.name + "]\n"
		for _, kv := range s.keys {
			if kv[1] == "" {
				continue
			}
			b.WriteString(header)
			header = ""
			fmt.Fprintf(&b, "%s = %s\n", kv[0], kv[1])
		}
	}
	return b.String()
}

// File writes the configuration into a temporary folder of tb, readable by its owner only, and returns
// its path.
func (c Config) File(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "gateway.cfg")
	if err := os.WriteFile(path, []byte(c.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func or(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

func number(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func duration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func boolean(b bool) string {
	if !b {
		return ""
	}
	return "True"
}

// Package config reads the gateway's INI file and environment into one typed Config.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
	"gopkg.in/ini.v1"
)

// EnvFile is the environment variable naming the config file when --config is not given.
const EnvFile = "AIRFLOW_GATEWAY_CONFIG"

// EnvPrefix starts every override: AIRFLOW_GATEWAY__<SECTION>__<KEY>.
const EnvPrefix = "AIRFLOW_GATEWAY__"

// Config is the gateway's whole configuration. The `key` tag names each field's section and key; `default`
// is the value when neither the file nor the environment sets one.
type Config struct {
	Listen                string        `key:"gateway.listen" default:"127.0.0.1:8080" validate:"required,listen_addr"`
	AirflowBin            string        `key:"gateway.airflow_bin" default:"airflow" validate:"required"`
	AirflowHome           string        `key:"gateway.airflow_home"`
	DagsFolder            string        `key:"gateway.dags_folder"`
	MaxConcurrentCommands int           `key:"gateway.max_concurrent_commands" default:"4" validate:"min=1,max=1024"`
	QueueTimeout          time.Duration `key:"gateway.queue_timeout" default:"10s" validate:"min=0"`
	CommandTimeout        time.Duration `key:"gateway.command_timeout" default:"60s" validate:"min=1000000000"`
	LongCommandTimeout    time.Duration `key:"gateway.long_command_timeout" default:"1h" validate:"min=1000000000"`
	MaxOutputBytes        int           `key:"gateway.max_output_bytes" default:"1048576" validate:"min=1024"`
	MaxUploadBytes        int64         `key:"gateway.max_upload_bytes" default:"10485760" validate:"min=1"`
	IdleTimeout           time.Duration `key:"gateway.idle_timeout" default:"120s" validate:"min=1000000000"`
	BodyTimeout           time.Duration `key:"gateway.body_timeout" default:"60s" validate:"min=1000000000"`
	MaxConnections        int           `key:"gateway.max_connections" default:"1024" validate:"min=8,max=1000000"`
	AllowDaemons          bool          `key:"gateway.allow_daemons" default:"False"`
	Executor              string        `key:"gateway.executor" default:"warm" validate:"oneof=warm subprocess"`
	PythonBin             string        `key:"gateway.python_bin"`
	WarmMaxAge            time.Duration `key:"gateway.warm_max_age" default:"1h" validate:"min=0"`
	WarmTemplates         bool          `key:"gateway.warm_templates" default:"True"`
	StateDir              string        `key:"gateway.state_dir"`
	ShutdownGrace         time.Duration `key:"gateway.shutdown_grace" default:"30s" validate:"min=0"`
	LogFormat             string        `key:"gateway.log_format" default:"text" validate:"oneof=text json"`
	SecretKey             string        `key:"gateway.secret_key" secret:"true" validate:"omitempty,min=16"`
	TLSCert               string        `key:"gateway.tls_cert" validate:"required_with=TLSKey"`
	TLSKey                string        `key:"gateway.tls_key" validate:"required_with=TLSCert"`
	AllowUnauthenticated  bool          `key:"gateway.allow_unauthenticated" default:"False"`
	TokensFile            string        `key:"auth.tokens_file"`
	FailedAuthBurst       int           `key:"auth.failed_auth_burst" default:"10" validate:"min=1,max=1000000"`
	MaxTokenTTL           time.Duration `key:"auth.max_token_ttl" default:"12h" validate:"min=10000000000"`
	DAGIndexRefresh       time.Duration `key:"auth.dag_index_refresh" default:"30s" validate:"min=1000000000"`
	JobsRetention         time.Duration `key:"jobs.retention" default:"168h" validate:"min=0"`
	JobsDatabaseURL       string        `key:"jobs.database_url" secret:"true" validate:"omitempty,postgres_url"`
	JobsLease             time.Duration `key:"jobs.lease" default:"30s" validate:"min=3000000000"`
	AirflowAPIURL         string        `key:"airflow_api.url" validate:"omitempty,http_url"`
	AirflowAPIUsersFile   string        `key:"airflow_api.users_file"`
	AirflowAPITimeout     time.Duration `key:"airflow_api.timeout" default:"60s" validate:"min=1000000000"`
	AirflowAPIJWTSecret   string        `key:"airflow_api.jwt_secret_file" validate:"excluded_with=AirflowAPIJWTKey"`
	AirflowAPIJWTKey      string        `key:"airflow_api.jwt_private_key_file"`
	AirflowAPIJWTKid      string        `key:"airflow_api.jwt_kid" validate:"required_with=AirflowAPIJWTKey"`
	MetricsEnabled        bool          `key:"metrics.enabled" default:"True"`
	MetricsPublic         bool          `key:"metrics.public" default:"False"`
	PluginTokenHeader     string        `key:"rest_api_plugin.rest_api_plugin_http_token_header_name" default:"rest_api_plugin_http_token" validate:"required,printascii,excludes= "`
	PluginToken           string        `key:"rest_api_plugin.rest_api_plugin_expected_http_token" secret:"true"`
	FilterLoadingMessages bool          `key:"rest_api_plugin.filter_loading_messages_in_cli_response" default:"True"`
	LogLoading            bool          `key:"rest_api_plugin.log_loading" default:"False"`

	// Source names where the configuration came from, for logs.
	Source string `key:"-"`
}

// Key describes one configuration key.
type Key struct {
	Section, Name, Default string
	Secret                 bool
	field                  int
}

// EnvName is the environment variable that overrides the key.
func (k Key) EnvName() string {
	return EnvPrefix + strings.ToUpper(k.Section) + "__" + strings.ToUpper(k.Name)
}

// Keys lists every key, in the order of Config's fields.
func Keys() []Key {
	t := reflect.TypeFor[Config]()
	var keys []Key
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("key")
		if tag == "-" || tag == "" {
			continue
		}
		section, name, _ := strings.Cut(tag, ".")
		keys = append(keys, Key{Section: section, Name: name, Default: f.Tag.Get("default"), Secret: f.Tag.Get("secret") == "true", field: i})
	}
	return keys
}

// Load reads the file at path (optional: "" means none) and applies the environment's overrides.
func Load(path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		return parse(nil, "defaults", getenv)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	return parse(data, path, getenv)
}

// Parse reads configuration from INI text and getenv's overrides: Load without a file system.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	return parse(data, "text", getenv)
}

func parse(data []byte, source string, getenv func(string) string) (*Config, error) {
	file := ini.Empty()
	if data != nil {
		var err error
		if file, err = ini.Load(data); err != nil {
			return nil, fmt.Errorf("config %s: %w", source, err)
		}
	}
	keys := Keys()
	if err := checkKnown(file, keys); err != nil {
		return nil, err
	}
	cfg := &Config{Source: source}
	v := reflect.ValueOf(cfg).Elem()
	var problems []string
	for _, k := range keys {
		raw, from := k.Default, "default"
		if file.Section(k.Section).HasKey(k.Name) {
			raw, from = file.Section(k.Section).Key(k.Name).String(), "["+k.Section+"] "+k.Name
		}
		if env := getenv(k.EnvName()); env != "" {
			raw, from = env, k.EnvName()
		}
		if err := setField(v.Field(k.field), strings.TrimSpace(raw)); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", from, err))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("config: %s", strings.Join(problems, "; "))
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkKnown refuses sections and keys the gateway does not know, which are most often typos.
func checkKnown(file *ini.File, keys []Key) error {
	known := map[string]map[string]bool{}
	var sections []string // in the order Config declares them
	for _, k := range keys {
		if known[k.Section] == nil {
			known[k.Section] = map[string]bool{}
			sections = append(sections, "["+k.Section+"]")
		}
		known[k.Section][k.Name] = true
	}
	for _, sec := range file.Sections() {
		name := sec.Name()
		if name == ini.DefaultSection && len(sec.Keys()) == 0 {
			continue
		}
		if known[name] == nil {
			return fmt.Errorf("config: unknown section [%s]; the sections are %s", name, strings.Join(sections, ", "))
		}
		for _, key := range sec.KeyStrings() {
			if !known[name][key] {
				names := make([]string, 0, len(known[name]))
				for n := range known[name] {
					names = append(names, n)
				}
				sort.Strings(names)
				return fmt.Errorf("config: unknown key %q in [%s]; its keys are %s", key, name, strings.Join(names, ", "))
			}
		}
	}
	return nil
}

func setField(f reflect.Value, raw string) error {
	switch f.Interface().(type) {
	case string:
		f.SetString(raw)
	case bool:
		b, err := ParseBool(raw)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case time.Duration:
		d, err := ParseDuration(raw)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case int, int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", raw)
		}
		f.SetInt(n)
	}
	return nil
}

// ParseBool reads a boolean the way airflow.cfg writes them: True/False, also true/false, yes/no, on/off, 1/0.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "t", "yes", "y", "on", "1":
		return true, nil
	case "false", "f", "no", "n", "off", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean: write True or False", s)
}

// ParseDuration reads a Go duration ("10s", "1h30m") or a plain number of seconds.
func ParseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration: write seconds (30) or a Go duration (30s, 5m, 1h)", s)
	}
	return d, nil
}

var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	// postgres_url is a postgres:// or postgresql:// URL that names a host.
	_ = v.RegisterValidation("postgres_url", func(fl validator.FieldLevel) bool {
		u, err := url.Parse(fl.Field().String())
		return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") && u.Host != ""
	})
	// listen_addr is host:port with a port from 0 (any free port) to 65535.
	_ = v.RegisterValidation("listen_addr", func(fl validator.FieldLevel) bool {
		_, port, err := net.SplitHostPort(fl.Field().String())
		n, perr := strconv.Atoi(port)
		return err == nil && perr == nil && n >= 0 && n <= 65535
	})
	return v
}()

func (c *Config) validate() error {
	err := validate.Struct(c)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return err
	}
	t := reflect.TypeFor[Config]()
	var problems []string
	for _, fe := range verrs {
		f, _ := t.FieldByName(fe.StructField())
		section, name, _ := strings.Cut(f.Tag.Get("key"), ".")
		problems = append(problems, fmt.Sprintf("[%s] %s %s", section, name, describe(fe)))
	}
	return fmt.Errorf("config: %s", strings.Join(problems, "; "))
}

func describe(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "must be set"
	case "listen_addr":
		return fmt.Sprintf("must be host:port, such as 127.0.0.1:8080 (got %q)", fe.Value())
	case "http_url":
		return fmt.Sprintf("must be an http:// or https:// URL, such as http://127.0.0.1:8080 (got %q)", fe.Value())
	case "postgres_url": // the value is not shown: it may hold a password
		return "must be a PostgreSQL URL, such as postgres://user:password@host:5432/dbname?sslmode=require"
	case "min":
		if d, ok := fe.Value().(time.Duration); ok {
			return fmt.Sprintf("is too small (%s)", d)
		}
		return fmt.Sprintf("must be at least %s (got %v)", fe.Param(), fe.Value())
	case "max":
		return fmt.Sprintf("must be at most %s (got %v)", fe.Param(), fe.Value())
	case "oneof":
		return fmt.Sprintf("must be one of %s (got %q)", strings.ReplaceAll(fe.Param(), " ", ", "), fe.Value())
	case "required_with":
		if fe.Field() == "AirflowAPIJWTKid" {
			return "must be set with jwt_private_key_file: the kid by which Airflow knows the key's public half ([api_auth] jwt_kid, or the key's kid in Airflow's trusted_jwks_url)"
		}
		return "must be set together with the other of tls_cert and tls_key"
	case "excluded_with":
		return "and jwt_private_key_file are both set: keep the one whose key Airflow's API server trusts"
	}
	return fmt.Sprintf("fails the rule %q", fe.Tag())
}

// ListensOnLoopback reports whether Listen names a loopback address only.
func (c *Config) ListensOnLoopback() bool {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Masked returns the configuration as section/key lines, with secrets replaced by ***, for logging.
func (c *Config) Masked() []string {
	v := reflect.ValueOf(c).Elem()
	var lines []string
	for _, k := range Keys() {
		val := fmt.Sprint(v.Field(k.field).Interface())
		if k.Secret && val != "" {
			val = "***"
		}
		lines = append(lines, fmt.Sprintf("[%s] %s = %s", k.Section, k.Name, val))
	}
	return lines
}

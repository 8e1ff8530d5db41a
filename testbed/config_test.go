package testbed

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/config"
)

// TestConfigReadsBack renders a Config with every field set and reads it with the gateway's own parser:
// each field lands in config.Config's field of the same name, and a zero field is left to the default.
func TestConfigReadsBack(t *testing.T) {
	full := Config{
		Listen: "127.0.0.1:18080", AirflowBin: "/opt/airflow/bin/airflow", AirflowHome: "/srv/airflow", Executor: "subprocess",
		MaxConcurrentCommands: 7, QueueTimeout: 3 * time.Second, CommandTimeout: 2 * time.Minute, LongCommandTimeout: 5 * time.Minute,
		AllowDaemons: true, StateDir: "/srv/state", ShutdownGrace: 20 * time.Second, LogFormat: "json",
		SecretKey: "a-secret-key-0123456789", TLSCert: "/srv/cert.pem", TLSKey: "/srv/key.pem",
		TokensFile: "/srv/tokens.ini", FailedAuthBurst: 1000000, DAGIndexRefresh: 5 * time.Second,
		JobsDatabaseURL: "postgres://gw@127.0.0.1:5432/jobs?sslmode=disable", JobsLease: 3 * time.Second,
		AirflowAPIURL: "http://127.0.0.1:8081", AirflowAPIUsersFile: "/srv/airflow-users.ini",
		AirflowAPIJWTKey: "/srv/airflow-jwt.pem", AirflowAPIJWTKid: "gateway-1",
		PluginToken: "a-plugin-token-0123456789",
	}
	got, err := config.Parse([]byte(full.String()), func(string) string { return "" })
	if err != nil {
		t.Fatalf("%v\n%s", err, full)
	}
	want, gotV := reflect.ValueOf(full), reflect.ValueOf(*got)
	for i := range want.NumField() {
		f := want.Type().Field(i)
		if f.Name == "Home" || f.Name == "AirflowAPIJWTSecret" { // the other of jwt_private_key_file, below
			continue
		}
		g := gotV.FieldByName(f.Name)
		if !g.IsValid() {
			t.Errorf("config.Config has no field %s", f.Name)
			continue
		}
		if want.Field(i).IsZero() {
			t.Errorf("the test leaves %s unset: it proves nothing of it", f.Name)
		}
		if !reflect.DeepEqual(g.Interface(), want.Field(i).Interface()) {
			t.Errorf("%s reads back as %v, want %v", f.Name, g.Interface(), want.Field(i).Interface())
		}
	}

	if got, err := config.Parse([]byte(Config{AirflowAPIJWTSecret: "/srv/secret"}.String()), func(string) string { return "" }); err != nil || got.AirflowAPIJWTSecret != "/srv/secret" {
		t.Errorf("AirflowAPIJWTSecret reads back as %+v (%v)", got, err)
	}

	// The zero Config but a home: a free port on loopback, the home's Airflow, every other key the default.
	home := &Home{Dir: "/srv/home", Airflow: "/srv/venv/bin/airflow"}
	got, err = config.Parse([]byte(Config{Home: home}.String()), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defaults, _ := config.Parse(nil, func(string) string { return "" })
	defaults.Listen, defaults.AirflowBin, defaults.AirflowHome = "127.0.0.1:0", home.Airflow, home.Dir
	got.Source, defaults.Source = "", ""
	if !reflect.DeepEqual(got, defaults) {
		t.Errorf("Config{Home: home} reads as\n%+v\nwant\n%+v", got, defaults)
	}
	if s := (Config{Home: home}).String(); strings.Contains(s, "[auth]") || strings.Contains(s, "[jobs]") {
		t.Errorf("sections without keys are written:\n%s", s)
	}
}

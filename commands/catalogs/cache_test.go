package catalogs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands/catalogs"
)

func TestCache(t *testing.T) {
	fixture, err := os.ReadFile("airflow-3.3.2.json")
	if err != nil {
		t.Fatal(err)
	}
	c := catalogs.Cache{Dir: filepath.Join(t.TempDir(), "catalog")}
	const key = "3.3.2-0123"

	t.Run("miss", func(t *testing.T) {
		if _, ok := c.Get(key); ok {
			t.Error("an empty cache answered a catalog")
		}
	})
	t.Run("hit", func(t *testing.T) {
		if err := c.Put(key, fixture); err != nil {
			t.Fatal(err)
		}
		cat, ok := c.Get(key)
		if !ok || cat.AirflowVersion != "3.3.2" || cat.Lookup("dags list") == nil {
			t.Fatalf("Get after Put: %v, %v", cat, ok)
		}
		if _, ok := c.Get("3.3.2-other"); ok {
			t.Error("another key answered the catalog")
		}
	})
	t.Run("atomic", func(t *testing.T) {
		entries, err := os.ReadDir(c.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != key+".json" {
			t.Errorf("the cache folder holds %v; want the one catalog and no temporary file", entries)
		}
		stored, _ := os.ReadFile(filepath.Join(c.Dir, key+".json"))
		if string(stored) != string(fixture) {
			t.Error("the stored file is not the catalog put")
		}
	})
	for name, corrupt := range map[string]string{
		"truncated":   string(fixture[:len(fixture)/2]),
		"empty":       "",
		"no commands": `{"airflow_version": "3.3.2", "commands": []}`,
	} {
		t.Run("corrupt "+name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(c.Dir, key+".json"), []byte(corrupt), 0o640); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Get(key); ok {
				t.Fatal("a corrupt file was trusted")
			}
			if err := c.Put(key, fixture); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Get(key); !ok {
				t.Error("the catalog written again over a corrupt file cannot be read")
			}
		})
	}
}

func TestKeyFollowsTheInstallation(t *testing.T) {
	home := t.TempDir()
	env := []string{"AIRFLOW_HOME=" + home, "PATH=/usr/bin"}
	inst := catalogs.Installation{Version: "3.3.2", SitePackages: "/venv/lib/site-packages", Distributions: []string{"apache_airflow-3.3.2.dist-info"}}
	base := catalogs.Key(&inst, env)
	if catalogs.Key(&inst, append(env, "TERM=xterm")) != base {
		t.Error("the key changed with a variable Airflow does not read")
	}
	changed := map[string]string{}
	other := inst
	other.Version = "3.3.1"
	changed["version"] = catalogs.Key(&other, env)
	other = inst
	other.SitePackages = "/other/site-packages"
	changed["site-packages"] = catalogs.Key(&other, env)
	other = inst
	other.Distributions = append(other.Distributions, "apache_airflow_providers_celery-3.8.0.dist-info")
	changed["a provider installed"] = catalogs.Key(&other, env)
	changed["the executor"] = catalogs.Key(&inst, append(env, "AIRFLOW__CORE__EXECUTOR=CeleryExecutor"))
	if err := os.WriteFile(filepath.Join(home, "airflow.cfg"), []byte("[core]\nexecutor = CeleryExecutor\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	changed["airflow.cfg"] = catalogs.Key(&inst, env)
	for what, key := range changed {
		if key == base {
			t.Errorf("the key did not change with %s", what)
		}
	}
}

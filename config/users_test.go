package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/config"
)

func TestUsersFile(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.ini")
	os.WriteFile(filepath.Join(dir, "viewer.password"), []byte("s3cret viewer\n"), 0o600)
	os.WriteFile(users, []byte("[Viewer]\nusername = gw-viewer\npassword_file = viewer.password\n\n[admin]\nusername = gw-admin\npassword = adm1n\n\n[user:alice]\npassword = al1ce\n"), 0o600)
	got, err := config.LoadUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	want := map[commands.Role]config.AirflowUser{
		commands.RoleViewer: {Role: commands.RoleViewer, Username: "gw-viewer", Password: "s3cret viewer"},
		commands.RoleAdmin:  {Role: commands.RoleAdmin, Username: "gw-admin", Password: "adm1n"},
	}
	if len(got.Roles) != len(want) || got.Roles[commands.RoleViewer] != want[commands.RoleViewer] || got.Roles[commands.RoleAdmin] != want[commands.RoleAdmin] {
		t.Errorf("got %+v", got.Roles)
	}
	// An Airflow user's own section, for the tokens that name it with airflow_user.
	if alice := (config.AirflowUser{Role: commands.RoleNone, Username: "alice", Password: "al1ce"}); len(got.People) != 1 || got.People["alice"] != alice {
		t.Errorf("the Airflow users' sections: %+v", got.People)
	}
	// Readable by others: refused, naming the fix, for the file and for a password file it names.
	os.Chmod(users, 0o644)
	if _, err := config.LoadUsers(users); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a users file others can read: %v", err)
	}
	os.Chmod(users, 0o600)
	os.Chmod(filepath.Join(dir, "viewer.password"), 0o640)
	if _, err := config.LoadUsers(users); err == nil || !strings.Contains(err.Error(), "viewer.password") {
		t.Errorf("a password file others can read: %v", err)
	}
}

func TestBadUsersFileSaysWhatIsWrong(t *testing.T) {
	noFile := func(string) (string, error) { return "", errors.New("no such file") }
	for text, says := range map[string]string{
		"username = x\n":                                               "keys before the first [section]",
		"[Root]\nusername = x\npassword = y\n":                         "[Root] is neither a role nor an Airflow user",
		"[user:]\npassword = y\n":                                      "names no Airflow user",
		"[user:bob]\nusername = bob\npassword = y\n":                   "[user:bob] has a username",
		"[user:bob]\n":                                                 "[user:bob] has no password",
		"[user:bob]\npassword=a\n[user: bob ]\npassword=b\n":           "bob has two sections",
		"[Op]\npassword = y\n":                                         "[Op] has no username",
		"[Op]\nusername = x\n":                                         "[Op] has no password",
		"[Op]\nusername = x\npassword = y\nhost = z\n":                 `unknown key "host"`,
		"[Op]\nusername = x\npassword=y\npassword_file=z":              "both password and password_file",
		"[Op]\nusername = x\npassword_file = z\n":                      "no such file",
		"[Op]\nusername=a\npassword=b\n[op]\nusername=c\npassword=d\n": "two sections",
	} {
		if _, err := config.ParseUsers([]byte(text), noFile); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want it to say %q", text, err, says)
		}
	}
}

// FuzzParseUsers checks that the users file parser never panics and that what it accepts is whole.
func FuzzParseUsers(f *testing.F) {
	f.Add("[Viewer]\nusername = gw-viewer\npassword = x\n")
	f.Add("[op]\nusername=a\npassword_file=p\n")
	f.Add("[user:alice]\npassword=x\n")
	f.Fuzz(func(t *testing.T, text string) {
		users, err := config.ParseUsers([]byte(text), func(string) (string, error) { return "from file", nil })
		if err != nil {
			return
		}
		for role, u := range users.Roles {
			if u.Role != role || role == commands.RoleNone || u.Username == "" || u.Password == "" {
				t.Fatalf("accepted a partial user %+v from %q", u, text)
			}
		}
		for name, u := range users.People {
			if u.Role != commands.RoleNone || u.Username != name || name == "" || u.Password == "" {
				t.Fatalf("accepted a partial Airflow user %+v from %q", u, text)
			}
		}
	})
}

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/ini.v1"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// AirflowUser is an Airflow user of the users file ([airflow_api] users_file): the user a gateway role acts
// as on Airflow's REST API, or on Airflow 2 a person a token names with airflow_user (Role is RoleNone).
type AirflowUser struct {
	Role     commands.Role
	Username string
	Password string
}

// Users is what a users file holds: the Airflow user of each gateway role, and the Airflow users that
// tokens name with airflow_user, by name, whose passwords act as them on Airflow 2 (SPEC §20).
type Users struct {
	Roles  map[commands.Role]AirflowUser
	People map[string]AirflowUser
}

// LoadUsers reads the users file at path (see ParseUsers). It refuses a file, or a password file it names,
// that other users of the machine can read or write: it holds Airflow passwords.
func LoadUsers(path string) (*Users, error) {
	if err := private(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return ParseUsers(data, func(name string) (string, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(filepath.Dir(path), name)
		}
		if err := private(name); err != nil {
			return "", err
		}
		b, err := os.ReadFile(name)
		return strings.TrimRight(string(b), "\r\n"), err
	})
}

// private refuses a file that users other than its owner may read or write.
func private(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	if !Private(st) {
		return fmt.Errorf("users file: %s can be read or written by other users (mode %04o): it holds Airflow passwords; chmod 600 it", path, st.Mode().Perm())
	}
	return nil
}

// ParseUsers reads a users file: INI, one section per gateway role (Admin, Op, User, Viewer), each naming
// the Airflow user that role acts as, with its password or a file that holds it (read by readFile); and on
// Airflow 2, a section per Airflow user that tokens name with airflow_user, [user:NAME], with its password:
//
//	[Viewer]
//	username = gateway-viewer
//	password_file = viewer.password
//
//	[user:alice]
//	password_file = alice.password
//
// A role without a section has no access to Airflow's REST API through the gateway.
func ParseUsers(data []byte, readFile func(string) (string, error)) (*Users, error) {
	file, err := ini.LoadSources(ini.LoadOptions{}, data)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	users := &Users{Roles: map[commands.Role]AirflowUser{}, People: map[string]AirflowUser{}}
	for _, sec := range file.Sections() {
		name := sec.Name()
		if name == ini.DefaultSection {
			if len(sec.Keys()) > 0 {
				return nil, fmt.Errorf("users file: keys before the first [section]; put each user in a section named after its role (Admin, Op, User, Viewer)")
			}
			continue
		}
		person, isPerson := strings.CutPrefix(name, "user:")
		person = strings.TrimSpace(person)
		role, ok := commands.ParseRole(name)
		switch {
		case isPerson && person == "":
			return nil, fmt.Errorf("users file: section [%s] names no Airflow user; write [user:NAME]", name)
		case isPerson:
			if _, dup := users.People[person]; dup {
				return nil, fmt.Errorf("users file: Airflow user %s has two sections; give it one", person)
			}
		case !ok:
			return nil, fmt.Errorf("users file: section [%s] is neither a role nor an Airflow user; the sections are [Admin], [Op], [User], [Viewer] and [user:NAME]", name)
		default:
			if _, dup := users.Roles[role]; dup {
				return nil, fmt.Errorf("users file: role %s has two sections; give it one", role)
			}
		}
		for _, key := range sec.KeyStrings() {
			if isPerson && key == "username" {
				return nil, fmt.Errorf("users file: [%s] has a username; an Airflow user's section is named after the user, and has password or password_file", name)
			}
			if key != "username" && key != "password" && key != "password_file" {
				return nil, fmt.Errorf("users file: [%s] has the unknown key %q; a user has username and password or password_file", name, key)
			}
		}
		hasPassword := sec.HasKey("password") // before Key, which adds a key it does not find
		u := AirflowUser{Role: role, Username: strings.TrimSpace(sec.Key("username").String()), Password: sec.Key("password").String()}
		if isPerson {
			u.Role, u.Username = commands.RoleNone, person
		}
		if u.Username == "" {
			return nil, fmt.Errorf("users file: [%s] has no username: name the Airflow user role %s acts as", name, role)
		}
		pwFile := strings.TrimSpace(sec.Key("password_file").String())
		switch {
		case hasPassword && pwFile != "":
			return nil, fmt.Errorf("users file: [%s] has both password and password_file; keep one", name)
		case pwFile != "":
			if u.Password, err = readFile(pwFile); err != nil {
				return nil, fmt.Errorf("users file: [%s] password_file: %w", name, err)
			}
		}
		if u.Password == "" {
			return nil, fmt.Errorf("users file: [%s] has no password: set password, or password_file to a file that holds it", name)
		}
		if isPerson {
			users.People[person] = u
		} else {
			users.Roles[role] = u
		}
	}
	return users, nil
}

package config

import (
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/ini.v1"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Token is a token the gateway accepts: who owns it, the role it has, and the SHA-256 of the token (the
// token itself is never stored). The tokens file holds named ones; the plugin token is one too.
type Token struct {
	Name   string
	Role   commands.Role
	SHA256 [32]byte
	Scope  commands.Scope // the DAGs it reaches (§19); zero without dags, tags or teams
	// AirflowUser is the Airflow user the token acts as (§20): Airflow's permissions decide for it, and
	// Airflow's records name that user. Empty: the token acts as its role's user.
	AirflowUser string
}

var tokenName = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)

// airflowUser is a name an Airflow user may have: printable, no control character, no space at either end.
var airflowUser = regexp.MustCompile(`^[^\s\p{C}](?:[^\p{C}]{0,254}[^\s\p{C}])?$`)

// LoadTokens reads the tokens file at path; see ParseTokens.
func LoadTokens(path string) ([]Token, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens file: %w", err)
	}
	return ParseTokens(data)
}

// ParseTokens reads a tokens file: INI, one section per token, named after its owner, with the keys role
// and sha256 (hex, as `airflow-gateway hash-token` prints it), optionally a scope (§19): dags (globs on
// DAG ids), tags and teams, each a comma-separated list, and the Airflow user it acts as (§20),
// airflow_user.
//
//	[ci-bot]
//	role = User
//	sha256 = 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
//	dags = team_a_*, shared_report
//	tags = team-a
func ParseTokens(data []byte) ([]Token, error) {
	file, err := ini.LoadSources(ini.LoadOptions{AllowNonUniqueSections: false}, data)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	var tokens []Token
	seen := map[[32]byte]string{}
	for _, sec := range file.Sections() {
		name := sec.Name()
		if name == ini.DefaultSection {
			if len(sec.Keys()) > 0 {
				return nil, fmt.Errorf("tokens file: keys before the first [section]; put each token in a section named after its owner")
			}
			continue
		}
		if !tokenName.MatchString(name) {
			return nil, fmt.Errorf("tokens file: section [%s]: a token's name is 1 to 64 letters, digits and _.@-", name)
		}
		for _, key := range sec.KeyStrings() {
			if !slices.Contains(tokenKeys, key) {
				return nil, fmt.Errorf("tokens file: [%s] has the unknown key %q; a token has role and sha256, and may have dags, tags and teams", name, key)
			}
		}
		role := strings.TrimSpace(sec.Key("role").String())
		r, ok := commands.ParseRole(role)
		if !ok {
			return nil, fmt.Errorf("tokens file: [%s] role %q is not one of Viewer, User, Op, Admin", name, role)
		}
		t := Token{Name: name, Role: r}
		sum, err := hex.DecodeString(strings.ToLower(strings.TrimSpace(sec.Key("sha256").String())))
		if err != nil || len(sum) != 32 {
			return nil, fmt.Errorf("tokens file: [%s] sha256 must be 64 hex digits, as `airflow-gateway hash-token` prints", name)
		}
		copy(t.SHA256[:], sum)
		if t.Scope, err = scopeOf(sec); err != nil {
			return nil, fmt.Errorf("tokens file: [%s] %w", name, err)
		}
		if sec.HasKey("airflow_user") {
			if t.AirflowUser = strings.TrimSpace(sec.Key("airflow_user").String()); !airflowUser.MatchString(t.AirflowUser) {
				return nil, fmt.Errorf("tokens file: [%s] airflow_user %q is not an Airflow user name: 1 to 256 printable characters, no spaces around it; leave the key out for the role's user", name, t.AirflowUser)
			}
		}
		if other, dup := seen[t.SHA256]; dup {
			return nil, fmt.Errorf("tokens file: [%s] and [%s] have the same token; give each owner a token of their own", other, name)
		}
		seen[t.SHA256] = name
		tokens = append(tokens, t)
	}
	return tokens, nil
}

// tokenKeys are the keys of a token's section.
var tokenKeys = []string{"role", "sha256", "dags", "tags", "teams", "airflow_user"}

// scopeOf reads a section's scope: the zero Scope when it has none of dags, tags and teams.
func scopeOf(sec *ini.Section) (commands.Scope, error) {
	lines := map[string][]string{}
	for _, key := range []string{"dags", "tags", "teams"} {
		if sec.HasKey(key) {
			lines[key] = strings.Split(sec.Key(key).String(), ",")
			for i := range lines[key] {
				lines[key][i] = strings.TrimSpace(lines[key][i])
			}
		}
	}
	if len(lines) == 0 {
		return commands.Scope{}, nil
	}
	return commands.NewScope(lines["dags"], lines["tags"], lines["teams"])
}

package airflowapi

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Acting as a person (SPEC §20): a credential that names an Airflow user (airflow_user) calls Airflow's
// REST API as that user. On Airflow 3 the gateway signs a short-lived JWT for the user with the key
// Airflow's API server trusts, with the claims its auth manager reads; on Airflow 2 it sends the user's
// own password from the users file ([user:NAME]). Where it cannot, the call is refused: it never acts as
// the role's user instead.

// AuthScript is airflow_auth.py, which prints what Airflow 3's API server reads from a JWT (AuthSettings),
// run once at start with Airflow's interpreter.
//
//go:embed airflow_auth.py
var AuthScript string

// AuthSettings is what Airflow 3's API server reads from a JWT, as the installed Airflow's configuration
// says: the document AuthScript prints.
type AuthSettings struct {
	// AuthManager is [core] auth_manager, the class of Airflow's auth manager.
	AuthManager string `json:"auth_manager"`
	// Audience and Issuer are what Airflow validates aud and iss against ([api_auth] jwt_audience, the
	// first of jwt_issuer); Issuer is "" when Airflow checks none.
	Audience string `json:"audience"`
	Issuer   string `json:"issuer"`
	// Algorithm is [api_auth] jwt_algorithm's first, or "" (or GUESS) for the one Airflow takes for its key.
	Algorithm string `json:"algorithm"`
	MultiTeam bool   `json:"multi_team"`
	// AllAdmins is the simple auth manager's simple_auth_manager_all_admins: every caller is an admin.
	AllAdmins bool `json:"all_admins"`
	// Users are the simple auth manager's users ([core] simple_auth_manager_users).
	Users []SimpleUser `json:"users"`
}

// SimpleUser is a user of Airflow's simple auth manager: its name, role and, in multi-team mode, teams.
type SimpleUser struct {
	Name  string   `json:"name"`
	Role  string   `json:"role"`
	Teams []string `json:"teams"`
}

// ParseAuthSettings reads the document AuthScript printed: the last line of stdout.
func ParseAuthSettings(stdout string) (*AuthSettings, error) {
	var a AuthSettings
	if err := json.Unmarshal([]byte(commands.LastLine(stdout)), &a); err != nil {
		return nil, fmt.Errorf("the script that reads Airflow's auth settings printed what is not its document (%v): %.200q", err, stdout)
	}
	if a.Audience == "" {
		a.Audience = "apache-airflow"
	}
	return &a, nil
}

// Kinds of auth manager the gateway signs JWTs for.
const (
	SimpleAuthManager = "simple"
	FABAuthManager    = "fab"
)

// Kind is the kind of Airflow's auth manager: SimpleAuthManager, FABAuthManager, or "" for another, whose
// claims the gateway does not know.
func (a *AuthSettings) Kind() string {
	switch m := a.AuthManager; {
	case strings.HasSuffix(m, ".SimpleAuthManager"):
		return SimpleAuthManager
	case strings.HasSuffix(m, ".FabAuthManager"):
		return FABAuthManager
	}
	return ""
}

// People says how the client acts as the Airflow users that credentials name.
type People struct {
	// Key signs their JWTs on Airflow 3; nil when none is configured.
	Key *SigningKey
	// Auth is what Airflow 3's API server reads from a JWT; nil without Key.
	Auth *AuthSettings
	// Passwords are the users file's [user:NAME] sections, for Airflow 2's HTTP Basic.
	Passwords map[string]User
	// Users lists the FAB auth manager's users on Airflow 3, by name, with their ids (airflow users list):
	// asked when a name is not known yet, at most once every UserListInterval.
	Users func(ctx context.Context) (map[string]string, error)
}

// PersonTokenLife is how long a JWT the gateway signs for an Airflow user is valid; it is used for 80% of
// it, then another is signed.
const PersonTokenLife = 10 * time.Minute

// UserListInterval is the least time between two listings of FAB's users when a name is not found.
const UserListInterval = 10 * time.Second

// people is People as the client holds it, with what it learned.
type people struct {
	People
	mu      sync.Mutex
	tokens  map[string]*jwtSource // by Airflow user name
	ids     map[string]string     // FAB: user name -> id
	listed  time.Time             // FAB: when ids was read
	listErr error
}

// SetPeople tells the client how to act as Airflow users; tokens signed before are dropped, so a new key
// takes effect at the next call.
func (u *Client) SetPeople(p People) {
	u.people.Store(&people{People: p, tokens: map[string]*jwtSource{}})
}

func (u *Client) peopleOf() *people {
	if p := u.people.Load(); p != nil {
		return p
	}
	return &people{tokens: map[string]*jwtSource{}}
}

// PersonAuthorization returns the Authorization header that acts as the Airflow user name: on Airflow 3 a
// JWT the gateway signed, kept for most of its life; on Airflow 2 the user's own password from the users
// file. Where the gateway cannot act as that user it refuses (EFORBIDDEN), saying what to configure.
func (u *Client) PersonAuthorization(ctx context.Context, name string) (string, error) {
	p := u.peopleOf()
	if u.Major < 3 {
		user, ok := p.Passwords[name]
		if !ok {
			return "", commands.Errorf(commands.EFORBIDDEN,
				"this credential acts as the Airflow user %s, and [airflow_api] users_file has no [user:%s] section: add one with that user's password (password or password_file), or the gateway cannot act as the user on Airflow %d's REST API", name, name, u.Major)
		}
		return basicAuthorization(user.Name, user.Password), nil
	}
	if p.Key == nil || p.Auth == nil {
		return "", commands.Errorf(commands.EFORBIDDEN,
			"this credential acts as the Airflow user %s, and the gateway has no key to sign that user's JWTs: set [airflow_api] jwt_secret_file to a file holding Airflow's [api_auth] jwt_secret (or jwt_private_key_file and jwt_kid), and restart the gateway", name)
	}
	p.mu.Lock()
	src := p.tokens[name]
	if src == nil {
		src = &jwtSource{fetch: func(ctx context.Context) (string, error) { return p.sign(ctx, name) }}
		p.tokens[name] = src
	}
	p.mu.Unlock()
	tok, err := src.get(ctx)
	if err != nil {
		p.forget(name)
		return "", err
	}
	return "Bearer " + tok, nil
}

// sign signs a new JWT for the Airflow user name, with the claims Airflow's auth manager reads.
func (p *people) sign(ctx context.Context, name string) (string, error) {
	now := time.Now()
	claims := map[string]any{"aud": p.Auth.Audience, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(PersonTokenLife).Unix(), "jti": newJTI()}
	if p.Auth.Issuer != "" {
		claims["iss"] = p.Auth.Issuer
	}
	switch p.Auth.Kind() {
	case SimpleAuthManager:
		user, ok := p.simpleUser(name)
		if !ok {
			return "", commands.Errorf(commands.EFORBIDDEN,
				"this credential acts as the Airflow user %s, who is not among Airflow's users ([core] simple_auth_manager_users): add the user there, or name another in the tokens file's airflow_user", name)
		}
		claims["sub"], claims["role"] = user.Name, user.Role
		if user.Teams != nil {
			claims["teams"] = user.Teams
		}
	case FABAuthManager:
		id, err := p.fabUserID(ctx, name)
		if err != nil {
			return "", err
		}
		claims["sub"] = id
	default:
		return "", commands.Errorf(commands.EFORBIDDEN,
			"this credential acts as the Airflow user %s, and Airflow's auth manager (%s) is neither the simple nor the FAB auth manager, whose JWTs the gateway knows how to sign", name, p.Auth.AuthManager)
	}
	return p.Key.Sign(claims)
}

func (p *people) simpleUser(name string) (SimpleUser, bool) {
	for _, user := range p.Auth.Users {
		if user.Name == name {
			return user, true
		}
	}
	return SimpleUser{}, false
}

// fabUserID returns the id of FAB's user name, listing FAB's users when it is not known yet.
func (p *people) fabUserID(ctx context.Context, name string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id, ok := p.ids[name]; ok {
		return id, nil
	}
	if p.Users == nil {
		return "", commands.Errorf(commands.EUNAVAILABLE, "the gateway cannot list the FAB auth manager's users to find the Airflow user %s", name)
	}
	if time.Since(p.listed) >= UserListInterval {
		p.ids, p.listErr = p.Users(ctx)
		p.listed = time.Now()
	}
	if p.listErr != nil {
		err := p.listErr
		p.listed = time.Time{} // a failed listing is not kept
		return "", commands.Errorf(commands.EUNAVAILABLE, "listing the FAB auth manager's users, to find the Airflow user %s, failed: %v", name, err)
	}
	if id, ok := p.ids[name]; ok {
		return id, nil
	}
	return "", commands.Errorf(commands.EFORBIDDEN,
		"this credential acts as the Airflow user %s, who does not exist in Airflow (FAB's users): create the user (airflow users create), or name another in the tokens file's airflow_user", name)
}

// forget drops the token of the Airflow user name, and on FAB its id.
func (p *people) forget(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.tokens, name)
	delete(p.ids, name)
}

// PersonRefused explains Airflow's 401 to a call made as the Airflow user name, and drops what the
// gateway held for it, so that the next call starts again: on FAB a user Airflow no longer knows
// (EFORBIDDEN); otherwise the gateway's key or password, which Airflow does not accept (EUPSTREAM, 502,
// naming the setting to fix).
func (u *Client) PersonRefused(ctx context.Context, name string) error {
	p := u.peopleOf()
	p.forget(name)
	if u.Major < 3 {
		return commands.Errorf(EUPSTREAM,
			"Airflow refused the password of the Airflow user %s in the gateway's users_file ([user:%s]): check it in [airflow_api] users_file, and that the user exists in Airflow", name, name)
	}
	if err := u.PersonGone(ctx, name); err != nil {
		return err
	}
	setting, trusted := "[airflow_api] jwt_secret_file", "[api_auth] jwt_secret"
	if p.Key != nil && p.Key.secret == nil {
		setting, trusted = "[airflow_api] jwt_private_key_file and jwt_kid", "[api_auth] trusted_jwks_url or jwt_private_key_path"
	}
	return commands.Errorf(EUPSTREAM,
		"Airflow refused the JWT the gateway signed for the Airflow user %s: the key of %s is not the one Airflow's API server trusts (%s), or its audience or issuer changed; update the gateway's key file and send the gateway SIGHUP (or restart it)", name, setting, trusted)
}

// PersonGone says, on Airflow 3 with the FAB auth manager, whether the Airflow user name was deleted
// while the gateway held a JWT for it (FAB answers such a JWT 401 or 500): it lists FAB's users again,
// and returns the refusal (EFORBIDDEN) when name is not among them, or nil. With another auth manager it
// returns nil.
func (u *Client) PersonGone(ctx context.Context, name string) error {
	p := u.peopleOf()
	if u.Major < 3 || p.Auth == nil || p.Auth.Kind() != FABAuthManager || p.Users == nil {
		return nil
	}
	p.mu.Lock()
	delete(p.ids, name)
	p.listed = time.Time{} // the user may be gone: ask again
	p.mu.Unlock()
	if _, err := p.fabUserID(ctx, name); commands.ErrorCode(err) == commands.EFORBIDDEN {
		p.forget(name)
		return err
	}
	return nil
}

// newJTI returns a JWT id that no other token has.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

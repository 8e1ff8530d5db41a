// Package client is the gateway's own command-line client: it runs Airflow commands through a gateway
// with the exit code and the live output of the local CLI. It speaks to the gateway over HTTP only and
// imports no package of the server, so it builds for every system a client runs on.
package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/ini.v1"
)

// Settings say which gateway to talk to and with what token.
type Settings struct {
	URL    string // the gateway, such as https://airflow-gateway.example:8443
	Token  string
	CACert string // PEM certificates to trust besides the system's, for a gateway with its own CA
}

// Flags are the settings given on the command line; a token never is (it would show in ps).
type Flags struct {
	URL, TokenFile, CACert, Profile string
}

// DefaultURL is the gateway a client talks to when nothing names one.
const DefaultURL = "http://127.0.0.1:8080"

// ProfilesFile is where the profiles are kept, under the user's configuration folder
// (~/.config/airflow-gateway/client.ini on Linux).
func ProfilesFile(getenv func(string) string) string {
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" {
		return filepath.Join(dir, "airflow-gateway", "client.ini")
	}
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "airflow-gateway", "client.ini")
	}
	return ""
}

// Load works out the settings: flags first, then AIRFLOW_GATEWAY_URL, AIRFLOW_GATEWAY_TOKEN and
// AIRFLOW_GATEWAY_TOKEN_FILE, then the profile of the profiles file that --profile (or
// AIRFLOW_GATEWAY_PROFILE, or "default") names.
func Load(f Flags, getenv func(string) string) (Settings, error) {
	profile, err := readProfile(f.Profile, getenv)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{
		URL:    strings.TrimRight(first(f.URL, getenv("AIRFLOW_GATEWAY_URL"), profile.Key("url").String(), DefaultURL), "/"),
		CACert: first(f.CACert, getenv("AIRFLOW_GATEWAY_CACERT"), profile.Key("cacert").String()),
	}
	switch {
	case f.TokenFile != "":
		s.Token, err = readToken(f.TokenFile)
	case getenv("AIRFLOW_GATEWAY_TOKEN") != "":
		s.Token = getenv("AIRFLOW_GATEWAY_TOKEN")
	case getenv("AIRFLOW_GATEWAY_TOKEN_FILE") != "":
		s.Token, err = readToken(getenv("AIRFLOW_GATEWAY_TOKEN_FILE"))
	case profile.Key("token_file").String() != "":
		s.Token, err = readToken(profile.Key("token_file").String())
	default:
		s.Token = profile.Key("token").String()
	}
	if err != nil {
		return Settings{}, err
	}
	if s.Token == "" {
		return Settings{}, errors.New("no token: set AIRFLOW_GATEWAY_TOKEN, name a file holding it with --token-file or AIRFLOW_GATEWAY_TOKEN_FILE, or give the profile a token_file")
	}
	if !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://") {
		return Settings{}, fmt.Errorf("the gateway's URL %q must start with http:// or https://", s.URL)
	}
	return s, nil
}

// readProfile returns the named profile of the profiles file: an empty one when the file does not exist
// and no profile was asked for by name.
func readProfile(name string, getenv func(string) string) (*ini.Section, error) {
	asked := first(name, getenv("AIRFLOW_GATEWAY_PROFILE"))
	name = first(asked, "default")
	path := ProfilesFile(getenv)
	empty := ini.Empty().Section(name)
	if path == "" {
		return empty, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && asked == "" {
		return empty, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the profiles file: %w", err)
	}
	file, err := ini.Load(data)
	if err != nil {
		return nil, fmt.Errorf("the profiles file %s does not parse: %w", path, err)
	}
	if !file.HasSection(name) {
		if asked == "" {
			return empty, nil
		}
		return nil, fmt.Errorf("the profiles file %s has no profile [%s]; it has %s", path, name, strings.Join(file.SectionStrings()[1:], ", "))
	}
	return file.Section(name), nil
}

// readToken reads a token: the first line of the file (a leading ~/ is the home folder), trimmed.
func readToken(path string) (string, error) {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, rest)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the token file: %w", err)
	}
	token, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if token = strings.TrimSpace(token); token == "" {
		return "", fmt.Errorf("the token file %s is empty", path)
	}
	return token, nil
}

func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/gateway"
)

// keyring builds the accepted tokens from the configuration; see tokenSet.
func keyring(cfg *config.Config) (*gateway.Keyring, error) {
	keys := gateway.NewKeyring(cfg.PluginTokenHeader)
	tokens, err := tokenSet(cfg)
	if err != nil {
		return nil, err
	}
	if len(tokens) > 0 {
		if err := keys.SetTokens(tokens); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// tokenSet reads the tokens the configuration names: the plugin token (role Admin) and the named tokens of
// the tokens file.
func tokenSet(cfg *config.Config) ([]gateway.Token, error) {
	var tokens []gateway.Token
	if cfg.PluginToken != "" {
		tokens = append(tokens, gateway.Token{Name: "rest_api_plugin", Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(cfg.PluginToken))})
	}
	if cfg.TokensFile != "" {
		file, err := config.LoadTokens(cfg.TokensFile)
		if err != nil {
			return nil, err
		}
		for _, t := range file {
			tokens = append(tokens, gateway.Token(t))
		}
	}
	return tokens, nil
}

// reloadTokensOnHangup reads the tokens file again at each SIGHUP until ctx ends: new tokens work at once,
// removed ones stop, with their sessions, and running commands go on. A file that cannot be read keeps
// the tokens there are, and the log says why. Each of also runs after it: the keys with which the gateway
// acts as Airflow users (setup.reloadPeople).
func reloadTokensOnHangup(ctx context.Context, cfg *config.Config, keys *gateway.Keyring, log *slog.Logger, also ...func(context.Context, *slog.Logger)) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			reloadTokens(cfg, keys, log)
			for _, f := range also {
				f(ctx, log)
			}
		}
	}()
}

// reloadTokens reads the tokens file again into keys.
func reloadTokens(cfg *config.Config, keys *gateway.Keyring, log *slog.Logger) {
	if cfg.TokensFile == "" {
		log.Warn("SIGHUP: no [auth] tokens_file is configured, so there is no token to reload")
		return
	}
	tokens, err := tokenSet(cfg)
	if err == nil {
		err = keys.SetTokens(tokens)
	}
	if err != nil {
		log.Error("SIGHUP: the tokens file was not reloaded; the tokens from before stay", "file", cfg.TokensFile, "err", err)
		return
	}
	names := make([]string, len(tokens))
	for i, t := range tokens {
		names[i] = t.Name
	}
	log.Info("SIGHUP: tokens reloaded", "file", cfg.TokensFile, "tokens", strings.Join(names, ","))
}

// reloadPeople reads again how the gateway acts as the Airflow users that credentials name: users_file's
// [user:NAME] sections, the signing key of [airflow_api] jwt_secret_file or jwt_private_key_file, and what
// Airflow's API server reads from a JWT. Tokens signed with the old key are dropped. When one of them
// cannot be read, what there was stays, and the log says why.
func (st *setup) reloadPeople(ctx context.Context, log *slog.Logger) {
	api := st.api.Load()
	if api == nil || st.cfg.AirflowAPIUsersFile == "" && st.cfg.AirflowAPIJWTSecret == "" && st.cfg.AirflowAPIJWTKey == "" {
		return
	}
	people, err := airflowPeople(ctx, st, api.Major, st.airflowRun)
	if err != nil {
		log.Error("SIGHUP: the keys that act as Airflow users were not reloaded; those from before stay", "err", err)
		return
	}
	api.SetPeople(*people)
	key := "none"
	if people.Key != nil {
		key = people.Key.String()
	}
	log.Info("SIGHUP: the keys that act as Airflow users reloaded", "key", key, "users_file_users", len(people.Passwords))
}

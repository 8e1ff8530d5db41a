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
// the tokens there are, and the log says why.
func reloadTokensOnHangup(ctx context.Context, cfg *config.Config, keys *gateway.Keyring, log *slog.Logger) {
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
			if cfg.TokensFile == "" {
				log.Warn("SIGHUP: no [auth] tokens_file is configured, so there is nothing to reload")
				continue
			}
			tokens, err := tokenSet(cfg)
			if err == nil {
				err = keys.SetTokens(tokens)
			}
			if err != nil {
				log.Error("SIGHUP: the tokens file was not reloaded; the tokens from before stay", "file", cfg.TokensFile, "err", err)
				continue
			}
			names := make([]string, len(tokens))
			for i, t := range tokens {
				names[i] = t.Name
			}
			log.Info("SIGHUP: tokens reloaded", "file", cfg.TokensFile, "tokens", strings.Join(names, ","))
		}
	}()
}

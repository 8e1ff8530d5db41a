//go:build linux

package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/config"
)

// actsAsUsers reports whether a token of the tokens file acts as an Airflow user (§20).
func actsAsUsers(cfg *config.Config) bool {
	tokens, err := tokenSet(cfg)
	if err != nil {
		return false
	}
	for _, t := range tokens {
		if t.AirflowUser != "" {
			return true
		}
	}
	return false
}

// announceAuthManager says once, in the log at start, whether the CLI dialects can ask Airflow's auth
// manager for the tokens that act as Airflow users, or refuse them; it returns at once when no token does.
func announceAuthManager(ctx context.Context, cfg *config.Config, svc *commands.Service, log *slog.Logger) {
	if !actsAsUsers(cfg) {
		return
	}
	go func() {
		svc.AwaitSettled(ctx, time.Minute)
		ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		switch err := svc.ProbeAuthManager(ctx); commands.ErrorCode(err) {
		case "":
			log.Info("Airflow's auth manager answers for the tokens with airflow_user: their commands run as Airflow lets those users")
		case commands.EFORBIDDEN:
			log.Warn("tokens with airflow_user are refused on the command, plugin and MWAA dialects", "reason", commands.ErrorMessage(err))
		default:
			log.Warn("Airflow's auth manager does not answer yet: commands of tokens with airflow_user get 503 until it does", "reason", commands.ErrorMessage(err))
		}
	}()
}

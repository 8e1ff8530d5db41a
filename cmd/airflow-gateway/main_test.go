package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/config"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

func TestHashTokenFeedsTheTokensFile(t *testing.T) {
	const token = "a-long-random-token-0123456789"
	var out bytes.Buffer
	if err := run(context.Background(), []string{"hash-token"}, func(string) string { return "" }, strings.NewReader(token+"\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(token))
	if got := strings.TrimSpace(out.String()); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("hash-token printed %q", got)
	}
	tokens, err := config.ParseTokens([]byte("[ci-bot]\nrole = User\nsha256 = " + out.String()))
	if err != nil || len(tokens) != 1 || tokens[0].SHA256 != sum {
		t.Errorf("the printed hash does not read back: %v %v", tokens, err)
	}
	for _, in := range []string{"", "\n", "short\n"} {
		if err := run(context.Background(), []string{"hash-token"}, func(string) string { return "" }, strings.NewReader(in), io.Discard, io.Discard); err == nil {
			t.Errorf("hash-token accepted %q", in)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	bin := testbed.GatewayBinary(t)
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"serve", "--help"}, {"check", "--help"}, {"install", "--help"}, {"token", "--help"}, {"token", "create", "--help"},
		{"run", "--help"}, {"jobs", "--help"}, {"deploy", "--help"}, {"api", "--help"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "usage") {
			t.Errorf("airflow-gateway %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// The usage names every subcommand.
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	for _, sub := range []string{"serve", "check", "version", "hash-token", "install", "token create", "run", "jobs", "deploy", "api"} {
		if !strings.Contains(string(out), sub) {
			t.Errorf("the usage does not name %s:\n%s", sub, out)
		}
	}
	// A mistake is not help: it exits non-zero.
	if err := exec.Command(bin, "serve", "--no-such-flag").Run(); err == nil {
		t.Error("an unknown flag exited 0")
	}
}

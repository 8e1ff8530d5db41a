package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/config"
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

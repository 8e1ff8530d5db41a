package airflowapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// TestSigningKeys: every kind of key the gateway reads signs a JWT its own public half verifies, with the
// algorithm Airflow takes for it and the kid in the header.
func TestSigningKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pkcs8 := func(key any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	secret, err := LoadSecret(write("secret", []byte("the-secret\n")), "[airflow_api] jwt_secret_file", "")
	if err != nil {
		t.Fatal(err)
	}
	keys := []*SigningKey{secret}
	for name, der := range map[string][]byte{"rsa.pem": pkcs8(rsaKey), "ed.pem": pkcs8(edKey), "ec.pem": pkcs8(ecKey),
		"rsa1.pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})} {
		k, err := LoadPrivateKey(write(name, der), "[airflow_api] jwt_private_key_file", "kid-1", "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		keys = append(keys, k)
	}
	want := map[string]bool{"HS512": true, "RS256": true, "EdDSA": true, "ES256": true}
	for _, k := range keys {
		if !want[k.Alg] {
			t.Errorf("%s: algorithm %s", k, k.Alg)
		}
		tok, err := k.Sign(map[string]any{"sub": "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.verify(tok); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		var h map[string]string
		json.Unmarshal(header, &h)
		if h["alg"] != k.Alg || h["kid"] == "" {
			t.Errorf("%s: header %s", k, header)
		}
		if strings.Contains(k.String(), "the-secret") {
			t.Errorf("a key's String shows it: %s", k)
		}
	}
	// A secret for an asymmetric algorithm, and a key for another than Airflow's, are refused.
	if _, err := LoadSecret(filepath.Join(dir, "secret"), "s", "RS256"); err == nil || !strings.Contains(err.Error(), "jwt_private_key_file") {
		t.Errorf("a secret with RS256: %v", err)
	}
	if _, err := LoadPrivateKey(filepath.Join(dir, "ed.pem"), "k", "kid", "RS256"); err == nil {
		t.Error("an Ed25519 key accepted for RS256")
	}
	// Readable by others: refused, naming the file and the chmod to run.
	os.Chmod(filepath.Join(dir, "secret"), 0o640)
	if _, err := LoadSecret(filepath.Join(dir, "secret"), "[airflow_api] jwt_secret_file", ""); err == nil || !strings.Contains(err.Error(), "chmod 600 "+filepath.Join(dir, "secret")) {
		t.Errorf("a secret others can read: %v", err)
	}
}

// verify checks a JWS that Sign made.
func (k *SigningKey) verify(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not a compact JWS")
	}
	input := []byte(parts[0] + "." + parts[1])
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	if k.secret != nil {
		other := *k
		want, _ := other.signature(input)
		if string(want) != string(sig) {
			return errors.New("bad HMAC")
		}
		return nil
	}
	if k.Alg == "EdDSA" {
		if !ed25519.Verify(k.signer.Public().(ed25519.PublicKey), input, sig) {
			return errors.New("bad EdDSA signature")
		}
		return nil
	}
	h := signHashes[k.Alg]
	d := h.New()
	d.Write(input)
	digest := d.Sum(nil)
	switch pub := k.signer.Public().(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, h, digest, sig)
	case *ecdsa.PublicKey:
		size := len(sig) / 2
		if !ecdsa.Verify(pub, digest, new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])) {
			return errors.New("bad ECDSA signature")
		}
		return nil
	}
	return errors.New("no key")
}

// TestPersonClaims: the claims of a JWT signed for an Airflow user are those its auth manager reads; a
// user Airflow does not know, or no key, is refused, never signed for as another.
func TestPersonClaims(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s"), []byte("k"), 0o600)
	key, _ := LoadSecret(filepath.Join(dir, "s"), "[airflow_api] jwt_secret_file", "")
	claimsOf := func(header string) map[string]any {
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(strings.TrimPrefix(header, "Bearer "), ".")[1])
		var c map[string]any
		json.Unmarshal(payload, &c)
		return c
	}
	u := New(nil, 3, nil, time.Second)
	if _, err := u.PersonAuthorization(context.Background(), "alice"); commands.ErrorCode(err) != commands.EFORBIDDEN || !strings.Contains(err.Error(), "jwt_secret_file") {
		t.Errorf("without a key: %v", err)
	}
	u.SetPeople(People{Key: key, Auth: &AuthSettings{AuthManager: "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
		Audience: "apache-airflow", Issuer: "gw", Users: []SimpleUser{{Name: "alice", Role: "op"}, {Name: "tess", Role: "user", Teams: []string{"a"}}}}})
	h, err := u.PersonAuthorization(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(h)
	if c["sub"] != "alice" || c["role"] != "op" || c["aud"] != "apache-airflow" || c["iss"] != "gw" || c["jti"] == "" || c["teams"] != nil ||
		c["exp"].(float64)-c["iat"].(float64) != PersonTokenLife.Seconds() || c["nbf"] != c["iat"] {
		t.Errorf("claims %v", c)
	}
	if again, _ := u.PersonAuthorization(context.Background(), "alice"); again != h {
		t.Error("a second call signed another token")
	}
	if c := claimsOf(must(u.PersonAuthorization(context.Background(), "tess"))); c["teams"] == nil {
		t.Errorf("a user of a team: %v", c)
	}
	if _, err := u.PersonAuthorization(context.Background(), "mallory"); commands.ErrorCode(err) != commands.EFORBIDDEN || !strings.Contains(err.Error(), "simple_auth_manager_users") {
		t.Errorf("a user the simple auth manager does not know: %v", err)
	}
	// FAB: the user's id, listed once; a user FAB does not know is refused.
	lists := 0
	u.SetPeople(People{Key: key, Auth: &AuthSettings{AuthManager: "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager", Audience: "apache-airflow"},
		Users: func(context.Context) (map[string]string, error) { lists++; return map[string]string{"alice": "7"}, nil }})
	if c := claimsOf(must(u.PersonAuthorization(context.Background(), "alice"))); c["sub"] != "7" || c["role"] != nil {
		t.Errorf("FAB claims %v", c)
	}
	if _, err := u.PersonAuthorization(context.Background(), "mallory"); commands.ErrorCode(err) != commands.EFORBIDDEN || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a user FAB does not know: %v", err)
	}
	if lists != 1 {
		t.Errorf("FAB's users were listed %d times, want once (a name not found waits %s)", lists, UserListInterval)
	}
	// Airflow 2: the users file's password, or a refusal naming the section to add.
	u2 := New(nil, 2, nil, time.Second)
	u2.SetPeople(People{Passwords: map[string]User{"alice": {Name: "alice", Password: "pw"}}})
	if h, _ := u2.PersonAuthorization(context.Background(), "alice"); h != basicAuthorization("alice", "pw") {
		t.Errorf("Airflow 2: %q", h)
	}
	if _, err := u2.PersonAuthorization(context.Background(), "bob"); commands.ErrorCode(err) != commands.EFORBIDDEN || !strings.Contains(err.Error(), "[user:bob]") {
		t.Errorf("Airflow 2 without the user's section: %v", err)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

package airflowapi

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"os"
	"strings"

	"github.com/airflow-gateway/airflow-gateway/config"
)

// SigningKey is the key Airflow 3's API server trusts, with which the gateway signs JWTs for Airflow users
// (SPEC §20): Airflow's own [api_auth] jwt_secret (HMAC), or a private key whose public half Airflow reads
// from [api_auth] trusted_jwks_url or jwt_private_key_path, with the kid Airflow knows it by. It never
// leaves the gateway: its String says what it is, not what it holds.
type SigningKey struct {
	// File is where the key was read from, for messages.
	File string
	// Setting names the gateway's setting that names File: [airflow_api] jwt_secret_file or
	// jwt_private_key_file.
	Setting string
	// Alg is the JWS algorithm it signs with: HS512 (as Airflow signs with its secret) or Airflow's
	// [api_auth] jwt_algorithm for a secret; RS256, EdDSA or ES256/384/512 for a private key, as Airflow
	// guesses it from the key.
	Alg string
	// Kid is the key id the JWT's header carries: Airflow looks the public key up by it.
	Kid string

	secret []byte
	signer crypto.Signer
}

func (k *SigningKey) String() string {
	return fmt.Sprintf("%s key of %s (%s)", k.Alg, k.Setting, k.File)
}

// LoadSecret reads Airflow's [api_auth] jwt_secret from file, named by setting: HMAC with alg (HS256,
// HS384 or HS512; "" for Airflow's default, HS512). The file must be the gateway's alone.
func LoadSecret(file, setting, alg string) (*SigningKey, error) {
	data, err := readPrivate(file, setting)
	if err != nil {
		return nil, err
	}
	secret := strings.TrimRight(string(data), "\r\n")
	if secret == "" {
		return nil, fmt.Errorf("%s: %s is empty; put Airflow's [api_auth] jwt_secret in it", setting, file)
	}
	if alg == "" || alg == "GUESS" {
		alg = "HS512"
	}
	if _, ok := hmacHashes[alg]; !ok {
		return nil, fmt.Errorf("%s: Airflow's [api_auth] jwt_algorithm is %s, which does not sign with a shared secret: configure jwt_private_key_file instead", setting, alg)
	}
	return &SigningKey{File: file, Setting: setting, Alg: alg, Kid: "not-used", secret: []byte(secret)}, nil
}

// LoadPrivateKey reads a private key in PEM (PKCS #8, PKCS #1 or SEC 1) from file, named by setting, to sign
// with kid. alg is Airflow's [api_auth] jwt_algorithm, or "" to take the algorithm Airflow takes for such a
// key. The file must be the gateway's alone.
func LoadPrivateKey(file, setting, kid, alg string) (*SigningKey, error) {
	data, err := readPrivate(file, setting)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: %s holds no PEM block; write the private key in PEM", setting, file)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if rk, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 == nil {
			key, err = rk, nil
		} else if ek, err2 := x509.ParseECPrivateKey(block.Bytes); err2 == nil {
			key, err = ek, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s is not an unencrypted PEM private key (%v)", setting, file, err)
	}
	k := &SigningKey{File: file, Setting: setting, Kid: kid, Alg: alg}
	if alg == "GUESS" {
		k.Alg = ""
	}
	switch key := key.(type) {
	case *rsa.PrivateKey:
		k.signer = key
		if k.Alg == "" {
			k.Alg = "RS256"
		}
		if !strings.HasPrefix(k.Alg, "RS") && !strings.HasPrefix(k.Alg, "PS") {
			return nil, fmt.Errorf("%s: %s holds an RSA key, and Airflow's [api_auth] jwt_algorithm is %s", setting, file, k.Alg)
		}
	case ed25519.PrivateKey:
		k.signer = key
		if k.Alg == "" {
			k.Alg = "EdDSA"
		}
		if k.Alg != "EdDSA" {
			return nil, fmt.Errorf("%s: %s holds an Ed25519 key, and Airflow's [api_auth] jwt_algorithm is %s", setting, file, k.Alg)
		}
	case *ecdsa.PrivateKey:
		k.signer = key
		want := map[int]string{256: "ES256", 384: "ES384", 521: "ES512"}[key.Curve.Params().BitSize]
		if k.Alg == "" {
			k.Alg = want
		}
		if want == "" || k.Alg != want {
			return nil, fmt.Errorf("%s: %s holds an ECDSA key on %s, and Airflow's [api_auth] jwt_algorithm is %s", setting, file, key.Curve.Params().Name, k.Alg)
		}
	default:
		return nil, fmt.Errorf("%s: %s holds a %T key; use an RSA, Ed25519 or ECDSA key", setting, file, key)
	}
	if _, ok := signHashes[k.Alg]; !ok && k.Alg != "EdDSA" {
		return nil, fmt.Errorf("%s: the JWS algorithm %s is not one the gateway signs with", setting, k.Alg)
	}
	return k, nil
}

// readPrivate reads a key file that must be the gateway's alone (config.Private): one that others can read
// is refused.
func readPrivate(file, setting string) ([]byte, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	if !config.Private(st) {
		return nil, fmt.Errorf("%s: %s can be read or written by other users (mode %04o): it holds the key Airflow's API server trusts; run chmod 600 %s", setting, file, st.Mode().Perm(), file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	return data, nil
}

var hmacHashes = map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}

var signHashes = map[string]crypto.Hash{
	"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512,
	"PS256": crypto.SHA256, "PS384": crypto.SHA384, "PS512": crypto.SHA512,
	"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512,
}

// Sign returns the compact JWS of claims, signed with the key.
func (k *SigningKey) Sign(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": k.Alg, "typ": "JWT", "kid": k.Kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sig, err := k.signature([]byte(input))
	if err != nil {
		return "", fmt.Errorf("signing a JWT with the %s: %w", k, err)
	}
	return input + "." + enc.EncodeToString(sig), nil
}

func (k *SigningKey) signature(input []byte) ([]byte, error) {
	if k.secret != nil {
		mac := hmac.New(hmacHashes[k.Alg], k.secret)
		mac.Write(input)
		return mac.Sum(nil), nil
	}
	if k.Alg == "EdDSA" {
		return k.signer.Sign(rand.Reader, input, crypto.Hash(0))
	}
	h := signHashes[k.Alg]
	d := h.New()
	d.Write(input)
	digest := d.Sum(nil)
	switch key := k.signer.(type) {
	case *rsa.PrivateKey:
		if strings.HasPrefix(k.Alg, "PS") {
			return rsa.SignPSS(rand.Reader, key, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.SignPKCS1v15(rand.Reader, key, h, digest)
	case *ecdsa.PrivateKey:
		// JWS wants r and s side by side, each as long as the curve's order (RFC 7518 §3.4), not ASN.1.
		r, s, err := ecdsa.Sign(rand.Reader, key, digest)
		if err != nil {
			return nil, err
		}
		size := (key.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out, nil
	}
	return nil, errors.New("no key to sign with")
}

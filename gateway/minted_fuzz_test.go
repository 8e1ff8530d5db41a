package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// FuzzMintedToken feeds the minted-token reader tokens it did not sign: none may identify anyone, and none
// may crash it. The seeds include a real minted token and changes of it.
func FuzzMintedToken(f *testing.F) {
	cr := NewKeyring("h")
	cr.AddToken("ci", sha256.Sum256([]byte("fuzz-token-0123456789")), commands.RoleOp)
	cr.SignSessions([]byte("fuzz-secret-key-0123456789"), false)
	now := time.Unix(1_800_000_000, 0)
	// A token as Mint makes it, with a fixed nonce, so that every fuzzing process has the same one.
	sum := sha256.Sum256([]byte("fuzz-token-0123456789"))
	claims, _ := json.Marshal(mintedClaims{Parent: "ci", ParentFP: hex.EncodeToString(sum[:8]), Role: int(commands.RoleViewer),
		Expires: now.Add(time.Hour).Unix(), Nonce: "fuzz"})
	payload := base64.RawURLEncoding.EncodeToString(claims)
	real := mintedPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(cr.mac("minted token", claims))
	if p := cr.identifyMinted(real, now); p == nil {
		f.Fatal("the seed token does not identify")
	}
	f.Add(real)
	f.Add(real[:len(real)-3])
	f.Add(strings.Replace(real, ".", "..", 2))
	f.Add(mintedPrefix + payload + ".")
	f.Add(mintedPrefix + base64.RawURLEncoding.EncodeToString([]byte(`{"p":"ci","f":"","r":4,"e":9999999999,"n":""}`)) + ".AAAA")
	f.Add(mintedPrefix)
	f.Add("fuzz-token-0123456789")
	f.Fuzz(func(t *testing.T, token string) {
		p := cr.identifyMinted(token, now)
		if p == nil {
			return
		}
		if token != real {
			t.Fatalf("a token the gateway did not mint, %q, identified %s", token, p.Name)
		}
		if p.Name != "ci/minted" || p.Role != commands.RoleViewer {
			t.Fatalf("the minted token identified %+v", p)
		}
	})
}

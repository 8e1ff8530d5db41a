package gateway

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// FuzzSessionCookie feeds the session reader cookie values it did not sign: none may identify anyone, and
// none may crash it. The seeds include a real cookie and changes of it.
func FuzzSessionCookie(f *testing.F) {
	cr := NewKeyring("h")
	cr.AddToken("ci", sha256.Sum256([]byte("fuzz-token-0123456789")), commands.RoleAdmin)
	now := time.Unix(1_800_000_000, 0)
	real, _ := cr.login("fuzz-token-0123456789", now)
	signed := map[string]bool{real.Value: true}
	f.Add(real.Value)
	f.Add(real.Value[:len(real.Value)-2])
	f.Add(strings.Replace(real.Value, ".", "..", 1))
	f.Add("e30.")
	f.Add(".")
	f.Add(`eyJuIjoiY2kiLCJ0IjoiIiwiZSI6OTk5OTk5OTk5OTl9.AAAA`)
	f.Fuzz(func(t *testing.T, value string) {
		r, _ := http.NewRequest(http.MethodGet, "/", nil) // never sent: fromSession reads its cookie
		r.Header.Set("Cookie", sessionCookie+"="+value)
		p := cr.fromSession(r, now)
		if p == nil {
			return
		}
		// Only the cookie the gateway signed identifies (as the cookie header carries it, maybe quoted).
		if c, _ := r.Cookie(sessionCookie); c == nil || !signed[c.Value] {
			t.Fatalf("an unsigned cookie %q identified %s", value, p.Name)
		}
	})
}

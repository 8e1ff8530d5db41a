package airflowapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"
)

// TestJWTRenewal: a role's JWT is renewed once 80% of its life is gone and at least a minute before its
// end, but used for half its life at least; each renewal is one fetch.
func TestJWTRenewal(t *testing.T) {
	for _, tt := range []struct{ life, renewAfter time.Duration }{
		{24 * time.Hour, 24 * time.Hour * 4 / 5},
		{2 * time.Minute, time.Minute},
		{10 * time.Second, 5 * time.Second},
	} {
		fetches := 0
		now := time.Now()
		src := &jwtSource{fetch: func(context.Context) (string, error) {
			fetches++
			payload := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp": %d}`, now.Add(tt.life).Unix()))
			return "e30." + payload + ".sig", nil
		}}
		if _, err := src.get(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := src.renew.Sub(now)
		if d := got - tt.renewAfter; d < -time.Second || d > time.Second {
			t.Errorf("a token of %v is renewed after %v, want %v", tt.life, got, tt.renewAfter)
		}
		src.get(context.Background())
		if fetches != 1 {
			t.Errorf("a token of %v was fetched %d times before its renewal, want once", tt.life, fetches)
		}
	}
}

package jobs_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
)

// FuzzParseID: an ID is accepted exactly when it is 32 lowercase hex digits, and a refusal says what an
// ID is without echoing more than a short piece of the input.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{jobs.NewID(time.Now()), "", "../../etc/passwd", strings.Repeat("A", 32), strings.Repeat("0", 33), "0193b1e2c3d4e5f60718293a4b5c6d7e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := jobs.ParseID(s)
		valid := len(s) == 32 && strings.Trim(s, "0123456789abcdef") == ""
		if valid != (err == nil) {
			t.Fatalf("ParseID(%q) = %q, %v", s, id, err)
		}
		if err != nil {
			if commands.ErrorCode(err) != commands.EINVALID || !strings.Contains(err.Error(), "32 lowercase hex digits") {
				t.Fatalf("refusal of %q: %v", s, err)
			}
			if len(err.Error()) > 300 { // 40 bytes of input, each at most 4 when quoted
				t.Fatalf("refusal of %q is %d bytes long", s, len(err.Error()))
			}
		} else if id != s {
			t.Fatalf("ParseID(%q) = %q", s, id)
		}
	})
}

// FuzzParseOffset: a Last-Event-ID is accepted exactly when it is a whole number of 0 or more that fits.
func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"0", "12", " 7 ", "-1", "1e3", "", "9223372036854775808", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := jobs.ParseOffset(s)
		want, werr := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if valid := werr == nil && want >= 0; valid != (err == nil) {
			t.Fatalf("ParseOffset(%q) = %d, %v", s, n, err)
		}
		if err == nil && n != want {
			t.Fatalf("ParseOffset(%q) = %d, want %d", s, n, want)
		}
		if err != nil && commands.ErrorCode(err) != commands.EINVALID {
			t.Fatalf("refusal of %q: %v", s, err)
		}
	})
}

func TestNewIDSortsByTime(t *testing.T) {
	now := time.Now()
	prev := ""
	for i := range 1000 {
		id := jobs.NewID(now.Add(time.Duration(i/10) * time.Millisecond))
		if _, err := jobs.ParseID(id); err != nil {
			t.Fatal(err)
		}
		if id <= prev {
			t.Fatalf("ID %d %s does not sort after %s", i, id, prev)
		}
		prev = id
	}
	if jobs.NewID(now.Add(-time.Hour)) <= prev {
		t.Error("an ID made after a clock step back sorts before the last one")
	}
}

package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/cmd/airflow-gateway/client"
)

// busyGateway answers 503 with Retry-After 0 to the first busy requests, then runs the command.
func busyGateway(tb testing.TB, busy int32) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= busy {
			w.Header().Set("Retry-After", "0")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status": 503, "detail": "all 4 command slots stayed busy for 10s; retry in a few seconds"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"stdout": "3.3.2\n", "stderr": "", "exit_code": 0}`))
	}))
	tb.Cleanup(srv.Close)
	return srv, &calls
}

func TestBusyGatewayIsAskedAgain(t *testing.T) {
	srv, calls := busyGateway(t, 2)
	cl, err := client.New(client.Settings{URL: srv.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	code, err := cl.Run(context.Background(), []string{"version"}, &out, &out)
	if err != nil || code != 0 || out.String() != "3.3.2\n" || calls.Load() != 3 {
		t.Errorf("after 2 busy answers: exit %d, %v, %q, %d calls", code, err, out.String(), calls.Load())
	}

	srv, calls = busyGateway(t, 100)
	cl, _ = client.New(client.Settings{URL: srv.URL, Token: "t"})
	cl.MaxRetryWait = 10 * time.Millisecond
	_, err = cl.Run(context.Background(), []string{"version"}, &out, &out)
	var e *client.Error
	if !errors.As(err, &e) || e.Code != client.ExitBusy || !strings.Contains(e.Message, "slots stayed busy") || calls.Load() != int32(cl.Retries+1) {
		t.Errorf("always busy: %v after %d calls, want exit %d after %d", err, calls.Load(), client.ExitBusy, cl.Retries+1)
	}
}

// TestFollowWaitsOutABalancer follows a job behind a balancer that has no replica for a while: its 502 and
// 503 pages are not the end of the stream, which resumes from the last event.
func TestFollowWaitsOutABalancer(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case n == 1:
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte("id: 1\nevent: stdout\ndata: first\n\n"))
		case n <= 3:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(map[int32]int{2: http.StatusBadGateway, 3: http.StatusServiceUnavailable}[n])
			w.Write([]byte("<html><body><h1>503 Service Unavailable</h1>No server is available</body></html>"))
		default:
			if got := r.Header.Get("Last-Event-ID"); got != "1" {
				t.Errorf("the stream was opened again from %q, want 1", got)
			}
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte("id: 2\nevent: stdout\ndata: second\n\nevent: end\ndata: {\"id\": \"j\", \"state\": \"succeeded\", \"exit_code\": 0}\n\n"))
		}
	}))
	defer srv.Close()
	cl, err := client.New(client.Settings{URL: srv.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	job, err := cl.Follow(context.Background(), "j", &out, &out)
	if err != nil || job == nil || job.State != "succeeded" || out.String() != "firstsecond" || calls.Load() != 4 {
		t.Errorf("Follow: %+v, %v, %q after %d calls", job, err, out.String(), calls.Load())
	}
}

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

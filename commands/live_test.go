package commands_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// pieceExecutor hands its pieces to the job's Live one by one, as an executor reading pipes would, and
// returns them put together.
type pieceExecutor struct {
	pieces []piece
	env    []string
}

type piece struct {
	s    commands.Stream
	text string
}

func (p *pieceExecutor) Run(ctx context.Context, x commands.Exec) (*commands.Result, error) {
	p.env = x.Environ(nil)
	res := &commands.Result{}
	for _, pc := range p.pieces {
		if x.Live != nil {
			x.Live(pc.s, []byte(pc.text))
		}
		if pc.s == commands.Stderr {
			res.Stderr += pc.text
		} else {
			res.Stdout += pc.text
		}
	}
	return res, nil
}

// watched collects what a Watch is handed.
type watched struct {
	mu      sync.Mutex
	got     []piece
	started bool
}

func (w *watched) watch(marker string) commands.Watch {
	return commands.Watch{
		Started: func() { w.started = true },
		Output: func(s commands.Stream, text string) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.got = append(w.got, piece{s, text})
		},
		Marker: marker,
	}
}

func (w *watched) stream(s commands.Stream) string {
	var b strings.Builder
	for _, p := range w.got {
		if p.s == s {
			b.WriteString(p.text)
		}
	}
	return b.String()
}

func TestRunWatchedHandsOverWholeLines(t *testing.T) {
	logLine := "[2025-04-03T14:38:17.121+0000] {__init__.py:42} INFO - Loaded\n"
	ex := &pieceExecutor{pieces: []piece{
		{commands.Stdout, "first li"},
		{commands.Stdout, "ne\n" + logLine[:20]},
		{commands.Stderr, "warn\n"},
		{commands.Stdout, logLine[20:] + "caf\xc3"},
		{commands.Stdout, "\xa9\nno end"},
	}}
	svc := commands.NewService(mustPolicy(t, "3"), ex, commands.Options{
		MaxConcurrent: 1, QueueTimeout: time.Second, CommandTimeout: time.Minute, LongCommandTimeout: time.Hour,
		FilterLoadingMessages: true,
	})
	inv, err := svc.ResolveLine("version", commands.Access{Role: commands.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	var w watched
	res, err := svc.RunWatched(context.Background(), inv, w.watch("j1"))
	if err != nil {
		t.Fatal(err)
	}
	if !w.started {
		t.Error("Started was not called")
	}
	want := []piece{
		{commands.Stdout, "first line\n"},
		{commands.Stderr, "warn\n"},
		{commands.Stdout, "café\n"},
		{commands.Stdout, "no end"},
	}
	if len(w.got) != len(want) {
		t.Fatalf("handed %+v, want %+v", w.got, want)
	}
	for i := range want {
		if w.got[i] != want[i] {
			t.Errorf("piece %d: %+v, want %+v", i, w.got[i], want[i])
		}
	}
	if res.Stdout != w.stream(commands.Stdout) || res.Stderr != w.stream(commands.Stderr) {
		t.Errorf("the Result (%q, %q) is not what was handed over", res.Stdout, res.Stderr)
	}
	env := strings.Join(ex.env, " ")
	for _, kv := range []string{"PYTHONUNBUFFERED=1", "AIRFLOW_GATEWAY_COMMAND=j1"} {
		if !strings.Contains(env, kv) {
			t.Errorf("the job's environment lacks %s: %s", kv, env)
		}
	}
}

func TestRunWatchedMasksConnectionsWhole(t *testing.T) {
	out := `[{"conn_id": "db", "password": "hunter2", "get_uri": "postgres://u:hunter2@h/db"}]` + "\n"
	ex := &pieceExecutor{pieces: []piece{{commands.Stdout, out[:30]}, {commands.Stdout, out[30:]}}}
	svc := commands.NewService(mustPolicy(t, "3"), ex, commands.Options{
		MaxConcurrent: 1, QueueTimeout: time.Second, CommandTimeout: time.Minute, LongCommandTimeout: time.Hour,
	})
	inv, err := svc.ResolveLine("connections list", commands.Access{Role: commands.RoleOp})
	if err != nil {
		t.Fatal(err)
	}
	var w watched
	res, err := svc.RunWatched(context.Background(), inv, w.watch(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.got) != 1 || strings.Contains(w.got[0].text, "hunter2") || !strings.Contains(w.got[0].text, commands.Mask) {
		t.Fatalf("handed %+v; want the masked output in one piece at the end", w.got)
	}
	if res.Stdout != w.got[0].text {
		t.Errorf("the Result %q is not what was handed over %q", res.Stdout, w.got[0].text)
	}
}

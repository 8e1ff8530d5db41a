package warm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/authorizer"
)

// authorizerScript names package authorizer's script in a run request (GATEWAY_SCRIPTS in
// _airflow_gateway_child.py); only the Go side of the warm executor sends it, never a client's argv.
const authorizerScript = "authorizer"

// Authorize implements commands.Authorizer. The warm forkserver keeps one child that runs the gateway's
// authorizer (package authorizer): it makes Airflow's auth manager once, then answers each query over a
// socket in about a millisecond. It is started with the first query (or at once when PrewarmAuthorizer
// is set), again when it dies, and stops with its forkserver. While no forkserver is warm, Cold answers,
// starting Airflow for the query.
func (e *Executor) Authorize(ctx context.Context, q commands.PermissionQuery) (*commands.PermissionAnswer, error) {
	fs := e.acquire()
	if fs == nil {
		cold, ok := e.Cold.(commands.Authorizer)
		if !ok {
			return nil, commands.Errorf(commands.EUNAVAILABLE, "no warm Airflow process is ready to ask Airflow's auth manager, and the subprocess executor cannot; retry in a few seconds")
		}
		return cold.Authorize(ctx, q)
	}
	defer e.release(fs)
	for tries := 1; ; tries++ {
		ans, err := fs.authorizer(e).ask(ctx, q)
		if errors.Is(err, errAuthorizerGone) && tries < 2 {
			continue // it had died before the query: a new one answers
		}
		if errors.Is(err, errAuthorizerGone) {
			err = commands.Errorf(commands.EUNAVAILABLE, "Airflow's auth manager stopped before it answered, so nothing ran; retry in a few seconds")
		}
		return ans, err
	}
}

// errAuthorizerGone says the authorizer stopped before it answered.
var errAuthorizerGone = errors.New("the authorizer stopped")

// authorizing is one child of the forkserver that runs the authorizer, and the gateway's end of the socket
// that is its stdin and stdout.
type authorizing struct {
	ready chan struct{} // closed once it has said whether it can answer, or failed to start
	err   error         // why it cannot answer, once ready
	conn  *authorizer.Conn
	sock  net.Conn
	pid   int

	mu       sync.Mutex    // one query at a time
	dead     chan struct{} // closed once it has stopped, or its conversation broke
	deadOnce sync.Once
}

// authorizer returns the forkserver's authorizer, starting one when there is none or it has stopped.
func (fs *forkserver) authorizer(e *Executor) *authorizing {
	fs.authMu.Lock()
	defer fs.authMu.Unlock()
	if a := fs.auth; a != nil {
		select {
		case <-a.dead:
		default:
			return a
		}
	}
	a := &authorizing{ready: make(chan struct{}), dead: make(chan struct{})}
	fs.auth = a
	go a.start(fs, e)
	return a
}

// stopAuthorizer ends the forkserver's authorizer, if it has one: its stdin closes, and it exits.
func (fs *forkserver) stopAuthorizer() {
	fs.authMu.Lock()
	a := fs.auth
	fs.authMu.Unlock()
	if a != nil {
		a.stop()
	}
}

// start forks the authorizer from the forkserver and reads its first line.
func (a *authorizing) start(fs *forkserver, e *Executor) {
	defer close(a.ready)
	began := time.Now()
	if err := a.fork(fs, e); err != nil {
		a.err = commands.Errorf(commands.EUNAVAILABLE, "Airflow's auth manager could not be started in the warm Airflow process (%v), so nothing ran; retry in a few seconds", err)
		e.log().Error("the warm executor's authorizer did not start", "err", err)
		a.stop()
		return
	}
	limit := e.WarmUpTimeout
	if limit == 0 {
		limit = 3 * time.Minute
	}
	_ = a.sock.SetReadDeadline(time.Now().Add(limit))
	conn, err := authorizer.Open(a.sock, a.sock)
	_ = a.sock.SetReadDeadline(time.Time{})
	if err != nil {
		a.err = commands.Errorf(commands.EUNAVAILABLE, "Airflow's auth manager could not be started in the warm Airflow process (%v), so nothing ran; retry in a few seconds", err)
		e.log().Error("the warm executor's authorizer did not start", "pid", a.pid, "err", err)
		a.stop()
		return
	}
	a.conn = conn
	if err := conn.Ready.Err(); err != nil {
		a.err = err
		e.log().Warn("Airflow's auth manager cannot be asked; commands of credentials with airflow_user are refused", "auth_manager", conn.Ready.AuthManager, "reason", err)
		return
	}
	e.log().Info("the warm executor's authorizer is ready", "pid", a.pid, "auth_manager", conn.Ready.AuthManager,
		"start_ms", time.Since(began).Milliseconds())
}

// fork sends the forkserver a run request for the authorizer, with one end of a socketpair as its stdout
// (and stdin) and a pipe as its stderr, whose lines go to the gateway's log.
func (a *authorizing) fork(fs *forkserver, e *Executor) error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "authorizer"), os.NewFile(uintptr(fds[1]), "authorizer")
	defer theirs.Close()
	sock, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return err
	}
	a.sock = sock
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	fs.mu.Lock()
	fs.nextID++
	id := fs.nextID
	events := make(chan message, 2)
	fs.waiting[id] = events
	fs.mu.Unlock()
	x := commands.Exec{}.Marked()
	err = fs.send(map[string]any{
		"op": "run", "id": id, "argv": []string{e.Binary}, "env": x.Environ(e.Env), "cwd": e.Home,
		"mark": commands.MarkerVariable + "=" + x.Marker, "script": authorizerScript,
	}, theirs, errW)
	errW.Close()
	forget := func() {
		fs.mu.Lock()
		delete(fs.waiting, id)
		fs.mu.Unlock()
	}
	if err != nil {
		errR.Close()
		forget()
		return err
	}
	select {
	case m := <-events:
		if m.Op != "started" {
			errR.Close()
			forget()
			return errors.New(m.Error)
		}
		a.pid = m.PID
	case <-fs.done:
		errR.Close()
		forget()
		return errors.New("the forkserver stopped")
	}
	go func() {
		sc := bufio.NewScanner(errR)
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		for sc.Scan() {
			e.log().Debug("authorizer output", "pid", a.pid, "line", sc.Text())
		}
		errR.Close()
	}()
	go func() {
		defer forget()
		for {
			select {
			case m := <-events:
				if m.Op != "exited" {
					continue
				}
				e.log().Warn("the warm executor's authorizer stopped; the next command of a credential with airflow_user starts another", "pid", a.pid, "code", m.Code, "signal", m.Signal)
				a.end(false) // its group may be gone, and its number another's
			case <-fs.done:
				a.stop()
			}
			return
		}
	}()
	return nil
}

// ask asks the authorizer one query, within ctx.
func (a *authorizing) ask(ctx context.Context, q commands.PermissionQuery) (*commands.PermissionAnswer, error) {
	select {
	case <-a.ready:
	case <-ctx.Done():
		return nil, commands.Errorf(commands.EUNAVAILABLE, "Airflow's auth manager was not ready in time, so nothing ran; retry in a few seconds")
	}
	if a.err != nil {
		return nil, a.err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.dead:
		return nil, errAuthorizerGone
	default:
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	_ = a.sock.SetDeadline(deadline)
	ans, err := a.conn.Ask(q)
	var ce *commands.Error
	if err != nil && !errors.As(err, &ce) {
		// The conversation broke, or the manager took too long: this authorizer answers no more.
		a.stop()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, commands.Errorf(commands.EUNAVAILABLE, "Airflow's auth manager did not answer in time, so nothing ran; retry in a few seconds")
		}
		return nil, errAuthorizerGone
	}
	return ans, err
}

// stop kills the authorizer's process group and closes the socket.
func (a *authorizing) stop() { a.end(true) }

// end closes the socket, and kills the authorizer's process group when kill is set.
func (a *authorizing) end(kill bool) {
	a.deadOnce.Do(func() {
		close(a.dead)
		if a.sock != nil {
			a.sock.Close()
		}
		if kill && a.pid > 0 {
			_ = syscall.Kill(-a.pid, syscall.SIGKILL)
		}
	})
}

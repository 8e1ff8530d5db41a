package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Limits are what every connection is held to (SPEC §16), besides the fixed header limits below.
type Limits struct {
	// IdleTimeout closes a keep-alive connection that sends no request for this long ([gateway] idle_timeout).
	IdleTimeout time.Duration
	// BodyTimeout is how long a request body may take to arrive ([gateway] body_timeout); a plugin-dialect
	// upload gets this plus the time to send max_upload_bytes at UploadRate. 0 means no limit.
	BodyTimeout time.Duration
	// MaxConnections caps the open connections ([gateway] max_connections); see LimitConnections.
	MaxConnections int
}

const (
	// MaxHeaderBytes is the most a request's line and headers may take: 431 beyond.
	MaxHeaderBytes = 64 << 10
	// HeaderTimeout is how long a request's line and headers may take to arrive.
	HeaderTimeout = 10 * time.Second
	// UploadRate is the slowest rate, in bytes a second, at which an upload of max_upload_bytes still
	// arrives within its time limit.
	UploadRate = 64 << 10

	// A body the handler did not read to its end is read and dropped for at most lingerTime, lingerPause
	// without a byte, or lingerBytes, before the connection closes (nginx's lingering close).
	lingerTime  = 30 * time.Second
	lingerPause = 5 * time.Second
	lingerBytes = 256 << 20

	// wireHeaderBytes is the head net/http reads before it answers 431 itself, in plain text.
	wireHeaderBytes = 4 * MaxHeaderBytes

	// maxRefusing bounds the connections being answered 503 at once over the cap; beyond it a connection
	// is closed without an answer.
	maxRefusing = 64
	// refuseTime bounds the answer to one refused connection.
	refuseTime = 2 * time.Second
)

// HTTPServer returns the http.Server that serves s under its Limits; base is the context of every request.
func (s *Server) HTTPServer(base context.Context) *http.Server {
	return &http.Server{
		Handler: s,
		// net/http answers heads over its own limit in plain text; up to it, ServeHTTP holds them to
		// MaxHeaderBytes and answers in the dialect of the path.
		MaxHeaderBytes:    wireHeaderBytes,
		ReadHeaderTimeout: HeaderTimeout,
		IdleTimeout:       s.opts.Limits.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
}

// ServeHTTP makes the Server an http.Handler. A request body gets its time limit. What a handler left
// unread of a body is read and dropped after the answer is sent, so that a client that writes its whole
// body before reading (Python's urllib) sees the answer, such as a 413, instead of a reset connection.
// Event streams and running commands have no body being read, so no limit here cuts them.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = s.withRecord(r)
	if headSize(r) > MaxHeaderBytes {
		w.Header().Set("Connection", "close")
		c := s.echo.NewContext(r, w)
		_ = s.answerError(c, http.StatusRequestHeaderFieldsTooLarge, commands.Errorf(commands.EINVALID,
			"the request line and headers are over %d KB: send a shorter URL (put long values in the body) and fewer or shorter headers", MaxHeaderBytes>>10), nil)
		return
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		s.echo.ServeHTTP(w, r)
		return
	}
	rc := http.NewResponseController(w)
	b := &timedBody{ReadCloser: r.Body, rc: rc}
	if limit, key := s.bodyLimit(r); limit > 0 {
		b.limit, b.key = limit, key
		_ = rc.SetReadDeadline(time.Now().Add(limit))
	}
	r.Body = b
	if r.ProtoMajor != 1 {
		s.echo.ServeHTTP(w, r)
		return
	}
	// net/http would close a connection with more than 256 KB unread under the answer, and the client
	// would get a reset instead of the answer; the refusal is held whole, sent, and the body dropped.
	_ = rc.EnableFullDuplex()
	held := &heldAnswer{ResponseWriter: w}
	s.echo.ServeHTTP(held, r)
	held.send()
	if !b.eof && !b.slow && !(b.n == 0 && r.Header.Get("Expect") == "100-continue") {
		b.linger()
	}
}

// headSize is about the size of r's request line and headers as they came.
func headSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len("Host: ") + len(r.Host) + 8
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// heldAnswer holds an answer of status 400 or more, up to maxHeldAnswer bytes, until the handler is done,
// so that it goes out whole with its Content-Length and a client can read it to its end while the rest of
// its body is dropped. Other answers, and event streams, pass through as they are written.
type heldAnswer struct {
	http.ResponseWriter
	status  int // held while not 0
	body    []byte
	through bool
}

const maxHeldAnswer = 64 << 10

func (h *heldAnswer) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h *heldAnswer) WriteHeader(status int) {
	if h.status != 0 || h.through {
		return
	}
	if status < http.StatusBadRequest {
		h.through = true
		h.ResponseWriter.WriteHeader(status)
		return
	}
	h.status = status
}

func (h *heldAnswer) Write(p []byte) (int, error) {
	if h.status == 0 && !h.through {
		h.WriteHeader(http.StatusOK)
	}
	if h.through {
		return h.ResponseWriter.Write(p)
	}
	if len(h.body)+len(p) > maxHeldAnswer {
		h.pass()
		return h.ResponseWriter.Write(p)
	}
	h.body = append(h.body, p...)
	return len(p), nil
}

func (h *heldAnswer) Flush() {
	h.pass()
	_ = http.NewResponseController(h.ResponseWriter).Flush()
}

// pass writes what is held and lets the rest through.
func (h *heldAnswer) pass() {
	if h.through {
		return
	}
	h.through = true
	if h.status != 0 {
		h.ResponseWriter.WriteHeader(h.status)
		_, _ = h.ResponseWriter.Write(h.body)
	}
}

// send writes a held answer with its length.
func (h *heldAnswer) send() {
	if !h.through && h.status != 0 {
		h.Header().Set("Content-Length", strconv.Itoa(len(h.body)))
	}
	h.pass()
}

// bodyLimit is the time limit of r's body, and the setting that names it.
func (s *Server) bodyLimit(r *http.Request) (time.Duration, string) {
	if s.opts.Limits.BodyTimeout <= 0 {
		return 0, ""
	}
	if r.Method == http.MethodPost && r.URL.Path == pluginAPI {
		n := s.svc.MaxUploadBytes()
		upload := time.Duration(n/UploadRate)*time.Second + time.Duration(n%UploadRate)*time.Second/UploadRate
		return s.opts.Limits.BodyTimeout + upload, "[gateway] body_timeout, plus max_upload_bytes at 64 KiB/s"
	}
	return s.opts.Limits.BodyTimeout, "[gateway] body_timeout"
}

// timedBody is a request body under its time limit: the limit ends when the body has been read.
type timedBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	limit time.Duration
	key   string
	n     int64
	eof   bool
	slow  bool // the limit was hit: the client is too slow to wait for
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		b.eof = true
		if b.limit > 0 {
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	case errors.Is(err, os.ErrDeadlineExceeded) && b.limit > 0:
		b.slow = true
		return n, commands.Errorf(eSlowBody, "the request body did not arrive within %s (%s): %d bytes came; send it faster, or raise the limit",
			b.limit, b.key, b.n)
	}
	return n, err
}

// linger sends the answer, then reads and drops the rest of the body within its bounds; the connection
// closes after it unless the whole body came.
func (b *timedBody) linger() {
	_ = b.rc.Flush()
	end := time.Now().Add(lingerTime)
	buf := make([]byte, 32<<10)
	for dropped := 0; dropped < lingerBytes; {
		deadline := time.Now().Add(lingerPause)
		if deadline.After(end) {
			deadline = end
		}
		_ = b.rc.SetReadDeadline(deadline)
		n, err := b.ReadCloser.Read(buf)
		dropped += n
		if err != nil {
			return
		}
	}
}

// isBodyTimeout reports whether err is a request body that did not arrive in time, and returns it.
func isBodyTimeout(err error) (*commands.Error, bool) {
	var e *commands.Error
	if errors.As(err, &e) && e.Code == eSlowBody {
		return e, true
	}
	return nil, false
}

// LimitConnections returns ln with at most s.opts.Limits.MaxConnections connections open at once. A connection
// over the cap is answered 503 with Retry-After at once and closed, rather than left in the kernel's accept
// queue, where a client cannot tell a full gateway from a dead one. tlsConfig, when not nil, is the TLS
// the listener's connections speak (ln itself is a plain TCP listener).
func (s *Server) LimitConnections(ln net.Listener, tlsConfig *tls.Config) net.Listener {
	l := &limitedListener{Listener: ln, max: int64(s.opts.Limits.MaxConnections), refusing: make(chan struct{}, maxRefusing), m: s.metrics, s: s}
	if tlsConfig != nil {
		l.tls = tlsConfig.Clone()
		l.tls.NextProtos = []string{"http/1.1"} // the answer is HTTP/1.1's
	}
	return l
}

// fullAnswer is the whole HTTP/1.1 answer to a request for target over the connection cap: 503 in the
// dialect of target's path.
func (l *limitedListener) fullAnswer(method, target string) []byte {
	r, err := http.NewRequest(method, "http://gateway"+target, nil)
	if err != nil {
		r, _ = http.NewRequest(http.MethodGet, "http://gateway/", nil)
	}
	rec := &recordedAnswer{header: http.Header{}}
	rec.header.Set("Connection", "close")
	c := l.s.echo.NewContext(l.s.withRecord(r), rec)
	c.Response().Header().Set(echo.HeaderXRequestID, "-")
	_ = l.s.fail(c, commands.Errorf(commands.EUNAVAILABLE,
		"the gateway has %d connections open, its limit ([gateway] max_connections); retry in a few seconds, and keep connections alive rather than opening new ones", l.max), nil)
	rec.header.Del(echo.HeaderXRequestID)
	rec.header.Set("Content-Length", strconv.Itoa(rec.body.Len()))
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 %d %s\r\n", rec.status, http.StatusText(rec.status))
	_ = rec.header.Write(&out)
	out.WriteString("\r\n")
	out.Write(rec.body.Bytes())
	return out.Bytes()
}

// recordedAnswer is an answer written to memory.
type recordedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *recordedAnswer) Header() http.Header { return a.header }
func (a *recordedAnswer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}
func (a *recordedAnswer) Write(p []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return a.body.Write(p)
}

type limitedListener struct {
	net.Listener
	max      int64
	open     atomic.Int64
	refusing chan struct{}
	tls      *tls.Config
	m        *metrics
	s        *Server
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			l.m.connsOpen.Inc()
			return &countedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		l.m.connsRefused.Inc()
		select {
		case l.refusing <- struct{}{}:
			go func() {
				l.refuse(c)
				<-l.refusing
			}()
		default:
			c.Close()
		}
	}
}

// refuse reads the request's head, answers 503, and closes: a connection closed with the request unread
// would be reset, and the client would not see the answer.
func (l *limitedListener) refuse(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseTime))
	conn := c
	if l.tls != nil {
		tc := tls.Server(c, l.tls)
		if tc.Handshake() != nil {
			return
		}
		conn = tc
	}
	head := bufio.NewReaderSize(conn, 4<<10)
	var method, target string
	for read := 0; read < MaxHeaderBytes; {
		line, err := head.ReadSlice('\n')
		if read == 0 {
			// The request line names the path, and so the dialect the answer speaks.
			fields := strings.Fields(string(line))
			if len(fields) == 3 {
				method, target = fields[0], fields[1]
			}
		}
		read += len(line)
		if err == nil && (string(line) == "\r\n" || string(line) == "\n") {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
	if _, err := conn.Write(l.fullAnswer(method, target)); err != nil {
		return
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(conn, MaxHeaderBytes)) // until the client closes
}

// countedConn gives its place back when it closes.
type countedConn struct {
	net.Conn
	l    *limitedListener
	once sync.Once
}

// CloseWrite keeps net/http's half-close before it closes a connection, which lets the client read the answer.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.open.Add(-1)
		c.l.m.connsOpen.Dec()
	})
	return c.Conn.Close()
}

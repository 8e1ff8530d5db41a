package restv1

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The HTTP side of the translation, which the gateway's reverse proxy calls: a v1 request rewritten in
// place into its v2 request (Rewrite), v2's answer rewritten in place into v1's (Translation.Rewrite),
// and the second call some endpoints need (Retrying). The table underneath stays pure: these only carry
// its calls and answers to and from net/http.

// MaxAnswer bounds an answer of Airflow 3 that is translated: it is read whole. A task's log as text is
// streamed, whatever its size.
const MaxAnswer = 64 << 20

// Rewrite turns r, a call of /api/v1 bound for Airflow 3, into the v2 call the table gives, in place, and
// returns the translation that turns its answer back. A call the table refuses is an *Error with v1's
// status; a body that cannot be read is returned as the reader's error.
func Rewrite(r *http.Request, now time.Time) (*Translation, error) {
	var body []byte
	if r.Body != nil && r.ContentLength != 0 {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
	}
	in := &Call{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/api/v1"), Query: r.URL.Query(), Accept: r.Header.Get("Accept"), Body: body}
	tr, err := Translate(in, now)
	if err != nil {
		return nil, err
	}
	if strings.Contains(tr.V2.Path, "/logs/") && strings.HasPrefix(in.Accept, "text/plain") {
		tr.logText = true // made from v2's JSON lines as they come
		tr.V2.Accept = "application/x-ndjson"
	}
	setCall(r, tr.V2)
	return tr, nil
}

// setCall makes r the v2 call c.
func setCall(r *http.Request, c *Call) {
	r.Method = c.Method
	r.URL.Path = "/api/v2" + unescape(c.Path)
	r.URL.RawPath = "/api/v2" + c.Path
	r.URL.RawQuery = c.Query.Encode()
	if c.Accept != "" {
		r.Header.Set("Accept", c.Accept)
	}
	r.Body, r.ContentLength, r.GetBody = http.NoBody, 0, nil
	r.Header.Del("Content-Length")
	// The answer is read and rewritten: it comes as it is, never compressed (the transport asks for gzip
	// itself, and takes it off).
	r.Header.Del("Accept-Encoding")
	if c.Body != nil {
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(c.Body)), int64(len(c.Body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(c.Body)), nil }
		r.Header.Set("Content-Type", "application/json")
	}
}

func unescape(p string) string {
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}

// Retrying returns a RoundTripper that sends each request through next and, when the request's
// translation (as translationOf finds it; nil for a call that is not translated) asks for another call
// after v2's answer, sends that call instead: a clone of the request the proxy rewrote, so that it goes
// to the same place with the same headers and credentials.
func Retrying(next http.RoundTripper, translationOf func(*http.Request) *Translation) http.RoundTripper {
	return retrying{next, translationOf}
}

type retrying struct {
	next          http.RoundTripper
	translationOf func(*http.Request) *Translation
}

func (rt retrying) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(r)
	tr := rt.translationOf(r)
	if err != nil || tr == nil {
		return resp, err
	}
	again := tr.Retry(&Answer{Status: resp.StatusCode})
	if again == nil {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // v2's refusal, read so that its connection is reused
	resp.Body.Close()
	second := r.Clone(r.Context())
	setCall(second, again)
	return rt.next.RoundTrip(second)
}

// Rewrite turns Airflow 3's answer to the translated call into what Airflow 2 answered, in place: a
// task's log as text, or the JSON document translated (read whole, up to MaxAnswer).
func (t *Translation) Rewrite(resp *http.Response) error {
	if t.logText && resp.StatusCode == http.StatusOK {
		resp.Body = logText(resp.Body)
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		resp.Header.Set("Content-Type", "text/plain; charset=utf-8")
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if len(data) > MaxAnswer {
		return ErrAnswerTooLarge
	}
	ctype, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	out := t.Back(&Answer{Status: resp.StatusCode, ContentType: ctype, Body: data})
	resp.StatusCode, resp.Status = out.Status, fmt.Sprintf("%d %s", out.Status, http.StatusText(out.Status))
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(out.Body)), int64(len(out.Body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out.Body)))
	if out.ContentType != "" && len(out.Body) > 0 {
		resp.Header.Set("Content-Type", out.ContentType)
	}
	return nil
}

// ErrAnswerTooLarge is an answer of Airflow 3 over MaxAnswer, which is not translated.
var ErrAnswerTooLarge = fmt.Errorf("the answer of Airflow is over %d MB, the most the gateway translates for /api/v1: ask for less (limit), or use /api/v2", MaxAnswer>>20)

// logText turns Airflow 3's log lines (application/x-ndjson, one JSON object a line) into text as it
// reads them, so that a log of any size goes through without being held whole.
func logText(body io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer body.Close()
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		w := bufio.NewWriter(pw)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				w.Write(sc.Bytes())
			} else {
				w.WriteString(LogLine(line))
			}
			w.WriteByte('\n')
		}
		w.Flush()
		pw.CloseWithError(sc.Err())
	}()
	return pr
}

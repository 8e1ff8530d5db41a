package testbed

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// PluginTokenHeader is the header the plugin dialect reads its token from, unless the configuration
// renames it.
const PluginTokenHeader = "rest_api_plugin_http_token"

// Client sends a test's requests to a gateway as one caller, and reads each answer whole.
type Client struct {
	URL         string       // the gateway's, as ListeningURL gives it
	Token       string       // sent with every request, as TokenHeader says; none when empty
	TokenHeader string       // the header that carries Token: Authorization (as a bearer token) when empty
	Cookie      *http.Cookie // a session cookie, sent when not nil
	HTTP        *http.Client // http.DefaultClient when nil
}

// Answer is a gateway's answer, its body read whole.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
	label  string // the request, for messages
}

// Decode unmarshals the body into v, and fails tb unless it is JSON. It returns a, so that a request,
// its answer and the answer's document can be had in one line.
func (a *Answer) Decode(tb testing.TB, v any) *Answer {
	tb.Helper()
	if err := json.Unmarshal(a.Body, v); err != nil {
		tb.Fatalf("%s: %d, not JSON (%v): %.300s", a.label, a.Status, err, a.Body)
	}
	return a
}

// Cookies returns the cookies the answer sets.
func (a *Answer) Cookies() []*http.Cookie {
	return (&http.Response{Header: a.Header}).Cookies()
}

// As returns a client of the same gateway with token instead of the caller's credentials.
func (c *Client) As(token string) *Client {
	return &Client{URL: c.URL, Token: token, TokenHeader: c.TokenHeader, HTTP: c.HTTP}
}

// Plugin returns a client of the same caller that sends its token in the plugin's header.
func (c *Client) Plugin() *Client {
	p := *c
	p.TokenHeader = PluginTokenHeader
	return &p
}

// NoRedirects returns a client of the same caller that does not follow redirects: the answer to a
// request that is redirected is the redirect itself.
func (c *Client) NoRedirects() *Client {
	n := *c
	h := *c.client()
	h.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	n.HTTP = &h
	return &n
}

// request makes a request to target (a path on the gateway) with the caller's credentials, and header
// (name, value, name, value, ...). A Content-Length in header is the length the request announces,
// whatever its body holds: a test of a body over a limit need not send all of it.
func (c *Client) request(method, target string, body io.Reader, header ...string) *http.Request {
	req, err := http.NewRequest(method, c.URL+target, body)
	if err != nil {
		panic(err) // a test's own target that does not parse
	}
	switch {
	case c.Token == "":
	case c.TokenHeader == "":
		req.Header.Set("Authorization", "Bearer "+c.Token)
	default:
		req.Header.Set(c.TokenHeader, c.Token)
	}
	if c.Cookie != nil {
		req.AddCookie(c.Cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if http.CanonicalHeaderKey(header[i]) == "Content-Length" {
			n, err := strconv.ParseInt(header[i+1], 10, 64)
			if err != nil {
				panic(err) // a test's own length that does not parse
			}
			req.ContentLength = n
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

func (c *Client) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Send sends one request and returns the answer, or the error of a request that got none: for load
// loops, which count failures rather than stop at the first, and for requests sent where tb may not be
// failed (another goroutine).
func (c *Client) Send(method, target string, body io.Reader, header ...string) (*Answer, error) {
	resp, err := c.client().Do(c.request(method, target, body, header...))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: data, label: method + " " + target}, nil
}

// Do sends one request and returns the answer; it fails tb when there is none. Its header, as those of
// Send, Get and Open, is name, value, name, value, ...: each replaces what the client would send under
// that name, and a Content-Length is the length the request announces, whatever its body holds.
func (c *Client) Do(tb testing.TB, method, target string, body io.Reader, header ...string) *Answer {
	tb.Helper()
	a, err := c.Send(method, target, body, header...)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, target, err)
	}
	return a
}

// Get sends a GET of target, with header.
func (c *Client) Get(tb testing.TB, target string, header ...string) *Answer {
	tb.Helper()
	return c.Do(tb, http.MethodGet, target, nil, header...)
}

// Open sends one request and returns the response with its body unread, for an answer that does not end
// by itself (a job's event stream) or that a test reads while something else goes on; the caller closes
// the body. It fails tb when there is no answer.
func (c *Client) Open(tb testing.TB, method, target string, body io.Reader, header ...string) *http.Response {
	tb.Helper()
	resp, err := c.client().Do(c.request(method, target, body, header...))
	if err != nil {
		tb.Fatalf("%s %s: %v", method, target, err)
	}
	return resp
}

// Login logs in with the client's token and returns a client of the same gateway with the session
// cookie, and no token.
func (c *Client) Login(tb testing.TB) *Client {
	tb.Helper()
	a := c.As("").NoRedirects().Get(tb, "/login?token="+url.QueryEscape(c.Token))
	for _, cookie := range a.Cookies() {
		if cookie.Name == "session" {
			return &Client{URL: c.URL, Cookie: cookie, HTTP: c.HTTP}
		}
	}
	tb.Fatalf("login gave no session cookie (%d)", a.Status)
	return nil
}

// Minted is a token minted by POST /api/v1/tokens.
type Minted struct {
	Token    string `json:"token"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	LoginURL string `json:"login_url"`
}

// Mint mints a token of role (the caller's own when empty) that lives for ttl, as `aws mwaa
// create-cli-token` hands one out, and fails tb unless the gateway made one.
func (c *Client) Mint(tb testing.TB, ttl, role string) *Minted {
	tb.Helper()
	body := map[string]any{"ttl": ttl}
	if role != "" {
		body["role"] = role
	}
	return c.MintWith(tb, body)
}

// MintWith mints a token as Mint does, with the request's body fields given whole (a scope's dags, tags,
// teams), and fails tb unless it is minted.
func (c *Client) MintWith(tb testing.TB, body map[string]any) *Minted {
	tb.Helper()
	data, _ := json.Marshal(body)
	a := c.Do(tb, http.MethodPost, "/api/v1/tokens", strings.NewReader(string(data)), "Content-Type", "application/json")
	var m Minted
	if err := json.Unmarshal(a.Body, &m); err != nil || a.Status != http.StatusCreated {
		tb.Fatalf("mint: %d %v %.300s", a.Status, err, a.Body)
	}
	return &m
}

// JobDoc is a job as the job endpoints answer it.
type JobDoc struct {
	Status     int
	ID         string `json:"id"`
	Command    string `json:"command"`
	AirflowCmd string `json:"airflow_cmd"`
	State      string `json:"state"`
	ExitCode   *int   `json:"exit_code"`
	Owner      string `json:"owner"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	Detail     string `json:"detail"`
	Replica    string `json:"replica"`
	Location   string `json:"-"` // the Location header: where a job that was started is read
	ServedBy   string `json:"-"` // the X-Served-By header a balancer in front sets: the replica that answered
}

// Job sends one request to a job endpoint. A 5xx that is not the gateway's JSON, as a balancer answers
// while the replica it chose has just died, comes back with its status and text as Detail, for the caller
// to try again.
func (c *Client) Job(tb testing.TB, method, path string) *JobDoc {
	tb.Helper()
	a := c.Do(tb, method, path, nil)
	var d JobDoc
	if err := json.Unmarshal(a.Body, &d); err != nil {
		if a.Status < 500 {
			tb.Fatalf("%s %s: %d %v: %.200s", method, path, a.Status, err, a.Body)
		}
		d.Detail = string(a.Body)
	}
	d.Status = a.Status
	d.Location = a.Header.Get("Location")
	d.ServedBy = a.Header.Get("X-Served-By")
	return &d
}

// StartJob starts line as a job, and fails tb unless it is running.
func (c *Client) StartJob(tb testing.TB, line string) *JobDoc {
	tb.Helper()
	d := c.Job(tb, http.MethodPost, "/api/v1/jobs?command="+url.QueryEscape(line))
	if d.Status != http.StatusAccepted || d.State != "running" {
		tb.Fatalf("POST %s: %d %s %s", line, d.Status, d.State, d.Detail)
	}
	return d
}

// Follow reads a job's events as they come, from lastID when not empty, until `end` or until each
// returns false.
func (c *Client) Follow(tb testing.TB, id, lastID string, each func(Event) bool) {
	tb.Helper()
	var header []string
	if lastID != "" {
		header = []string{"Last-Event-ID", lastID}
	}
	resp := c.Open(tb, http.MethodGet, "/api/v1/jobs/"+id+"/output", nil, header...)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		tb.Fatalf("output of %s: %d %s", id, resp.StatusCode, body)
	}
	if err := ReadEvents(resp.Body, func(ev Event) bool { return each(ev) && ev.Name != "end" }); err != nil {
		tb.Fatalf("output of %s: %v", id, err)
	}
}

package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Exit codes of the client for what is not the command's own exit code. The command's exit code passes
// through as it is (Airflow's commands exit 0, 1, or 2 for a usage error).
const (
	ExitRefused      = 2   // the gateway refused the command (400): the reason is printed, as argparse does
	ExitSoftware     = 70  // the gateway answered something the client cannot read
	ExitUnreachable  = 69  // the gateway could not be reached
	ExitBusy         = 75  // the gateway stayed busy (503) through every retry
	ExitForbidden    = 77  // the token's role may not run the command (403)
	ExitConfig       = 78  // no token, a bad profile or URL
	ExitUnauthorized = 80  // the token is missing, wrong or expired (401), or turned away (429)
	ExitTimedOut     = 124 // the command ran past its time limit (504), as timeout(1) exits
	ExitInterrupted  = 130 // Ctrl-C: the command or job was canceled
)

// ExitCodes describes the exit codes for --help and the docs.
const ExitCodes = `exit codes:
  0-255  the command's own exit code
  2      the gateway refused the command (its reason is printed)
  69     the gateway could not be reached
  70     the gateway's answer could not be read
  75     the gateway stayed busy (503) through every retry
  77     the token's role may not run the command (403)
  78     no token, or a bad profile or URL
  80     the token is missing, wrong or expired (401), or its address is turned away (429)
  124    the command ran past its time limit (504)
  130    interrupted: the job was canceled (or, at a second Ctrl-C, left running)
`

// Error is a failure of the client or the gateway, with the exit code it stands for.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

func failf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Client talks to one gateway.
type Client struct {
	base  string
	token string
	http  *http.Client
	// Retries is how often a 503 is retried, after the Retry-After it names (at most MaxRetryWait).
	Retries      int
	MaxRetryWait time.Duration
	// Reconnects bounds how often a job's event stream is opened again after it broke.
	Reconnects int
}

// New returns a client for the settings.
func New(s Settings) (*Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if s.CACert != "" {
		pem, err := os.ReadFile(s.CACert)
		if err != nil {
			return nil, failf(ExitConfig, "read the CA certificates: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, failf(ExitConfig, "%s holds no PEM certificate", s.CACert)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{base: s.URL, token: s.Token, http: &http.Client{Transport: transport}, Retries: 3, MaxRetryWait: 10 * time.Second, Reconnects: 100}, nil
}

// problem is the gateway's refusal or failure.
type problem struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

// do sends a request with the token, retrying a 503 after its Retry-After.
func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(data))
		if err != nil {
			return nil, failf(ExitConfig, "%v", err)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, failf(ExitUnreachable, "cannot reach the gateway at %s: %v", c.base, err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || attempt >= c.Retries {
			return resp, nil
		}
		wait := time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			wait = time.Duration(s) * time.Second
		}
		resp.Body.Close()
		select {
		case <-time.After(min(wait, c.MaxRetryWait)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// failure reads a refusal or failure answer into an Error with its exit code; the output a stopped
// command printed is written out first.
func failure(resp *http.Response, stdout, stderr io.Writer) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	var p problem
	if json.Unmarshal(raw, &p) != nil || p.Detail == "" {
		p.Detail = strings.TrimSpace(string(raw))
		if p.Detail == "" {
			p.Detail = resp.Status
		}
	}
	io.WriteString(stdout, p.Stdout)
	io.WriteString(stderr, p.Stderr)
	code := ExitSoftware
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusConflict:
		code = ExitRefused
	case http.StatusUnauthorized, http.StatusTooManyRequests:
		code = ExitUnauthorized
	case http.StatusForbidden:
		code = ExitForbidden
	case http.StatusServiceUnavailable:
		code = ExitBusy
	case http.StatusGatewayTimeout:
		code = ExitTimedOut
	}
	return &Error{Code: code, Message: p.Detail}
}

// API sends one call of Airflow's REST API through the gateway (path such as /api/v1/dags?limit=5; a path
// without /api/ is taken as under /api/v1), with body as its JSON body when not nil, and writes the
// answer's body to stdout, JSON indented. An error status is an *Error, its body written to stdout too,
// as `gh api` does.
func (c *Client) API(ctx context.Context, method, path string, body []byte, stdout io.Writer) error {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if !strings.HasPrefix(path, "/api/") {
		path = "/api/v1" + path
	}
	var payload any
	if body != nil {
		payload = json.RawMessage(body)
		if !json.Valid(body) {
			return failf(ExitRefused, "the body is not JSON: %.60s", body)
		}
	}
	resp, err := c.do(ctx, method, path, payload)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return failf(ExitUnreachable, "the answer broke off: %v", err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, raw, "", "  ") == nil {
		raw = append(pretty.Bytes(), '\n')
	}
	stdout.Write(raw)
	if resp.StatusCode >= 400 {
		err := failure(&http.Response{StatusCode: resp.StatusCode, Status: resp.Status, Body: io.NopCloser(bytes.NewReader(raw))}, io.Discard, io.Discard)
		err.(*Error).Message = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		return err
	}
	return nil
}

// commandInfo is what the client needs of the gateway's catalog: which paths run as jobs.
type commandInfo struct {
	Path string `json:"path"`
	Long bool   `json:"long"`
}

// IsLong asks the gateway whether argv runs under its long time limit (dags test, tasks test, backfills):
// such commands run as jobs, so that a proxy's idle timeout cannot cut them.
func (c *Client) IsLong(ctx context.Context, argv []string) (bool, error) {
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/commands", nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, failure(resp, io.Discard, io.Discard)
	}
	var listing struct {
		Commands []commandInfo `json:"commands"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&listing); err != nil {
		return false, failf(ExitSoftware, "the gateway's list of commands cannot be read: %v", err)
	}
	words := argv
	if len(words) > 0 && words[0] == "airflow" {
		words = words[1:]
	}
	for _, cmd := range listing.Commands {
		path := strings.Fields(cmd.Path)
		if len(words) >= len(path) && strings.Join(words[:len(path)], " ") == cmd.Path {
			return cmd.Long, nil
		}
	}
	return false, nil
}

// Run runs argv as one request and writes its stdout and stderr; it returns the command's exit code.
func (c *Client) Run(ctx context.Context, argv []string, stdout, stderr io.Writer) (int, error) {
	resp, err := c.do(ctx, http.MethodPost, "/api/v1/command", map[string]any{"argv": argv})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, failure(resp, stdout, stderr)
	}
	var answer struct {
		Stdout   string `json:"stdout"`
		Stderr   string `json:"stderr"`
		ExitCode int    `json:"exit_code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return 0, failf(ExitSoftware, "the gateway's answer cannot be read: %v", err)
	}
	io.WriteString(stdout, answer.Stdout)
	io.WriteString(stderr, answer.Stderr)
	return answer.ExitCode, nil
}

// Job is the part of a job's record the client reads.
type Job struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	ExitCode *int   `json:"exit_code"`
	Detail   string `json:"detail"`
	Command  string `json:"command"`
	Owner    string `json:"owner"`
	Created  string `json:"created_at"`
}

// StartJob starts argv as a job.
func (c *Client) StartJob(ctx context.Context, argv []string) (*Job, error) {
	resp, err := c.do(ctx, http.MethodPost, "/api/v1/jobs", map[string]any{"argv": argv})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil, failure(resp, io.Discard, os.Stderr)
	}
	var job Job
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil {
		return nil, failf(ExitSoftware, "the gateway's answer cannot be read: %v", err)
	}
	return &job, nil
}

// CancelJob asks the gateway to cancel the job; it returns the job as the gateway then has it.
func (c *Client) CancelJob(ctx context.Context, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodDelete, "/api/v1/jobs/"+id)
}

// GetJob returns the job.
func (c *Client) GetJob(ctx context.Context, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodGet, "/api/v1/jobs/"+id)
}

func (c *Client) jobCall(ctx context.Context, method, path string) (*Job, error) {
	resp, err := c.do(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, failure(resp, io.Discard, io.Discard)
	}
	var job Job
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil {
		return nil, failf(ExitSoftware, "the gateway's answer cannot be read: %v", err)
	}
	return &job, nil
}

// ListJobs writes the gateway's list of recent jobs, newest first, one a line.
func (c *Client) ListJobs(ctx context.Context, w io.Writer) error {
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/jobs?limit=50", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return failure(resp, io.Discard, io.Discard)
	}
	var list struct {
		Jobs []Job `json:"jobs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return failf(ExitSoftware, "the gateway's answer cannot be read: %v", err)
	}
	for _, j := range list.Jobs {
		code := "-"
		if j.ExitCode != nil {
			code = strconv.Itoa(*j.ExitCode)
		}
		fmt.Fprintf(w, "%s  %-9s  exit %-3s  %s  %s  %s\n", j.ID, j.State, code, j.Created, j.Owner, j.Command)
	}
	return nil
}

// Follow writes a job's output as it comes, from the start, opening the event stream again from the last
// event when it breaks, so that no line is lost or written twice. It returns the job once it has ended.
func (c *Client) Follow(ctx context.Context, id string, stdout, stderr io.Writer) (*Job, error) {
	last := ""
	for attempt := 0; ; attempt++ {
		job, err := c.followOnce(ctx, id, &last, stdout, stderr)
		if job != nil || ctx.Err() != nil {
			return job, ctx.Err()
		}
		var e *Error
		if errors.As(err, &e) && e.Code != ExitUnreachable {
			return nil, err // the gateway refused: following again would not help
		}
		if attempt >= c.Reconnects {
			return nil, failf(ExitUnreachable, "the job's output stream broke %d times; the job may still run: airflow-gateway jobs follow %s", attempt+1, id)
		}
		select {
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 3*time.Second)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// followOnce reads the event stream once, from the event after *last, moving *last on as events come.
// It returns the job when the stream ended with it, or the error that broke the stream.
func (c *Client) followOnce(ctx context.Context, id string, last *string, stdout, stderr io.Writer) (*Job, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/jobs/"+id+"/output", nil)
	if err != nil {
		return nil, failf(ExitConfig, "%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "text/event-stream")
	if *last != "" {
		req.Header.Set("Last-Event-ID", *last)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, failf(ExitUnreachable, "cannot reach the gateway at %s: %v", c.base, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		// a balancer between replicas, or a job store for a while away: the stream is opened again
		return nil, failf(ExitUnreachable, "the job's output stream: %v", failure(resp, io.Discard, io.Discard))
	default:
		return nil, failure(resp, io.Discard, io.Discard)
	}
	var ended *Job
	err = ReadEvents(resp.Body, func(name, id, data string) bool {
		switch name {
		case "stdout", "stderr":
			w := stdout
			if name == "stderr" {
				w = stderr
			}
			io.WriteString(w, data)
			*last = id
		case "end":
			var job Job
			if json.Unmarshal([]byte(data), &job) == nil {
				ended = &job
			}
			return false
		}
		return true
	})
	if ended != nil {
		return ended, nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return nil, failf(ExitUnreachable, "the job's output stream broke: %v", err)
}

// ReadEvents reads Server-Sent Events as a browser's EventSource does, and hands each event's name
// ("message" when the stream names none), id and data to fn until fn returns false or the stream ends.
// Comments are skipped.
func ReadEvents(r io.Reader, fn func(name, id, data string) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var name, id string
	var data []string
	seen := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if seen && !fn(first(name, "message"), id, strings.Join(data, "\n")) {
				return nil
			}
			name, id, data, seen = "", "", nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name, seen = value, true
		case "id":
			id, seen = value, true
		case "data":
			data, seen = append(data, value), true
		}
	}
	return sc.Err()
}

// MintToken asks the gateway for a short-lived token (POST /api/v1/tokens) and returns its answer as the
// gateway wrote it: token, name, role, expires_at and login_url.
func (c *Client) MintToken(ctx context.Context, req MintRequest) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodPost, "/api/v1/tokens", req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, failure(resp, io.Discard, io.Discard)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// MintRequest asks for a minted token: every field may be left empty, for the gateway's default or the
// minting token's own role and scope.
type MintRequest struct {
	TTL   string   `json:"ttl,omitempty"`
	Role  string   `json:"role,omitempty"`
	DAGs  []string `json:"dags,omitempty"`
	Tags  []string `json:"tags,omitempty"`
	Teams []string `json:"teams,omitempty"`
}

// Deployed is what deploy_dag answered for one file.
type Deployed struct {
	Output       string // what the gateway did: the file written, the DAGs paused or unpaused
	Warning      string // the file's import errors, and anything else to warn about
	ImportErrors bool
}

// Deploy uploads a DAG file (.py or .zip) through the plugin dialect's deploy_dag, with force (replace a
// file of the same name) and pause or unpause (of the DAGs the file defines).
func (c *Client) Deploy(ctx context.Context, path string, force, pause, unpause bool) (*Deployed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, failf(ExitRefused, "%v", err)
	}
	defer f.Close()
	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	part, err := form.CreateFormFile("dag_file", filepath.Base(path))
	if err == nil {
		_, err = io.Copy(part, f)
	}
	if err != nil {
		return nil, failf(ExitRefused, "read %s: %v", path, err)
	}
	for name, on := range map[string]bool{"force": force, "pause": pause, "unpause": unpause} {
		if on {
			_ = form.WriteField(name, "on")
		}
	}
	form.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/admin/rest_api/api?api=deploy_dag", &body)
	if err != nil {
		return nil, failf(ExitConfig, "%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", form.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, failf(ExitUnreachable, "cannot reach the gateway at %s: %v", c.base, err)
	}
	defer resp.Body.Close()
	var env struct {
		Status  string `json:"status"`
		Output  any    `json:"output"`
		Warning string `json:"warning"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&env); err != nil {
		return nil, failf(ExitSoftware, "the gateway's answer cannot be read: %v", err)
	}
	text, _ := env.Output.(string)
	if resp.StatusCode != http.StatusOK || env.Status != "OK" {
		return nil, failure(&http.Response{StatusCode: resp.StatusCode, Status: resp.Status,
			Body: io.NopCloser(strings.NewReader(`{"detail": ` + strconv.Quote(first(text, resp.Status)) + `}`))}, io.Discard, io.Discard)
	}
	return &Deployed{Output: text, Warning: env.Warning, ImportErrors: strings.Contains(env.Warning, "import error")}, nil
}

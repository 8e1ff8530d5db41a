package gateway_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

var roomy = gateway.Limits{IdleTimeout: time.Minute, BodyTimeout: time.Minute, MaxConnections: 64}

// rawRequest writes head and body on a new connection, all of it before reading, and returns the answer.
// It stays below any client library: a test of the server's limits writes what a client would not (a head
// past the limit, a body that stops short of its length) and reads only once it has written all.
func rawRequest(tb testing.TB, addr, head string, body []byte) (*http.Response, string, error) {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(conn, head); err != nil {
		return nil, "", err
	}
	if _, err := conn.Write(body); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

func TestRequestHeadersOver64KBAre431(t *testing.T) {
	addr := mustServer(t, &scriptedExecutor{}, commands.Options{}, asServe(roomy, nil)).Listener.Addr().String()
	for _, tt := range []struct {
		size int
		want int
	}{{60 << 10, http.StatusOK}, {66 << 10, http.StatusRequestHeaderFieldsTooLarge}, {200 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		head := fmt.Sprintf("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: %s\r\n\r\n", strings.Repeat("a", tt.size))
		resp, body, err := rawRequest(t, addr, head, nil)
		if err != nil || resp.StatusCode != tt.want {
			t.Errorf("%d bytes of headers: %v, %v; want %d", tt.size, resp, err, tt.want)
		}
		var p gateway.Problem
		if tt.want != http.StatusOK && (json.Unmarshal([]byte(body), &p) != nil || !strings.Contains(p.Detail, "over 64 KB")) {
			t.Errorf("%d bytes of headers: the answer is not a problem document: %s", tt.size, body)
		}
	}
	// A client of MWAA's endpoint reads the refusal in MWAA's shape.
	head := fmt.Sprintf("POST /aws_mwaa/cli HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nX-Padding: %s\r\n\r\n", strings.Repeat("a", 70<<10))
	resp, body, err := rawRequest(t, addr, head, []byte("version"))
	var answer struct{ Stderr string }
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || json.Unmarshal([]byte(body), &answer) != nil {
		t.Fatalf("an MWAA request with 70 KB of headers: %v, %v, %s", resp, err, body)
	}
	if why, _ := base64.StdEncoding.DecodeString(answer.Stderr); !strings.Contains(string(why), "over 64 KB") {
		t.Errorf("the MWAA refusal's stderr: %q", why)
	}
}

// mwaaStderr reads an answer in MWAA's shape and returns its stderr, decoded.
func mwaaStderr(tb testing.TB, a *testbed.Answer) string {
	tb.Helper()
	var answer struct{ Stdout, Stderr string }
	if err := json.Unmarshal(a.Body, &answer); err != nil {
		tb.Errorf("not MWAA's shape: %v", err)
	}
	why, err := base64.StdEncoding.DecodeString(answer.Stderr)
	if err != nil {
		tb.Errorf("stderr is not base64: %v", err)
	}
	return string(why)
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	limits := gateway.Limits{IdleTimeout: 300 * time.Millisecond, BodyTimeout: time.Minute, MaxConnections: 64}
	addr := mustServer(t, &scriptedExecutor{}, commands.Options{}, asServe(limits, nil)).Listener.Addr().String()
	// Over a socket of its own: the test watches the connection, which a client library hides.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	io.WriteString(conn, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("a keep-alive request: %v, %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the idle connection: read %d, %v; want the gateway to close it", n, err)
	}
	if idle := time.Since(start); idle > 5*time.Second {
		t.Errorf("the idle connection was closed after %s, with idle_timeout 300ms", idle)
	}
}

func TestSlowBodiesAre408(t *testing.T) {
	limits := gateway.Limits{IdleTimeout: time.Minute, BodyTimeout: 300 * time.Millisecond, MaxConnections: 64}
	addr := mustServer(t, &scriptedExecutor{}, commands.Options{}, asServe(limits, nil)).Listener.Addr().String()
	for _, tt := range []struct{ head, says string }{
		{"POST /api/v1/command HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
			"did not arrive within 300ms ([gateway] body_timeout)"},
		// The test gateway takes uploads of 64 KiB: one second more to send them at 64 KiB/s.
		{"POST /admin/rest_api/api?api=deploy_dag HTTP/1.1\r\nHost: x\r\nrest_api_plugin_http_token: " + token + "\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\n",
			"did not arrive within 1.3s ([gateway] body_timeout, plus max_upload_bytes at 64 KiB/s)"},
	} {
		start := time.Now()
		resp, body, err := rawRequest(t, addr, tt.head, []byte(`{"command": "ver`))
		if err != nil || resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, tt.says) {
			t.Errorf("a body that stops: %v, %v, %s", resp, err, body)
			continue
		}
		t.Logf("answered 408 after %s: %s", time.Since(start).Round(time.Millisecond), body)
	}
}

func TestOverSizeBodiesAreAnsweredToClientsThatWriteFirst(t *testing.T) {
	addr := mustServer(t, &scriptedExecutor{}, commands.Options{}, asServe(roomy, nil)).Listener.Addr().String()
	// A body of 5 MB on the command dialect (1 MB at most), written whole before the answer is read.
	body := []byte(`{"command": "` + strings.Repeat("x", 5<<20) + `"}`)
	head := fmt.Sprintf("POST /api/v1/command HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", token, len(body))
	resp, text, err := rawRequest(t, addr, head, body)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(text, "over 1M") {
		t.Errorf("5 MB written before reading: %v, %v, %s", resp, err, text)
	}

	// Python's urllib sends all of a 20 MB deploy_dag upload before it reads the answer.
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is needed to upload as urllib does")
		}
		t.Skip("no python3 on PATH to upload as urllib does")
	}
	upload := append([]byte("--b\r\nContent-Disposition: form-data; name=\"dag_file\"; filename=\"big.py\"\r\nContent-Type: text/x-python\r\n\r\n"),
		bytes.Repeat([]byte("#"), 20<<20)...)
	upload = append(upload, "\r\n--b--\r\n"...)
	out, err := viaURLLib(t, python, "http://"+addr+"/admin/rest_api/api?api=deploy_dag",
		map[string]string{"Content-Type": "multipart/form-data; boundary=b", "rest_api_plugin_http_token": token}, upload)
	if err != nil || !strings.HasPrefix(out, "413\n") || !strings.Contains(out, "max_upload_bytes") {
		t.Errorf("urllib's 20 MB upload: %v\n%s", err, out)
	}

	// A 2 MB command sent to MWAA's endpoint by urllib: the refusal keeps MWAA's shape, so that the
	// documented `jq -r .stderr | base64 --decode` shows why.
	out, err = viaURLLib(t, python, "http://"+addr+"/aws_mwaa/cli",
		map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer " + token}, append([]byte("dags list "), bytes.Repeat([]byte("x"), 2<<20)...))
	status, text, _ := strings.Cut(out, "\n")
	var answer struct{ Stdout, Stderr string }
	if err != nil || status != "413" || json.Unmarshal([]byte(text), &answer) != nil {
		t.Fatalf("urllib's 2 MB MWAA command: %v\n%s", err, out)
	}
	if why, err := base64.StdEncoding.DecodeString(answer.Stderr); err != nil || !strings.Contains(string(why), "over 1M") {
		t.Errorf("the MWAA refusal's stderr: %q, %v", why, err)
	}
}

// urllibPost posts its stdin to argv[1] with the headers of the JSON object argv[2], as urllib does: the
// whole body written before the answer is read. It prints the status and body of the answer.
const urllibPost = `
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], data=sys.stdin.buffer.read(), headers=json.loads(sys.argv[2]))
try:
    with urllib.request.urlopen(req) as resp:
        print(resp.status)
        print(resp.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)
    print(e.read().decode())
`

// viaURLLib posts body to url with urllib (urllibPost) and returns what it printed.
func viaURLLib(tb testing.TB, python, url string, header map[string]string, body []byte) (string, error) {
	tb.Helper()
	h, _ := json.Marshal(header)
	cmd := exec.Command(python, "-c", urllibPost, url, string(h))
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestOverSizeAnswerComesBeforeTheBody(t *testing.T) {
	addr := mustServer(t, &scriptedExecutor{}, commands.Options{}, asServe(roomy, nil)).Listener.Addr().String()
	// Over a socket of its own: a client library would send the body, or fail for want of it.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The client announces 10 MB and waits before it sends any: the answer does not wait for the body.
	fmt.Fprintf(conn, "POST /api/v1/command HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", token, 10<<20)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || resp.ContentLength <= 0 {
		t.Fatalf("%v, %v", resp, err)
	}
	// The answer has its length, so that a client reads it to its end (as curl does before it closes).
	if b, err := io.ReadAll(resp.Body); err != nil || !strings.Contains(string(b), "over 1M") {
		t.Errorf("the answer: %v, %s", err, b)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the 413 came whole after %s", took)
	}
}

func TestConnectionsOverTheCapAre503(t *testing.T) {
	const max = 8
	limits := gateway.Limits{IdleTimeout: time.Minute, BodyTimeout: time.Minute, MaxConnections: max}
	url := "http://" + mustServer(t, &scriptedExecutor{}, commands.Options{}, asServe(limits, nil)).Listener.Addr().String()
	// max keep-alive clients, each holding its connection open.
	var held []*testbed.Client
	for range max {
		c := &testbed.Client{URL: url, HTTP: &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}}
		if a := c.Get(t, "/health/live"); a.Status != http.StatusOK {
			t.Fatalf("client %d: %d %s", len(held), a.Status, a.Body)
		}
		held = append(held, c)
	}
	// A client over the cap: on a connection of its own each time.
	fresh := &testbed.Client{URL: url, Token: token, HTTP: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}}
	command := func() *testbed.Answer {
		return fresh.Do(t, http.MethodPost, "/api/v1/command", strings.NewReader(`{"command": "version"}`), asJSON...)
	}
	a := command()
	var p gateway.Problem
	if a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" || json.Unmarshal(a.Body, &p) != nil ||
		!strings.Contains(p.Detail, "[gateway] max_connections") {
		t.Errorf("over the cap: %d, Retry-After %q, %s", a.Status, a.Header.Get("Retry-After"), a.Body)
	}
	// An MWAA client over the cap reads its refusal in MWAA's shape.
	if a, err := fresh.Send(http.MethodPost, "/aws_mwaa/cli", strings.NewReader("version"), "Content-Type", "text/plain"); err != nil {
		t.Errorf("an MWAA client over the cap: %v", err)
	} else {
		if why := mwaaStderr(t, a); a.Status != http.StatusServiceUnavailable || !strings.Contains(why, "[gateway] max_connections") {
			t.Errorf("an MWAA client over the cap: %d, stderr %q", a.Status, why)
		}
	}
	// A held connection still works; once one is closed, a new client gets in.
	if a, err := held[0].Send(http.MethodGet, "/health/live", nil); err != nil || a.Status != http.StatusOK {
		t.Errorf("a held connection: %v, %v", a, err)
	}
	held[1].HTTP.CloseIdleConnections()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if command().Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new client got in after a held connection closed")
		}
	}
	a = held[0].As(token).Get(t, "/metrics") // on the held connection
	refused := regexp.MustCompile(`(?m)^airflow_gateway_connections_refused_total ([1-9]\d*)$`).FindSubmatch(a.Body)
	open := regexp.MustCompile(`(?m)^airflow_gateway_connections_open ([1-8])$`).FindSubmatch(a.Body)
	if refused == nil || open == nil {
		t.Errorf("the connection metrics: %d\n%s", a.Status, a.Body)
	}
}

// TestStreamsAndLongCommandsOutlastTheTimeouts holds a command and a job's event stream open longer than
// the idle and body timeouts: neither is cut.
func TestStreamsAndLongCommandsOutlastTheTimeouts(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "done\n"}, block: make(chan struct{})}
	limits := gateway.Limits{IdleTimeout: 100 * time.Millisecond, BodyTimeout: 300 * time.Millisecond, MaxConnections: 64}
	admin := &testbed.Client{URL: "http://" + mustServer(t, ex, commands.Options{}, asServe(limits, nil)).Listener.Addr().String(), Token: token}
	var job struct{ ID string }
	admin.Do(t, http.MethodPost, "/api/v1/jobs", strings.NewReader(`{"command": "dags test gw_two_tasks 2024-01-01"}`), asJSON...).Decode(t, &job)
	stream := admin.Open(t, http.MethodGet, "/api/v1/jobs/"+job.ID+"/output", nil, "Accept", "text/event-stream")
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("the job's event stream: %d", stream.StatusCode)
	}
	type answer struct {
		*testbed.Answer
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		a, err := admin.Send(http.MethodPost, "/api/v1/command", strings.NewReader(`{"command": "dags list"}`), asJSON...)
		answered <- answer{a, err}
	}()
	time.Sleep(800 * time.Millisecond) // past both timeouts
	close(ex.block)
	select {
	case a := <-answered:
		if a.err != nil {
			t.Fatalf("the held command: %v", a.err)
		}
		if a.Status != http.StatusOK || !strings.Contains(string(a.Body), "done") {
			t.Errorf("the held command: %d %s", a.Status, a.Body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held command was not answered")
	}
	events, _ := io.ReadAll(stream.Body)
	if !strings.Contains(string(events), "event: end") {
		t.Errorf("the event stream ended without its end event:\n%s", events)
	}
}

// TestConnectionsOverTheCapAre503OverTLS fills the cap with HTTP/2 clients over TLS: a client over it gets
// its 503 over TLS too.
func TestConnectionsOverTheCapAre503OverTLS(t *testing.T) {
	certFile, keyFile := testbed.SelfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{}, asServe(gateway.Limits{IdleTimeout: time.Minute, BodyTimeout: time.Minute, MaxConnections: 8},
		&tls.Config{Certificates: []tls.Certificate{cert}}))
	// Each client has a connection of its own, which it keeps.
	client := func() *testbed.Client {
		return &testbed.Client{URL: "https://" + srv.Listener.Addr().String(), HTTP: &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{ForceAttemptHTTP2: true, MaxConnsPerHost: 1, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
	}
	for i := range 8 {
		if a := client().Get(t, "/health/live"); a.Status != http.StatusOK {
			t.Fatalf("client %d: %d %s", i, a.Status, a.Body)
		}
	}
	if a := client().Get(t, "/health/live"); a.Status != http.StatusServiceUnavailable || !strings.Contains(string(a.Body), "max_connections") {
		t.Errorf("over the cap over TLS: %d %s", a.Status, a.Body)
	}
}

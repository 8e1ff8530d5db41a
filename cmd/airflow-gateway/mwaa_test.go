package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// The MWAA clients of these tests are written as the scripts copied from MWAA's user guide are: a bash
// pipeline through curl, jq and base64, and a Python script on requests. Where those call
// `aws mwaa create-cli-token`, these mint a token from the gateway.

// mwaaPython is the requests wrapper's shape: data=command with Content-Type text/plain, both streams
// decoded to the script's own, and the command's exit code as its own.
const mwaaPython = `import base64, os, sys
import requests

gateway, token, command = sys.argv[1:4]
r = requests.post(gateway + "/aws_mwaa/cli", data=command, timeout=300,
                  headers={"Authorization": "Bearer " + token, "Content-Type": "text/plain"},
                  verify=os.environ.get("CACERT") or True)
doc = r.json()
sys.stdout.write(base64.b64decode(doc["stdout"]).decode())
sys.stderr.write(base64.b64decode(doc["stderr"]).decode())
sys.exit(doc["exit_code"] if r.ok else 2)
`

// viaPython runs line through the requests script with the Airflow installation's own Python.
func viaPython(tb testing.TB, home *testbed.Home, base, token, cacert, line string) testbed.MWAARun {
	tb.Helper()
	cmd := exec.Command(filepath.Join(filepath.Dir(home.Airflow), "python"), "-c", mwaaPython, base, token, line)
	cmd.Env = append(os.Environ(), "CACERT="+cacert)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := testbed.MWAARun{Stdout: stdout.String(), Stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		run.ExitCode = ee.ExitCode()
	} else if err != nil {
		tb.Fatalf("the Python client for %q: %v", line, err)
	}
	return run
}

// sameRun compares an MWAA client's run with the command dialect's answer to the same line, with the
// values that change from run to run masked, and other names put in the place of each run's own.
func sameRun(tb testing.TB, label string, got testbed.MWAARun, want *commandAnswer, own ...string) {
	tb.Helper()
	norm := func(s string) string {
		for i := 0; i+1 < len(own); i += 2 {
			s = strings.ReplaceAll(s, own[i], own[i+1])
		}
		return commandstest.MaskRun(s)
	}
	if got.ExitCode != want.ExitCode || norm(got.Stdout) != norm(want.Stdout) || norm(got.Stderr) != norm(want.Stderr) {
		tb.Errorf("%s: the MWAA client printed\n%q\n%q\nexit %d\nthe command dialect answered\n%q\n%q\nexit %d", label,
			got.Stdout, got.Stderr, got.ExitCode, want.Stdout, want.Stderr, want.ExitCode)
	}
}

// TestClientsAgainstAirflow runs the clients that talk to a gateway from elsewhere against one home and
// gateway per Airflow version: MWAA's documented client shapes (their decoded output and exit code equal
// the command dialect's, refusals print the gateway's reason through the same pipeline, and minted tokens
// log a browser in as DMS's login token does), then the gateway's own remote CLI against the local CLI.
func TestClientsAgainstAirflow(t *testing.T) {
	tokens := mustTokensFile(t, "Viewer", "Op")
	forEachAirflow(t, testbed.Config{SecretKey: "mwaa-test-secret-key-0123456789", TokensFile: tokens}, func(t *testing.T, major string, home *testbed.Home, g *gatewayClient) {
		t.Run("remote CLI", func(t *testing.T) { remoteCLIAgainstAirflow(t, major, home, g) })
		cli := g.Mint(t, "60s", "Admin").Token // as `aws mwaa create-cli-token` hands one out

		t.Run("same answers as the command dialect", func(t *testing.T) {
			for _, line := range []string{"version", "dags list -o json", "variables get mwaa_missing"} {
				want := g.command(t, line)
				sameRun(t, "pipeline: "+line, testbed.MWAAPipeline(t, g.URL, cli, "", line), want)
				sameRun(t, "python: "+line, viaPython(t, home, g.URL, cli, "", line), want)
			}
			// A trigger with a JSON conf: the conf arrives byte for byte. Airflow 3 prints who triggered the
			// run, so both send the same token; the run ids are as long as each other, so that the tables
			// line up alike.
			// Airflow 2.10 gives a run without a date the time of the trigger, to the second: two runs in one
			// second would clash, so each gets a date of its own.
			// MWAA's Airflow 3 scripts give the date as --logical-date.
			mwaaDate, cmdlDate := " --logical-date 2024-05-01T00:00:00+00:00", " --logical-date 2024-05-02T00:00:00+00:00"
			if major == "2" {
				mwaaDate, cmdlDate = " -e 2024-05-01", " -e 2024-05-02"
			}
			viaMWAA := testbed.MWAAPipeline(t, g.URL, testToken, "", `dags trigger gw_conf -r mwaa_run -c '{"a": "b c"}'`+mwaaDate)
			sameRun(t, "pipeline: dags trigger", viaMWAA, g.command(t, `dags trigger gw_conf -r cmdl_run -c '{"a": "b c"}'`+cmdlDate),
				"mwaa_run", "RUN", "cmdl_run", "RUN", "2024-05-01", "DATE", "2024-05-02", "DATE")
			if major == "3" { // Airflow 2.10's dags state takes a date, not a run id
				if s := home.Run(t, "dags", "state", "gw_conf", "mwaa_run"); !strings.Contains(s, `{"a": "b c"}`) {
					t.Errorf("the run triggered through MWAA has the conf %q", s)
				}
			}
			sameRun(t, "python: variables set", viaPython(t, home, g.URL, cli, "", "variables set mwaa_k 'two words'"), g.command(t, "variables set mwaa_k 'two words'"))
			got := testbed.MWAAPipeline(t, g.URL, cli, "", "variables get mwaa_k")
			sameRun(t, "pipeline: variables get", got, g.command(t, "variables get mwaa_k"))
			if strings.TrimSpace(got.Stdout) != "two words" {
				t.Errorf("variables get through MWAA: %q", got.Stdout)
			}
		})

		t.Run("refusals through the pipeline", func(t *testing.T) {
			viewer := g.As(roleTokenOf("Viewer")).Mint(t, "60s", "Viewer").Token
			for _, tt := range []struct{ token, line, says string }{
				{cli, "version; id", "the shell operator `;`"},
				{"", "version", "a valid token is required"},
				{viewer, "variables set k v", "needs role Op"},
			} {
				if got := testbed.MWAAPipeline(t, g.URL, tt.token, "", tt.line); got.ExitCode != -1 || got.Stdout != "" || !strings.Contains(got.Stderr, tt.says) {
					t.Errorf("%q: the pipeline printed %q %q exit %d, want the reason %q", tt.line, got.Stdout, got.Stderr, got.ExitCode, tt.says)
				}
			}
		})

		t.Run("a login token as DMS hands out", func(t *testing.T) {
			minted := g.As(roleTokenOf("Op")).Mint(t, "2h", "")
			u, err := url.Parse(minted.LoginURL)
			if err != nil || u.Path != "/login" {
				t.Fatalf("login_url %q", minted.LoginURL)
			}
			session := g.As(u.Query().Get("token")).Login(t)
			if a := session.Do(t, http.MethodPost, "/api/v1/command?command=dags%20pause%20gw_conf", nil); a.Status != http.StatusOK {
				t.Errorf("a command with the session of a minted token: %d", a.Status)
			}
			// Airflow's audit log names the minted token, as gateway-PARENT/minted.
			if owners := home.SQL(t, "SELECT DISTINCT owner FROM log WHERE owner LIKE '%/minted' ORDER BY owner"); owners != "gateway-op-bot/minted\ngateway-rest_api_plugin/minted\n" {
				t.Errorf("minted owners in Airflow's log table: %q", owners)
			}
		})

		t.Run("airflow-gateway token create", func(t *testing.T) {
			env := map[string]string{"AIRFLOW_GATEWAY_URL": g.URL, "AIRFLOW_GATEWAY_TOKEN": roleTokenOf("Op")}
			var out, errs strings.Builder
			if err := run(t.Context(), []string{"token", "create", "--ttl", "60s", "--role", "Viewer"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errs); err != nil {
				t.Fatalf("token create: %v\n%s", err, errs.String())
			}
			var minted struct{ Token, Name, Role string }
			if err := json.Unmarshal([]byte(out.String()), &minted); err != nil || minted.Name != "op-bot/minted" || minted.Role != "Viewer" {
				t.Fatalf("token create printed %q (%v)", out.String(), err)
			}
			if got := testbed.MWAAPipeline(t, g.URL, minted.Token, "", "version"); got.ExitCode != 0 {
				t.Errorf("the token from token create: %+v", got)
			}
			// Above the minting token's role: the gateway's reason, and a failure.
			err := run(t.Context(), []string{"token", "create", "--role", "Admin"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errs)
			if err == nil || !strings.Contains(err.Error(), "cannot mint one of role Admin") {
				t.Errorf("token create above its role: %v", err)
			}
		})

		t.Run("a 10-second token expires", func(t *testing.T) {
			if major != "3" {
				t.Skip("the expiry is the gateway's alone: one Airflow version shows it")
			}
			minted := g.As(roleTokenOf("Viewer")).Mint(t, "10s", "Viewer")
			if got := testbed.MWAAPipeline(t, g.URL, minted.Token, "", "version"); got.ExitCode != 0 {
				t.Fatalf("the fresh token: %+v", got)
			}
			time.Sleep(10500 * time.Millisecond)
			if got := testbed.MWAAPipeline(t, g.URL, minted.Token, "", "version"); got.ExitCode != -1 || !strings.Contains(got.Stderr, "a valid token is required") {
				t.Errorf("after 10 s the token still works: %+v", got)
			}
		})
	})
}

// TestMWAAOverHTTPS runs both client shapes against a gateway serving HTTPS with a certificate the test
// makes, trusted through the clients' own options (curl --cacert, requests' verify).
func TestMWAAOverHTTPS(t *testing.T) {
	home := testbed.MustHome(t, "3")
	cert, key := testbed.SelfSigned(t)
	g := mustServe(t, testbed.Config{Home: home, TLSCert: cert, TLSKey: key, SecretKey: "mwaa-test-secret-key-0123456789"})
	if !strings.HasPrefix(g.URL, "https://") {
		t.Fatalf("the gateway serves %s", g.URL)
	}
	pemData, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	cli := (&testbed.Client{URL: g.URL, Token: testToken, HTTP: trusting}).Mint(t, "60s", "Viewer").Token
	want := strings.TrimSpace(home.Run(t, "version"))
	// The remote CLI, trusting the certificate through AIRFLOW_GATEWAY_CACERT.
	env := map[string]string{"AIRFLOW_GATEWAY_URL": g.URL, "AIRFLOW_GATEWAY_TOKEN": cli, "AIRFLOW_GATEWAY_CACERT": cert, "XDG_CONFIG_HOME": t.TempDir()}
	var stdout, stderr strings.Builder
	code := runClient(context.Background(), []string{"airflow-gateway", "run", "--", "version"}, func(k string) string { return env[k] }, &stdout, &stderr, make(chan os.Signal))
	for name, got := range map[string]testbed.MWAARun{
		"pipeline":   testbed.MWAAPipeline(t, g.URL, cli, cert, "version"),
		"python":     viaPython(t, home, g.URL, cli, cert, "version"),
		"remote CLI": {Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: code},
	} {
		if got.ExitCode != 0 || strings.TrimSpace(got.Stdout) != want {
			t.Errorf("%s over HTTPS: %+v, want %s", name, got, want)
		}
	}
}

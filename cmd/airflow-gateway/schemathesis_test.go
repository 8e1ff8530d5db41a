package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// schemathesisExamples bounds the examples schemathesis generates per operation and phase.
const schemathesisExamples = "25"

// TestSchemathesis runs schemathesis against a live gateway (its own process) on a real Airflow 3 with
// the warm executor: every operation of /api/v1/openapi.json, with the document's examples, generated
// valid and invalid requests. No answer may be a 5xx or differ from the document, and once the gateway
// has stopped no process of the commands it ran may be left.
func TestSchemathesis(t *testing.T) {
	bin := testbed.Schemathesis(t)
	t.Parallel()
	home := testbed.MustHome(t, "3")
	logs := &testbed.Buffer{}
	// schemathesis sends some requests with made-up credentials, and logins with made-up tokens: with the
	// default failed_auth_burst, this client would soon be answered 429 whatever it sent. A secret_key lets
	// it mint tokens: without one, minting is the configuration's 503.
	proc, url := testbed.GatewayProcess(t, testbed.Config{Home: home, PluginToken: testToken, Executor: "warm", CommandTimeout: time.Minute,
		FailedAuthBurst: 1000000, SecretKey: "a-secret-key-of-the-schemathesis-run"}, logs)
	g := newGatewayClient(url, home, logs)
	waitWarm(t, g)

	// Every credential the document names is given a valid value.
	config := filepath.Join(t.TempDir(), "schemathesis.toml")
	auth := fmt.Sprintf("[auth.openapi.bearerToken]\nbearer = %q\n\n[auth.openapi.pluginToken]\napi_key = %q\n\n[auth.openapi.session]\napi_key = %q\n",
		testToken, testToken, g.Login(t).Cookie.Value)
	if err := os.WriteFile(config, []byte(auth), 0o600); err != nil {
		t.Fatal(err)
	}
	ops, cases := runSchemathesis(t, bin, url, config)
	t.Logf("schemathesis ran %d operations with %d generated requests", ops, cases)
	if ops < 21 {
		t.Errorf("schemathesis tested %d operations, fewer than the document has", ops)
	}
	if strings.Contains(logs.String(), "internal error") {
		t.Errorf("the gateway logged internal errors:\n%s", logs)
	}

	testbed.StopProcess(proc)
	if left := testbed.ProcessesIn(home.Dir); len(left) > 0 {
		t.Errorf("processes still run in the home after the gateway stopped: %v", left)
	}
}

// runSchemathesis runs schemathesis with the config file, on the operations filter selects (all when
// none), and returns how many operations and generated requests it ran, from its summary; any answer
// that breaks the document fails t.
func runSchemathesis(t *testing.T, bin, url, config string, filter ...string) (ops, cases int) {
	t.Helper()
	args := append([]string{"--config-file", config, "run", url + "/api/v1/openapi.json",
		"--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
		"--max-examples", schemathesisExamples, "--seed", "1", "--workers", "2", "--max-redirects", "0"}, filter...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Dir = t.TempDir() // where it keeps its cache
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("schemathesis %v found answers that break the document (%v):\n%s", filter, err, out)
	}
	count := func(pattern string) int {
		m := regexp.MustCompile(pattern).FindSubmatch(out)
		if m == nil {
			t.Errorf("the summary of schemathesis has no %q:\n%s", pattern, out)
			return 0
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	ops, cases = count(`Tested: (\d+)`), count(`(\d+) generated`)
	t.Logf("schemathesis %v: %d operations, %d requests\n%s", filter, ops, cases, tail(string(out)))
	return ops, cases
}

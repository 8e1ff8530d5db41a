package testbed

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The MWAA clients of the tests are written as the scripts copied from MWAA's user guide are. Where those
// call `aws mwaa create-cli-token`, the tests mint a token from the gateway.

// mwaaPipeline is the user guide's shape: post the command as text/plain with a bearer token, then pick
// each stream out with jq and decode it with base64. It prints stdout, then a line, then stderr, then a
// line, then the exit code (empty when the gateway refused the command).
const mwaaPipeline = `set -euo pipefail
CLI_RESULTS=$(curl -sS ${CACERT:+--cacert "$CACERT"} --request POST "$GATEWAY/aws_mwaa/cli" \
  --header "Authorization: Bearer $CLI_TOKEN" \
  --header "Content-Type: text/plain" \
  --data-raw "$1")
echo "$CLI_RESULTS" | jq -r .stdout | base64 --decode
echo "--- stderr"
echo "$CLI_RESULTS" | jq -r .stderr | base64 --decode
echo "--- exit code"
echo "$CLI_RESULTS" | jq -r '.exit_code // empty'
`

// MWAARun is what an MWAA client printed: the decoded streams and the exit code.
type MWAARun struct {
	Stdout, Stderr string
	ExitCode       int // -1: the gateway refused the command
}

// MWAAPipeline runs line through the bash pipeline of MWAA's user guide against the gateway at base
// with token (and the CA certificate cacert, when not empty).
func MWAAPipeline(tb testing.TB, base, token, cacert, line string) MWAARun {
	tb.Helper()
	cmd := exec.Command("bash", "-c", mwaaPipeline, "mwaa-cli", line)
	cmd.Env = append(os.Environ(), "GATEWAY="+base, "CLI_TOKEN="+token, "CACERT="+cacert)
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("the pipeline for %q: %v\n%s", line, err, out)
	}
	stdout, rest, _ := strings.Cut(string(out), "--- stderr\n")
	stderr, code, _ := strings.Cut(rest, "--- exit code\n")
	run := MWAARun{Stdout: stdout, Stderr: stderr, ExitCode: -1}
	if c := strings.TrimSpace(code); c != "" {
		run.ExitCode, _ = strconv.Atoi(c)
	}
	return run
}

// Package authorizer asks Airflow's own auth manager what an Airflow user may do (§20): authorizer.py, which
// the binary carries, answers commands.PermissionQuery lines with commands.PermissionAnswer lines, in
// Airflow's Python with the configured auth manager. The warm executor keeps one running in a child of its
// forkserver, its manager initialised; the subprocess executor runs it once per query.
//
// The script is the gateway's own: no client's argv reaches it, only the user and the checks the domain
// planned, as JSON values.
package authorizer

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Script is authorizer.py.
//
//go:embed authorizer.py
var Script string

// FileName is the name the warm executor writes Script under, beside the forkserver's own modules.
const FileName = "_airflow_gateway_authorizer.py"

// ProcessTag is the last argument of the Python that runs Script as a process of its own, so that ps names
// it: `python -c ... airflow-gateway-authorizer`.
const ProcessTag = "airflow-gateway-authorizer"

// maxLine is the longest line read from the script: an answer with the DAG ids of every DAG a user may
// read, some 300,000 of them.
const maxLine = 32 << 20

// Ready is the script's first line: whether it can answer, and the auth manager it asks.
type Ready struct {
	Ready       bool   `json:"ready"`
	AuthManager string `json:"auth_manager"`
	Kind        string `json:"kind"`
	Unsupported bool   `json:"unsupported"`
	Error       string `json:"error"`
}

// Err returns nil for a script that can answer, or the *commands.Error a query is answered with: EFORBIDDEN
// for an auth manager the gateway does not ask, EUNAVAILABLE for one that could not start.
func (r Ready) Err() error {
	switch {
	case r.Ready:
		return nil
	case r.Unsupported:
		return Unsupported(r.AuthManager)
	}
	return commands.Errorf(commands.EUNAVAILABLE, "Airflow's auth manager could not start (%s), so nothing runs for a credential that acts as an Airflow user; the gateway's log has more, and it tries again on the next command", Trim(r.Error))
}

// Unsupported returns the refusal of every command of a credential that acts as an Airflow user, when the
// configured auth manager is not one the gateway asks.
func Unsupported(manager string) error {
	return commands.Errorf(commands.EFORBIDDEN, "Airflow's auth manager is %s, which the gateway does not ask on its command dialects (the simple auth manager and FAB's are asked), so a credential that acts as an Airflow user may not run commands there; use Airflow's REST API through the gateway, or a credential without airflow_user", manager)
}

// answer is one answer line of the script.
type answer struct {
	commands.PermissionAnswer
	Error string `json:"error"`
}

// Conn is a conversation with a running script: its first line read, then a query and an answer at a time.
type Conn struct {
	w     io.Writer
	r     *bufio.Reader
	Ready Ready
}

// Open reads the script's first line from r; w takes its queries.
func Open(w io.Writer, r io.Reader) (*Conn, error) {
	c := &Conn{w: w, r: bufio.NewReaderSize(r, 64<<10)}
	line, err := c.line()
	if err != nil {
		return nil, fmt.Errorf("the authorizer said nothing when it started: %w", err)
	}
	if err := json.Unmarshal(line, &c.Ready); err != nil {
		return nil, fmt.Errorf("the authorizer started with what is not its first line: %.200q", line)
	}
	return c, nil
}

// Ask sends q and reads its answer. An error that is not an *commands.Error means the conversation broke.
func (c *Conn) Ask(q commands.PermissionQuery) (*commands.PermissionAnswer, error) {
	if err := c.Ready.Err(); err != nil {
		return nil, err
	}
	data, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	if _, err := c.w.Write(append(data, '\n')); err != nil {
		return nil, fmt.Errorf("the authorizer took no query: %w", err)
	}
	return c.read()
}

// read reads one answer.
func (c *Conn) read() (*commands.PermissionAnswer, error) {
	line, err := c.line()
	if err != nil {
		return nil, fmt.Errorf("the authorizer did not answer: %w", err)
	}
	var a answer
	if err := json.Unmarshal(line, &a); err != nil {
		return nil, fmt.Errorf("the authorizer answered what is not an answer: %.200q", line)
	}
	if a.Error != "" {
		return nil, commands.Errorf(commands.EUNAVAILABLE, "Airflow's auth manager could not answer (%s), so nothing ran; retry in a few seconds", Trim(a.Error))
	}
	return &a.PermissionAnswer, nil
}

func (c *Conn) line() ([]byte, error) {
	var out []byte
	for {
		part, err := c.r.ReadSlice('\n')
		out = append(out, part...)
		switch {
		case err == bufio.ErrBufferFull && len(out) < maxLine:
			continue
		case err != nil:
			return nil, err
		}
		return out, nil
	}
}

// ParseOnce reads the output of one run of the script given one query on stdin: its first line, then its
// answer.
func ParseOnce(stdout string) (*commands.PermissionAnswer, error) {
	answers, err := ParseAll(stdout, 1)
	if err != nil {
		return nil, err
	}
	return answers[0], nil
}

// ParseAll reads the output of one run of the script given n queries on stdin: its first line, then an
// answer per query. An answer that is an error ends the reading with it.
func ParseAll(stdout string, n int) ([]*commands.PermissionAnswer, error) {
	c, err := Open(io.Discard, strings.NewReader(stdout))
	if err != nil {
		return nil, err
	}
	if err := c.Ready.Err(); err != nil {
		return nil, err
	}
	answers := make([]*commands.PermissionAnswer, n)
	for i := range answers {
		if answers[i], err = c.read(); err != nil {
			return nil, err
		}
	}
	return answers, nil
}

// Trim shortens what Python said to its last line, at most 300 characters, for a message.
func Trim(s string) string {
	s = commands.LastLine(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

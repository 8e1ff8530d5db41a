package commands

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mattn/go-shellwords"
)

// MaxCommandBytes bounds the length of one command line.
const MaxCommandBytes = 16 << 10

// SplitCommand splits a command line into words the way a POSIX shell would quote them, without expanding
// anything. Shell operators, backticks, `$(` and control characters are refused rather than dropped, since
// the caller may have meant them for a shell the gateway does not run.
func SplitCommand(line string) ([]string, error) {
	if len(line) > MaxCommandBytes {
		return nil, Errorf(EINVALID, "the command is %d bytes long; the limit is %d", len(line), MaxCommandBytes)
	}
	if !utf8.ValidString(line) {
		return nil, Errorf(EINVALID, "the command is not valid UTF-8; send it as UTF-8 text")
	}
	for i, r := range line {
		if unicode.IsControl(r) && r != '\t' {
			return nil, Errorf(EINVALID, "the command holds a control character (%U at byte %d); send one command on one line", r, i)
		}
	}
	if i := strings.IndexByte(line, '`'); i >= 0 {
		return nil, Errorf(EINVALID, "backticks (at byte %d) are not allowed: the gateway runs one Airflow command without a shell, so nothing is substituted", i)
	}
	if i := strings.Index(line, "$("); i >= 0 {
		return nil, Errorf(EINVALID, "`$(` (at byte %d) is not allowed: the gateway runs one Airflow command without a shell, so nothing is substituted", i)
	}
	p := shellwords.NewParser()
	words, err := p.Parse(line)
	if err != nil {
		return nil, Errorf(EINVALID, "cannot split the command into words (%v); check its quotes", err)
	}
	if p.Position >= 0 {
		op := operatorAt(line, p.Position)
		return nil, Errorf(EINVALID, "the shell operator `%s` (at byte %d) is not allowed: the gateway runs exactly one Airflow command, without a shell; send each command in its own request, and quote the character if it belongs to a value", op, p.Position)
	}
	if len(words) == 0 {
		return nil, Errorf(EINVALID, "no command given; try `dags list`, or GET /api/v1/commands for the commands you may run")
	}
	// Quotes and escapes can make what the checks above refuse: `\n` unescapes to a newline, `$"("` to
	// `$(`. The words are held to the same rules.
	for _, w := range words {
		switch {
		case strings.ContainsFunc(w, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }):
			return nil, Errorf(EINVALID, "the word %q holds a control character after unescaping; write the characters themselves, not escapes such as \\n", w)
		case strings.ContainsRune(w, '`') || strings.Contains(w, "$("):
			return nil, Errorf(EINVALID, "the word %q holds a backtick or `$(` after unquoting: the gateway runs one Airflow command without a shell, so nothing is substituted", w)
		}
	}
	return words, nil
}

// CheckArgv holds exact words, given as an argv rather than a line (`{"argv": [...]}`), to the limits a
// command line has: at most MaxCommandBytes in all and valid UTF-8, with no control character but tab and
// newline (a value may span lines; it is never read by a shell). Nothing is split or unquoted.
func CheckArgv(words []string) ([]string, error) {
	if len(words) == 0 {
		return nil, Errorf(EINVALID, "argv is empty; send the command's words, such as [\"dags\", \"list\"]")
	}
	total := 0
	for i, w := range words {
		total += len(w) + 1
		if total > MaxCommandBytes {
			return nil, Errorf(EINVALID, "argv is over %d bytes in all; the limit is that of a command line", MaxCommandBytes)
		}
		if !utf8.ValidString(w) {
			return nil, Errorf(EINVALID, "argv word %d is not valid UTF-8; send UTF-8 text", i)
		}
		if strings.ContainsFunc(w, func(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\n' }) {
			return nil, Errorf(EINVALID, "argv word %d, %q, holds a control character; only tab and newline may stand in a value", i, Shorten(w))
		}
	}
	return words, nil
}

func operatorAt(line string, pos int) string {
	end := pos
	for end < len(line) && strings.IndexByte(";&|<>", line[end]) >= 0 {
		end++
	}
	if end == pos {
		end = pos + 1
		if end > len(line) {
			return line[pos:]
		}
	}
	return line[pos:end]
}

// ShellQuote quotes s for a POSIX shell, leaving plain words as they are.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	plain := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@%+", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

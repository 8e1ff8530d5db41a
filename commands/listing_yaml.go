package commands

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// renderYAML prints rows as Airflow's `-o yaml` does: PyYAML's safe dump with libyaml's emitter (Airflow's
// yaml.dump), in block style, each mapping's keys sorted, a string quoted where it would otherwise read as
// something else, lines folded past 80 columns, and everything outside printable ASCII escaped; the console
// that prints it adds a blank line.
func renderYAML(rows []row) (string, error) {
	items := make([]value, len(rows))
	for i, r := range rows {
		items[i] = value{kind: kindObject, fields: r}
	}
	e := yamlEmitter{indent: -1, whitespace: true, indention: true}
	if err := e.node(value{kind: kindList, items: items}, false, false); err != nil {
		return "", err
	}
	// The document's line ends, and the console ends the line once more.
	e.b.WriteString("\n\n")
	return e.b.String(), nil
}

// yamlEmitter writes YAML as libyaml's emitter does, for the values of a listing: null, strings, lists
// and mappings with string keys.
type yamlEmitter struct {
	b          strings.Builder
	indent     int
	column     int
	whitespace bool // the last character written is a blank or a line break
	indention  bool // nothing but the indentation on this line yet
}

const (
	yamlBestIndent = 2
	yamlBestWidth  = 80
)

func (e *yamlEmitter) write(s string) {
	e.b.WriteString(s)
	e.column += len([]rune(s))
}

// lineBreak starts a new line (libyaml's PUT_BREAK, which leaves the other flags as they were).
func (e *yamlEmitter) lineBreak() {
	e.b.WriteByte('\n')
	e.column = 0
}

func (e *yamlEmitter) writeIndent() {
	indent := max(e.indent, 0)
	if !e.indention || e.column > indent || (e.column == indent && !e.whitespace) {
		e.lineBreak()
	}
	if e.column < indent {
		e.write(strings.Repeat(" ", indent-e.column))
	}
	e.whitespace, e.indention = true, true
}

func (e *yamlEmitter) indicator(s string, needWhitespace, whitespace, indention bool) {
	if !e.whitespace && needWhitespace {
		s = " " + s
	}
	e.write(s)
	e.whitespace = whitespace
	e.indention = e.indention && indention
}

// increaseIndent is libyaml's yaml_emitter_increase_indent: the first level of a block is at column 0
// (a scalar's at the best indent), each deeper one further by the best indent, but an indentless list's.
func (e *yamlEmitter) increaseIndent(flow, indentless bool) {
	switch {
	case e.indent < 0 && flow:
		e.indent = yamlBestIndent
	case e.indent < 0:
		e.indent = 0
	case !indentless:
		e.indent += yamlBestIndent
	}
}

// node writes one value: inMapping when it is a mapping's value, simpleKey when it is a mapping's key.
func (e *yamlEmitter) node(v value, inMapping, simpleKey bool) error {
	saved := e.indent
	defer func() { e.indent = saved }()
	switch v.kind {
	case kindList:
		if len(v.items) == 0 {
			e.indicator("[]", true, false, false)
			return nil
		}
		e.increaseIndent(false, inMapping && !e.indention)
		for _, item := range v.items {
			e.writeIndent()
			e.indicator("-", true, false, true)
			if err := e.node(item, false, false); err != nil {
				return err
			}
		}
	case kindObject:
		if len(v.fields) == 0 {
			e.indicator("{}", true, false, false)
			return nil
		}
		e.increaseIndent(false, false)
		fields := slices.Clone(v.fields)
		slices.SortStableFunc(fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
		for _, f := range fields {
			e.writeIndent()
			if len(f.key) > 128 || analyzeScalar(f.key).multiline {
				return errors.New("a key too long or of several lines to be written as a simple key")
			}
			if err := e.node(value{kind: kindString, text: f.key}, true, true); err != nil {
				return err
			}
			e.indicator(":", false, false, false)
			if err := e.node(f.val, true, false); err != nil {
				return err
			}
		}
	case kindNull, kindString:
		e.increaseIndent(true, false)
		e.scalar(v, simpleKey)
	default:
		return fmt.Errorf("a %s, which Airflow does not print", v.text)
	}
	return nil
}

// scalar writes a string (or null) in the style libyaml chooses for it.
func (e *yamlEmitter) scalar(v value, simpleKey bool) {
	if v.kind == kindNull {
		e.plain("null", !simpleKey)
		return
	}
	s := v.text
	a := analyzeScalar(s)
	style := byte(0) // plain
	if simpleKey && a.multiline {
		style = '"'
	}
	if style == 0 && (!a.blockPlain || (s == "" && simpleKey) || resolvesAsOther(s)) {
		style = '\''
	}
	if style == '\'' && !a.singleQuoted {
		style = '"'
	}
	switch style {
	case 0:
		e.plain(s, !simpleKey)
	case '\'':
		e.singleQuoted(s, !simpleKey)
	default:
		e.doubleQuoted(s, !simpleKey)
	}
}

type scalarAnalysis struct {
	multiline, blockPlain, singleQuoted bool
}

// analyzeScalar is libyaml's yaml_emitter_analyze_scalar, for block context.
func analyzeScalar(s string) scalarAnalysis {
	if s == "" {
		return scalarAnalysis{blockPlain: true, singleQuoted: true}
	}
	rs := []rune(s)
	isBreak := func(r rune) bool { return r == '\r' || r == '\n' || r == 0x85 || r == 0x2028 || r == 0x2029 }
	isBlankZ := func(i int) bool { return i >= len(rs) || rs[i] == ' ' || rs[i] == '\t' || isBreak(rs[i]) || rs[i] == 0 }
	var blockIndicators, lineBreaks, special bool
	var leadingSpace, leadingBreak, trailingSpace, trailingBreak, breakSpace, spaceBreak bool
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		blockIndicators = true
	}
	precededByWhitespace := true
	previousSpace, previousBreak := false, false
	for i, r := range rs {
		followedByWhitespace := isBlankZ(i + 1)
		if i == 0 {
			switch {
			case strings.ContainsRune("#,[]{}&*!|>'\"%@`", r):
				blockIndicators = true
			case r == '?' || r == ':':
				if followedByWhitespace {
					blockIndicators = true
				}
			case r == '-' && followedByWhitespace:
				blockIndicators = true
			}
		} else {
			switch {
			case r == ':' && followedByWhitespace:
				blockIndicators = true
			case r == '#' && precededByWhitespace:
				blockIndicators = true
			}
		}
		if !(r == '\n' || (r >= 0x20 && r <= 0x7e)) { // not printable ASCII: escaped, as allow_unicode is off
			special = true
		}
		if isBreak(r) {
			lineBreaks = true
		}
		switch {
		case r == ' ':
			leadingSpace = leadingSpace || i == 0
			trailingSpace = trailingSpace || i == len(rs)-1
			breakSpace = breakSpace || previousBreak
			previousSpace, previousBreak = true, false
		case isBreak(r):
			leadingBreak = leadingBreak || i == 0
			trailingBreak = trailingBreak || i == len(rs)-1
			spaceBreak = spaceBreak || previousSpace
			previousSpace, previousBreak = false, true
		default:
			previousSpace, previousBreak = false, false
		}
		precededByWhitespace = isBlankZ(i)
	}
	a := scalarAnalysis{multiline: lineBreaks, blockPlain: true, singleQuoted: true}
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak || lineBreaks || blockIndicators {
		a.blockPlain = false
	}
	if breakSpace || spaceBreak || special {
		a.blockPlain, a.singleQuoted = false, false
	}
	return a
}

// yamlImplicit are PyYAML's implicit resolvers (YAML 1.1): a plain scalar that one of them matches reads
// as a boolean, a number, a date, null, a merge or a value, not as a string.
var yamlImplicit = regexp.MustCompile(`^(?:` +
	`yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF` +
	`|[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?` +
	`|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)` +
	`|[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+` +
	`|<<|~|null|Null|NULL|` +
	`|[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]` +
	`|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?` +
	`|=` +
	`)\n?$`)

// resolvesAsOther reports whether s, written plain, would read as something other than a string.
func resolvesAsOther(s string) bool { return yamlImplicit.MatchString(s) }

// plain writes a plain scalar, folding at a single space past the best width when breaks are allowed.
func (e *yamlEmitter) plain(s string, allowBreaks bool) {
	if !e.whitespace {
		e.write(" ")
	}
	rs := []rune(s)
	spaces := false
	for i, r := range rs {
		if r == ' ' {
			if allowBreaks && !spaces && e.column > yamlBestWidth && i+1 < len(rs) && rs[i+1] != ' ' {
				e.writeIndent()
			} else {
				e.write(" ")
			}
			spaces = true
			continue
		}
		e.write(string(r))
		e.indention, spaces = false, false
	}
	e.whitespace, e.indention = false, false
}

// singleQuoted writes a scalar in single quotes: a quote doubled, a line break written twice over, the
// text folded at a single space past the best width.
func (e *yamlEmitter) singleQuoted(s string, allowBreaks bool) {
	e.indicator("'", true, false, false)
	rs := []rune(s)
	spaces, breaks := false, false
	for i, r := range rs {
		switch {
		case r == ' ':
			if allowBreaks && !spaces && e.column > yamlBestWidth && i != 0 && i != len(rs)-1 && rs[i+1] != ' ' {
				e.writeIndent()
			} else {
				e.write(" ")
			}
			spaces = true
		case r == '\n':
			if !breaks {
				e.lineBreak()
			}
			e.lineBreak()
			e.indention, breaks = true, true
		default:
			if breaks {
				e.writeIndent()
			}
			if r == '\'' {
				e.write("''")
			} else {
				e.write(string(r))
			}
			e.indention, spaces, breaks = false, false, false
		}
	}
	if breaks {
		e.writeIndent()
	}
	e.indicator("'", false, false, false)
}

// yamlEscapes are libyaml's short escapes in double quotes.
var yamlEscapes = map[rune]string{
	0: `\0`, 7: `\a`, 8: `\b`, 9: `\t`, 10: `\n`, 11: `\v`, 12: `\f`, 13: `\r`, 0x1b: `\e`, '"': `\"`, '\\': `\\`,
	0x85: `\N`, 0xa0: `\_`, 0x2028: `\L`, 0x2029: `\P`,
}

// doubleQuoted writes a scalar in double quotes, everything outside printable ASCII escaped, folded at a
// space past the best width (a fold before another space marked with a backslash).
func (e *yamlEmitter) doubleQuoted(s string, allowBreaks bool) {
	e.indicator(`"`, true, false, false)
	rs := []rune(s)
	spaces := false
	for i, r := range rs {
		switch {
		case r < 0x20 || r > 0x7e || r == '"' || r == '\\':
			if esc, ok := yamlEscapes[r]; ok {
				e.write(esc)
			} else if r <= 0xff {
				e.write(fmt.Sprintf(`\x%02X`, r))
			} else if r <= 0xffff {
				e.write(fmt.Sprintf(`\u%04X`, r))
			} else {
				e.write(fmt.Sprintf(`\U%08X`, r))
			}
			spaces = false
		case r == ' ':
			if allowBreaks && !spaces && e.column > yamlBestWidth && i != 0 && i != len(rs)-1 {
				e.writeIndent()
				if rs[i+1] == ' ' {
					e.write(`\`)
				}
			} else {
				e.write(" ")
			}
			spaces = true
		default:
			e.write(string(r))
			spaces = false
		}
	}
	e.indicator(`"`, false, false, false)
}

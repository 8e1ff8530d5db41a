package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A listing's rows, as Airflow prints them with -o json: a list of objects whose keys keep their order
// (Airflow prints its columns in the order its command chose). Airflow turns every value into a string
// before it prints it, but None, lists and dictionaries, so a row's values are strings, nulls, lists and
// objects; a number or a boolean, which Airflow does not print, is kept as its JSON text.
type (
	row   []field
	field struct {
		key string
		val value
	}
	value struct {
		kind   valueKind
		text   string  // a string, or the JSON text of a number or a boolean
		items  []value // a list
		fields []field // an object
	}
	valueKind int
)

const (
	kindNull valueKind = iota
	kindString
	kindList
	kindObject
	kindLiteral // a number or a boolean
)

// get returns the value of a row's key, and whether the row has it.
func (r row) get(key string) (value, bool) {
	for _, f := range r {
		if f.key == key {
			return f.val, true
		}
	}
	return value{}, false
}

// stringField returns a row's string value of key, and whether it has one.
func stringField(r row, key string) (string, bool) {
	v, ok := r.get(key)
	if !ok || v.kind != kindString {
		return "", false
	}
	return v.text, true
}

// parseRows reads the rows of a listing that Airflow printed with -o json, skipping any lines of other
// text before them (log lines), as ParseJSONOutput does. It fails unless the document is a list of
// objects, each key once, with nothing but white space after it.
func parseRows(stdout string) ([]row, error) {
	rest := stdout
	for rest != "" {
		trimmed := strings.TrimLeft(rest, " \t")
		if strings.HasPrefix(trimmed, "[") {
			if rows, err := decodeRows(trimmed); err == nil {
				return rows, nil
			}
		}
		_, rest, _ = strings.Cut(rest, "\n")
	}
	return nil, errors.New("no list of rows in JSON")
}

func decodeRows(doc string) ([]row, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("text after the rows")
	}
	if v.kind != kindList {
		return nil, errors.New("not a list")
	}
	rows := make([]row, len(v.items))
	for i, item := range v.items {
		if item.kind != kindObject {
			return nil, fmt.Errorf("row %d is not an object", i+1)
		}
		rows[i] = item.fields
	}
	return rows, nil
}

// decodeValue reads one JSON value, keeping the order of an object's keys.
func decodeValue(dec *json.Decoder) (value, error) {
	tok, err := dec.Token()
	if err != nil {
		return value{}, err
	}
	switch t := tok.(type) {
	case nil:
		return value{kind: kindNull}, nil
	case string:
		return value{kind: kindString, text: t}, nil
	case json.Number:
		return value{kind: kindLiteral, text: t.String()}, nil
	case bool:
		return value{kind: kindLiteral, text: strconv.FormatBool(t)}, nil
	case json.Delim:
		switch t {
		case '[':
			v := value{kind: kindList, items: []value{}}
			for dec.More() {
				item, err := decodeValue(dec)
				if err != nil {
					return value{}, err
				}
				v.items = append(v.items, item)
			}
			_, err := dec.Token()
			return v, err
		case '{':
			v := value{kind: kindObject, fields: []field{}}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return value{}, err
				}
				key, _ := k.(string)
				for _, f := range v.fields {
					if f.key == key {
						return value{}, fmt.Errorf("the key %q twice in one object", key)
					}
				}
				item, err := decodeValue(dec)
				if err != nil {
					return value{}, err
				}
				v.fields = append(v.fields, field{key: key, val: item})
			}
			_, err := dec.Token()
			return v, err
		}
	}
	return value{}, fmt.Errorf("unexpected %v", tok)
}

// renderRows prints a listing's rows in an output format of Airflow's CLI (json, yaml, table or plain),
// byte for byte as Airflow's console (airflow/cli/simple_table.py, AirflowConsole.print_as) prints them
// when its output is not a terminal.
func renderRows(rows []row, format string) (string, error) {
	switch format {
	case "json":
		var b strings.Builder
		pyJSON(&b, value{kind: kindList, items: rowValues(rows)})
		b.WriteByte('\n')
		return b.String(), nil
	case "yaml":
		return renderYAML(rows)
	case "table":
		return renderTable(rows)
	case "plain":
		return renderPlain(rows), nil
	}
	return "", fmt.Errorf("the output format %q is not one of Airflow's", format)
}

func rowValues(rows []row) []value {
	items := make([]value, len(rows))
	for i, r := range rows {
		items[i] = value{kind: kindObject, fields: r}
	}
	return items
}

// pyJSON writes rows as Python's json.dumps does with its defaults: ", " and ": " between items, every
// character outside printable ASCII escaped.
func pyJSON(b *strings.Builder, v value) {
	switch v.kind {
	case kindNull:
		b.WriteString("null")
	case kindString:
		pyJSONString(b, v.text)
	case kindLiteral:
		b.WriteString(v.text)
	case kindList:
		b.WriteByte('[')
		for i, item := range v.items {
			if i > 0 {
				b.WriteString(", ")
			}
			pyJSON(b, item)
		}
		b.WriteByte(']')
	case kindObject:
		b.WriteByte('{')
		for i, f := range v.fields {
			if i > 0 {
				b.WriteString(", ")
			}
			pyJSONString(b, f.key)
			b.WriteString(": ")
			pyJSON(b, f.val)
		}
		b.WriteByte('}')
	}
}

func pyJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
}

// pyStr is Python's str() of a value that Airflow's table turns into text: a list's items joined by commas
// (each as pyStr shows it), None as "None", a dictionary as Python's repr shows it.
func pyStr(v value) string {
	switch v.kind {
	case kindNull:
		return "None"
	case kindString:
		return v.text
	case kindList:
		parts := make([]string, len(v.items))
		for i, item := range v.items {
			parts[i] = pyStr(item)
		}
		return strings.Join(parts, ",")
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() of a value: what str() of a list or a dictionary shows of its items.
func pyRepr(v value) string {
	switch v.kind {
	case kindNull:
		return "None"
	case kindString:
		return pyReprString(v.text)
	case kindLiteral:
		switch v.text {
		case "true":
			return "True"
		case "false":
			return "False"
		}
		return v.text
	case kindList:
		parts := make([]string, len(v.items))
		for i, item := range v.items {
			parts[i] = pyRepr(item)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	parts := make([]string, len(v.fields))
	for i, f := range v.fields {
		parts[i] = pyReprString(f.key) + ": " + pyRepr(f.val)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// pyReprString quotes a string as Python's repr does: in single quotes, or double quotes when it holds a
// single quote and no double quote; a backslash, the quote and what does not print escaped.
func pyReprString(s string) string {
	quote := '\''
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteRune(quote)
	for _, r := range s {
		switch {
		case r == quote || r == '\\':
			b.WriteRune('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError:
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r > 0x7f && !unicode.IsPrint(r) && r != ' '):
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteRune(quote)
	return b.String()
}

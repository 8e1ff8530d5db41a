package commands

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// renderPlain prints rows as Airflow's `-o plain` does: tabulate's "plain" format of the rows' values
// under the first row's keys, columns two spaces apart, a column of numbers aligned right (on their
// decimal points), any other on the left, each line without its trailing blanks. Widths count characters,
// as tabulate does without its optional wcwidth (Airflow's releases do not install it); a cell holding a
// terminal's color codes is measured with them.
func renderPlain(rows []row) string {
	if len(rows) == 0 {
		return "No data found\n"
	}
	headers := make([]string, len(rows[0]))
	for i, f := range rows[0] {
		headers[i] = f.key
	}
	ncols := len(headers)
	for _, r := range rows {
		ncols = max(ncols, len(r))
	}
	for len(headers) < ncols { // tabulate names the columns of a longer row with blanks
		headers = append([]string{""}, headers...)
	}
	// Each column's values, as tabulate's _format writes them for its type.
	cols := make([][]string, ncols)
	types := make([]int, ncols)
	multiline := strings.ContainsAny(strings.Join(headers, "\t"), "\r\n")
	for c := range ncols {
		var vals []value
		for _, r := range rows {
			if c < len(r) {
				vals = append(vals, r[c].val)
			} else {
				vals = append(vals, value{kind: kindNull})
			}
		}
		cols[c], types[c] = formatColumn(vals)
		for _, s := range cols[c] {
			multiline = multiline || strings.ContainsAny(s, "\r\n")
		}
	}
	lines := make([]string, 0, len(rows)+1)
	aligned := make([][]string, ncols)
	alignedHeaders := make([]string, ncols)
	widths := make([]int, ncols)
	for c := range ncols {
		numeric := types[c] == tabInt || types[c] == tabFloat
		minWidth := plainWidth(headers[c], multiline) + 2
		aligned[c] = alignColumn(cols[c], numeric, minWidth, multiline)
		widths[c] = minWidth
		for _, s := range aligned[c] {
			widths[c] = max(widths[c], plainWidth(s, multiline))
		}
		alignedHeaders[c] = alignHeader(headers[c], numeric, widths[c], multiline)
	}
	lines = appendPlainRow(lines, alignedHeaders, widths, multiline)
	for r := range rows {
		cells := make([]string, ncols)
		for c := range ncols {
			cells[c] = aligned[c][r]
		}
		lines = appendPlainRow(lines, cells, widths, multiline)
	}
	return strings.Join(lines, "\n") + "\n"
}

// appendPlainRow adds a row's lines: a row of cells of several lines takes as many, its shorter cells
// filled with blanks as wide as their column.
func appendPlainRow(lines, cells []string, widths []int, multiline bool) []string {
	if !multiline {
		return append(lines, strings.TrimRightFunc(strings.Join(cells, "  "), pyIsSpace))
	}
	split := make([][]string, len(cells))
	height := 0
	for i, c := range cells {
		split[i] = pySplitLines(c)
		height = max(height, len(split[i]))
	}
	for l := range height {
		parts := make([]string, len(cells))
		for i, c := range split {
			if l < len(c) {
				parts[i] = c[l]
			} else {
				parts[i] = strings.Repeat(" ", widths[i])
			}
		}
		lines = append(lines, strings.TrimRightFunc(strings.Join(parts, "  "), pyIsSpace))
	}
	return lines
}

// plainWidth is tabulate's width of a cell: its length in characters, or its longest line's.
func plainWidth(s string, multiline bool) int {
	if !multiline {
		return len([]rune(s))
	}
	w := 0
	for _, line := range multilineParts.Split(s, -1) {
		w = max(w, len([]rune(line)))
	}
	return w
}

var multilineParts = regexp.MustCompile(`[\r\n]`)

// alignColumn pads a column's cells to one width as tabulate's _align_column does: numbers to the right,
// their decimal points in line; anything else to the left, without its surrounding blanks.
func alignColumn(cells []string, numeric bool, minWidth int, multiline bool) []string {
	out := make([]string, len(cells))
	if numeric {
		decimals := make([]int, len(cells))
		most := math.MinInt
		for i, s := range cells {
			decimals[i] = afterPoint(s)
			most = max(most, decimals[i])
		}
		for i, s := range cells {
			out[i] = s + strings.Repeat(" ", most-decimals[i])
		}
	} else {
		for i, s := range cells {
			out[i] = strings.TrimFunc(s, pyIsSpace)
		}
	}
	w := minWidth
	for _, s := range out {
		if multiline {
			for _, line := range multilineParts.Split(s, -1) {
				w = max(w, len([]rune(line)))
			}
		} else {
			w = max(w, len([]rune(s)))
		}
	}
	pad := func(s string) string {
		fill := strings.Repeat(" ", max(0, w-len([]rune(s))))
		if numeric {
			return fill + s
		}
		return s + fill
	}
	for i, s := range out {
		if !multiline {
			out[i] = pad(s)
			continue
		}
		lines := pySplitLines(s)
		for j := range lines {
			lines[j] = pad(lines[j])
		}
		out[i] = strings.Join(lines, "\n")
	}
	return out
}

// alignHeader pads a header to its column's width, on the side its column is aligned to.
func alignHeader(h string, numeric bool, w int, multiline bool) string {
	pad := func(s string) string {
		fill := strings.Repeat(" ", max(0, w-len([]rune(s))))
		if numeric {
			return fill + s
		}
		return s + fill
	}
	if !multiline {
		return pad(h)
	}
	parts := multilineParts.Split(h, -1)
	for i := range parts {
		parts[i] = pad(parts[i])
	}
	return strings.Join(parts, "\n")
}

// The types tabulate tells its cells apart by, from the least general.
const (
	tabNone = iota
	tabBool
	tabInt
	tabFloat
	tabString
)

// formatColumn writes a column's values as tabulate does for the column's type: None as a blank, a float
// column's values in Python's "g" format, anything else as Python's str() shows it.
func formatColumn(vals []value) ([]string, int) {
	raw := make([]string, len(vals))
	isNull := make([]bool, len(vals))
	for i, v := range vals {
		switch v.kind {
		case kindNull:
			isNull[i] = true
		case kindString, kindLiteral:
			raw[i] = pyStr(v)
		default:
			raw[i] = pyRepr(v)
		}
	}
	types := tabNone
	for i, s := range raw {
		if !isNull[i] {
			if vals[i].kind == kindList || vals[i].kind == kindObject {
				types = tabString
			} else {
				types = max(types, cellType(s))
			}
		}
	}
	for i, s := range raw {
		if types == tabFloat && !isNull[i] && s != "" {
			if f, ok := pyFloat(strings.ReplaceAll(s, ",", "")); ok {
				raw[i] = pyFormatG(f)
			}
		}
	}
	return raw, types
}

// thousands is tabulate's number with thousands separators.
var thousands = regexp.MustCompile(`^(?:[+-]?[0-9]{1,3}(?:,[0-9]{3})*(?:\.[0-9]*)?|\.[0-9]+)?$`)

// cellType is tabulate's _type of a string.
func cellType(s string) int {
	switch {
	case s == "":
		return tabNone
	case s == "True" || s == "False":
		return tabBool
	case pyIsInt(s) || (thousands.MatchString(s) && !strings.Contains(s, ".")):
		return tabInt
	case pyIsNumber(s) || thousands.MatchString(s):
		return tabFloat
	}
	return tabString
}

// afterPoint is tabulate's _afterpoint: how many characters follow a number's decimal point (or its
// exponent's e), -1 for an integer or what is not a number.
func afterPoint(s string) int {
	if !pyIsNumber(s) && !thousands.MatchString(s) {
		return -1
	}
	if pyIsInt(s) {
		return -1
	}
	pos := strings.LastIndex(s, ".")
	if pos < 0 {
		pos = strings.LastIndex(strings.ToLower(s), "e")
	}
	if pos < 0 {
		return -1
	}
	return len(s) - pos - 1
}

// pyDigits matches what Python's int() reads: blanks around, a sign, digits with single underscores
// between them.
var pyDigits = regexp.MustCompile(`^[+-]?[0-9](?:_?[0-9])*$`)

func pyIsInt(s string) bool {
	return pyDigits.MatchString(strings.TrimFunc(s, pyIsSpace))
}

// pyFloatText matches what Python's float() reads, but the words for infinity and NaN.
var pyFloatText = regexp.MustCompile(`^[+-]?(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)(?:[eE][+-]?[0-9](?:_?[0-9])*)?$`)

// pyFloat reads s as Python's float() does.
func pyFloat(s string) (float64, bool) {
	t := strings.TrimFunc(s, pyIsSpace)
	sign := 1.0
	unsigned := t
	if strings.HasPrefix(t, "-") {
		sign, unsigned = -1, t[1:]
	} else if strings.HasPrefix(t, "+") {
		unsigned = t[1:]
	}
	switch strings.ToLower(unsigned) {
	case "inf", "infinity":
		return sign * math.Inf(1), true
	case "nan":
		return math.NaN(), true
	}
	if !pyFloatText.MatchString(t) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(t, "_", ""), 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// pyIsNumber is tabulate's _isnumber of a string: it reads as a float, and is not one too large to be
// anything but infinite, unless it says so.
func pyIsNumber(s string) bool {
	f, ok := pyFloat(s)
	if !ok {
		return false
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		switch strings.ToLower(s) {
		case "inf", "-inf", "nan":
			return true
		}
		return false
	}
	return true
}

// pyFormatG is Python's format(f, "g"): six significant digits, without trailing zeros.
func pyFormatG(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

package commands

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// consoleWidth is the width of Airflow's console when its output is not a terminal, as when the gateway
// runs it: AirflowConsole fixes it at 200 columns, whatever COLUMNS says.
const consoleWidth = 200

// renderTable prints rows as Airflow's `-o table` does: a rich Table (airflow/cli/simple_table.py's
// SimpleTable: no edge, a box of ASCII with a double line under the header, a blank caption) of the first
// row's keys, on a console 200 columns wide. Its cells are read as rich's console markup, as Airflow's
// are: a [tag] vanishes, and a closing tag that closes nothing stops the printing, as it stops Airflow's.
// Emoji codes (:smile:) are left as written, where rich would print the emoji.
func renderTable(rows []row) (string, error) {
	if len(rows) == 0 {
		return "No data found\n", nil
	}
	ncols := len(rows[0])
	if ncols == 0 {
		return "\n", nil
	}
	// The cells of each column, the header first.
	cols := make([][]string, ncols)
	for i, f := range rows[0] {
		text, err := consoleText(f.key)
		if err != nil {
			return "", err
		}
		cols[i] = append(cols[i], text)
	}
	for _, r := range rows {
		if len(r) > ncols {
			return "", fmt.Errorf("a row has %d values where the first has %d", len(r), ncols)
		}
		for i := range ncols {
			text := "" // rich leaves the cells a shorter row lacks blank
			if i < len(r) {
				var err error
				if text, err = consoleText(pyStr(r[i].val)); err != nil {
					return "", err
				}
			}
			cols[i] = append(cols[i], text)
		}
	}
	t := richTable{cols: cols}
	widths := t.columnWidths(consoleWidth - (ncols - 1))
	tableWidth := ncols - 1
	for _, w := range widths {
		tableWidth += w
	}

	var b strings.Builder
	for r := range cols[0] {
		cells := make([][]string, ncols)
		height := 1
		for i := range cols {
			cells[i] = t.renderCell(i, cols[i][r], widths[i])
			height = max(height, len(cells[i]))
		}
		for line := 0; line < height; line++ {
			for i, cell := range cells {
				if i > 0 {
					b.WriteByte('|')
				}
				at := line
				if r == 0 { // the header sits at the bottom of its row, the others at the top
					at -= height - len(cell)
				}
				if at >= 0 && at < len(cell) {
					b.WriteString(cell[at])
				} else {
					b.WriteString(strings.Repeat(" ", widths[i]))
				}
			}
			b.WriteByte('\n')
		}
		if r == 0 {
			for i, w := range widths {
				if i > 0 {
					b.WriteByte('+')
				}
				b.WriteString(strings.Repeat("=", w))
			}
			b.WriteByte('\n')
		}
	}
	// The caption, a blank centred in the table's width.
	b.WriteString(strings.Repeat(" ", tableWidth))
	b.WriteByte('\n')
	return b.String(), nil
}

// richTable lays out the columns of cells as rich's Table does, with SimpleTable's settings.
type richTable struct {
	cols [][]string // the cells of each column, the header first
}

// padding is the blank left and right of column i's cells: one on each side, but none at the table's
// edges.
func (t richTable) padding(i int) (left, right int) {
	left, right = 1, 1
	if i == 0 {
		left = 0
	}
	if i == len(t.cols)-1 {
		right = 0
	}
	return left, right
}

// measure is the least and the most width column i's cells take within maxWidth (rich's
// Table._measure_column of Padding(Text)).
func (t richTable) measure(i, maxWidth int) (lo, hi int) {
	if maxWidth < 1 {
		return 0, 0
	}
	left, right := t.padding(i)
	pad := left + right
	lo, hi = 0, 0
	for _, cell := range t.cols[i] {
		var cmin, cmax int
		if maxWidth-pad < 1 {
			cmin, cmax = maxWidth, maxWidth
		} else {
			cmin, cmax = measureText(cell, maxWidth-pad)
			cmin, cmax = min(cmin+pad, maxWidth), min(cmax+pad, maxWidth)
		}
		lo, hi = max(lo, cmin), max(hi, cmax)
	}
	return min(lo, maxWidth), min(hi, maxWidth)
}

// measureText is rich's Measurement.get of a Text within maxWidth: its longest word and its longest line.
func measureText(text string, maxWidth int) (lo, hi int) {
	for _, line := range pySplitLines(text) {
		hi = max(hi, cellLen(line))
	}
	words := strings.FieldsFunc(text, pyIsSpace)
	if len(words) == 0 {
		lo = hi
	}
	for _, w := range words {
		lo = max(lo, cellLen(w))
	}
	// normalize, with_maximum, normalize
	lo = max(0, min(lo, hi))
	hi = max(0, max(lo, hi))
	lo, hi = min(lo, maxWidth), min(hi, maxWidth)
	if hi < 1 {
		return 0, 0
	}
	return max(0, min(lo, hi)), max(0, max(lo, hi))
}

// columnWidths is rich's Table._calculate_column_widths for a table that does not expand: each column as
// wide as its widest cell, and when they do not fit, the widest narrowed first, then all evenly.
func (t richTable) columnWidths(maxWidth int) []int {
	widths := make([]int, len(t.cols))
	total := 0
	for i := range t.cols {
		_, hi := t.measure(i, maxWidth)
		widths[i] = hi
		if hi == 0 {
			widths[i] = 1
		}
		total += widths[i]
	}
	if total <= maxWidth {
		return widths
	}
	widths = collapseWidths(widths, maxWidth)
	if total = sum(widths); total > maxWidth {
		ones := make([]int, len(widths))
		for i := range ones {
			ones[i] = 1
		}
		widths = ratioReduce(total-maxWidth, ones, widths, widths)
	}
	for i, w := range widths {
		_, widths[i] = t.measure(i, w)
	}
	return widths
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// collapseWidths is rich's Table._collapse_widths: it narrows the widest columns to the next widest, and
// so on, until the table fits or they are all as wide.
func collapseWidths(widths []int, maxWidth int) []int {
	total := sum(widths)
	excess := total - maxWidth
	for total > 0 && excess > 0 {
		widest, second := 0, 0
		for _, w := range widths {
			widest = max(widest, w)
		}
		for _, w := range widths {
			if w != widest {
				second = max(second, w)
			}
		}
		ratios := make([]int, len(widths))
		any := false
		for i, w := range widths {
			if w == widest {
				ratios[i], any = 1, true
			}
		}
		diff := widest - second
		if !any || diff == 0 {
			break
		}
		maxReduce := make([]int, len(widths))
		for i := range maxReduce {
			maxReduce[i] = min(excess, diff)
		}
		widths = ratioReduce(excess, ratios, maxReduce, widths)
		total = sum(widths)
		excess = total - maxWidth
	}
	return widths
}

// ratioReduce is rich's ratio_reduce: it takes total off values in proportion to ratios, each at most
// its maximum, rounding half to even as Python's round does.
func ratioReduce(total int, ratios, maximums, values []int) []int {
	ratios = append([]int(nil), ratios...)
	totalRatio := 0
	for i := range ratios {
		if maximums[i] == 0 {
			ratios[i] = 0
		}
		totalRatio += ratios[i]
	}
	out := append([]int(nil), values...)
	if totalRatio == 0 {
		return out
	}
	remaining := total
	for i, ratio := range ratios {
		if ratio != 0 && totalRatio > 0 {
			distributed := min(maximums[i], int(math.RoundToEven(float64(ratio*remaining)/float64(totalRatio))))
			out[i] = values[i] - distributed
			remaining -= distributed
			totalRatio -= ratio
		}
	}
	return out
}

// renderCell is the lines of column i's cell at the column's width, padded, each as wide as the column
// (rich's Padding around a Text, wrapped as Text.wrap does with overflow "fold").
func (t richTable) renderCell(i int, text string, w int) []string {
	left, right := t.padding(i)
	inner := w - left - right
	if inner < 1 {
		return nil // rich renders nothing in no width; the row's blank lines fill the cell
	}
	var out []string
	for _, line := range wrapText(text, inner) {
		out = append(out, strings.Repeat(" ", left)+setCellSize(line, inner)+strings.Repeat(" ", right))
	}
	for i, line := range out {
		out[i] = setCellSize(line, w)
	}
	return out
}

// wrapText is rich's Text.wrap of a cell's text at width: each line of it divided at its words, a word
// longer than the width folded.
func wrapText(text string, width int) []string {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		line = expandTabs(line, 8)
		rs := []rune(line)
		start := 0
		for _, end := range append(divideLine(rs, width), len(rs)) {
			piece := rs[start:end]
			start = end
			// rstrip_end: white space beyond the width goes.
			if excess := len(piece) - width; excess > 0 {
				ws := 0
				for ws < len(piece) && pyIsSpace(piece[len(piece)-1-ws]) {
					ws++
				}
				piece = piece[:len(piece)-min(ws, excess)]
			}
			lines = append(lines, truncateCells(string(piece), width))
		}
	}
	return lines
}

// divideLine is rich's divide_line: the offsets (in runes) at which a line breaks to fit width, at the
// starts of words, a word longer than width folded across lines.
func divideLine(rs []rune, width int) []int {
	var breaks []int
	offset := 0
	for _, w := range wordSpans(rs) {
		start, word := w[0], rs[w[0]:w[1]]
		trimmed := word
		for len(trimmed) > 0 && pyIsSpace(trimmed[len(trimmed)-1]) {
			trimmed = trimmed[:len(trimmed)-1]
		}
		wordLen := cellLen(string(trimmed))
		switch {
		case width-offset >= wordLen:
			offset += cellLen(string(word))
		case wordLen > width:
			folded := chopCells(word, width)
			for j, line := range folded {
				if start != 0 {
					breaks = append(breaks, start)
				}
				if j == len(folded)-1 {
					offset = cellLen(string(line))
				} else {
					start += len(line)
				}
			}
		case offset != 0 && start != 0:
			breaks = append(breaks, start)
			offset = cellLen(string(word))
		}
	}
	return breaks
}

// wordSpans are the [start, end) of each match of `\s*\S+\s*` in rs, one after another from the start.
func wordSpans(rs []rune) [][2]int {
	var spans [][2]int
	pos := 0
	for pos < len(rs) {
		i := pos
		for i < len(rs) && pyIsSpace(rs[i]) {
			i++
		}
		if i == len(rs) {
			break
		}
		for i < len(rs) && !pyIsSpace(rs[i]) {
			i++
		}
		for i < len(rs) && pyIsSpace(rs[i]) {
			i++
		}
		spans = append(spans, [2]int{pos, i})
		pos = i
	}
	return spans
}

// chopCells is rich's chop_cells: rs cut into lines of at most width cells.
func chopCells(rs []rune, width int) [][]rune {
	var lines [][]rune
	size, start := 0, 0
	for i, r := range rs {
		w := runeCells(r)
		if size+w > width {
			lines = append(lines, rs[start:i])
			start, size = i, 0
		}
		size += w
	}
	if size > 0 {
		lines = append(lines, rs[start:])
	}
	return lines
}

// expandTabs is rich's Text.expand_tabs: each tab becomes the spaces to the next multiple of size.
func expandTabs(line string, size int) string {
	if !strings.Contains(line, "\t") {
		return line
	}
	var b strings.Builder
	pos := 0
	for _, r := range line {
		if r == '\t' {
			pos++
			b.WriteByte(' ')
			if rem := pos % size; rem != 0 {
				b.WriteString(strings.Repeat(" ", size-rem))
				pos += size - rem
			}
			continue
		}
		b.WriteRune(r)
		pos += runeCells(r)
	}
	return b.String()
}

// truncateCells cuts s to at most width cells.
func truncateCells(s string, width int) string {
	if cellLen(s) <= width {
		return s
	}
	return setCellSize(s, width)
}

// setCellSize pads s with spaces or cuts it to exactly width cells; a wide character cut in half becomes
// a space, as rich's set_cell_size does.
func setCellSize(s string, width int) string {
	n := cellLen(s)
	if n == width {
		return s
	}
	if n < width {
		return s + strings.Repeat(" ", width-n)
	}
	if width <= 0 {
		return ""
	}
	var b strings.Builder
	size := 0
	for _, r := range s {
		w := runeCells(r)
		if size+w > width {
			if size < width {
				b.WriteByte(' ')
			}
			break
		}
		b.WriteRune(r)
		size += w
	}
	return b.String()
}

// cellLen is how many terminal cells s takes.
func cellLen(s string) int {
	n := 0
	for _, r := range s {
		n += runeCells(r)
	}
	return n
}

// runeCells is how many terminal cells r takes: none for a control character or a combining mark, two for
// a wide East Asian one, one otherwise. Rich reads the widths from its own tables of Unicode, which may
// count a few rare characters otherwise.
func runeCells(r rune) int {
	switch {
	case r < 0x20 || (r >= 0x7f && r < 0xa0):
		return 0
	case r < 0x300:
		return 1
	case unicode.In(r, unicode.Mn, unicode.Me) || r == 0x200b || r == 0x200d:
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// pyIsSpace reports whether Python's str.isspace holds for r (the \s of its regular expressions).
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pySplitLines is Python's str.splitlines: the lines of s, split at any of Python's line boundaries.
func pySplitLines(s string) []string {
	var lines []string
	start := 0
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			lines = append(lines, string(rs[start:i]))
			if rs[i] == '\r' && i+1 < len(rs) && rs[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(rs) {
		lines = append(lines, string(rs[start:]))
	}
	return lines
}

// markupTag is a tag of rich's console markup: `[bold]`, `[/]`, `[link=...]`, after any backslashes.
var markupTag = regexp.MustCompile(`(\\*)\[([a-z#/@][^\[]*?)\]`)

// consoleText is what rich's console shows of text it prints as markup: the control codes it strips
// (bell, backspace, vertical tab, form feed, carriage return) gone, its tags gone, an escaped tag (`\[b]`)
// shown as written without its backslash. It fails where rich's markup fails: a closing tag that closes
// nothing.
func consoleText(s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case 7, 8, 11, 12, 13:
			return -1
		}
		return r
	}, s)
	if !strings.Contains(s, "[") {
		return s, nil
	}
	var b strings.Builder
	var open []string
	pos := 0
	plain := func(t string) { b.WriteString(strings.ReplaceAll(t, `\[`, "[")) }
	for _, m := range markupTag.FindAllStringSubmatchIndex(s, -1) {
		start, end := m[0], m[1]
		escapes, tag := s[m[2]:m[3]], s[m[4]:m[5]]
		if start > pos {
			plain(s[pos:start])
		}
		pos = end
		if n := len(escapes); n > 0 {
			plain(strings.Repeat(`\`, n/2))
			if n%2 == 1 {
				plain(s[start+n : end])
				continue
			}
		}
		name, _, _ := strings.Cut(tag, "=")
		closing, ok := strings.CutPrefix(name, "/")
		if !ok {
			open = append(open, name)
			continue
		}
		closing = strings.ToLower(strings.TrimSpace(closing))
		if closing == "" {
			if len(open) == 0 {
				return "", fmt.Errorf("the closing tag [/] at position %d closes nothing", start)
			}
			open = open[:len(open)-1]
			continue
		}
		found := false
		for j := len(open) - 1; j >= 0; j-- {
			if open[j] == closing {
				open = append(open[:j], open[j+1:]...)
				found = true
				break
			}
		}
		if !found {
			return "", fmt.Errorf("the closing tag [/%s] at position %d matches no open tag", closing, start)
		}
	}
	if pos < len(s) {
		plain(s[pos:])
	}
	return b.String(), nil
}

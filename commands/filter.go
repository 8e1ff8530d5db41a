package commands

import (
	"encoding/json"
	"regexp"
	"strings"
)

// loadingMessage matches one Airflow log line: `[2025-04-03T14:38:17.121+0000] {__init__.py:42} INFO - ...`,
// the older `[2017-04-19 10:04:34,927] {...} INFO - ...`, and Airflow 3's console format
// `2025-04-03T14:38:17.121000Z [info     ] ...`.
var loadingMessage = regexp.MustCompile(`^(?:\[\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\] \{[^{}]*\} [A-Z]+ - ` +
	`|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}) \[(?:debug|info|warning|error|critical) *\] )`)

// colors are the terminal's color codes, which some releases (2.6) write into their log lines even when
// the output is not a terminal.
var colors = regexp.MustCompile("\x1b\\[[0-9;]*m")

// FilterLoadingMessages removes Airflow's log lines from output, wherever they stand and however colored,
// and keeps every other line as it was.
func FilterLoadingMessages(output string) string {
	lines := strings.SplitAfter(output, "\n")
	kept := lines[:0]
	for _, line := range lines {
		if !loadingMessage.MatchString(colors.ReplaceAllString(line, "")) {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "")
}

// ParseJSONOutput returns the JSON document that a command given `-o json` printed, skipping any lines of
// other text before it, or nil when there is none.
func ParseJSONOutput(stdout string) any {
	rest := stdout
	for rest != "" {
		trimmed := strings.TrimLeft(rest, " \t")
		if strings.HasPrefix(trimmed, "[") || strings.HasPrefix(trimmed, "{") {
			var data any
			if json.Unmarshal([]byte(trimmed), &data) == nil {
				return data
			}
		}
		_, rest, _ = strings.Cut(rest, "\n")
	}
	return nil
}

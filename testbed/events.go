package testbed

import (
	"bufio"
	"io"
	"strings"
)

// Event is one Server-Sent Event as a client sees it.
type Event struct {
	Name string // "message" when the stream did not name it
	ID   string
	Data string
}

// ReadEvents reads Server-Sent Events from r as a browser's EventSource would, and hands each to fn until
// fn returns false or the stream ends. Comments are skipped.
func ReadEvents(r io.Reader, fn func(Event) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	var ev Event
	var data []string
	seen := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if seen {
				ev.Data = strings.Join(data, "\n")
				if ev.Name == "" {
					ev.Name = "message"
				}
				if !fn(ev) {
					return nil
				}
			}
			ev, data, seen = Event{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Name, seen = value, true
		case "id":
			ev.ID, seen = value, true
		case "data":
			data, seen = append(data, value), true
		}
	}
	return sc.Err()
}

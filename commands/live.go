package commands

import (
	"bytes"
	"strings"
	"sync"
)

// liveFeed turns the pieces an executor hands over into the text a Watch is given: whole lines, filtered
// like the Result's stdout, valid UTF-8, and nothing at all until the end for output masked as a whole.
type liveFeed struct {
	out    func(Stream, string)
	filter bool // drop Airflow's log lines from stdout
	whole  bool // hold everything back until finish

	mu      sync.Mutex
	pending [2][]byte       // the last line of each stream, until its end comes
	sent    [2]bytes.Buffer // what was handed over, per stream
}

func newLiveFeed(out func(Stream, string), filter, whole bool) *liveFeed {
	return &liveFeed{out: out, filter: filter, whole: whole}
}

// write takes a piece of one stream and hands over the lines it completes.
func (f *liveFeed) write(s Stream, p []byte) {
	if f.whole {
		return // the Result has it all at the end
	}
	f.mu.Lock()
	buf := append(f.pending[s], p...)
	end := bytes.LastIndexByte(buf, '\n') + 1
	if end == 0 {
		f.pending[s] = buf
		f.mu.Unlock()
		return
	}
	text := f.clean(s, string(buf[:end]))
	f.pending[s] = append([]byte(nil), buf[end:]...)
	f.sent[s].WriteString(text)
	f.mu.Unlock()
	if text != "" {
		f.out(s, text)
	}
}

// finish hands over what is left, and makes res show exactly the text handed over.
func (f *liveFeed) finish(res *Result) {
	for _, s := range []Stream{Stdout, Stderr} {
		var rest string
		f.mu.Lock()
		if f.whole {
			rest = f.clean(s, res.text(s))
		} else {
			rest = f.clean(s, string(f.pending[s]))
		}
		f.pending[s] = nil
		f.sent[s].WriteString(rest)
		f.mu.Unlock()
		if rest != "" {
			f.out(s, rest)
		}
		if res != nil {
			res.setText(s, f.sent[s].String())
		}
	}
}

// clean filters and repairs a run of whole lines (or the last part of a stream).
func (f *liveFeed) clean(s Stream, text string) string {
	if s == Stdout && f.filter {
		text = FilterLoadingMessages(text)
	}
	return strings.ToValidUTF8(text, "\uFFFD")
}

func (r *Result) text(s Stream) string {
	if r == nil {
		return ""
	}
	if s == Stderr {
		return r.Stderr
	}
	return r.Stdout
}

func (r *Result) setText(s Stream, text string) {
	if s == Stderr {
		r.Stderr = text
	} else {
		r.Stdout = text
	}
}

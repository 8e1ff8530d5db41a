package restscope

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// The HTTP side of a filtered listing, which the gateway's proxy calls: the pages of the listing read
// from Airflow one after the other, their rows in scope kept, and the page the caller asked for answered
// from them, with the total of the rows kept. The call it reads is the one Airflow takes (on Airflow 3,
// a v1 call's v2 translation), whose answer then goes back as any other.

// PageSize is how many rows the gateway asks Airflow for at a time, and the most rows a filtered page
// answers: Airflow's default [api] maximum_page_limit.
const PageSize = 100

// MaxScanned is the most rows the gateway reads of one listing to filter it (100 pages of PageSize). A
// listing longer than that is refused: the caller narrows it with the listing's own filters (a
// dag_id_pattern, tags, dates), or names its DAGs where the endpoint takes them.
const MaxScanned = 10_000

// maxPage bounds one page of Airflow's answer, which is read whole.
const maxPage = 64 << 20

// Scanning returns a RoundTripper that answers a listing to be filtered (as listingOf finds it for the
// request; nil for every other call, which goes to next as it is) from the pages next gives, and a
// listing of no DAG in scope as empty, without sending it.
func Scanning(next http.RoundTripper, listingOf func(*http.Request) *Decision) http.RoundTripper {
	return scanning{next, listingOf}
}

type scanning struct {
	next      http.RoundTripper
	listingOf func(*http.Request) *Decision
}

func (rt scanning) RoundTrip(r *http.Request) (*http.Response, error) {
	d := rt.listingOf(r)
	if d == nil || d.Listing == nil {
		return rt.next.RoundTrip(r)
	}
	if d.Verdict == Empty {
		return answer(r, http.Header{}, map[string]any{d.Listing.Name: []any{}, "total_entries": 0}), nil
	}
	q := r.URL.Query()
	limit, offset, err := paging(q, r.URL.Path)
	if err != nil {
		return nil, err
	}
	fields := splitFields(q["fields"]) // Airflow 2 would leave the dag_id out: the page is cut to them here
	q.Del("fields")
	var kept []any
	var header http.Header
	for read := 0; ; {
		q.Set("limit", strconv.Itoa(PageSize))
		q.Set("offset", strconv.Itoa(read))
		page := r.Clone(r.Context())
		page.URL.RawQuery = q.Encode()
		page.Header.Del("Accept-Encoding") // the transport asks for gzip itself, and takes it off
		resp, err := rt.next.RoundTrip(page)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return resp, nil // Airflow's own refusal goes back as it is
		}
		rows, total, err := readPage(resp, d.Listing.Name)
		if err != nil {
			return nil, err
		}
		header = resp.Header
		for _, row := range rows {
			if m, ok := row.(map[string]any); ok && d.Listing.Keep(m) {
				kept = append(kept, project(m, fields))
			}
		}
		read += len(rows)
		if len(rows) == 0 || read >= total {
			break
		}
		if read >= MaxScanned {
			return nil, commands.NewRefusal(commands.RefusedUnfiltered, d.Listing.Scope, nil,
				"this listing holds over %d rows, more than the gateway reads to keep those of this credential's scope (%s); narrow it with its own filters (a dag_id_pattern, tags, dates) or name its DAGs", MaxScanned, d.Listing.Scope)
		}
	}
	out := []any{}
	if offset < len(kept) {
		out = kept[offset:min(offset+limit, len(kept))]
	}
	return answer(r, header, map[string]any{d.Listing.Name: out, "total_entries": len(kept)}), nil
}

// paging reads a listing's limit and offset: by default a page of 100 on /api/v1 and of 50 on /api/v2,
// as Airflow answers, and never more than PageSize rows.
func paging(q map[string][]string, path string) (limit, offset int, err error) {
	limit = 50
	if strings.HasPrefix(path, "/api/v1/") {
		limit = 100
	}
	for _, p := range []struct {
		name string
		to   *int
	}{{"limit", &limit}, {"offset", &offset}} {
		v := ""
		if len(q[p.name]) > 0 {
			v = q[p.name][0]
		}
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || strings.HasPrefix(v, "+") {
			return 0, 0, commands.Errorf(commands.EINVALID, "%s=%q is not a whole number of rows; send one, such as %s=10", p.name, commands.Shorten(v), p.name)
		}
		*p.to = n
	}
	if limit == 0 {
		limit = 100 // Airflow 2 read 0 as its default
	}
	return min(limit, PageSize), offset, nil
}

// readPage reads the rows of a page of a listing and the total Airflow counts.
func readPage(resp *http.Response, name string) ([]any, int, error) {
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPage+1))
	if err != nil {
		return nil, 0, err
	}
	var doc map[string]json.RawMessage
	var rows []any
	var total int
	dec := func(raw json.RawMessage, v any) error {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		return d.Decode(v)
	}
	if len(data) > maxPage || json.Unmarshal(data, &doc) != nil || dec(doc[name], &rows) != nil || json.Unmarshal(doc["total_entries"], &total) != nil {
		return nil, 0, commands.Errorf(commands.EINTERNAL, "Airflow answered a page of %s that is not a listing of them", name)
	}
	return rows, total, nil
}

func splitFields(values []string) []string {
	var out []string
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// project cuts a row to fields, when there are some.
func project(row map[string]any, fields []string) map[string]any {
	if len(fields) == 0 {
		return row
	}
	for k := range row {
		if !slices.Contains(fields, k) {
			delete(row, k)
		}
	}
	return row
}

// answer is a listing's answer, as Airflow's: JSON, status 200, with header's other fields.
func answer(r *http.Request, header http.Header, doc map[string]any) *http.Response {
	body := encode(doc)
	h := header.Clone()
	for _, k := range []string{"Content-Length", "Content-Encoding", "Transfer-Encoding", "Etag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}
}

package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
)

// jobResponse is a job with its output, as GET /api/v1/jobs/ID answers it.
type jobResponse struct {
	*jobs.Job
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

func withOutput(j *jobs.Job) jobResponse {
	return jobResponse{Job: j, Stdout: j.Stdout, Stderr: j.Stderr}
}

// jobList is the answer of GET /api/v1/jobs.
type jobList struct {
	Jobs []*jobs.Job `json:"jobs"`
	// Next is the `before` value of the next page, when this one is full.
	Next string `json:"next,omitempty"`
}

func askerOf(c echo.Context) jobs.Asker {
	p := principalOf(c)
	return jobs.Asker{Name: p.Name, Role: p.Role, Scope: p.Scope}
}

var jobsOff = commands.Errorf(commands.EUNAVAILABLE, "jobs are not enabled on this server")

// handleJobStart starts a command as a job: POST /api/v1/jobs.
func (s *Server) handleJobStart(c echo.Context) error {
	if s.jobs == nil {
		return s.fail(c, jobsOff, nil)
	}
	cmd, err := readCommand(c)
	if err != nil {
		return s.fail(c, err, nil)
	}
	inv, err := cmd.resolve(s.svc, principalOf(c).Access())
	if err != nil {
		return s.fail(c, err, nil)
	}
	job, err := s.jobs.Start(c.Request().Context(), inv, principalOf(c).Name)
	recordOf(c).command = inv.Path()
	if err != nil {
		return s.fail(c, err, nil)
	}
	s.metrics.jobsStarted.Inc()
	s.log.Info("job started", "request_id", requestID(c), "job", job.ID, "token", job.Owner, "airflow_cmd", job.AirflowCmd)
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/jobs/"+job.ID)
	return writeJSON(c, http.StatusAccepted, withOutput(job))
}

// handleJob answers one job with its output: GET /api/v1/jobs/ID.
func (s *Server) handleJob(c echo.Context) error {
	id, err := s.jobID(c)
	if err != nil {
		return s.fail(c, err, nil)
	}
	job, err := s.jobs.Get(c.Request().Context(), id, askerOf(c), true)
	if err != nil {
		return s.fail(c, err, nil)
	}
	return writeJSON(c, http.StatusOK, withOutput(job))
}

// handleJobCancel cancels a job: DELETE /api/v1/jobs/ID. A job that has ended is answered as it is.
func (s *Server) handleJobCancel(c echo.Context) error {
	id, err := s.jobID(c)
	if err != nil {
		return s.fail(c, err, nil)
	}
	job, err := s.jobs.Cancel(c.Request().Context(), id, askerOf(c))
	if err != nil {
		return s.fail(c, err, nil)
	}
	s.log.Info("job cancel", "request_id", requestID(c), "job", job.ID, "token", principalOf(c).Name, "state", job.State)
	return writeJSON(c, http.StatusOK, job)
}

// handleJobs lists jobs, newest first: GET /api/v1/jobs?state=&limit=&before=.
func (s *Server) handleJobs(c echo.Context) error {
	if s.jobs == nil {
		return s.fail(c, jobsOff, nil)
	}
	f, err := jobFilter(c.Request().URL.RawQuery)
	if err != nil {
		return s.fail(c, err, nil)
	}
	list, err := s.jobs.List(c.Request().Context(), f, askerOf(c))
	if err != nil {
		return s.fail(c, err, nil)
	}
	out := jobList{Jobs: list}
	if out.Jobs == nil {
		out.Jobs = []*jobs.Job{}
	}
	if len(list) == f.Limit {
		out.Next = list[len(list)-1].ID
	}
	return writeJSON(c, http.StatusOK, out)
}

// jobFilter reads the query of GET /api/v1/jobs.
func jobFilter(rawQuery string) (jobs.Filter, error) {
	f := jobs.Filter{Limit: jobs.DefaultListLimit}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return f, commands.Errorf(commands.EINVALID, "the query string cannot be read (%v)", err)
	}
	if v := q.Get("state"); v != "" {
		if f.State, err = jobs.ParseState(v); err != nil {
			return f, err
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > jobs.MaxListLimit {
			return f, commands.Errorf(commands.EINVALID, "limit %q is not a number from 1 to %d", commands.Shorten(v), jobs.MaxListLimit)
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		if f.Before, err = jobs.ParseID(v); err != nil {
			return f, err
		}
	}
	return f, nil
}

// handleJobOutput follows a job's output as Server-Sent Events: GET /api/v1/jobs/ID/output. A client that
// reconnects with Last-Event-ID gets the output from that byte offset on.
func (s *Server) handleJobOutput(c echo.Context) error {
	id, err := s.jobID(c)
	if err != nil {
		return s.fail(c, err, nil)
	}
	var from int64
	if h := c.Request().Header.Get("Last-Event-ID"); h != "" {
		if from, err = jobs.ParseOffset(h); err != nil {
			return s.fail(c, err, nil)
		}
	}
	ev := &eventStream{c: c, offset: from}
	err = s.jobs.Follow(c.Request().Context(), id, from, askerOf(c), ev)
	if err != nil && !ev.begun {
		return s.fail(c, err, nil)
	}
	return nil // once the stream has begun, an error means the client went away
}

// jobID reads the ID in the path.
func (s *Server) jobID(c echo.Context) (string, error) {
	if s.jobs == nil {
		return "", jobsOff
	}
	return jobs.ParseID(c.Param("id"))
}

// eventStream writes a job's output as Server-Sent Events: `event: stdout` or `stderr` with the text as
// data and the byte offset just past it as id, comments while nothing happens, and `event: end` with the
// job's record last.
type eventStream struct {
	c      echo.Context
	begun  bool
	offset int64
}

func (e *eventStream) Begin(job *jobs.Job) error {
	h := e.c.Response().Header()
	h.Set(echo.HeaderContentType, "text/event-stream; charset=utf-8")
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	e.c.Response().WriteHeader(http.StatusOK)
	e.begun = true
	return e.write(fmt.Sprintf(": job %s, %s, output from byte %d\n\n", job.ID, job.State, e.offset))
}

func (e *eventStream) Chunk(c jobs.Chunk) error {
	e.offset = c.End()
	var b strings.Builder
	fmt.Fprintf(&b, "event: %s\nid: %d\n", c.Stream, e.offset)
	writeData(&b, c.Text)
	return e.write(b.String())
}

func (e *eventStream) KeepAlive() error { return e.write(": keep-alive\n\n") }

func (e *eventStream) End(job *jobs.Job) error {
	var b strings.Builder
	fmt.Fprintf(&b, "event: end\nid: %d\n", e.offset)
	data, err := jsonText(job)
	if err != nil {
		return err
	}
	writeData(&b, data)
	return e.write(b.String())
}

// writeData writes text as the data of an event: one data line per line of text, so that the client's
// joining them with newlines gives the text back.
func writeData(b *strings.Builder, text string) {
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
}

func (e *eventStream) write(s string) error {
	if _, err := e.c.Response().Write([]byte(s)); err != nil {
		return err
	}
	e.c.Response().Flush()
	return nil
}

// jsonText returns v as one line of JSON, with <, > and & as they are.
func jsonText(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

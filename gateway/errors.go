package gateway

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// statusOf maps the domain's error codes to HTTP statuses: the one table of it.
var statusOf = map[string]int{
	commands.EINVALID:      http.StatusBadRequest,
	commands.ENOTFOUND:     http.StatusNotFound,
	commands.EUNAUTHORIZED: http.StatusUnauthorized,
	commands.EFORBIDDEN:    http.StatusForbidden,
	commands.ECONFLICT:     http.StatusConflict,
	commands.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	commands.EFAILED:       http.StatusInternalServerError,
	commands.ETIMEOUT:      http.StatusGatewayTimeout,
	commands.ESLOWBODY:     http.StatusRequestTimeout,
	commands.ENOSPACE:      http.StatusInsufficientStorage,
	commands.EUNAVAILABLE:  http.StatusServiceUnavailable,
	commands.EINTERNAL:     http.StatusInternalServerError,
}

// retryAfterSeconds is sent with 503 answers.
const retryAfterSeconds = "5"

// StatusOf returns the HTTP status for err.
func StatusOf(err error) int {
	if s, ok := statusOf[commands.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 7807 problem document.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Output of a command stopped at its time limit.
	Stdout    *string `json:"stdout,omitempty"`
	Stderr    *string `json:"stderr,omitempty"`
	Truncated *bool   `json:"truncated,omitempty"`
	RequestID string  `json:"request_id,omitempty"`
}

// writeProblem answers err as a problem document; internal errors are logged and answered without details.
// res, when not nil, is the partial output of a command stopped at its time limit.
func writeProblem(c echo.Context, err error, res *commands.Result) error {
	if commands.ErrorCode(err) == commands.EINTERNAL {
		logInternal(c, err)
	}
	return writeProblemStatus(c, StatusOf(err), commands.ErrorMessage(err), res)
}

// refuseProblem answers a refused request with a problem document.
func refuseProblem(c echo.Context, err error) error { return writeProblem(c, err, nil) }

// logInternal logs a fault of the gateway itself with the request id; the client gets no details.
func logInternal(c echo.Context, err error) {
	slog.Error("internal error", "request_id", requestID(c), "err", err)
}

func writeProblemStatus(c echo.Context, status int, detail string, res *commands.Result) error {
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, RequestID: requestID(c)}
	if res != nil {
		p.Stdout, p.Stderr, p.Truncated = &res.Stdout, &res.Stderr, &res.Truncated
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(status)
	return encodeJSON(c, p)
}

// httpErrorHandler answers Echo's own errors (no route, wrong method, body too large) as problem documents.
func httpErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		_ = writeProblem(c, err, nil)
		return
	}
	detail := http.StatusText(he.Code)
	switch he.Code {
	case http.StatusNotFound:
		detail = "no such endpoint: " + c.Request().URL.Path + "; GET /api/v1/openapi.json describes every endpoint"
	case http.StatusMethodNotAllowed:
		detail = "method " + c.Request().Method + " is not allowed on " + c.Request().URL.Path
	case http.StatusRequestEntityTooLarge:
		detail = tooLargeMessage
	default:
		if s, ok := he.Message.(string); ok {
			detail = s
		}
	}
	_ = writeProblemStatus(c, he.Code, detail, nil)
}

package gateway

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
)

// The gateway's own error codes, beside the domain's: failures that only HTTP has.
const (
	eTooMany  = "too_many"  // the client address failed to authenticate too often lately
	eMethod   = "method"    // the endpoint does not take the request's method
	eSlowBody = "slow_body" // the request body did not arrive within its time limit
)

// statusOf maps error codes to HTTP statuses: the one table of it.
var statusOf = map[string]int{
	commands.EINVALID:      http.StatusBadRequest,
	commands.ENOTFOUND:     http.StatusNotFound,
	commands.EUNAUTHORIZED: http.StatusUnauthorized,
	commands.EFORBIDDEN:    http.StatusForbidden,
	commands.ECONFLICT:     http.StatusConflict,
	commands.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	commands.EFAILED:       http.StatusInternalServerError,
	commands.ETIMEOUT:      http.StatusGatewayTimeout,
	commands.ENOSPACE:      http.StatusInsufficientStorage,
	commands.EUNAVAILABLE:  http.StatusServiceUnavailable,
	commands.EINTERNAL:     http.StatusInternalServerError,
	eTooMany:               http.StatusTooManyRequests,
	eMethod:                http.StatusMethodNotAllowed,
	eSlowBody:              http.StatusRequestTimeout,
	airflowapi.EUPSTREAM:   http.StatusBadGateway,
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

// logInternal logs a fault of the gateway itself with the request id; the client gets no details.
func logInternal(c echo.Context, err error) {
	slog.Error("internal error", "request_id", requestID(c), "err", err)
}

// handleError answers an error no handler answered, Echo's own among them (no route, wrong method, body
// over its limit), in the dialect of the path like any other.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		_ = s.fail(c, err, nil)
		return
	}
	r := c.Request()
	switch he.Code {
	case http.StatusNotFound:
		err = commands.Errorf(commands.ENOTFOUND, "no such endpoint: %s; GET /api/v1/openapi.json describes every endpoint", r.URL.Path)
	case http.StatusRequestEntityTooLarge:
		err = &commands.Error{Code: commands.ETOOLARGE, Message: tooLargeMessage}
	default:
		// A status the domain has no code for (405): answered as it is, in the dialect's shape.
		msg := http.StatusText(he.Code)
		if he.Code == http.StatusMethodNotAllowed {
			msg = "method " + r.Method + " is not allowed on " + r.URL.Path
		} else if m, ok := he.Message.(string); ok {
			msg = m
		}
		_ = s.answerError(c, he.Code, &commands.Error{Code: commands.EINVALID, Message: msg}, nil)
		return
	}
	_ = s.fail(c, err, nil)
}

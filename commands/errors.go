package commands

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes: the kinds of failure of the domain, which the gateway maps to HTTP statuses in one table
// (it adds a few of its own, for what only HTTP has: a method, a body that is slow to come).
const (
	EINVALID      = "invalid"      // the request is malformed or not allowed as written
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	EUNAUTHORIZED = "unauthorized" // no or wrong credentials
	EFORBIDDEN    = "forbidden"    // credentials fine, but not allowed to do this
	ECONFLICT     = "conflict"     // the request clashes with the state of things (a daemon already running)
	ETOOLARGE     = "too_large"    // the request body is over a configured limit
	ETIMEOUT      = "timeout"      // the command ran past its time limit
	ENOSPACE      = "no_space"     // a disk the gateway writes to is full
	EUNAVAILABLE  = "unavailable"  // no capacity right now; retry later
	EFAILED       = "failed"       // the command ran and exited non-zero
	EINTERNAL     = "internal"     // a fault of the gateway itself
)

// Error is the domain's error: a code for the machine and a message for the person who sent the request.
type Error struct {
	Code    string
	Message string
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL for errors that are not an *Error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of an *Error, and a generic text for any other error so that internals
// never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error; the gateway's log has the details"
}

// Shorten cuts what a client sent to a length fit for an error message.
func Shorten(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}

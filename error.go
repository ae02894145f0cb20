package mosaic

import (
	"errors"
	"fmt"
)

// Error codes. The http package maps each to one status; everything else is internal.
const (
	EINVALID      = "invalid"      // the input is malformed or breaks a rule
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	ECONFLICT     = "conflict"     // the change clashes with existing state (duplicate name, …)
	EUNAUTHORIZED = "unauthorized" // no or unknown credentials
	EFORBIDDEN    = "forbidden"    // valid credentials without the right
	ETOOLARGE     = "too_large"    // a body, event or batch is over its limit
	EUNSUPPORTED  = "unsupported"  // e.g. an unknown Content-Encoding
	EUNAVAILABLE  = "unavailable"  // the store or inbox cannot take the work now; retry
	EINTERNAL     = "internal"     // a bug or an outage; details are logged, never shown
)

// Error is Mosaic's application error: a machine-readable code, a message safe to show to the
// caller, the JSON path of the offending input when there is one, and the cause for logs.
type Error struct {
	Code    string
	Message string
	Field   string // e.g. "batch[3].userId"
	Err     error  // cause, logged and never shown
}

func (e *Error) Error() string {
	s := e.Code
	if e.Field != "" {
		s += " " + e.Field
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error naming the offending input field.
func FieldErrorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message safe to show for err: the *Error's message, or
// "Internal error." for anything else, so internals never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "Internal error."
}

// ErrorField returns the offending field of the first *Error in err's chain, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

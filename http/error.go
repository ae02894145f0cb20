package http

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

// codes maps each mosaic error code to its HTTP status.
var codes = map[string]int{
	mosaic.EINVALID:      http.StatusBadRequest,
	mosaic.ENOTFOUND:     http.StatusNotFound,
	mosaic.ECONFLICT:     http.StatusConflict,
	mosaic.EUNAUTHORIZED: http.StatusUnauthorized,
	mosaic.EFORBIDDEN:    http.StatusForbidden,
	mosaic.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	mosaic.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	mosaic.EUNAVAILABLE:  http.StatusServiceUnavailable,
	mosaic.EINTERNAL:     http.StatusInternalServerError,
}

// ErrorStatus returns the HTTP status for err's code.
func ErrorStatus(err error) int {
	if s, ok := codes[mosaic.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Success bool        `json:"success"`
	Error   ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error writes err as a JSON error response. Internal and unavailable errors are logged here,
// once, with their cause; the caller sees only the safe message.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	code := mosaic.ErrorCode(err)
	status := ErrorStatus(err)
	if code == mosaic.EINTERNAL || code == mosaic.EUNAVAILABLE {
		loggerFrom(r).Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	if code == mosaic.EUNAUTHORIZED && r.URL.Path != "" && len(r.URL.Path) > 4 && r.URL.Path[:4] == "/api" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mosaic"`)
	}
	if code == mosaic.EUNAVAILABLE {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: mosaic.ErrorMessage(err), Field: mosaic.ErrorField(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// queryLimit reads the optional ?limit= of a list route: 0 when absent, invalid unless it is
// a positive number (each store checks its own upper bound).
func queryLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, mosaic.FieldErrorf(mosaic.EINVALID, "limit", "limit must be a positive number.")
	}
	return n, nil
}

// knownParams refuses a query parameter a route does not take, or one given twice, rather
// than answering as if it were absent (a Segment user types ?userId=, and gets every event
// otherwise). Parameters starting with _ are cache busters.
func knownParams(r *http.Request, known ...string) error {
	for name, vs := range r.URL.Query() {
		switch {
		case slices.Contains(known, name):
			if len(vs) > 1 {
				return mosaic.FieldErrorf(mosaic.EINVALID, name, "%s is given %d times; give it once.", name, len(vs))
			}
		case strings.HasPrefix(name, "_"):
		case slices.Contains(known, snake(name)):
			return mosaic.FieldErrorf(mosaic.EINVALID, name, "Unknown parameter %q: the API's names are snake_case, use %s.", name, snake(name))
		default:
			return mosaic.FieldErrorf(mosaic.EINVALID, name, "Unknown parameter %q (known: %s).", name, strings.Join(known, ", "))
		}
	}
	return nil
}

// snake turns userId into user_id.
func snake(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

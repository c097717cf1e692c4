package authclient

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Category sentinels. Every error the client returns for an HTTP answer is an
// [*Error]; these sentinels name its category, so callers write
// errors.Is(err, authclient.ErrUnauthorized) instead of comparing status codes.
// The mapping from a server's answer to a category is per server: Khoj, for
// example, answers a bad token with 403 or with a redirect to its login page,
// and both match ErrUnauthorized.
var (
	// ErrUnauthorized means the server did not accept the credentials (none,
	// wrong, expired, revoked or inactive). It is matched by a 401 from
	// Komga, Audiobookshelf and ComfyUI; by Khoj's 403 {"detail":"Forbidden"},
	// its 303 to /login and its unauthenticated /api/health answer; by a
	// redirect to a login page; and by an HTML page where JSON was expected.
	ErrUnauthorized = errors.New("authclient: unauthorized")

	// ErrForbidden means the credentials are valid but not allowed to do
	// this (a missing role, an admin-only endpoint).
	ErrForbidden = errors.New("authclient: forbidden")

	// ErrNotFound means the server has no such resource (or route).
	ErrNotFound = errors.New("authclient: not found")

	// ErrRateLimited means the server asked the client to slow down (429).
	// The [*Error] carries the wait the server asked for in RetryAfter.
	ErrRateLimited = errors.New("authclient: rate limited")

	// ErrUnavailable means the server, or a proxy in front of it, is down,
	// overloaded or reports itself unhealthy: a 502, 503 or 504 (calls that
	// are safe to repeat were already retried), or a redirect to the
	// server's own error page (Khoj's /server/error when its database is
	// down), which is never followed and never read as a sign-in page.
	ErrUnavailable = errors.New("authclient: server unavailable")

	// ErrServer means the server failed while handling the request: a 500
	// Internal Server Error or another 5xx that is not 502, 503 or 504
	// (those are ErrUnavailable). It is a server-side bug or outage, not a
	// problem with the credentials (Khoj answers 500 when its database is
	// down); such answers are not retried. The server's text, if any, is
	// in [Error.Message].
	ErrServer = errors.New("authclient: server error")

	// ErrRedirect means the server redirected the request somewhere the
	// client will not follow with credentials: to another origin (scheme,
	// host or port) or from https to http.
	ErrRedirect = errors.New("authclient: redirect refused")

	// ErrUnexpectedServer means the server answered, but not as the
	// configured server would (for example [Client.Probe] found no Komga).
	ErrUnexpectedServer = errors.New("authclient: unexpected server")
)

// maxErrorBody is how much of an error response body is kept in [Error.Body].
const maxErrorBody = 64 << 10

// maxMessage bounds the server message quoted in [Error.Error].
const maxMessage = 300

// Error is the error returned for every HTTP answer the client treats as a
// failure: a non-2xx status, a redirect it refused to follow, or a 2xx that
// was not what was asked for (an HTML login page instead of JSON); and for
// what the client decides about a call without an answer to report (it has
// logged out, a key id is not in the list), whose StatusCode is 0.
// Transport failures (no answer at all) are [*TransportError] instead.
//
// Error() prints the server, method, redacted URL, status (if any) and the
// server's message; it never prints the body, headers or credentials. Match
// categories with errors.Is (ErrUnauthorized, ErrForbidden, ErrNotFound,
// ErrRateLimited, ErrUnavailable, ErrServer, ErrRedirect,
// ErrUnexpectedServer) and read details with errors.As.
type Error struct {
	// Server is the server the client talks to.
	Server Server
	// Method is the HTTP method of the request.
	Method string
	// URL is the request URL with userinfo removed and credential-like query
	// values replaced by "REDACTED".
	URL string
	// StatusCode is the HTTP status of the answer; 0 when the client
	// decided without an answer from the server (it has logged out, the
	// session expired with no password to sign in again, a key id is not
	// in the list, the identity provider refused a sign-in, a session token
	// the server sent cannot be used).
	StatusCode int
	// Code is the server's machine-readable error code, when it sent one:
	// Komga's "ERR_1034", ComfyUI's prompt error type, and similar.
	Code string
	// Message is the server's own message, parsed from whichever error shape
	// the server used (JSON "message", "error" or "detail" fields, Komga's
	// validation "violations", plain text, or the text of an HTML error
	// page), with the client's own credentials masked.
	Message string
	// Hint is the client's explanation of the failure, when it has one (for
	// example which credential was rejected and what to check).
	Hint string
	// Credential names the kind of credential the rejected request
	// carried, on ErrUnauthorized errors: one of the Credential constants
	// (CredentialAPIKey, CredentialSession, …). It never holds the
	// credential itself.
	Credential string
	// RetryAfter is the wait the server asked for (Retry-After), if any.
	RetryAfter time.Duration
	// Location is the redacted target of a redirect the client did not follow.
	Location string
	// Body holds up to the first 64 KiB of the response body, for
	// inspection. It is never printed by Error, String, GoString, the slog
	// value or encoding/json; beware that printing it yourself may reveal
	// whatever the server wrote.
	Body []byte `json:"-"`

	kind error // the category sentinel, or nil
}

// Error returns "authclient: <server>: METHOD URL: STATUS: code: message
// (hint)", without the STATUS when StatusCode is 0 (the client decided
// without an answer), saying each phrase once: a code or message that only
// repeats the status text or each other (ComfyUI's {"error":
// "Unauthorized", "message": …} on a 401 Unauthorized, Khoj's {"detail":
// "Forbidden"} on a 403) is left out, compared case-insensitively and
// without surrounding white space or a final period.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("authclient: ")
	if e.Server != "" {
		b.WriteString(string(e.Server))
		b.WriteString(": ")
	}
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.URL)
	var status string
	if e.StatusCode != 0 {
		b.WriteString(": ")
		b.WriteString(strconv.Itoa(e.StatusCode))
		status = http.StatusText(e.StatusCode)
		if status != "" {
			b.WriteByte(' ')
			b.WriteString(status)
		}
	}
	if e.Location != "" {
		b.WriteString(" to ")
		b.WriteString(e.Location)
	}
	if e.Code != "" && !samePhrase(e.Code, status) && !samePhrase(e.Code, e.Message) {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Message != "" && !samePhrase(e.Message, status) {
		b.WriteString(": ")
		b.WriteString(truncate(e.Message, maxMessage))
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after ")
		b.WriteString(e.RetryAfter.String())
		b.WriteByte(')')
	}
	if e.Hint != "" && !samePhrase(e.Hint, e.Message) {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteByte(')')
	}
	return b.String()
}

// samePhrase reports whether a and b say the same thing: equal but for
// case, surrounding white space and a final period. An empty phrase is
// never the same as anything.
func samePhrase(a, b string) bool {
	a = strings.TrimSuffix(strings.TrimSpace(a), ".")
	b = strings.TrimSuffix(strings.TrimSpace(b), ".")
	return a != "" && strings.EqualFold(a, b)
}

// String returns the same text as Error. Its receiver is a value so that
// an Error printed by value (not through a pointer) is safe too.
func (e Error) String() string { return e.Error() }

// GoString makes %#v print the same safe text as Error, never the Body;
// like String, for a pointer and a value alike.
func (e Error) GoString() string { return "&authclient.Error{" + strconv.Quote(e.Error()) + "}" }

// LogValue makes slog print the error's safe fields, never the Body (for a
// pointer and a value alike).
func (e Error) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("server", string(e.Server)),
		slog.String("method", e.Method),
		slog.String("url", e.URL),
		slog.Int("status", e.StatusCode),
		slog.String("message", truncate(e.Message, maxMessage)),
	)
}

// Is reports whether target is the category of e: ErrUnauthorized,
// ErrForbidden, ErrNotFound, ErrRateLimited, ErrUnavailable, ErrServer,
// ErrRedirect or ErrUnexpectedServer.
func (e *Error) Is(target error) bool {
	return target != nil && target == e.kind
}

// newError is the one constructor of an [*Error] for an answer the server
// sent: StatusCode is the answer's status, Method and URL are req's (the
// URL redacted), and msg, the client's reading of the answer, has the
// client's credentials masked. Every failed or unusable answer becomes an
// error here.
func (c *Client) newError(resp *http.Response, req *http.Request, kind error, msg string) *Error {
	return &Error{
		Server:     c.spec.server,
		Method:     req.Method,
		URL:        c.redactedURL(req.URL),
		StatusCode: resp.StatusCode,
		Message:    c.secrets.scrub(msg),
		kind:       kind,
	}
}

// errorOf is errors.As for an *Error, without its cost when err is one
// itself (the target of errors.As escapes: an allocation per call).
func errorOf(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return wrappedErrorOf(err)
}

func wrappedErrorOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// localError is the one constructor of an [*Error] the client decides on
// without an answer to report (it has logged out, a key id is not in the
// list, …): StatusCode is 0, never a status the server did not send.
// method is "-" when no request is concerned; u is the URL the error is
// about (nil: the base URL), redacted; msg has the client's credentials
// masked.
func (c *Client) localError(kind error, method string, u *url.URL, msg string) *Error {
	if u == nil {
		u = c.base
	}
	return &Error{
		Server:  c.spec.server,
		Method:  method,
		URL:     c.redactedURL(u),
		Message: c.secrets.scrub(msg),
		kind:    kind,
	}
}

// endpoint is the URL of path, relative to the base URL, for errors about
// an endpoint that are not about one request.
func (c *Client) endpoint(path string) *url.URL {
	return c.base.JoinPath(path)
}

// UnsupportedError is returned for an operation the configured server does not
// offer. It matches errors.Is(err, errors.ErrUnsupported).
type UnsupportedError struct {
	// Server is the server the client talks to.
	Server Server
	// Op names the operation, for example [OpListAPIKeys].
	Op Operation
	// Reason says why, in the server's terms.
	Reason string
}

// Error returns "authclient: <server>: Op is not supported: reason".
func (e *UnsupportedError) Error() string {
	s := "authclient: " + string(e.Server) + ": " + string(e.Op) + " is not supported"
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Is makes errors.Is(err, errors.ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == errors.ErrUnsupported }

// TransportError is returned when a request got no HTTP answer: the
// connection was refused or reset, DNS failed, TLS failed, a timeout or
// cancellation struck. It unwraps to the cause, so errors.Is(err,
// context.DeadlineExceeded) and errors.As(err, &netErr) work, but unlike
// [*url.Error] it carries only the redacted URL.
type TransportError struct {
	// Server is the server the client talks to.
	Server Server
	// Method is the HTTP method of the request.
	Method string
	// URL is the redacted request URL.
	URL string
	// Hint says what to check, when the cause suggests it (for example
	// "connection refused: is the server running, and are the URL and
	// port right?").
	Hint string
	// Err is the underlying cause.
	Err error
}

// Error returns "authclient: <server>: METHOD URL: cause (hint)".
func (e *TransportError) Error() string {
	s := "authclient: " + string(e.Server) + ": " + e.Method + " " + e.URL + ": " + e.Err.Error()
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the cause was a timeout.
func (e *TransportError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// ConfigError is returned by [New], [NewFromEnv] and the options for a bad
// configuration value. It names the setting (an option or an environment
// variable) and never quotes a secret value.
type ConfigError struct {
	// Setting names what was wrong: an option such as "WithTimeout" or an
	// environment variable such as "KOMGA_TIMEOUT".
	Setting string
	// Problem says what is wrong with it.
	Problem string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns "authclient: Setting: Problem".
func (e *ConfigError) Error() string {
	return "authclient: " + e.Setting + ": " + e.Problem
}

// Unwrap returns the cause, if any.
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(setting, format string, args ...any) error {
	return &ConfigError{Setting: setting, Problem: fmt.Sprintf(format, args...)}
}

// newTransportError wraps a transport failure, dropping the *url.Error layer
// (whose text carries the full, unredacted URL).
func newTransportError(server Server, method, redactedURL string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	te := &TransportError{Server: server, Method: method, URL: redactedURL, Err: err}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		te.Hint = "connection refused: is the server running, and are the URL and port right?"
	case errors.Is(err, syscall.ECONNRESET):
		te.Hint = "connection reset by the server or a proxy in between"
	default:
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			te.Hint = "DNS lookup failed: check the host name in the URL"
		}
	}
	return te
}

package authclient

import (
	"bytes"
	"encoding/json"
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
	"unicode/utf8"
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
// was not what was asked for (an HTML login page instead of JSON). Transport
// failures (no answer at all) are [*TransportError] instead.
//
// Error() prints the server, method, redacted URL, status and the server's
// message; it never prints the body, headers or credentials. Match categories
// with errors.Is (ErrUnauthorized, ErrForbidden, ErrNotFound, ErrRateLimited,
// ErrUnavailable, ErrServer, ErrRedirect, ErrUnexpectedServer) and read
// details with errors.As.
type Error struct {
	// Server is the server the client talks to.
	Server Server
	// Method is the HTTP method of the request.
	Method string
	// URL is the request URL with userinfo removed and credential-like query
	// values replaced by "REDACTED".
	URL string
	// StatusCode is the HTTP status of the answer.
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
// (hint)", saying each phrase once: a code or message that only repeats the
// status text or each other (ComfyUI's {"error": "Unauthorized", "message":
// …} on a 401 Unauthorized, Khoj's {"detail": "Forbidden"} on a 403) is
// left out, compared case-insensitively and without surrounding white
// space or a final period.
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
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	status := http.StatusText(e.StatusCode)
	if status != "" {
		b.WriteByte(' ')
		b.WriteString(status)
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

// UnsupportedError is returned for an operation the configured server does not
// offer. It matches errors.Is(err, errors.ErrUnsupported).
type UnsupportedError struct {
	// Server is the server the client talks to.
	Server Server
	// Op names the operation, for example "ListAPIKeys".
	Op string
	// Reason says why, in the server's terms.
	Reason string
}

// Error returns "authclient: <server>: Op is not supported: reason".
func (e *UnsupportedError) Error() string {
	s := "authclient: " + string(e.Server) + ": " + e.Op + " is not supported"
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

// errorBody is the union of the error shapes the four servers use.
type errorBody struct {
	Status     json.RawMessage `json:"status"` // Spring Boot's shape has it; its "error" is then only the reason phrase
	Message    *string         `json:"message"`
	Error      json.RawMessage `json:"error"`
	Detail     json.RawMessage `json:"detail"`
	Violations []struct {
		FieldName string `json:"fieldName"`
		Message   string `json:"message"`
	} `json:"violations"`
}

// parseErrorBody extracts the server's message and code from an error body of
// any of the shapes the servers use: Spring Boot's {"message": …} (Komga),
// Komga's {"violations": […]}, {"error": "…"} (Audiobookshelf, ComfyUI),
// {"error": {"type", "message"}} (ComfyUI prompt validation), FastAPI's
// {"detail": "…"} or {"detail": […{"msg"}]} (Khoj), plain text, and HTML error
// pages, cleaned to one line. It never fails: unknown shapes give an empty
// message. The client itself uses [rawErrorBody] and masks its secrets
// before cleaning (see [secretSet.serverText]).
func parseErrorBody(contentType string, body []byte) (message, code string) {
	message, code = rawErrorBody(contentType, body)
	return cleanText(message), cleanText(code)
}

// rawErrorBody is parseErrorBody without the cleaning: the text as the
// server wrote it, so that masking sees a secret in the form it was
// echoed in.
func rawErrorBody(contentType string, body []byte) (message, code string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", ""
	}
	if body[0] == '{' {
		var eb errorBody
		if json.Unmarshal(body, &eb) == nil {
			return fromErrorBody(&eb)
		}
	}
	if bytes.HasPrefix(body, []byte("<")) {
		return htmlText(body), ""
	}
	if strings.Contains(contentType, "html") && bytes.Contains(body, []byte("</")) {
		return htmlText(body), ""
	}
	if strings.Contains(contentType, "json") || body[0] == '[' || body[0] == '{' {
		return "", ""
	}
	return string(body), ""
}

// maxRawText bounds the server text the client masks and cleans.
const maxRawText = 8 << 10

// serverText makes text from a server safe to print. The client's secrets
// are masked first, in the text as it came: cleaning would change the form
// of a secret (folding "correct  horse" into "correct horse") and the mask
// would miss it. Then the text is cleaned to one line, masked again (the
// folded form of a secret, whatever white space the echo put in it) and
// bounded. Every cut comes after a masking, except the first bound on the
// raw text, and a secret cut there is masked by its start.
func (s *secretSet) serverText(raw string) string {
	if raw == "" {
		return ""
	}
	t := cleanText(s.scrub(truncate(raw, maxRawText)))
	return truncate(s.scrub(t), 4*maxMessage)
}

func fromErrorBody(eb *errorBody) (message, code string) {
	if len(eb.Violations) > 0 {
		parts := make([]string, 0, len(eb.Violations))
		for _, v := range eb.Violations {
			if v.FieldName != "" {
				parts = append(parts, v.FieldName+": "+v.Message)
			} else {
				parts = append(parts, v.Message)
			}
		}
		return strings.Join(parts, "; "), ""
	}
	var errText string
	if len(eb.Error) > 0 {
		var s string
		var obj struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(eb.Error, &s) == nil:
			errText = s
		case json.Unmarshal(eb.Error, &obj) == nil:
			code = obj.Type
			errText = obj.Message
		}
	}
	switch {
	case eb.Message != nil && *eb.Message != "":
		message = *eb.Message
		if code == "" && errText != "" && errText != message && len(eb.Status) == 0 {
			// ComfyUI's 401: {"error": "Unauthorized", "message": "Invalid or missing API key…"}.
			code = errText
		}
	case errText != "":
		message = errText
	case len(eb.Detail) > 0:
		message = detailText(eb.Detail)
	}
	if code == "" && isKomgaCode(message) {
		code = message
	}
	return message, code
}

// detailText flattens FastAPI's "detail", a string or a list of
// {"loc", "msg"} validation errors.
func detailText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &list) != nil {
		return ""
	}
	parts := make([]string, 0, len(list))
	for _, d := range list {
		loc := make([]string, 0, len(d.Loc))
		for _, l := range d.Loc {
			loc = append(loc, fmt.Sprint(l))
		}
		if len(loc) > 0 {
			parts = append(parts, strings.Join(loc, ".")+": "+d.Msg)
		} else {
			parts = append(parts, d.Msg)
		}
	}
	return strings.Join(parts, "; ")
}

// isKomgaCode reports whether s looks like a Komga error code (ERR_ and four digits).
func isKomgaCode(s string) bool {
	if len(s) != 8 || !strings.HasPrefix(s, "ERR_") {
		return false
	}
	for _, c := range s[4:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// htmlText returns the raw text of a small HTML error page: the contents
// of its first non-blank <pre> (Express), else its <title>, else its <h1>,
// else nothing.
func htmlText(body []byte) string {
	lower := bytes.ToLower(body)
	for _, tag := range []string{"pre", "title", "h1"} {
		open := bytes.Index(lower, []byte("<"+tag))
		if open < 0 {
			continue
		}
		start := bytes.IndexByte(lower[open:], '>')
		if start < 0 {
			continue
		}
		start += open + 1
		end := bytes.Index(lower[start:], []byte("</"+tag))
		if end < 0 {
			continue
		}
		if t := string(body[start : start+end]); cleanText(t) != "" {
			return t
		}
	}
	return ""
}

// cleanText makes server text safe to print on one line: valid UTF-8, no
// control characters, runs of space folded. It does not bound the length:
// callers truncate, after masking secrets.
func cleanText(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == ' ' || (r >= 0x80 && r < 0xa0) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// parseRetryAfter parses a Retry-After value, either delay-seconds or an
// HTTP date (relative to now). It reports false for a missing or malformed
// value; a date in the past gives 0, true.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			// Too large to represent: treat as "a very long time".
			if errors.Is(err, strconv.ErrRange) {
				return maxDuration, true
			}
			return 0, false
		}
		if n > uint64(maxDuration/time.Second) {
			return maxDuration, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

const maxDuration = time.Duration(1<<63 - 1)

// credentialParams are the query parameters whose values are redacted from
// every URL the client prints or logs.
var credentialParams = map[string]bool{
	"api_key": true, "apikey": true, "key": true, "token": true,
	"access_token": true, "refresh_token": true, "password": true,
	"secret": true, "code": true, "code_verifier": true, "signature": true,
	"client_secret": true, "state": true, "id_token": true, "api-key": true,
	"auth_token": true, "session": true, "jwt": true,
}

// redactURL renders u for error messages and logs: userinfo removed, the
// values of credential-like query parameters replaced by REDACTED, and the
// fragment dropped.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	// url.URL.String escapes what needs it (a host with "%" in an IPv6
	// zone, say); userinfo, an opaque part and the fragment are left out.
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: redactQuery(u.RawQuery)}
	return v.String()
}

// redactQuery redacts credential values in a raw query string, keeping the
// order and the other values as they were. A value that is itself a URL
// with a query (a sign-in page's next=, a redirect_uri) has that nested
// query redacted too: Khoj's 303 to /login?next=<the original URL> carries
// the token of an unauthenticated DELETE /auth/token?token=… that way.
func redactQuery(raw string) string {
	return redactQueryDepth(raw, 0)
}

// maxNestedURLs bounds how deep redactQuery looks into URLs inside query
// values.
const maxNestedURLs = 3

func redactQueryDepth(raw string, depth int) string {
	if !queryHasCredential(raw, depth) {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, v, hasValue := strings.Cut(p, "=")
		if !hasValue {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if credentialParams[strings.ToLower(name)] {
			parts[i] = k + "=REDACTED"
		} else if nv, ok := redactNestedURL(v, depth); ok {
			parts[i] = k + "=" + nv
		}
	}
	return strings.Join(parts, "&")
}

// redactNestedURL redacts the query of a query value that is itself a URL
// with a query, and returns it re-encoded; ok is false when nothing needed
// redacting. A value that cannot be decoded but might hide a nested query
// is replaced by REDACTED rather than risk printing a secret.
func redactNestedURL(v string, depth int) (string, bool) {
	if depth >= maxNestedURLs || !mayNestQuery(v) {
		return v, false
	}
	dec, err := url.QueryUnescape(v)
	if err != nil {
		return "REDACTED", true
	}
	before, q, ok := strings.Cut(dec, "?")
	if !ok {
		return v, false
	}
	red := redactQueryDepth(q, depth+1)
	if red == q {
		return v, false
	}
	return url.QueryEscape(before + "?" + red), true
}

// mayNestQuery reports whether a raw query value may hold a URL with a
// query: a "?", escaped or not.
func mayNestQuery(v string) bool {
	return strings.Contains(v, "?") || strings.Contains(v, "%3F") || strings.Contains(v, "%3f")
}

// queryHasCredential reports whether a raw query string has a credential
// parameter, or (above the depth limit) a value that may nest one.
func queryHasCredential(raw string, depth int) bool {
	for raw != "" {
		var p string
		p, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(p, "=")
		if name, err := url.QueryUnescape(k); err == nil {
			k = name
		}
		if credentialParams[strings.ToLower(k)] || depth < maxNestedURLs && mayNestQuery(v) {
			return true
		}
	}
	return false
}

// redactString parses s as a URL and redacts it; text that is not a URL is
// returned as a fixed placeholder rather than risk printing a secret.
func redactString(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return redactURL(u)
}

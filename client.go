package authclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/go-querystring/query"
	"github.com/hashicorp/go-retryablehttp"
)

// Defaults for the knobs the options set.
const (
	DefaultMaxRetries     = 2                // retries after the first attempt, idempotent calls only
	DefaultTimeout        = 30 * time.Second // per attempt, until the response headers arrive
	DefaultRetryWaitMin   = 200 * time.Millisecond
	DefaultRetryWaitMax   = 5 * time.Second
	DefaultRetryAfterCap  = 30 * time.Second // longer Retry-After waits are returned at once, in Error.RetryAfter
	DefaultUserAgent      = "authclient-go/" + Version
	defaultIdlePerHost    = 32
	maxRedirects          = 5
	maxDrain              = 64 << 10
	maxJSONResponseLength = 32 << 20
)

// Version is the version of this module, sent in the default User-Agent.
const Version = "0.1.0"

// Client talks to one server as one identity. Create it with [New] or
// [NewFromEnv]; the zero value is not usable. A Client is safe for concurrent
// use by multiple goroutines and should be reused: it keeps a pool of
// connections and, for password sign-in, one shared session. Use one Client
// per identity; do not share an authenticated Client between users.
type Client struct {
	spec     *serverSpec
	baseURL  string // always ends in "/"
	base     *url.URL
	basePath string // base.EscapedPath(), always ends in "/"

	hc *http.Client
	rc *retryablehttp.Client
	tr *transport // hc's Transport

	auth    atomic.Pointer[authRef]
	headers http.Header // sent on every request; never mutated after New
	logger  *slog.Logger
	now     func() time.Time

	retryAfterCap time.Duration
	secrets       secretSet
	rememberMe    bool          // ask for Komga's remember-me cookie at sign-in
	sessionHook   func(Session) // told about every new session
}

type authRef struct{ a Authenticator }

// Server returns the server the client talks to.
func (c *Client) Server() Server { return c.spec.server }

// BaseURL returns the base URL every request path is resolved against. It
// always ends in "/".
func (c *Client) BaseURL() string { return c.baseURL }

// Format keeps credentials out of fmt output: every verb prints the server
// and base URL only.
func (c *Client) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "authclient.Client(%s %s)", c.spec.server, c.baseURL)
}

// CloseIdleConnections closes the idle connections of the client's
// transport, if it has such a method. The client never does this by
// itself, not even after failures.
func (c *Client) CloseIdleConnections() {
	if c.tr == nil {
		return
	}
	// A middleware may close the pool itself (otelhttp's does); else the
	// base transport's is closed.
	for _, rt := range []http.RoundTripper{c.tr.base, c.tr.pool} {
		if ci, ok := rt.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
			return
		}
	}
}

func (c *Client) authenticator() Authenticator {
	if r := c.auth.Load(); r != nil {
		return r.a
	}
	return nil
}

func (c *Client) setAuthenticator(a Authenticator) {
	c.secrets.keep(secretsOf(a)...)
	c.auth.Store(&authRef{a})
}

// SetAuthenticator replaces how the client authenticates, for example with
// a new token obtained elsewhere. a is validated like [WithAuthenticator]
// (nil, an empty key, a key with control characters, a credential the
// server cannot read are a [*ConfigError], and the client keeps its current
// authenticator). The built-in authenticators' secrets are masked in the
// client's errors and logs from now on, and the old ones stay masked; a
// custom authenticator's values are masked from the first request that
// carries them. It is safe to call while requests are running: requests
// that already started keep the authenticator they began with, the next
// ones use a. Use [NoAuth] to send no credential.
func (c *Client) SetAuthenticator(a Authenticator) error {
	if isNil(a) {
		return configErr("SetAuthenticator", "authenticator is nil (use NoAuth() for none)")
	}
	if v, ok := a.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return err
		}
	}
	if c.spec.validate != nil {
		if err := c.spec.validate(c, a); err != nil {
			return err
		}
	}
	c.setAuthenticator(a)
	if c.spec.warn != nil && c.logger != nil {
		if w := c.spec.warn(a); w != "" {
			c.logger.Warn("authclient: "+w, slog.String("server", string(c.spec.server)))
		}
	}
	return nil
}

// New returns a client for server at baseURL. The base URL may carry a path
// prefix ("https://nas.example/komga/") and is used with a trailing slash
// added. Credentials come from options ([WithAPIKey], [WithLogin],
// [WithAuthenticator], …); without any the client is unauthenticated.
//
// New validates everything up front and returns a [*ConfigError] for a bad
// URL, a bad option value or a credential containing control characters, so
// that no request ever fails for a reason known at construction.
func New(server Server, baseURL string, opts ...Option) (*Client, error) {
	spec, err := lookupSpec(server)
	if err != nil {
		return nil, err
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	base, err := parseBaseURL(baseURL, o.requireTLS)
	if err != nil {
		return nil, err
	}
	c := &Client{
		spec:          spec,
		base:          base,
		baseURL:       base.String(),
		basePath:      base.EscapedPath(),
		logger:        o.logger,
		now:           o.now,
		retryAfterCap: o.retryAfterCap,
		headers:       http.Header{},
		rememberMe:    o.rememberMe,
		sessionHook:   o.sessionHook,
	}
	c.headers.Set("User-Agent", o.userAgent)
	c.headers.Set("Accept", "application/json")
	for k, vs := range o.headers {
		c.headers[k] = vs
		for _, v := range vs {
			c.secrets.keep(headerSecrets(k, v)...) // WithHeader values are credentials (proxy tokens)
		}
	}

	auth, err := o.resolveAuth(c)
	if err != nil {
		return nil, err
	}
	if spec.validate != nil {
		if err := spec.validate(c, auth); err != nil {
			return nil, err
		}
	}
	if auth != nil {
		c.setAuthenticator(auth)
		if spec.warn != nil && c.logger != nil {
			if w := spec.warn(auth); w != "" {
				c.logger.Warn("authclient: "+w, slog.String("server", string(spec.server)))
			}
		}
	}

	if c.hc, err = c.newHTTPClient(o); err != nil {
		return nil, err
	}
	c.rc = &retryablehttp.Client{
		HTTPClient:   c.hc,
		RetryWaitMin: o.waitMin,
		RetryWaitMax: o.waitMax,
		RetryMax:     o.maxRetries,
		CheckRetry:   c.checkRetry,
		Backoff:      c.backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		// Logger stays nil: retryablehttp's default logger prints every
		// request, query string included, to stderr.
	}
	if c.logger != nil {
		c.rc.RequestLogHook = c.logRequest
		c.rc.ResponseLogHook = c.logResponse
	}
	return c, nil
}

// parseBaseURL validates and normalises a base URL. Its errors quote at
// most the scheme and host, and those only once they parsed as such: a
// value that is not a URL may be a key set in the wrong variable
// (KOMGA_URL=<the key>), and a path may carry a token.
func parseBaseURL(raw string, requireTLS bool) (*url.URL, error) {
	if raw == "" {
		return nil, configErr("baseURL", "is empty")
	}
	if strings.ContainsAny(raw, "\x00\r\n\t") {
		return nil, configErr("baseURL", "contains control characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, configErr("baseURL", "is not a valid URL")
	}
	if u.User != nil {
		return nil, configErr("baseURL", "must not contain credentials (user:password@); pass them with WithLogin, WithAPIKey or WithAuthenticator")
	}
	switch u.Scheme {
	case "http", "https":
	case "":
		return nil, configErr("baseURL", "has no scheme: write http:// or https:// in front of the host")
	default:
		return nil, configErr("baseURL", "has a scheme that is not supported (want http or https)")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, configErr("baseURL", "has no host (write %s://host[:port]/path)", u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, configErr("baseURL", "must not have a query or fragment")
	}
	if requireTLS && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, configErr("baseURL", "%s is plain http and WithRequireTLS is set (only loopback may use http)", u.Scheme+"://"+u.Host)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	if _, ok := underBase("/", u.EscapedPath()); !ok {
		return nil, configErr("baseURL", "path has dot segments (in some encoding) or encoded control characters")
	}
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newHTTPClient builds the http.Client the retry layer drives: the caller's
// client copied (never mutated) or a tuned default, with the client's own
// redirect policy, no cookie jar, and the per-attempt timeout and origin
// guard in the transport. It never panics, whatever the caller's client
// or http.DefaultTransport holds.
func (c *Client) newHTTPClient(o options) (*http.Client, error) {
	var base http.RoundTripper
	timeout := o.timeout
	if o.httpClient != nil {
		base = o.httpClient.Transport
		if !o.timeoutSet && o.httpClient.Timeout > 0 {
			timeout = o.httpClient.Timeout
		}
	}
	if isNil(base) {
		base = defaultTransport()
	}
	wrapped, err := wrapMiddleware(base, o.middleware)
	if err != nil {
		return nil, err
	}
	c.tr = &transport{base: wrapped, pool: base, origin: originOf(c.base), timeout: timeout}
	return &http.Client{
		Transport:     c.tr,
		CheckRedirect: c.checkRedirect,
		// No Jar: the client sets the cookies it means to send itself. An
		// API key must never travel with a session cookie (Komga #2099).
	}, nil
}

// defaultTransport is the transport of a client given none: a clone of
// http.DefaultTransport with a larger idle pool when that is an
// *http.Transport; else http.DefaultTransport as it is, because whoever
// replaced it (httpmock.Activate, an instrumented global) wants every
// request to go through it; and a fresh transport with net/http's
// defaults only when it is nil.
func defaultTransport() http.RoundTripper {
	dt := http.DefaultTransport
	if t, ok := dt.(*http.Transport); ok && t != nil {
		t = t.Clone()
		t.MaxIdleConns = 100
		t.MaxIdleConnsPerHost = defaultIdlePerHost
		return t
	}
	if !isNil(dt) {
		return dt
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   defaultIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// origin is a scheme, host and port, compared without allocating.
type origin struct{ scheme, host, port string }

func originOf(u *url.URL) origin {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return origin{scheme: u.Scheme, host: u.Hostname(), port: port}
}

// same reports whether u has this origin (host names compare
// case-insensitively).
func (o origin) same(u *url.URL) bool {
	p := originOf(u)
	return p.scheme == o.scheme && p.port == o.port && strings.EqualFold(p.host, o.host)
}

// sameOrigin reports whether u has the base URL's scheme, host and port.
func (c *Client) sameOrigin(u *url.URL) bool {
	return c.tr != nil && c.tr.origin.same(u)
}

// checkRedirect follows a redirect only when it is safe to send the
// credentials again and the answer will mean what the caller asked: the
// original request was a GET or HEAD (a redirected DELETE or POST would
// become a GET of some page, and its 200 would look like success), the
// target has the base URL's origin and stays under its path however a
// proxy resolves it (another application behind the same proxy must not
// see them; see [underBase]), and it is not a sign-in page or the server's
// error page; at most maxRedirects of them. Anything else stops at the
// redirect response, which checkResponse turns into an error.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects || noRedirects(req.Context()) || !c.sameOrigin(req.URL) || c.isLoginURL(req.URL) || c.isErrorURL(req.URL) {
		return http.ErrUseLastResponse
	}
	if m := via[0].Method; m != http.MethodGet && m != http.MethodHead {
		return http.ErrUseLastResponse
	}
	if _, ok := c.relativePath(req.URL); !ok {
		return http.ErrUseLastResponse
	}
	return nil
}

// redactedURL is u as the client prints it: redacted (userinfo, credential
// parameters), and with any credential the client knows masked wherever it
// is (a key placed in a query parameter of the caller's naming, a token
// inside a URL nested in a query value).
func (c *Client) redactedURL(u *url.URL) string {
	return c.secrets.scrub(redactURL(u))
}

// badLocationPrefix starts net/http's error for a redirect whose Location
// header does not parse; the error quotes the header, which may hold a
// credential (a sign-in page's next= with the original URL).
const badLocationPrefix = "failed to parse Location header"

// errBadLocation replaces that error.
var errBadLocation = errors.New("the server redirected with a Location header that is not a valid URL")

// transportError builds the error for a request that got no usable answer.
// Its text never holds a credential: the URL is redacted, and a cause that
// quotes one is masked.
func (c *Client) transportError(method string, u *url.URL, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && strings.HasPrefix(ue.Err.Error(), badLocationPrefix) {
		err = errBadLocation
	}
	te := newTransportError(c.spec.server, method, c.redactedURL(u), err).(*TransportError)
	if msg := te.Err.Error(); c.secrets.scrub(msg) != msg {
		te.Err = &maskedError{msg: c.secrets.scrub(msg), err: te.Err}
	}
	return te
}

// maskedError is an error whose text had a credential masked; it unwraps
// to the original for errors.Is and errors.As.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// isLoginURL reports whether u is the server's sign-in page on the base
// URL's origin: under the base path, or at the root (a server behind a
// proxy that strips a path prefix builds its redirects without it).
func (c *Client) isLoginURL(u *url.URL) bool {
	if !c.sameOrigin(u) {
		return false
	}
	if rel, ok := c.relativePath(u); ok && c.spec.isLoginPath(rel) {
		return true
	}
	return c.spec.isLoginPath(u.Path)
}

// isErrorURL reports whether u is the server's own error page on the base
// URL's origin, under the base path or at the root (as isLoginURL).
func (c *Client) isErrorURL(u *url.URL) bool {
	if len(c.spec.errorPaths) == 0 || !c.sameOrigin(u) {
		return false
	}
	if rel, ok := c.relativePath(u); ok && c.spec.isErrorPath(rel) {
		return true
	}
	return c.spec.isErrorPath(u.Path)
}

// redirectsToErrorPage reports whether resp is a redirect to the server's
// error page: a failure even for a call that takes redirects as answers.
func (c *Client) redirectsToErrorPage(resp *http.Response, req *http.Request) bool {
	if len(c.spec.errorPaths) == 0 {
		return false
	}
	target, err := req.URL.Parse(resp.Header.Get("Location"))
	return err == nil && c.isErrorURL(target)
}

// relativePath returns u's path relative to the base URL's path, decoded,
// and whether u is under the base path at all (see [underBase]).
func (c *Client) relativePath(u *url.URL) (string, bool) {
	return underBase(c.basePath, u.EscapedPath())
}

// maxDecodeRounds bounds how many times underBase percent-decodes a path;
// one still changing after that many rounds is refused.
const maxDecodeRounds = 8

// underBase is the one place that decides whether a request path stays
// under the base path, for Do's paths and redirect targets alike. base
// and p are escaped paths ("/komga/", "/komga/api/x%20y"); base ends in
// "/" or is empty (p is then relative). It returns p relative to base,
// fully decoded. It allocates only to decode.
//
// A server or a reverse proxy in front of it may decode a path once or
// several times, treat a backslash as a separator, drop ";" path
// parameters ("..;/" is ".." to Tomcat and Spring), merge empty segments
// and then resolve dot segments. p is accepted only if, in its escaped
// form and in every decoded form (percent-decoding repeated until it stops
// changing, at most maxDecodeRounds times), it starts with base (decoded
// as often) and has no "." or ".." segment under any of those readings,
// and its decoded forms hold no control characters and are valid UTF-8
// (overlong encodings of "." and "/" are not). A path without dot segments
// cannot be resolved out of its prefix, whichever of these readings a
// server applies, so there is no need to guess which one it does. Even
// with a base of "/" a dot segment is refused: the client cannot know what
// the server would make of it.
func underBase(base, p string) (rel string, ok bool) {
	for round := 0; ; round++ {
		if !strings.HasPrefix(p, base) || hasDotSegment(p) || !cleanDecoded(p) {
			return "", false
		}
		next := percentDecode(p)
		if next == p {
			return p[len(base):], true
		}
		if round == maxDecodeRounds {
			return "", false
		}
		p, base = next, percentDecode(base)
	}
}

// hasDotSegment reports whether p, split at slashes and backslashes, has a segment
// that is "." or ".." once a ";" parameter is dropped; dots include the
// Unicode look-alikes that some servers normalise to ".".
func hasDotSegment(p string) bool {
	for len(p) > 0 {
		i := strings.IndexAny(p, `/\`)
		seg := p
		if i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			p = ""
		}
		seg, _, _ = strings.Cut(seg, ";")
		if isDotSegment(seg) {
			return true
		}
	}
	return false
}

func isDotSegment(seg string) bool {
	if seg == "." || seg == ".." {
		return true
	}
	if seg == "" || len(seg) > 3*len("..") || seg[0] < utf8.RuneSelf && seg[0] != '.' {
		return false
	}
	dots := 0
	for _, r := range seg {
		switch r {
		case '.', '\uff0e', '\u2024', '\ufe52': // full stop, fullwidth, one dot leader, small
			dots++
		case '\u2025': // two dot leader
			dots += 2
		default:
			return false
		}
	}
	return dots <= 2
}

// cleanDecoded reports whether s is valid UTF-8 without control characters.
func cleanDecoded(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f {
			return false
		} else if b >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.ValidString(s)
}

// percentDecode decodes s as leniently as the most forgiving server would:
// every valid %XX escape, and IIS's %uXXXX; a "%" that starts neither is
// kept. It returns s itself, without allocating, when there is nothing to
// decode.
func percentDecode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
				b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
				i += 2
				continue
			}
			if i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') &&
				ishex(s[i+2]) && ishex(s[i+3]) && ishex(s[i+4]) && ishex(s[i+5]) {
				r := rune(unhex(s[i+2]))<<12 | rune(unhex(s[i+3]))<<8 | rune(unhex(s[i+4]))<<4 | rune(unhex(s[i+5]))
				b = utf8.AppendRune(b, r)
				i += 5
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// transport is the client's RoundTripper: it refuses any request that is not
// for the configured origin (defence in depth behind checkRedirect), and
// bounds each attempt's wait for response headers without cutting off the
// body. It sets every response's Request to the request it was given, as
// net/http's transport does and others need not, so that logging and
// redirect detection never depend on the base transport. It deliberately
// has no CloseIdleConnections method, so the retry layer cannot flush the
// shared connection pool after a failure.
type transport struct {
	base    http.RoundTripper // pool wrapped in the WithMiddleware layers
	pool    http.RoundTripper // the base transport, which holds the connections
	origin  origin
	timeout time.Duration

	// afterFunc, if set, replaces time.AfterFunc for the per-attempt
	// timer and returns its Stop (tests: a timer the test fires).
	afterFunc func(d time.Duration, f func()) (stop func() bool)
}

var (
	errOtherOrigin = errors.New("authclient: refusing to send a request to another origin")
	errNoResponse  = errors.New("authclient: the transport returned neither a response nor an error")
)

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.origin.same(req.URL) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errOtherOrigin
	}
	if t.timeout <= 0 {
		resp, err := t.base.RoundTrip(req)
		return sentWith(resp, err, req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	expire := func() { cancel(errAttemptTimeout) }
	var timer *time.Timer
	var stop func() bool
	if t.afterFunc != nil {
		stop = t.afterFunc(t.timeout, expire)
	} else {
		timer = time.AfterFunc(t.timeout, expire)
	}
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	var fired bool
	if timer != nil {
		fired = !timer.Stop()
	} else {
		fired = !stop()
	}
	if resp, err = sentWith(resp, err, req); err != nil {
		cancel(nil)
		if fired || errors.Is(context.Cause(ctx), errAttemptTimeout) {
			return nil, errAttemptTimeout
		}
		return nil, err
	}
	if fired {
		resp.Body.Close()
		cancel(nil)
		return nil, errAttemptTimeout
	}
	resp.Body = cancelOnCloseOf(resp.Body, cancel)
	return resp, nil
}

// sentWith completes what a base transport returned: the response's
// Request is req, the request that was sent, and its Body is never nil.
// A transport that returns neither a response nor an error gets an error.
func sentWith(resp *http.Response, err error, req *http.Request) (*http.Response, error) {
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, err
	}
	if resp == nil {
		return nil, errNoResponse
	}
	resp.Request = req
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	return resp, nil
}

// attemptTimeoutError is the per-attempt timeout. It is a net.Error whose
// Timeout is true and matches context.DeadlineExceeded.
type attemptTimeoutError struct{}

var errAttemptTimeout error = attemptTimeoutError{}

func (attemptTimeoutError) Error() string {
	return "no response headers within the per-attempt timeout"
}
func (attemptTimeoutError) Timeout() bool          { return true }
func (attemptTimeoutError) Temporary() bool        { return true }
func (attemptTimeoutError) Is(target error) bool   { return target == context.DeadlineExceeded }
func (attemptTimeoutError) Unwrap() error          { return nil }
func (attemptTimeoutError) String() string         { return "attempt timeout" }
func (attemptTimeoutError) GoString() string       { return "authclient.attemptTimeoutError{}" }
func (e attemptTimeoutError) LogValue() slog.Value { return slog.StringValue(e.Error()) }

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// cancelOnCloseWriter is a cancelOnClose around a body that can also be
// written: the connection of a 101 Switching Protocols answer, which
// websocket libraries type-assert to io.ReadWriteCloser.
type cancelOnCloseWriter struct {
	cancelOnClose
	w io.Writer
}

func (b *cancelOnCloseWriter) Write(p []byte) (int, error) { return b.w.Write(p) }

// cancelOnCloseOf wraps body so that closing it cancels the attempt's
// context, keeping body's Write method when it has one.
func cancelOnCloseOf(body io.ReadCloser, cancel context.CancelCauseFunc) io.ReadCloser {
	if w, ok := body.(io.Writer); ok {
		return &cancelOnCloseWriter{cancelOnClose: cancelOnClose{ReadCloser: body, cancel: cancel}, w: w}
	}
	return &cancelOnClose{ReadCloser: body, cancel: cancel}
}

// Context markers, set only on the calls that need them so ordinary calls
// allocate nothing for them.
type ctxKey int

const (
	keyNoRetry ctxKey = iota
	keyNoRedirect
	keyBody // the call's *reqBody, for a streamed body
)

func noRetries(ctx context.Context) bool   { return ctx.Value(keyNoRetry) != nil }
func noRedirects(ctx context.Context) bool { return ctx.Value(keyNoRedirect) != nil }

// checkRetry decides whether an attempt is retried: never once the context
// is done or for calls that are not safe to repeat; for safe calls on
// connection errors (but not TLS trust, origin or redirect failures), 429,
// 502, 503 and 504 — unless the server asks for a longer wait than the cap
// allows or than the context deadline leaves.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if noRetries(ctx) {
		return false, nil
	}
	if err != nil {
		return retryableTransportError(err) && bodyReplayable(ctx), nil
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
			if wait > c.retryAfterCap {
				return false, nil
			}
			if dl, ok := ctx.Deadline(); ok && c.now().Add(wait).After(dl) {
				return false, nil
			}
		}
		return bodyReplayable(ctx), nil
	}
	return false, nil
}

// bodyReplayable reports whether the call's body, if streamed, can be sent
// again: a retry of a spent one-shot reader would send an empty or partial
// body.
func bodyReplayable(ctx context.Context) bool {
	rb, _ := ctx.Value(keyBody).(*reqBody)
	return rb.canReplay()
}

func retryableTransportError(err error) bool {
	if errors.Is(err, errOtherOrigin) || errors.Is(err, context.Canceled) {
		return false
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		verifyErr  *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalidErr) ||
		errors.As(err, &verifyErr) || errors.As(err, &recordErr) {
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		msg := ue.Err.Error()
		// net/http's own non-retryable failures have no exported type.
		if strings.Contains(msg, "unsupported protocol scheme") || strings.Contains(msg, "invalid header") ||
			strings.Contains(msg, "stopped after") || strings.HasPrefix(msg, badLocationPrefix) {
			return false
		}
	}
	return true
}

// backoff waits as the server asked (Retry-After, already checked against
// the cap by checkRetry), or exponentially from min to max with equal
// jitter.
func (c *Client) backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
			return wait
		}
	}
	d := max
	if attempt < 62 && min > 0 {
		if m := min << uint(attempt); m > 0 && m < max {
			d = m
		}
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half)
}

func (c *Client) logRequest(_ retryablehttp.Logger, req *http.Request, attempt int) {
	level := slog.LevelDebug
	if attempt > 0 {
		level = slog.LevelInfo
	}
	c.logger.LogAttrs(req.Context(), level, "authclient request",
		slog.String("server", string(c.spec.server)),
		slog.String("method", req.Method),
		slog.String("url", c.redactedURL(req.URL)),
		slog.Int("attempt", attempt+1))
}

func (c *Client) logResponse(_ retryablehttp.Logger, resp *http.Response) {
	level := slog.LevelDebug
	if resp.StatusCode >= 400 {
		level = slog.LevelWarn
	}
	var ctx context.Context = context.Background()
	var method, u string
	if resp.Request != nil {
		ctx, method, u = resp.Request.Context(), resp.Request.Method, c.redactedURL(resp.Request.URL)
	}
	c.logger.LogAttrs(ctx, level, "authclient response",
		slog.String("server", string(c.spec.server)),
		slog.String("method", method),
		slog.String("url", u),
		slog.Int("status", resp.StatusCode))
}

// call describes one API call.
type call struct {
	method string
	path   string // relative to the base URL, escaped, no leading slash
	query  url.Values
	body   []byte
	rbody  *reqBody // a streamed body (io.Reader, BodyFunc, *Form); body is then nil
	ctype  string
	header http.Header // extra headers for this call
	out    any
	w      io.Writer // receives the raw 2xx body instead of out (see stream.go)
	meta   *Meta     // filled from every answer (ResponseMeta)
	keep   bool      // Stream: hand the live response over in resp
	resp   *http.Response

	auth       Authenticator // overrides the client's; with noAuth unused
	noAuth     bool
	retry      bool // safe to repeat (set from the method, or by the operation)
	noRedirect bool // follow no redirect at all; a 3xx is then the answer
	noReauth   bool

	// onResponse sees a successful answer before its body is decoded.
	onResponse func(resp *http.Response) error
	// onError may adjust the error built for a failed answer.
	onError func(e *Error)
	// errorHint explains a failed answer from its body (ErrorHint).
	errorHint func(body []byte) string

	limit io.LimitedReader // bounds the decoded answer

	secrets []string // credentials this call carries (Header values)

	page pageOptions // PageSize; only Paginate reads it
}

func newCall(method, path string) *call {
	return &call{method: method, path: path, retry: idempotent(method)}
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

// jsonBody sets v, marshalled once, as the call's JSON body; the bytes are
// replayed as they are on every attempt.
func (cl *call) jsonBody(v any) error {
	switch b := v.(type) {
	case nil:
		return nil
	case BodyFunc, func() (io.ReadCloser, error), *Form, io.Reader:
		return cl.streamBody(v)
	case json.RawMessage:
		cl.body = b
	case []byte:
		cl.body = b
	default:
		data, err := json.Marshal(v)
		if err != nil {
			return &ConfigError{Setting: "request body", Problem: "cannot be encoded as JSON: " + err.Error(), Err: err}
		}
		cl.body = data
	}
	cl.ctype = "application/json"
	return nil
}

func (cl *call) setHeader(name, value string) {
	if cl.header == nil {
		cl.header = http.Header{}
	}
	cl.header[http.CanonicalHeaderKey(name)] = []string{value}
}

// send runs a call: builds the request, authenticates it, runs it through
// the retry layer and turns the answer into a result or an error. After an
// ErrUnauthorized answer it asks a Reauthenticator to renew the credential
// and replays the call once.
func (c *Client) send(ctx context.Context, cl *call) error {
	if ctx == nil {
		return configErr("context", "is nil (use context.Background())")
	}
	auth := cl.auth
	if auth == nil {
		auth = c.authenticator()
	}
	if cl.noAuth {
		auth = nil
	}
	if cl.auth != nil {
		c.secrets.add(secretsOf(cl.auth)...) // a sign-in's Basic, a key being verified
	}
	if len(cl.secrets) > 0 {
		c.secrets.add(cl.secrets...)
	}
	for replayed := false; ; replayed = true {
		req, err := c.newRequest(ctx, cl)
		if err != nil {
			return err
		}
		if err := c.authorize(req.Request, auth, cl); err != nil {
			return err
		}
		err = c.do(req, cl)
		if err == nil || replayed || cl.noReauth || !errors.Is(err, ErrUnauthorized) || !cl.rbody.canReplay() {
			// A body that cannot be sent again is not replayed: the
			// rejection is the answer.
			c.diagnose(err, auth, req.Request)
			return err
		}
		renewed, rerr := c.reauthenticate(ctx, auth, req.Request)
		if rerr != nil {
			// The renewal's own failure (wrong password, rate limit, no
			// network) says more than the rejection that triggered it.
			return rerr
		}
		if !renewed {
			c.diagnose(err, auth, req.Request)
			return err
		}
	}
}

// authorize puts auth's credential (none if auth is nil) on req, a request
// the client built and owns, and runs the server's check of the request
// that is about to be sent. What auth added to req (beyond what cl and the
// client set) is noted as a credential to mask. Do's calls and
// [Client.Transport] share it.
func (c *Client) authorize(req *http.Request, auth Authenticator, cl *call) error {
	if auth != nil {
		query, path := req.URL.RawQuery, req.URL.Path
		if err := auth.Authenticate(req); err != nil {
			return c.authError(err)
		}
		// Every authenticator's, not only a custom one's: noting a
		// session token on each use keeps it among the most recently
		// used credentials, however many one-off values (Header
		// options, minted signatures) other calls add.
		c.noteAuthCredentials(req, cl, query, path)
	}
	if c.spec.checkRequest != nil {
		return c.spec.checkRequest(c, req)
	}
	return nil
}

// reauthenticate asks auth, if it is a [Reauthenticator], to renew the
// credential that rejected, the request the server turned away, carried.
// It reports whether a renewed credential is there to replay with; the
// error is the renewal's own failure, made safe to return.
func (c *Client) reauthenticate(ctx context.Context, auth Authenticator, rejected *http.Request) (bool, error) {
	ra, ok := auth.(Reauthenticator)
	if !ok {
		return false, nil
	}
	if err := ra.Reauthenticate(ctx, rejected); err != nil {
		return false, c.authError(err)
	}
	return true, nil
}

// authError makes an authenticator's failure safe to return: errors the
// client built are returned as they are; anything else is wrapped with the
// server name and scrubbed of the client's secrets.
func (c *Client) authError(err error) error {
	var e *Error
	var te *TransportError
	var ce *ConfigError
	if errors.As(err, &e) || errors.As(err, &te) || errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &authFailure{server: c.spec.server, msg: c.secrets.scrub(err.Error()), err: err}
}

// authFailure wraps an error from a user-supplied Authenticator.
type authFailure struct {
	server Server
	msg    string
	err    error
}

func (e *authFailure) Error() string {
	return "authclient: " + string(e.server) + ": authenticating request: " + e.msg
}
func (e *authFailure) Unwrap() error { return e.err }

// diagnose says, on an ErrUnauthorized error, which credential was
// rejected and what to check, from the request that carried it. The
// server's table may know more (Audiobookshelf decodes its tokens).
func (c *Client) diagnose(err error, auth Authenticator, req *http.Request) {
	if err == nil {
		return // before e is declared: errors.As makes it escape, an allocation per call
	}
	var e *Error
	if !errors.As(err, &e) || !errors.Is(e, ErrUnauthorized) {
		return
	}
	if e.Credential == "" {
		e.Credential = credentialKind(auth)
	}
	if c.spec.diagnose != nil {
		if cred, hint := c.spec.diagnose(c, auth, req); cred != "" {
			e.Credential = cred
			if hint != "" && e.Hint == "" {
				e.Hint = hint
			}
		}
	}
	if e.Hint == "" {
		e.Hint = describeCredential(auth)
	}
}

// newRequest builds the retryable request for a call.
func (c *Client) newRequest(ctx context.Context, cl *call) (*retryablehttp.Request, error) {
	if !cl.retry {
		ctx = context.WithValue(ctx, keyNoRetry, true)
	}
	if cl.noRedirect {
		ctx = context.WithValue(ctx, keyNoRedirect, true)
	}
	var u string
	if len(cl.query) > 0 {
		u = c.baseURL + cl.path + "?" + cl.query.Encode() // one concatenation, one allocation
	} else {
		u = c.baseURL + cl.path
	}
	var body any
	building := false
	if cl.body != nil {
		body = cl.body
	} else if cl.rbody != nil {
		ctx = context.WithValue(ctx, keyBody, cl.rbody)
		building = true
		body = cl.rbody.readerFunc(&building)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return nil, &ConfigError{Setting: "request", Problem: "cannot build " + cl.method + " " + redactString(u), Err: err}
	}
	if building {
		building = false                    // from now on each call of the ReaderFunc is an attempt
		req.ContentLength = cl.rbody.length // -1, unknown: sent chunked, without net/http's probe read
		if req.ContentLength == 0 {
			req.ContentLength = -1 // 0 with a body would make net/http probe it by reading
		}
	}
	h := req.Header
	for k, v := range c.headers {
		h[k] = v[:len(v):len(v)] // shared, but an append can never write into it
	}
	if cl.ctype != "" {
		h["Content-Type"] = []string{cl.ctype}
	}
	for k, v := range cl.header {
		h[k] = v
	}
	return req, nil
}

// do runs one request through the retry layer and checks the answer.
func (c *Client) do(req *retryablehttp.Request, cl *call) error {
	resp, err := c.rc.Do(req)
	if err != nil {
		if resp != nil {
			drainClose(resp.Body)
		}
		if berr := cl.rbody.failure(); berr != nil {
			err = fmt.Errorf("reading the request body: %w", berr)
		} else if ctxErr := req.Context().Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = ctxErr
		}
		return c.transportError(req.Method, req.URL, err)
	}
	if cl.meta != nil {
		cl.meta.StatusCode, cl.meta.Header = resp.StatusCode, resp.Header
	}
	defer closeUnlessKept(cl, resp)
	if cl.noRedirect && resp.StatusCode >= 300 && resp.StatusCode < 400 && !c.redirectsToErrorPage(resp, req.Request) {
		// The caller asked for the redirect itself (a sign-in that answers
		// with a cookie and a Location); onResponse reads it.
		if cl.onResponse != nil {
			return cl.onResponse(resp)
		}
		cl.resp = resp
		return nil
	}
	if err := c.checkResponse(resp, req.Request); err != nil {
		var e *Error
		if cl.onError != nil && errors.As(err, &e) {
			cl.onError(e)
		}
		if cl.errorHint != nil && errors.As(err, &e) {
			if h := cleanText(cl.errorHint(e.Body)); h != "" {
				e.Hint = truncate(c.secrets.scrub(h), maxMessage)
			}
		}
		return err
	}
	if cl.onResponse != nil {
		if err := cl.onResponse(resp); err != nil {
			return err
		}
	}
	if cl.keep {
		cl.resp = resp
		return nil
	}
	if cl.w != nil {
		return c.copyBody(cl.w, resp, req.Request)
	}
	// net/http sets Request.Response on a request it made to follow a
	// redirect.
	redirected := resp.Request != nil && resp.Request.Response != nil
	if cl.out == nil && !redirected {
		return nil
	}
	// An HTML page where JSON was expected, or at the end of a redirect
	// (an API answers its own URL), is a sign-in page served in its place.
	if err := expectJSON(resp); err != nil {
		return c.unexpected(resp, req.Request, err.Error(), ErrUnauthorized)
	}
	if cl.out == nil {
		return nil
	}
	cl.limit = io.LimitedReader{R: resp.Body, N: maxJSONResponseLength} // in the call: no allocation
	dec := json.NewDecoder(&cl.limit)
	if err := dec.Decode(cl.out); err != nil {
		msg := "decoding the JSON answer: " + err.Error()
		if errors.Is(err, io.EOF) {
			msg = "the answer has an empty body where JSON was expected"
		}
		return c.unexpected(resp, req.Request, msg, ErrUnexpectedServer)
	}
	return nil
}

// expectJSON rejects an HTML page where JSON was expected: on these servers
// that is a sign-in page served in place of the API.
func expectJSON(resp *http.Response) error {
	mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	mt = strings.TrimSpace(mt)
	if strings.EqualFold(mt, "text/html") || strings.EqualFold(mt, "application/xhtml+xml") {
		return errors.New("the server answered with an HTML page where JSON was expected (a sign-in page?)")
	}
	return nil
}

func (c *Client) unexpected(resp *http.Response, req *http.Request, msg string, kind error) *Error {
	return &Error{
		Server:     c.spec.server,
		Method:     req.Method,
		URL:        c.redactedURL(req.URL),
		StatusCode: resp.StatusCode,
		Message:    c.secrets.scrub(msg),
		kind:       kind,
	}
}

// checkResponse turns an answer that is not a success into an *Error: any
// non-2xx status, and any redirect the client did not follow. It reads at
// most 64 KiB of the body. The category comes from the server's status table;
// a redirect to the server's sign-in page is ErrUnauthorized, one to its
// error page ErrUnavailable, any other unfollowed redirect ErrRedirect.
func (c *Client) checkResponse(resp *http.Response, req *http.Request) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &Error{
		Server:     c.spec.server,
		Method:     req.Method,
		URL:        c.redactedURL(req.URL),
		StatusCode: resp.StatusCode,
		kind:       c.spec.kind(resp.StatusCode),
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e.Body = body
	msg, code := rawErrorBody(resp.Header.Get("Content-Type"), body)
	e.Message, e.Code = c.secrets.serverText(msg), c.secrets.serverText(code)
	if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		e.RetryAfter = ra
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		c.classifyRedirect(e, resp, req)
	}
	return e
}

func (c *Client) classifyRedirect(e *Error, resp *http.Response, req *http.Request) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		e.kind = ErrUnexpectedServer
		return
	}
	target, err := req.URL.Parse(loc)
	if err != nil {
		e.kind = ErrUnexpectedServer
		e.Location = "(unparseable)"
		return
	}
	e.Location = c.redactedURL(target)
	if c.isLoginURL(target) {
		e.kind = ErrUnauthorized
		e.Hint = "the server redirected to its sign-in page"
		return
	}
	if c.isErrorURL(target) {
		e.kind = ErrUnavailable
		e.Hint = c.spec.name + " redirected to its error page: the server failed, not the credentials (check its logs and its database)"
		return
	}
	e.kind = ErrRedirect
	_, underBase := c.relativePath(target)
	switch {
	case !c.sameOrigin(target):
		e.Hint = "redirect to another origin not followed; credentials are only sent to " + c.base.Scheme + "://" + c.base.Host
		if target.Scheme == "http" && req.URL.Scheme == "https" {
			e.Hint = "redirect from https to http not followed"
		}
	case !underBase && strings.HasPrefix(target.Path, c.base.Path):
		e.Hint = "redirect to a path a proxy may resolve out of the base URL's path (" + c.base.Path +
			") not followed: it has dot segments in some encoding (\"%2e%2e\", \"..%2f\", \"..;\"), an encoded slash or control characters"
	case !underBase:
		e.Hint = "redirect out of the base URL's path (" + c.base.Path + ") not followed: credentials are only sent under it"
	case req.Method != http.MethodGet && req.Method != http.MethodHead:
		e.Hint = "redirect of a " + req.Method + " not followed: it would become a GET of another page"
	default:
		e.Hint = "redirect not followed"
	}
}

// drainClose reads what is left of a body, up to a limit, so the
// connection can be reused (a chunked answer's last chunk is often still
// unread after decoding), then closes it. Past the limit, closing the
// connection is cheaper than reading on.
func drainClose(body io.ReadCloser) {
	bp := drainBufs.Get().(*[]byte)
	for n, reads := 0, 0; n < maxDrain && reads < 1024; reads++ {
		k, err := body.Read(*bp)
		n += k
		if err != nil {
			break
		}
	}
	drainBufs.Put(bp)
	_ = body.Close()
}

var drainBufs = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// CallOption adjusts one [Client.Do] call.
type CallOption func(*call) error

// Query adds query parameters to a call. v is a struct encoded with
// go-querystring (`url:"name,omitempty"` tags; see
// https://pkg.go.dev/github.com/google/go-querystring/query) or a url.Values.
func Query(v any) CallOption {
	return func(cl *call) error {
		var vals url.Values
		switch q := v.(type) {
		case nil:
			return nil
		case url.Values:
			vals = q
		default:
			var err error
			vals, err = query.Values(v)
			if err != nil {
				return &ConfigError{Setting: "Query", Problem: "cannot be encoded: " + err.Error(), Err: err}
			}
		}
		if cl.query == nil {
			if _, caller := v.(url.Values); !caller {
				cl.query = vals // ours alone: use it as it is
				return nil
			}
			cl.query = make(url.Values, len(vals))
		}
		for k, vs := range vals {
			cl.query[k] = append(cl.query[k], vs...)
		}
		return nil
	}
}

// Header sets a request header on one call. Names and values are validated
// like [WithHeader], and values are masked like its values in the client's
// errors and logs (among the most recently used credentials the client
// keeps, not for the client's lifetime).
func Header(name, value string) CallOption {
	return func(cl *call) error {
		if err := validateHeader("Header", name, value); err != nil {
			return err
		}
		cl.setHeader(name, value)
		cl.secrets = append(cl.secrets, headerSecrets(name, value)...)
		return nil
	}
}

// Idempotent marks a POST or PATCH call as safe to repeat, so it is retried
// like a GET. Only use it when the operation really is idempotent.
func Idempotent() CallOption {
	return func(cl *call) error { cl.retry = true; return nil }
}

// NoRetry turns retries off for one call.
func NoRetry() CallOption {
	return func(cl *call) error { cl.retry = false; return nil }
}

// Do calls any endpoint of the server with the client's authentication,
// retries and error handling, for endpoints the SDK has no method for.
//
// path is resolved relative to the base URL (a leading "/" is ignored, so
// "/api/v1/libraries" on a client for "https://host/komga/" goes to
// "https://host/komga/api/v1/libraries"); it may not contain "." or ".."
// segments, in any encoding a server or proxy may decode ("%2e%2e",
// "..%2f", "%252e%252e", "..%5c", "..;"), nor encoded control characters,
// nor be an absolute URL.
//
// in is the request body:
//   - nil: none;
//   - a []byte or json.RawMessage: sent as it is, as JSON, and replayed on
//     retries without copying;
//   - an [io.Reader]: sent as it is, streamed, never buffered or closed, as
//     application/octet-stream unless [ContentType] says otherwise. It is
//     replayed on a retry or after a renewed sign-in only if it is an
//     [io.Seeker] (each attempt seeks back to where it was when the call
//     started); any other reader is sent once: once it was read from, the
//     call is not retried, and an ErrUnauthorized answer is returned rather
//     than replayed;
//   - a [BodyFunc]: called for each attempt, like [http.Request.GetBody];
//   - a [*Form]: a multipart upload, streamed;
//   - anything else: encoded as JSON.
//
// A read error of the body fails the call with a [*TransportError] that
// unwraps to it, and the call is not retried.
//
// out receives the answer: nil discards it; an [io.Writer] receives the raw
// 2xx body, streamed with io.Copy and not checked for JSON (for downloads);
// anything else is a pointer the JSON answer is decoded into. For the live
// response (server-sent events, a body to read at the caller's pace) use
// [Client.Stream]; for the status and headers, [ResponseMeta].
//
// GET, HEAD, PUT and DELETE calls are retried; POST and PATCH only with
// [Idempotent].
//
// Errors: [*Error] for an HTTP failure, [*TransportError] when no answer
// came (or the answer's body broke off while it was copied to out),
// [ErrInvalidPath] for a bad path, [*ConfigError] for a bad argument.
func (c *Client) Do(ctx context.Context, method, path string, in, out any, opts ...CallOption) error {
	cl, err := c.prepare(method, path, in, opts)
	if err != nil {
		return err
	}
	if w, ok := out.(io.Writer); ok {
		cl.w = w
	} else {
		cl.out = out
	}
	return c.send(ctx, cl)
}

// prepare builds the call of [Client.Do] and [Client.Stream].
func (c *Client) prepare(method, path string, in any, opts []CallOption) (*call, error) {
	if method == "" || strings.ContainsAny(method, " \t\r\n") {
		return nil, configErr("Do", "invalid method")
	}
	p, rawQuery, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	cl := newCall(strings.ToUpper(method), p)
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, fmt.Errorf("%w: malformed query string", ErrInvalidPath)
		}
		cl.query = q
	}
	if err := cl.jsonBody(in); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(cl); err != nil {
			return nil, err
		}
	}
	return cl, nil
}

// ErrInvalidPath is returned for a request path that could escape the base
// URL: an absolute URL, or one with "." or ".." segments in any encoding
// (decoded repeatedly, with backslashes as separators and ";" path
// parameters dropped), or an empty or slash-containing path parameter.
var ErrInvalidPath = errors.New("authclient: invalid path")

// cleanPath validates a caller-supplied path and splits off its query.
func cleanPath(path string) (p, rawQuery string, err error) {
	if strings.ContainsAny(path, "\x00\r\n\t\\#") {
		return "", "", fmt.Errorf("%w: control characters, backslashes or fragments are not allowed", ErrInvalidPath)
	}
	path, rawQuery, _ = strings.Cut(path, "?")
	if strings.HasPrefix(path, "//") || strings.Contains(path, "://") {
		return "", "", fmt.Errorf("%w: must be relative to the base URL, not an absolute URL", ErrInvalidPath)
	}
	path = strings.TrimPrefix(path, "/")
	if _, uerr := url.PathUnescape(path); uerr != nil {
		return "", "", fmt.Errorf("%w: bad escape sequence", ErrInvalidPath)
	}
	// The same check as for redirect targets, under an empty base: no
	// reading of the path ("%2e%2e", "..%2f", "%252e", "..%5c", "..;")
	// may have dot segments, which a proxy could resolve out of the base.
	if _, ok := underBase("", path); !ok {
		return "", "", fmt.Errorf("%w: path must not contain \".\" or \"..\" segments, in any encoding, nor encoded control characters", ErrInvalidPath)
	}
	if _, perr := url.Parse(path); perr != nil {
		return "", "", fmt.Errorf("%w: not a valid URL path", ErrInvalidPath)
	}
	return path, rawQuery, nil
}

// joinPath builds an endpoint path from fixed parts and path parameters;
// parameters are escaped with url.PathEscape and may not be empty, contain
// "/" or a backslash, or be a dot segment in any reading a proxy might give them
// ("%2e%2e" is escaped to "%252e%252e", which a proxy that decodes twice
// resolves to ".."): the same check as for Do's paths.
func joinPath(prefix string, params ...string) (string, error) {
	var b strings.Builder
	b.WriteString(prefix)
	for _, p := range params {
		if p == "" || strings.ContainsAny(p, "/\\") || strings.ContainsFunc(p, isControl) {
			return "", fmt.Errorf("%w: path parameter must be non-empty and not contain \"/\"", ErrInvalidPath)
		}
		e := url.PathEscape(p)
		if _, ok := underBase("", e); !ok {
			return "", fmt.Errorf("%w: path parameter must not be \".\" or \"..\" in any encoding", ErrInvalidPath)
		}
		b.WriteByte('/')
		b.WriteString(e)
	}
	return b.String(), nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// noteAuthCredentials adds to the secret set, or marks as just used, every
// header value, query value and path segment the Authenticator put on req:
// the client built the request, so whatever differs from what it set
// itself is the authenticator's credential (a custom one's token, a
// session's current token). query and path are the request's before
// Authenticate. A value already in the set and recently used costs a map
// look-up.
func (c *Client) noteAuthCredentials(req *http.Request, cl *call, query, path string) {
	for k, vs := range req.Header {
		if c.builtHeader(cl, k, vs) {
			continue
		}
		for _, v := range vs {
			if c.secrets.note(v) {
				c.secrets.add(headerSecrets(k, v)...)
			}
		}
	}
	if req.URL.RawQuery != query {
		for p := range strings.SplitSeq(req.URL.RawQuery, "&") {
			if p == "" || hasPair(query, p) {
				continue
			}
			_, v, _ := strings.Cut(p, "=")
			if c.secrets.note(v) {
				dec, _ := url.QueryUnescape(v)
				c.secrets.add(v, dec)
			}
		}
	}
	if req.URL.Path != path {
		for seg := range strings.SplitSeq(req.URL.Path, "/") {
			if seg != "" && !hasSegment(path, seg) && c.secrets.note(seg) {
				c.secrets.add(seg)
			}
		}
	}
}

// builtHeader reports whether vs is what the client itself set for header
// k: the call's header, else its content type, else the client's headers.
func (c *Client) builtHeader(cl *call, k string, vs []string) bool {
	if want, ok := cl.header[k]; ok {
		return slices.Equal(want, vs)
	}
	if k == "Content-Type" && cl.ctype != "" {
		return len(vs) == 1 && vs[0] == cl.ctype
	}
	want, ok := c.headers[k]
	return ok && slices.Equal(want, vs)
}

// hasPair reports whether the raw query has the key=value pair p.
func hasPair(query, p string) bool {
	for q := range strings.SplitSeq(query, "&") {
		if q == p {
			return true
		}
	}
	return false
}

// hasSegment reports whether path has the segment seg.
func hasSegment(path, seg string) bool {
	for s := range strings.SplitSeq(path, "/") {
		if s == seg {
			return true
		}
	}
	return false
}

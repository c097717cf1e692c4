package authclient

import (
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Option configures a [Client]. Options validate their arguments; [New]
// returns the first error as a [*ConfigError]. When several options set
// credentials, the last one wins, except that [WithSession] and [WithLogin]
// combine, in either order.
type Option func(*options) error

type options struct {
	auth       func(c *Client) (Authenticator, error) // resolved once the client exists
	login      *loginCredentials                      // set by WithLogin, which also sets auth
	session    *Session                               // set by WithSession; combined with login
	httpClient *http.Client
	timeout    time.Duration
	timeoutSet bool
	maxRetries int
	waitMin    time.Duration
	waitMax    time.Duration

	retryAfterCap time.Duration
	logger        *slog.Logger
	userAgent     string
	headers       http.Header
	requireTLS    bool
	rememberMe    bool
	sessionHook   func(Session)
	now           func() time.Time
	middleware    []func(http.RoundTripper) http.RoundTripper
}

func defaultOptions() options {
	return options{
		timeout:       DefaultTimeout,
		maxRetries:    DefaultMaxRetries,
		waitMin:       DefaultRetryWaitMin,
		waitMax:       DefaultRetryWaitMax,
		retryAfterCap: DefaultRetryAfterCap,
		userAgent:     DefaultUserAgent,
		now:           time.Now,
	}
}

// loginCredentials are the username and password given with [WithLogin].
type loginCredentials struct{ username, password string }

// setAuth makes auth the credential, replacing any set by an earlier
// option, a saved session and a login included: the last one wins.
func (o *options) setAuth(auth func(c *Client) (Authenticator, error)) {
	o.auth, o.login, o.session = auth, nil, nil
}

// resolveAuth builds the authenticator once the client exists: a saved
// session (with the login, if any, to sign in again once it can no longer
// be renewed), else whatever the last credential option set.
func (o *options) resolveAuth(c *Client) (Authenticator, error) {
	var a Authenticator
	switch {
	case o.session != nil:
		saved := *o.session
		if saved.Server != "" && saved.Server != c.spec.server {
			return nil, configErr("WithSession", "session belongs to %s, not %s", saved.Server, c.spec.server)
		}
		if c.spec.passwords != passwordSession {
			return nil, configErr("WithSession", "%s has no sessions to restore", c.spec.name)
		}
		var username, password string
		if o.login != nil {
			username, password = o.login.username, o.login.password
		}
		a = newSessionAuth(c, username, password, &saved)
	case o.auth != nil:
		var err error
		if a, err = o.auth(c); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	if v, ok := a.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// WithAuthenticator sets how requests are authenticated: one of the
// built-in authenticators ([BasicAuth], [APIKey], [APIKeyIn], [BearerToken],
// [SessionCookie], [NoAuth]) or your own.
func WithAuthenticator(a Authenticator) Option {
	return func(o *options) error {
		if isNil(a) {
			return configErr("WithAuthenticator", "authenticator is nil (use NoAuth() for none)")
		}
		o.setAuth(func(*Client) (Authenticator, error) { return a, nil })
		return nil
	}
}

// WithAPIKey authenticates every request with an API key, placed where the
// server expects it: X-API-Key for Komga, Authorization: Bearer for
// Audiobookshelf, ComfyUI and Khoj. Use [WithAuthenticator] with [APIKeyIn]
// to place it elsewhere.
func WithAPIKey(key string) Option {
	return func(o *options) error {
		if key == "" {
			return configErr("WithAPIKey", "key is empty")
		}
		o.setAuth(func(c *Client) (Authenticator, error) { return APIKey(c.spec.server, key), nil })
		return nil
	}
}

// WithLogin signs in with a username (Komga: the e-mail address) and
// password. For Komga and Audiobookshelf the client logs in once, lazily on
// the first request, keeps the session, and logs in again (or refreshes)
// once when the server rejects it; concurrent requests share one sign-in.
// For ComfyUI (behind a reverse proxy) it means HTTP Basic on every request.
// Khoj has no password sign-in: use an API token (or a magic link).
// Given with [WithSession], in either order, it signs in only once the
// saved session can no longer be renewed.
func WithLogin(username, password string) Option {
	return func(o *options) error {
		if username == "" {
			return configErr("WithLogin", "username is empty")
		}
		session := o.session // a saved session combines with the login
		o.setAuth(func(c *Client) (Authenticator, error) {
			switch c.spec.passwords {
			case passwordSession:
				return newSessionAuth(c, username, password, nil), nil
			case passwordBasic:
				return BasicAuth(username, password), nil
			}
			if err := c.spec.requireOption("WithLogin", OpLogin); err != nil {
				return nil, err
			}
			return nil, configErr("WithLogin", "%s has no password sign-in", c.spec.name)
		})
		o.login = &loginCredentials{username: username, password: password}
		o.session = session
		return nil
	}
}

// WithSession restores a session saved from [Client.Session] (for example
// across a restart of a long-running service), so the client does not sign
// in again while the session lasts. Combine it with [WithLogin], before or
// after it, to let the client sign in again once the session can no longer
// be renewed; the session must belong to the same server. Any other
// credential option given after it replaces it.
func WithSession(s *Session) Option {
	return func(o *options) error {
		if s == nil || s.Token == "" && s.RefreshToken == "" && s.RememberMe == "" {
			return configErr("WithSession", "session is empty")
		}
		saved := *s
		if o.login == nil {
			o.auth = nil // the session replaces an earlier credential, but not a login
		}
		o.session = &saved
		return nil
	}
}

// WithRememberMe asks Komga for a remember-me cookie at sign-in. The cookie
// is kept in the [Session] and lets the client sign in again after Komga
// restarts (which drops every session) without the password. [New] refuses
// it with a [*ConfigError] for a server without remember-me (see
// [OpRememberMe]).
func WithRememberMe() Option {
	return func(o *options) error { o.rememberMe = true; return nil }
}

// WithSessionHook calls fn with a copy of the session each time the client
// obtains a new one from the server: a sign-in ([Client.Login], the lazy
// sign-in of [WithLogin], a sign-in again after the session was lost,
// Komga's remember-me resume) and a refresh (Audiobookshelf rotates its
// refresh token on every refresh, so the stored copy must be replaced).
// It is not called for a session given with [WithSession]: the caller
// already has that one. Store the session to survive restarts; it holds
// secrets. fn runs synchronously and must not call the client.
func WithSessionHook(fn func(Session)) Option {
	return func(o *options) error {
		if fn == nil {
			return configErr("WithSessionHook", "function is nil")
		}
		o.sessionHook = fn
		return nil
	}
}

// WithHTTPClient makes the client use a copy of hc's settings: its
// Transport (nil means a tuned default) and its Timeout, which becomes the
// per-attempt timeout unless [WithTimeout] is given. hc itself is never
// modified. Its Jar and CheckRedirect are not used: the client manages
// cookies and redirects itself for safety. A Transport you supply is used
// as it is: size its idle pool yourself (MaxIdleConnsPerHost; net/http's
// default keeps only 2 per host, the client's own default 32).
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return configErr("WithHTTPClient", "client is nil")
		}
		o.httpClient = hc
		return nil
	}
}

// WithMiddleware wraps the client's base transport (its own tuned one, or
// the Transport of [WithHTTPClient]) in mw, for instrumentation such as
// otelhttp.NewTransport, a metrics counter or a request recorder, without
// replacing the http.Client. The layers sit below the client's own:
// they see every attempt (each retry, a sign-in, a renewal) with its
// credentials already on it, after the origin check and within the
// per-attempt timeout (a timer on the attempt's context, see [WithTimeout]). So a middleware must not log request headers, and
// must not send a request anywhere else. Given several times, the layers
// compose in the order given: the first is the outermost, which sees a
// request first. mw is called once, by [New]; nil, or an mw that returns
// nil, is a [*ConfigError].
func WithMiddleware(mw func(http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) error {
		if mw == nil {
			return configErr("WithMiddleware", "middleware is nil")
		}
		o.middleware = append(o.middleware, mw)
		return nil
	}
}

// wrapMiddleware wraps base in the middleware layers, the first outermost.
func wrapMiddleware(base http.RoundTripper, mws []func(http.RoundTripper) http.RoundTripper) (http.RoundTripper, error) {
	for i := len(mws) - 1; i >= 0; i-- {
		base = mws[i](base)
		if isNil(base) {
			return nil, configErr("WithMiddleware", "middleware %d returned a nil RoundTripper", i+1)
		}
	}
	return base, nil
}

// WithTimeout sets the per-attempt timeout d. Each attempt (a retry starts
// a new one) is bounded, and never a body: a response body being read is
// never cut off; bound the whole call, retries included, with the context.
// An attempt that runs out of time is a [*TransportError] whose Timeout is
// true and which matches context.DeadlineExceeded (and is retried when the
// call is idempotent), however the timeout was enforced:
//
//   - On the client's own transport (no [WithHTTPClient], or one whose
//     Transport is nil, and no [WithMiddleware]): connecting may take d,
//     the TLS handshake d, and waiting for the response headers d from
//     when the request, its body included, was written. A request body
//     being sent is never cut off either: a stalled upload is bounded only
//     by the caller's context.
//   - On your Transport, or with [WithMiddleware]: the client cannot set
//     fields on a transport it does not own, so a timer on the attempt's
//     context bounds everything up to the response headers, connecting and
//     sending the body included, by d.
//
// 0 disables it. Default [DefaultTimeout].
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return configErr("WithTimeout", "must not be negative")
		}
		o.timeout, o.timeoutSet = d, true
		return nil
	}
}

// WithMaxRetries sets how many times a failed idempotent call is retried
// (0 disables retries). Default [DefaultMaxRetries].
func WithMaxRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return configErr("WithMaxRetries", "must not be negative")
		}
		if n > 20 {
			return configErr("WithMaxRetries", "must be at most 20")
		}
		o.maxRetries = n
		return nil
	}
}

// WithRetryWait sets the bounds of the jittered exponential backoff between
// retries. Defaults [DefaultRetryWaitMin] and [DefaultRetryWaitMax].
func WithRetryWait(min, max time.Duration) Option {
	return func(o *options) error {
		if min < 0 || max < 0 || max < min {
			return configErr("WithRetryWait", "want 0 <= min <= max")
		}
		o.waitMin, o.waitMax = min, max
		return nil
	}
}

// WithRetryAfterCap sets the longest Retry-After wait the client honours by
// waiting and retrying. When the server asks for longer, the call fails at
// once with an [*Error] that carries the wait in RetryAfter (matching
// [ErrRateLimited] for a 429, [ErrUnavailable] for a 503).
//
// It also bounds how long a session renewal refused with a Retry-After
// (a rate-limited Audiobookshelf refresh) is not asked again: until then
// every call gets the failure's error, whose RetryAfter still says what is
// left of the server's wait; after it one request asks again for all
// callers. So one answer with an absurd Retry-After never locks a session
// out for longer than d.
//
// Default [DefaultRetryAfterCap].
func WithRetryAfterCap(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return configErr("WithRetryAfterCap", "must not be negative")
		}
		o.retryAfterCap = d
		return nil
	}
}

// WithLogger logs one line per request attempt and per response (method,
// redacted URL, attempt, status) to l. Nothing is logged by default.
// Credentials, bodies and headers are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return configErr("WithLogger", "logger is nil")
		}
		o.logger = l
		return nil
	}
}

// WithUserAgent sets the User-Agent header. Komga records it with every
// sign-in in its authentication activity, so a meaningful one helps admins.
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		if err := validateHeader("WithUserAgent", "User-Agent", ua); err != nil {
			return err
		}
		o.userAgent = ua
		return nil
	}
}

// WithHeader adds a header to every request to the server, for example the
// service-token headers a Cloudflare Access or other proxy in front of the
// server demands. Names and values containing CR, LF or other control
// characters are rejected. The value is treated as a credential: it is
// masked wherever a server's answer echoes it into an error or log line
// (values of 4 bytes or more).
func WithHeader(name, value string) Option {
	return func(o *options) error {
		if err := validateHeader("WithHeader", name, value); err != nil {
			return err
		}
		if o.headers == nil {
			o.headers = http.Header{}
		}
		o.headers.Add(name, value)
		return nil
	}
}

// WithRequireTLS refuses a plain-http base URL unless its host is loopback.
// Use it in production: over plain http, passwords, keys and session tokens
// travel in clear text.
func WithRequireTLS() Option {
	return func(o *options) error { o.requireTLS = true; return nil }
}

// withClock sets the client's time source (tests).
func withClock(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}

// validateHeader checks a header name and value without echoing the value.
func validateHeader(setting, name, value string) error {
	if name == "" {
		return configErr(setting, "header name is empty")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			// Quote the name only when it was written as "Name: value",
			// and then only what comes before the colon: a name that is
			// not a header name may be a credential passed in the wrong
			// argument (WithHeader(token, "X-Token")), and a name written
			// as "Authorization: Bearer <token>" must not print the token.
			if name[i] == ':' && i > 0 {
				return configErr(setting, "header name %q… has a character not allowed in a header name at byte %d (\":\": pass the value separately)",
					truncate(name[:i], 40), i+1)
			}
			return configErr(setting, "header name has a character not allowed in a header name at byte %d (%s)", i+1, byteClass(name[i]))
		}
	}
	if err := checkHeaderValue(value); err != nil {
		return configErr(setting, "value of header %s %s", http.CanonicalHeaderKey(name), err.Error())
	}
	return nil
}

// checkHeaderValue rejects CR, LF and other control characters (HTAB is
// allowed) and leading or trailing spaces.
func checkHeaderValue(v string) error {
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b == '\r' || b == '\n' {
			return errString("contains CR or LF (header injection)")
		}
		if (b < 0x20 && b != '\t') || b == 0x7f {
			return errString("contains control characters")
		}
	}
	if strings.TrimSpace(v) != v {
		return errString("has leading or trailing white space")
	}
	return nil
}

// byteClass names a byte not allowed in a header name without quoting
// the bytes around it.
func byteClass(b byte) string {
	switch {
	case b == ' ' || b == '\t':
		return "white space"
	case b < 0x20 || b == 0x7f:
		return "a control character"
	case b >= 0x80:
		return "a non-ASCII byte"
	}
	return strconv.Quote(string(rune(b)))
}

type errString string

func (e errString) Error() string { return string(e) }

func isTokenChar(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// isNil reports whether a is nil, or an interface holding a nil pointer,
// func, map, slice or channel (an AuthenticatorFunc(nil) or a typed-nil
// *http.Transport would panic on the first request).
func isNil(a any) bool {
	if a == nil {
		return true
	}
	switch v := reflect.ValueOf(a); v.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

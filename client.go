package authclient

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

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
const Version = "0.2.0"

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
	// viaClientDo: tests only; every one-attempt call goes through hc.Do,
	// none to the transport directly (sendonce.go).
	viaClientDo bool

	auth    atomic.Pointer[authRef]
	headers http.Header // sent on every request; never mutated after New
	// jsonContentType is the Content-Type value of JSON bodies, one slice
	// for all of the client's requests, as headers' values are: its
	// capacity is its length, so an append never writes into it.
	jsonContentType []string
	logger          *slog.Logger
	now             func() time.Time

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
	if o.rememberMe {
		if err := spec.requireOption("WithRememberMe", OpRememberMe); err != nil {
			return nil, err
		}
	}
	c := &Client{
		spec:            spec,
		base:            base,
		baseURL:         base.String(),
		basePath:        base.EscapedPath(),
		logger:          o.logger,
		now:             o.now,
		retryAfterCap:   o.retryAfterCap,
		headers:         http.Header{},
		jsonContentType: []string{jsonType}[:1:1],
		rememberMe:      o.rememberMe,
		sessionHook:     o.sessionHook,
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
	bounded := false
	if isNil(base) {
		// A middleware layer may spend time of its own, or not call its
		// next layer at all: the context timer bounds the attempt then.
		own := timeout
		if len(o.middleware) > 0 {
			own = 0
		}
		base, bounded = defaultTransport(own)
	}
	wrapped, err := wrapMiddleware(base, o.middleware)
	if err != nil {
		return nil, err
	}
	c.tr = &transport{base: wrapped, pool: base, origin: originOf(c.base), timeout: timeout, bounded: bounded}
	if timeout > 0 && !bounded {
		c.tr.watch = newAttemptWatch(timeout)
	}
	return &http.Client{
		Transport:     c.tr,
		CheckRedirect: c.checkRedirect,
		// No Jar: the client sets the cookies it means to send itself. An
		// API key must never travel with a session cookie (Komga #2099).
	}, nil
}

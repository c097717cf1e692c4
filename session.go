package authclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Session is a signed-in session with a server: Komga's session token (and
// remember-me cookie), or Audiobookshelf's access and refresh tokens. It is
// JSON-serialisable so a long-running service can store it (see
// [Client.Session], [WithSession] and [WithSessionHook]); the JSON holds
// secrets, so store it like a password. fmt and slog print it redacted.
type Session struct {
	// Server is the server the session belongs to.
	Server Server `json:"server"`
	// Username is the account the session was signed in as, when known.
	Username string `json:"username,omitempty"`
	// Token is the session credential: Komga's X-Auth-Token session id,
	// Audiobookshelf's access token.
	Token string `json:"token,omitempty"`
	// Expiry is when Token expires; zero means unknown or never.
	Expiry time.Time `json:"expiry,omitzero"`
	// IssuedAt is when Token was issued (Audiobookshelf: its iat claim,
	// else when the client obtained it); zero means unknown. With Expiry
	// it gives the token's lifetime, which sets how early the token is
	// renewed: 30 seconds before it expires, or half its lifetime before
	// when that is shorter. A session saved
	// without it is renewed 30 seconds early, unless the token carries an
	// iat claim.
	IssuedAt time.Time `json:"issued_at,omitzero"`
	// RefreshToken renews Token (Audiobookshelf). It rotates on every
	// refresh.
	RefreshToken string `json:"refresh_token,omitempty"`
	// RefreshExpiry is when RefreshToken expires; zero means unknown.
	RefreshExpiry time.Time `json:"refresh_expiry,omitzero"`
	// RememberMe is Komga's remember-me cookie, which signs in again after
	// the server drops the session (for example on restart).
	RememberMe string `json:"remember_me,omitempty"`
}

// Format prints the session without its secrets, for every verb.
func (s Session) Format(f fmt.State, verb rune) { redactedFormat(f, verb, s.describe()) }

// LogValue logs the session without its secrets.
func (s Session) LogValue() slog.Value { return slog.StringValue(s.describe()) }

func (s Session) describe() string {
	d := "Session(" + string(s.Server)
	if s.Username != "" {
		d += " " + s.Username
	}
	if !s.Expiry.IsZero() {
		d += " expires " + s.Expiry.UTC().Format(time.RFC3339)
	}
	return d + ", tokens REDACTED)"
}

// maxRefreshMargin is how long before its expiry a token is renewed, at
// most.
const maxRefreshMargin = 30 * time.Second

// refreshMargin is how long before its expiry s's token is renewed:
// [maxRefreshMargin], or half the token's lifetime when that is shorter.
// Audiobookshelf's access tokens can live only seconds
// (ACCESS_TOKEN_EXPIRY=10): a fixed margin longer than the lifetime would
// renew the token on every call. The lifetime is unknown without IssuedAt;
// then the margin is the maximum.
func (s *Session) refreshMargin() time.Duration {
	if s.IssuedAt.IsZero() || !s.Expiry.After(s.IssuedAt) {
		return maxRefreshMargin
	}
	return min(maxRefreshMargin, s.Expiry.Sub(s.IssuedAt)/2)
}

// sessionAuth signs in with a password (or restores a saved session), keeps
// the session, and renews it once when it expires or is rejected, however
// many goroutines notice at the same time: the goroutines that waited for a
// renewal share its outcome, failure included, so a rejected password or a
// rate limit costs one request, not one per goroutine.
type sessionAuth struct {
	c                  *Client
	d                  *sessionDialect
	username, password string
	rememberMe         bool
	hook               func(Session)

	cur       atomic.Pointer[Session]
	loggedOut atomic.Bool
	lock      chan struct{} // one renewal at a time; waiting respects ctx
	logins    atomic.Int64

	// attempts counts finished renewal attempts; it changes only under
	// lock. A goroutine reads it before waiting for the lock, so that it
	// can tell a failure it waited for from an older one.
	attempts atomic.Uint64
	// failure is the last renewal attempt, if it failed and nothing has
	// changed the session since. Guarded by lock.
	failure *renewFailure
	// renewing counts the goroutines waiting for or holding lock to renew
	// (tests watch it to line goroutines up).
	renewing atomic.Int32
}

// renewFailure is a failed renewal, shared with the goroutines that waited
// for it.
type renewFailure struct {
	stale   *Session // the session the renewal was to replace
	attempt uint64   // the attempts value the renewal finished with
	// until is when the client asks the server again: its Retry-After,
	// bounded by the client's Retry-After cap.
	until time.Time
	// retryAt is when the server said it could be asked again (its
	// Retry-After, unbounded), which the shared error reports.
	retryAt time.Time
	err     error
}

// shared returns the failure's error for one more goroutine: an [*Error]
// is copied, so that no two callers hold the same value, and its
// RetryAfter says what is left of the server's wait.
func (f *renewFailure) shared(now time.Time) error {
	if e, ok := f.err.(*Error); ok {
		cp := *e
		if !f.retryAt.IsZero() {
			cp.RetryAfter = max(f.retryAt.Sub(now), 0)
		}
		return &cp
	}
	return f.err
}

func newSessionAuth(c *Client, username, password string, restored *Session) *sessionAuth {
	a := &sessionAuth{c: c, d: c.spec.sessions, username: username, password: password, lock: make(chan struct{}, 1),
		rememberMe: c.rememberMe, hook: c.sessionHook}
	if restored != nil {
		// Not stored with store: the session hook is for sessions the
		// client obtains, and the caller already has this one.
		s := *restored
		s.Server = c.spec.server
		if s.Username == "" {
			s.Username = username
		}
		if s.IssuedAt.IsZero() && a.d != nil && a.d.issuedAt != nil {
			s.IssuedAt = a.d.issuedAt(s.Token) // saved before IssuedAt existed
		}
		a.cur.Store(&s)
	}
	return a
}

func (a *sessionAuth) validate() error {
	if a.d == nil {
		return configErr("WithLogin", "%s has no password sessions", a.c.spec.name)
	}
	if a.username != "" {
		if err := checkHeaderValue(a.username); err != nil {
			return configErr("WithLogin", "username %s", err.Error())
		}
		if a.d.basicLogin && strings.Contains(a.username, ":") {
			return configErr("WithLogin", "username contains a colon, which %s's sign-in (HTTP Basic) cannot carry", a.c.spec.name)
		}
	}
	if s := a.cur.Load(); s != nil {
		if err := checkSessionTokens(s); err != nil {
			return configErr("WithSession", "a session token %s", err.Error())
		}
	}
	return nil
}

func (a *sessionAuth) secrets() []string {
	out := []string{a.password}
	if a.d != nil && a.d.basicLogin && a.username != "" {
		out = append(out, basicSecrets(a.username, a.password)...) // Komga's sign-in sends Basic
	}
	if s := a.cur.Load(); s != nil {
		out = append(out, s.Token, s.RefreshToken, s.RememberMe)
	}
	return out
}

func (a *sessionAuth) Format(f fmt.State, verb rune) {
	redactedFormat(f, verb, "Login("+a.username+", password REDACTED)")
}
func (a *sessionAuth) LogValue() slog.Value {
	return slog.StringValue("Login(" + a.username + ", password REDACTED)")
}

// usable reports whether s can be sent as it is: it has a token that is
// not within its refresh margin of expiring.
func (a *sessionAuth) usable(s *Session) bool {
	if s == nil || s.Token == "" {
		return false
	}
	return s.Expiry.IsZero() || a.c.now().Add(s.refreshMargin()).Before(s.Expiry)
}

// Authenticate puts the current session on req, signing in or renewing
// first when there is no usable session.
func (a *sessionAuth) Authenticate(req *http.Request) error {
	if a.loggedOut.Load() {
		return nil // the server will say 401; Login signs in again
	}
	s := a.cur.Load()
	if !a.usable(s) {
		var err error
		s, err = a.renew(req, s)
		if err != nil {
			return err
		}
	}
	a.d.apply(req, s)
	return nil
}

// Reauthenticate renews the session after the server rejected it, unless
// another goroutine has renewed it since the rejected request was sent.
func (a *sessionAuth) Reauthenticate(ctx context.Context, rejected *http.Request) error {
	if a.loggedOut.Load() {
		return a.loggedOutErr(rejected)
	}
	seen := a.attempts.Load()
	a.renewing.Add(1)
	defer a.renewing.Add(-1)
	if err := a.acquire(ctx); err != nil {
		return err
	}
	defer a.release()
	if a.loggedOut.Load() {
		return a.loggedOutErr(rejected) // Logout ran while we waited
	}
	cur := a.cur.Load()
	if cur != nil && cur.Token != "" && a.d.token(rejected) != cur.Token {
		return nil // already renewed by someone else
	}
	_, err := a.renewOnce(ctx, cur, true, seen)
	return err
}

// loggedOutErr is the error for a request that needs a session after
// [Client.Logout]: it matches [ErrUnauthorized], and the client does not
// sign in again by itself.
func (a *sessionAuth) loggedOutErr(req *http.Request) error {
	method, u := "-", (*url.URL)(nil)
	if req != nil {
		method, u = req.Method, req.URL
	}
	return a.c.localError(ErrUnauthorized, method, u, "the client has logged out; call Login to sign in again")
}

func (a *sessionAuth) acquire(ctx context.Context) error {
	select {
	case a.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *sessionAuth) release() { <-a.lock }

// renew obtains a usable session for req, once for all goroutines that
// find stale the same session.
func (a *sessionAuth) renew(req *http.Request, stale *Session) (*Session, error) {
	ctx := req.Context()
	seen := a.attempts.Load()
	a.renewing.Add(1)
	defer a.renewing.Add(-1)
	if err := a.acquire(ctx); err != nil {
		return nil, err
	}
	defer a.release()
	if a.loggedOut.Load() {
		return nil, a.loggedOutErr(req) // Logout ran while we waited
	}
	cur := a.cur.Load()
	// A session renewed while this goroutine waited is taken as it is,
	// however close to expiry the clock says it is: it is the newest there
	// is, and renewing it again would cost every waiter a refresh of its
	// own (a token that lives seconds, a skewed clock). If it is really
	// expired, the server says 401 and Reauthenticate renews it once.
	if cur != stale && (a.usable(cur) || cur != nil && cur.Token != "" && a.attempts.Load() > seen) {
		return cur, nil
	}
	return a.renewOnce(ctx, cur, false, seen)
}

// renewOnce runs renewLocked for cur, with the lock held, unless a renewal
// of cur failed after the caller read seen from attempts (that is, while it
// waited for the lock), or failed with a Retry-After that has not passed:
// then it returns that failure's error without asking the server again. The
// Retry-After wait is bounded by the client's cap ([WithRetryAfterCap]), so
// that one answer with an absurd Retry-After does not lock the session out
// for days; the shared error still reports the server's wait. A failure
// caused by the renewing goroutine's own context is not shared.
func (a *sessionAuth) renewOnce(ctx context.Context, cur *Session, rejected bool, seen uint64) (*Session, error) {
	now := a.c.now()
	if f := a.failure; f != nil && f.stale == cur && (f.attempt > seen || now.Before(f.until)) {
		return nil, f.shared(now)
	}
	s, err := a.renewLocked(ctx, cur, rejected)
	n := a.attempts.Add(1)
	a.failure = nil
	if err != nil && ctx.Err() == nil {
		f := &renewFailure{stale: cur, attempt: n, err: err}
		if e, ok := err.(*Error); ok && e.RetryAfter > 0 {
			// A later call waits it out too, without asking, up to the cap.
			now = a.c.now()
			f.retryAt = now.Add(e.RetryAfter)
			f.until = now.Add(min(e.RetryAfter, a.c.retryAfterCap))
		}
		a.failure = f
	}
	return s, err
}

// renewLocked refreshes the session if it can, else signs in again (with
// the remember-me cookie or the password). rejected says the server has
// refused cur's token, so it must not be reused. A rate-limited refresh
// keeps the session (a 429 never signs the user out).
func (a *sessionAuth) renewLocked(ctx context.Context, cur *Session, rejected bool) (*Session, error) {
	var firstErr error
	if cur != nil && cur.RefreshToken != "" && a.d.refresh != nil &&
		(cur.RefreshExpiry.IsZero() || a.c.now().Before(cur.RefreshExpiry)) {
		s, err := a.d.refresh(ctx, a.c, cur)
		if err == nil {
			return a.store(s)
		}
		if !errors.Is(err, ErrUnauthorized) {
			return nil, err // rate limited, network: keep the session, report
		}
		firstErr = err
	}
	if cur != nil && cur.RememberMe != "" && a.d.resume != nil {
		s, err := a.d.resume(ctx, a.c, cur)
		if err == nil {
			return a.store(s)
		}
		if !errors.Is(err, ErrUnauthorized) {
			return nil, err
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if a.password == "" && a.username == "" {
		if firstErr != nil {
			return nil, firstErr
		}
		if cur != nil && !rejected && cur.Token != "" {
			return cur, nil // expiry unknown to be past: let the server decide
		}
		return nil, a.c.localError(ErrUnauthorized, "-", nil, "the session has expired and there is no password to sign in again")
	}
	s, err := a.d.login(ctx, a.c, a.username, a.password, a.rememberMe)
	if err != nil {
		return nil, err
	}
	a.logins.Add(1)
	return a.store(s)
}

// store makes s the current session. Every session the client gets from a
// server passes through it, and is refused (ErrUnexpectedServer) if a
// token cannot be sent back as a header value as it is: CR, LF or other
// control characters (header injection), or surrounding white space
// (which [WithSession] would refuse when the session is restored).
func (a *sessionAuth) store(s *Session) (*Session, error) {
	a.c.secrets.add(s.Token, s.RefreshToken, s.RememberMe) // masked even when refused
	if err := checkSessionTokens(s); err != nil {
		return nil, a.c.localError(ErrUnexpectedServer, "-", nil, "the server sent a session token that "+err.Error()+"; not using it")
	}
	s.Server = a.c.spec.server
	if s.Username == "" {
		s.Username = a.username
	}
	a.cur.Store(s)
	if a.hook != nil {
		a.hook(*s)
	}
	return s, nil
}

// checkSessionTokens checks that every token of s can go in a header.
func checkSessionTokens(s *Session) error {
	for _, v := range []string{s.Token, s.RefreshToken, s.RememberMe} {
		if err := checkHeaderValue(v); err != nil {
			return err
		}
	}
	return nil
}

// Login signs in with a username and password and makes the client use the
// new session from then on (replacing any other credentials). The client
// keeps the password to sign in again if the session is lost. It returns a
// copy of the session, which may be stored and restored with [WithSession].
//
// Komga (the username is the e-mail address; remember-me with
// [WithRememberMe]) and Audiobookshelf support it; other servers return an
// error matching errors.ErrUnsupported.
func (c *Client) Login(ctx context.Context, username, password string) (*Session, error) {
	if err := c.spec.require(OpLogin); err != nil {
		return nil, err
	}
	a := newSessionAuth(c, username, password, nil)
	if err := a.validate(); err != nil {
		return nil, err
	}
	c.secrets.add(password)
	s, err := a.d.login(ctx, c, username, password, a.rememberMe)
	if err != nil {
		return nil, err
	}
	if err := c.installSession(s, username, password); err != nil {
		return nil, err
	}
	cp := *s
	return &cp, nil
}

// installSession makes the client use s from now on, signing in again with
// username and password (if given) when s can no longer be renewed. It
// fails, changing nothing, for a session [sessionAuth.store] refuses.
func (c *Client) installSession(s *Session, username, password string) error {
	a := newSessionAuth(c, username, password, nil)
	a.logins.Add(1)
	if _, err := a.store(s); err != nil {
		return err
	}
	c.setAuthenticator(a)
	return nil
}

// UseSession makes the client use s from now on, replacing its other
// credentials: for a session obtained by a sign-in the client has no
// method for (an OpenID flow, see [Client.ParseSession]) or handed over by
// another process. The client renews it as it renews a password session
// (Audiobookshelf: with its refresh token, before it expires or after a
// 401) and passes each renewal to the [WithSessionHook] hook, but has no
// password to sign in again with once it cannot be renewed: calls then fail
// with an error matching [ErrUnauthorized]. [Client.Logout] ends it. The
// client keeps a copy of s; its tokens are masked in the client's errors and
// logs. It is safe to call while requests are running: the next requests
// use s.
//
// Errors: a nil session, one without a Token, or a token with control
// characters or surrounding white space is a [*ConfigError], and the
// client keeps its current credentials; a server without sessions
// (ComfyUI, Khoj) returns an error matching errors.ErrUnsupported.
func (c *Client) UseSession(s *Session) error {
	if err := c.spec.require(OpUseSession); err != nil {
		return err
	}
	if s == nil {
		return configErr("UseSession", "the session is nil")
	}
	c.secrets.add(s.Token, s.RefreshToken, s.RememberMe)
	if s.Token == "" {
		return configErr("UseSession", "the session has no Token")
	}
	if err := checkSessionTokens(s); err != nil {
		return configErr("UseSession", "a session token %s", err.Error())
	}
	if s.Server != "" && s.Server != c.spec.server {
		return configErr("UseSession", "the session is for %s, not %s", s.Server, c.spec.name)
	}
	a := newSessionAuth(c, s.Username, "", s) // a copy, with IssuedAt from the token if it has none
	a.logins.Add(1)
	c.setAuthenticator(a)
	return nil
}

// Session returns a copy of the client's current session, or nil if the
// client does not use a session (or has not signed in yet).
func (c *Client) Session() *Session {
	a, ok := c.authenticator().(*sessionAuth)
	if !ok {
		return nil
	}
	s := a.cur.Load()
	if s == nil || a.loggedOut.Load() {
		return nil
	}
	cp := *s
	return &cp
}

// LogoutOption adjusts [Client.Logout].
type LogoutOption func(*logoutOptions)

type logoutOptions struct {
	method     string
	allDevices bool
}

// LogoutWithGET makes Komga's logout a GET instead of the default POST
// (Khoj's is always a GET). [Client.Logout] on a server whose logout is
// POST only (Audiobookshelf) fails with an [*UnsupportedError] and sends
// nothing.
func LogoutWithGET() LogoutOption { return func(o *logoutOptions) { o.method = http.MethodGet } }

// LogoutAllDevices makes Audiobookshelf end every session of the user, not
// only this client's (Audiobookshelf 2.36 or later). [Client.Logout] on
// other servers fails with an [*UnsupportedError] and sends nothing.
func LogoutAllDevices() LogoutOption { return func(o *logoutOptions) { o.allDevices = true } }

// Logout ends the client's session on the server and forgets it: Komga's
// session (and remember-me cookie), Audiobookshelf's refresh token, a
// session cookie given with [SessionCookie] (Komga, Khoj). It is
// idempotent: without a session (API keys, Basic auth, already logged out)
// it does nothing and returns nil. After Logout the client sends no session
// until [Client.Login], even if it had not signed in yet with [WithLogin];
// requests that need a session fail with an error matching
// [ErrUnauthorized], and one already waiting to sign in or renew does not.
// A server with no sessions at all (ComfyUI: one static key) returns an
// error matching errors.ErrUnsupported.
func (c *Client) Logout(ctx context.Context, opts ...LogoutOption) error {
	o := logoutOptions{method: http.MethodPost}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	// A variant the server lacks fails before anything is sent, with or
	// without a session: the caller asked for something this server
	// cannot do. The variant is named, rather than Logout, when both are
	// missing.
	if o.method == http.MethodGet {
		if err := c.spec.require(OpLogoutWithGET); err != nil {
			return err
		}
	}
	if o.allDevices {
		if err := c.spec.require(OpLogoutAllDevices); err != nil {
			return err
		}
	}
	if err := c.spec.require(OpLogout); err != nil {
		return err
	}
	switch a := c.authenticator().(type) {
	case *sessionAuth:
		if err := a.acquire(ctx); err != nil {
			return err
		}
		defer a.release()
		if a.loggedOut.Load() {
			return nil
		}
		// Without a session (WithLogin before the lazy first sign-in)
		// there is nothing to end on the server, but the client must
		// still not sign in afterwards.
		if s := a.cur.Load(); s != nil {
			if err := a.d.logout(ctx, c, s, o); err != nil && !errors.Is(err, ErrUnauthorized) {
				return err
			}
		}
		a.loggedOut.Store(true)
		a.cur.Store(nil)
		a.failure = nil
		return nil
	case *cookieAuth:
		if c.spec.cookieLogout == nil {
			return nil
		}
		if err := c.spec.cookieLogout(ctx, c, a, o); err != nil && !errors.Is(err, ErrUnauthorized) {
			return err
		}
		c.setAuthenticator(NoAuth())
		return nil
	}
	return nil
}

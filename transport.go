package authclient

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// defaultTransport is the transport of a client given none: a clone of
// http.DefaultTransport with a larger idle pool when that is an
// *http.Transport; else http.DefaultTransport as it is, because whoever
// replaced it (httpmock.Activate, an instrumented global) wants every
// request to go through it; and a fresh transport with net/http's
// defaults only when it is nil. A transport it built (a clone or a fresh
// one) is the client's own: it bounds each attempt by timeout itself
// ([boundByTransport]), and bounded then reports so.
func defaultTransport(timeout time.Duration) (rt http.RoundTripper, bounded bool) {
	dt := http.DefaultTransport
	if t, ok := dt.(*http.Transport); ok && t != nil {
		t = t.Clone()
		t.MaxIdleConns = 100
		t.MaxIdleConnsPerHost = defaultIdlePerHost
		return t, boundByTransport(t, timeout)
	}
	if !isNil(dt) {
		return dt, false
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   defaultIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return t, boundByTransport(t, timeout)
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

// transport is the client's RoundTripper: it refuses any request that is not
// for the configured origin (defence in depth behind checkRedirect), and
// bounds each attempt's wait for response headers without cutting off the
// body: with a timer on the attempt's context, unless its base is the
// client's own transport, which bounds them itself (bounded). It sets every response's Request to the request it was given, as
// net/http's transport does and others need not, so that logging and
// redirect detection never depend on the base transport. It deliberately
// has no CloseIdleConnections method, so the retry layer cannot flush the
// shared connection pool after a failure.
type transport struct {
	base    http.RoundTripper // pool wrapped in the WithMiddleware layers
	pool    http.RoundTripper // the base transport, which holds the connections
	origin  origin
	timeout time.Duration
	// bounded: base is the pool, the client's own *http.Transport, which
	// enforces timeout itself (boundByTransport); no context timer then.
	bounded bool

	// watch bounds the attempts when the context timer is needed (not
	// bounded): one timer for all of them (attemptwatch.go).
	watch *attemptWatch

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
	if t.bounded && t.afterFunc == nil {
		resp, err := t.base.RoundTrip(req)
		if err != nil {
			err = transportTimeout(req.Context(), err)
		}
		return sentWith(resp, err, req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	var resp *http.Response
	var err error
	var fired bool
	if t.afterFunc != nil {
		stop := t.afterFunc(t.timeout, func() { cancel(errAttemptTimeout) })
		resp, err = t.base.RoundTrip(req.WithContext(ctx))
		fired = !stop()
	} else if k, gen := t.watch.watch(cancel); k >= 0 {
		resp, err = t.base.RoundTrip(req.WithContext(ctx))
		fired = !t.watch.done(k, gen)
	} else {
		at := attemptTimers.Get().(*attemptTimer)
		at.cancel = cancel
		at.t.Reset(t.timeout)
		resp, err = t.base.RoundTrip(req.WithContext(ctx))
		if at.t.Stop() {
			at.cancel = nil
			attemptTimers.Put(at)
		} else {
			fired = true // at is left to its function, which runs or ran: never reused
		}
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
	if req.Context().Done() == nil {
		// The attempt's context is registered with no parent (one that is
		// never done has no children) and its timer is stopped: there is
		// nothing for closing the body to release, so it is not wrapped.
		return resp, nil
	}
	resp.Body = cancelOnCloseOf(resp.Body, cancel)
	return resp, nil
}

// attemptTimer is the timer of an attempt the watch has no slot for, and
// outlives its attempt: a timer
// stopped before it fired (the attempt got its headers in time) goes back
// to attemptTimers and is re-armed with Reset by a later attempt, so an
// attempt allocates neither a timer nor the function it runs. One that
// fired is never reused: its function may still be running.
type attemptTimer struct {
	t      *time.Timer
	cancel context.CancelCauseFunc // the armed attempt's; set before Reset
}

func (a *attemptTimer) expire() { a.cancel(errAttemptTimeout) }

var attemptTimers = sync.Pool{New: func() any {
	a := new(attemptTimer)
	a.t = time.AfterFunc(time.Hour, a.expire)
	a.t.Stop()
	return a
}}

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

// boundByTransport sets the per-attempt timeout d on t, a transport the
// client built itself and no one else holds: connecting (the dial, which
// is bounded whatever dialer t has) and the TLS handshake may each take d,
// and waiting for the response headers after the request (its body
// included) was written may take d. A body being sent or read is never
// cut. It returns false, leaving t as it was, when d is 0 (no timeout).
func boundByTransport(t *http.Transport, d time.Duration) bool {
	if d <= 0 {
		return false
	}
	t.TLSHandshakeTimeout = d
	t.ResponseHeaderTimeout = d
	switch {
	case t.DialContext != nil:
		t.DialContext = dialWithin(t.DialContext, d)
	case t.Dial == nil:
		t.DialContext = (&net.Dialer{Timeout: d, KeepAlive: 30 * time.Second}).DialContext
	}
	if t.DialTLSContext != nil {
		t.DialTLSContext = dialWithin(t.DialTLSContext, d)
	}
	return true
}

// dialWithin bounds each call of dial by d. It costs a context per new
// connection, never per request.
func dialWithin(dial func(ctx context.Context, network, addr string) (net.Conn, error), d time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return dial(ctx, network, addr)
	}
}

// transportTimeout maps the error of an attempt on a transport bounded by
// [boundByTransport] to the per-attempt timeout when it is one of that
// transport's timeouts (a dial or TLS handshake that took too long,
// net/http's "timeout awaiting response headers", HTTP/2's too), so the
// caller sees the same error whichever way the timeout is enforced. A
// timeout while the caller's context is done is the caller's, left as it
// is.
func transportTimeout(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errAttemptTimeout
	}
	return err
}

package authclient

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient/authtest"
)

// roundTripFunc is a RoundTripper that is not an *http.Transport.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// wrappingTransport stands for an instrumented global (otelhttp and the
// like): it counts requests and hands them to the transport it wraps.
type wrappingTransport struct {
	base  http.RoundTripper
	calls atomic.Int64
}

func (w *wrappingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w.calls.Add(1)
	return w.base.RoundTrip(req)
}

// swapDefaultTransport replaces http.DefaultTransport for one test and puts
// the original back. Tests that call it must not be parallel: the global
// is shared by the whole process.
func swapDefaultTransport(t *testing.T, rt http.RoundTripper) {
	orig := http.DefaultTransport
	http.DefaultTransport = rt
	t.Cleanup(func() { http.DefaultTransport = orig })
}

// TestNewWithAnyDefaultTransport: New never panics, whatever
// http.DefaultTransport holds (the class: anything that is not a usable
// *http.Transport), and uses a replaced one, since that is what the user
// asked for. Not parallel: it replaces a process-wide global.
func TestNewWithAnyDefaultTransport(t *testing.T) {
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer k.Close()
	k.AddUser("admin@example.org", "pw", "ADMIN")
	key := k.AddAPIKey("admin@example.org", "global")

	t.Run("httpmock.Activate", func(t *testing.T) {
		httpmock.Activate()
		t.Cleanup(httpmock.DeactivateAndReset)
		httpmock.RegisterResponder("GET", "http://komga.test/api/v2/users/me",
			httpmock.NewStringResponder(200, `{"id":"1","email":"mock@example.org"}`).HeaderSet(http.Header{"Content-Type": {"application/json"}}))
		c, err := New(Komga, "http://komga.test", WithAPIKey(key))
		require.NoError(t, err)
		u, err := c.CurrentUser(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "mock@example.org", u.Email)
		assert.Equal(t, 1, httpmock.GetTotalCallCount(), "the request went to the mock, not the network")
		c.CloseIdleConnections()
	})
	t.Run("wrapped global", func(t *testing.T) {
		w := &wrappingTransport{base: http.DefaultTransport}
		swapDefaultTransport(t, w)
		c, err := New(Komga, k.URL, WithAPIKey(key))
		require.NoError(t, err)
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
		assert.Equal(t, int64(1), w.calls.Load())
		c.CloseIdleConnections()
	})
	t.Run("func transport", func(t *testing.T) {
		var n atomic.Int64
		swapDefaultTransport(t, roundTripFunc(func(req *http.Request) (*http.Response, error) {
			n.Add(1)
			return &http.Response{StatusCode: 401, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}, nil
		}))
		c, err := New(Komga, "http://komga.test", WithAPIKey(key))
		require.NoError(t, err)
		_, err = c.CurrentUser(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized)
		assert.Equal(t, int64(1), n.Load())
		c.CloseIdleConnections()
	})
	for name, rt := range map[string]http.RoundTripper{"nil": nil, "typed nil": (*http.Transport)(nil)} {
		t.Run(name, func(t *testing.T) {
			swapDefaultTransport(t, rt)
			c, err := New(Komga, k.URL, WithAPIKey(key))
			require.NoError(t, err)
			_, err = c.CurrentUser(t.Context())
			require.NoError(t, err, "a fresh transport stands in for a missing one")
			c.CloseIdleConnections()
		})
	}
	t.Run("typed nil in the caller's client", func(t *testing.T) {
		c, err := New(Komga, k.URL, WithAPIKey(key), WithHTTPClient(&http.Client{Transport: (*http.Transport)(nil)}))
		require.NoError(t, err)
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
	})
}

// TestCloseIdleConnectionsNeverPanics: on a zero Client too.
func TestCloseIdleConnectionsNeverPanics(t *testing.T) {
	t.Parallel()
	assert.NotPanics(t, func() { (&Client{}).CloseIdleConnections() })
	c := newTestClient(t, Komga, "http://h", WithHTTPClient(&http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, io.EOF })}))
	assert.NotPanics(t, c.CloseIdleConnections, "a transport without CloseIdleConnections")
}

// TestResponseLoggedFromSentRequest: the response log line takes method
// and URL from the request that was sent, whatever the transport put in
// resp.Request (the class: a transport other than net/http's, which
// need not set it, or sets it to something else).
func TestResponseLoggedFromSentRequest(t *testing.T) {
	t.Parallel()
	stale, _ := http.NewRequest("DELETE", "http://komga.test/stale/elsewhere", nil)
	for name, respReq := range map[string]*http.Request{"nil Request": nil, "stale Request": stale} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int64
			rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				status := 200
				if n.Add(1) == 1 {
					status = 503
				}
				return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(`{}`)), Request: respReq}, nil
			})
			var logs strings.Builder
			var mu sync.Mutex
			c := newTestClient(t, Komga, "http://komga.test/komga", WithHTTPClient(&http.Client{Transport: rt}),
				WithLogger(newTestLogger(&logs, &mu)), WithAPIKey("LOG-KEY-0123456789"))
			require.NoError(t, c.Do(t.Context(), "GET", "api/x?token=LOGTOKEN-1", nil, nil))
			mu.Lock()
			out := logs.String()
			mu.Unlock()
			var responses []string
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "authclient response") {
					responses = append(responses, l)
				}
			}
			require.Len(t, responses, 2, out)
			for _, l := range responses {
				assert.Contains(t, l, "method=GET", l)
				assert.Contains(t, l, "url=\"http://komga.test/komga/api/x?token=REDACTED\"", l)
			}
			assert.Contains(t, responses[0], "status=503")
			assert.NotContains(t, out, "LOGTOKEN")
			assert.NotContains(t, out, "LOG-KEY")
			assert.NotContains(t, out, "stale")
		})
	}
}

// TestRedirectSeenWithoutResponseRequest: the client knows an answer
// came at the end of a redirect (an HTML page there is a sign-in page)
// even when the transport leaves resp.Request unset.
func TestRedirectSeenWithoutResponseRequest(t *testing.T) {
	t.Parallel()
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Path == "/komga/api/x" {
			return &http.Response{StatusCode: 302, Header: http.Header{"Location": {"/komga/sso/start"}}, Body: io.NopCloser(strings.NewReader(""))}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/html"}}, Body: io.NopCloser(strings.NewReader("<html>sign in"))}, nil
	})
	c := newTestClient(t, Komga, "http://komga.test/komga", WithHTTPClient(&http.Client{Transport: rt}))
	err := c.Do(t.Context(), "GET", "api/x", nil, nil)
	assert.ErrorIs(t, err, ErrUnauthorized)
}

// TestBrokenTransportAnswers: a transport that returns neither a response
// nor an error gives a TransportError, and one that returns a response
// without a body an empty body; neither panics.
func TestBrokenTransportAnswers(t *testing.T) {
	t.Parallel()
	for _, timeout := range []time.Duration{0, time.Hour} {
		rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.URL.Path == "/nobody" {
				return &http.Response{StatusCode: 204, Header: http.Header{}}, nil
			}
			return nil, nil
		})
		c := newTestClient(t, Komga, "http://komga.test", WithHTTPClient(&http.Client{Transport: rt}), WithTimeout(timeout), WithMaxRetries(0))
		err := c.Do(t.Context(), "GET", "x", nil, nil)
		var te *TransportError
		require.ErrorAs(t, err, &te, timeout)
		assert.ErrorIs(t, err, errNoResponse)
		assert.NoError(t, c.Do(t.Context(), "GET", "nobody", nil, nil), timeout)
	}
}

// manualTimers replaces the per-attempt timer of a client: a timer fires
// only when the test says so, never because the machine is slow.
type manualTimers struct {
	mu      sync.Mutex
	pending []*manualTimer
	stopped chan struct{} // one send per timer stopped before it fired
}

type manualTimer struct {
	f     func()
	state int // 0 pending, 1 stopped, 2 fired
}

// withManualTimers installs manual timers in c; call it before c is used.
func withManualTimers(c *Client) *manualTimers {
	m := &manualTimers{stopped: make(chan struct{}, 100)}
	c.tr.afterFunc = m.afterFunc
	return m
}

func (m *manualTimers) afterFunc(_ time.Duration, f func()) func() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	mt := &manualTimer{f: f}
	m.pending = append(m.pending, mt)
	return func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		if mt.state != 0 {
			return false
		}
		mt.state = 1
		select {
		case m.stopped <- struct{}{}:
		default:
		}
		return true
	}
}

// fire runs every timer that is neither stopped nor fired, as if its
// duration had passed, and reports how many there were.
func (m *manualTimers) fire() int {
	m.mu.Lock()
	var due []func()
	for _, mt := range m.pending {
		if mt.state == 0 {
			mt.state = 2
			due = append(due, mt.f)
		}
	}
	m.pending = nil
	m.mu.Unlock()
	for _, f := range due {
		f()
	}
	return len(due)
}

// deadlineCtx is a context whose deadline the test makes pass: Err is
// context.DeadlineExceeded once expire is called.
type deadlineCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newDeadlineCtx(parent context.Context) *deadlineCtx {
	return &deadlineCtx{Context: parent, done: make(chan struct{})}
}

func (d *deadlineCtx) expire()                     { d.once.Do(func() { close(d.done) }) }
func (d *deadlineCtx) Deadline() (time.Time, bool) { return time.Now().Add(time.Hour), true }
func (d *deadlineCtx) Done() <-chan struct{}       { return d.done }
func (d *deadlineCtx) Value(key any) any           { return d.Context.Value(key) }
func (d *deadlineCtx) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// TestPerAttemptTimeoutFiresWithRealTimer: the real timer is wired in.
// The timeout must fire (the server never answers), so the test only
// waits for it; nothing races.
func TestPerAttemptTimeoutFiresWithRealTimer(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := newTestClient(t, Komga, srv.URL, WithTimeout(300*time.Millisecond), WithMaxRetries(0))
	err := c.Do(t.Context(), "GET", "x", nil, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Timeout())
}

// TestPerAttemptTimeoutFiringAsHeadersArrive: when the timer fires while
// the base transport is returning the headers, the attempt is a timeout
// (and its body is closed), not a success with a cancelled body.
func TestPerAttemptTimeoutFiringAsHeadersArrive(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{}`) })
	var timers *manualTimers
	var closed atomic.Int64
	base := srv.Client().Transport
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(req)
		timers.fire()
		if resp != nil {
			resp.Body = closeCounter{resp.Body, &closed}
		}
		return resp, err
	})
	c := newTestClient(t, Komga, srv.URL, WithHTTPClient(&http.Client{Transport: rt}), WithMaxRetries(0))
	timers = withManualTimers(c)
	err := c.Do(t.Context(), "GET", "x", nil, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, int64(1), closed.Load(), "the late answer's body is closed")
}

type closeCounter struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c closeCounter) Close() error { c.n.Add(1); return c.ReadCloser.Close() }

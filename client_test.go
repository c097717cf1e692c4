package authclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fast makes retries take milliseconds.
var fast = WithRetryWait(time.Millisecond, 2*time.Millisecond)

func newTestClient(t *testing.T, server Server, baseURL string, opts ...Option) *Client {
	t.Helper()
	c, err := New(server, baseURL, append([]Option{fast}, opts...)...)
	require.NoError(t, err)
	return c
}

// countingServer is an httptest server that counts requests and new
// connections.
type countingServer struct {
	*httptest.Server
	requests atomic.Int64
	conns    atomic.Int64
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	cs := &countingServer{}
	cs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.requests.Add(1)
		h(w, r)
	}))
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

// failThen answers the first n requests with status (and Retry-After ra, if
// set), then 200 {"ok":true}.
func failThen(n int64, status int, ra string) http.HandlerFunc {
	var seen atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			if ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"message":"try later"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	type result struct{ OK bool }
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		method   string
		opts     []CallOption
		attempts int64
		wantErr  error // category, or nil for success
		retryIn  time.Duration
	}{
		{"GET retried on 503", failThen(2, 503, ""), "GET", nil, 3, nil, 0},
		{"GET retried on 502 and 504", failThen(1, 502, ""), "GET", nil, 2, nil, 0},
		{"GET retried on 429 with Retry-After 0", failThen(2, 429, "0"), "GET", nil, 3, nil, 0},
		{"retries run out: last answer kept", failThen(9, 429, "0"), "GET", nil, 3, ErrRateLimited, 0},
		{"Retry-After over the cap: no retry, wait reported", failThen(9, 429, "3600"), "GET", nil, 1, ErrRateLimited, time.Hour},
		{"503 with Retry-After over the cap: maintenance, wait reported", failThen(9, 503, "3600"), "GET", nil, 1, ErrUnavailable, time.Hour},
		{"POST not retried", failThen(9, 503, ""), "POST", nil, 1, nil, 0},
		{"POST marked idempotent is retried", failThen(1, 503, ""), "POST", []CallOption{Idempotent()}, 2, nil, 0},
		{"NoRetry", failThen(9, 503, ""), "GET", []CallOption{NoRetry()}, 1, nil, 0},
		{"500 not retried", failThen(9, 500, ""), "GET", nil, 1, nil, 0},
		{"401 not retried", failThen(9, 401, ""), "GET", nil, 1, ErrUnauthorized, 0},
		{"DELETE retried", failThen(1, 504, ""), "DELETE", nil, 2, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newCountingServer(t, tt.handler)
			c := newTestClient(t, Komga, srv.URL)
			var out result
			err := c.Do(t.Context(), tt.method, "api/x", nil, &out, tt.opts...)
			assert.Equal(t, tt.attempts, srv.requests.Load(), "attempts")
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "try later", e.Message, "the last answer's message reaches the error")
				assert.Equal(t, tt.retryIn, e.RetryAfter)
			case tt.attempts > 1 || tt.method == "GET" && srv.requests.Load() == 1 && err == nil:
				require.NoError(t, err)
				assert.True(t, out.OK)
			default:
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.GreaterOrEqual(t, e.StatusCode, 500)
			}
		})
	}
}

// A Retry-After wait the context deadline cannot fit is not awaited: the
// answer is returned at once. Had the client waited, the call would end
// with the context's deadline instead of the 503 (no timing measured).
func TestRetryAfterBeyondDeadlineIsNotAwaited(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, failThen(9, 503, "25")) // under the 30 s cap
	c := newTestClient(t, Komga, srv.URL)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	err := c.Do(ctx, "GET", "x", nil, nil)
	var e *Error
	require.ErrorAs(t, err, &e, "the 503 itself, not the deadline")
	assert.Equal(t, 503, e.StatusCode)
	assert.Equal(t, 25*time.Second, e.RetryAfter)
	assert.Equal(t, int64(1), srv.requests.Load())
	assert.NoError(t, ctx.Err(), "returned before the deadline")
}

func TestRetryOnConnectionResetAndRefused(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			require.NoError(t, err)
			_ = conn.(*net.TCPConn).SetLinger(0)
			_ = conn.Close()
			return
		}
		_, _ = io.WriteString(w, `{}`)
	})
	c := newTestClient(t, Komga, srv.URL)
	require.NoError(t, c.Do(t.Context(), "GET", "x", nil, nil))
	assert.Equal(t, int64(2), n.Load())

	// A port nobody listens on.
	c = newTestClient(t, Komga, "http://"+refusingAddr(t)+"/komga", WithMaxRetries(1))
	err := c.Do(t.Context(), "GET", "api/x?token=SECRET", nil, nil)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	var ne net.Error
	assert.ErrorAs(t, err, &ne)
	assert.Contains(t, err.Error(), "is the server running")
	assert.Contains(t, err.Error(), "token=REDACTED")
	assert.NotContains(t, err.Error(), "SECRET")
}

func TestRetryWithHTTPMock(t *testing.T) {
	t.Parallel()
	mock := httpmock.NewMockTransport()
	mock.RegisterNoResponder(httpmock.NewNotFoundResponder(t.Fatal))
	mock.RegisterResponder("GET", "http://komga.test/api/x", httpmock.ConnectionFailure)
	mock.RegisterResponder("POST", "http://komga.test/api/x", httpmock.ConnectionFailure)
	c := newTestClient(t, Komga, "http://komga.test", WithHTTPClient(&http.Client{Transport: mock}))

	err := c.Do(t.Context(), "GET", "api/x", nil, nil)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 3, mock.GetCallCountInfo()["GET http://komga.test/api/x"], "GET retried twice on a connection failure")

	require.Error(t, c.Do(t.Context(), "POST", "api/x", map[string]int{"a": 1}, nil))
	assert.Equal(t, 1, mock.GetCallCountInfo()["POST http://komga.test/api/x"], "POST never retried")
}

func TestRequestBodyReplayedOnRetry(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	var n atomic.Int64
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if n.Add(1) == 1 {
			w.WriteHeader(503)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	})
	c := newTestClient(t, Komga, srv.URL)
	require.NoError(t, c.Do(t.Context(), "PUT", "x", map[string]string{"a": "b"}, nil))
	assert.Equal(t, []string{`{"a":"b"}`, `{"a":"b"}`}, bodies)
}

// An attempt whose headers do not come within the per-attempt timeout is
// abandoned and retried. The timer is the test's: it fires when the hung
// attempt has reached the server, never because the machine is slow.
func TestPerAttemptTimeout(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	var timers *manualTimers
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			if fired := timers.fire(); fired != 1 {
				t.Errorf("%d attempt timers were running, want 1", fired)
				w.WriteHeader(http.StatusTeapot)
				return
			}
			<-r.Context().Done() // hang until the client gives up on this attempt
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	c := newTestClient(t, Komga, srv.URL, WithTimeout(time.Hour))
	timers = withManualTimers(c)
	var out struct{ OK bool }
	require.NoError(t, c.Do(t.Context(), "GET", "x", nil, &out))
	assert.True(t, out.OK)
	assert.Equal(t, int64(2), n.Load(), "the hung attempt timed out and was retried")

	// Without retries the timeout is reported as a deadline.
	n.Store(0)
	c = newTestClient(t, Komga, srv.URL, WithTimeout(time.Hour), WithMaxRetries(0))
	timers = withManualTimers(c)
	err := c.Do(t.Context(), "GET", "x", nil, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Timeout())
	assert.Equal(t, int64(1), n.Load())
}

// The per-attempt timeout bounds the wait for headers only: once they
// came, its time passing (the test fires every pending timer) does not cut
// off a body that is still arriving. The body is held back on a channel
// until then.
func TestPerAttemptTimeoutDoesNotCutBody(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":"`)
		w.(http.Flusher).Flush()
		<-release // the rest of the body comes after the timeout has passed
		_, _ = io.WriteString(w, strings.Repeat("x", 1<<20)+`"}`)
	})
	c := newTestClient(t, Komga, srv.URL, WithTimeout(time.Hour), WithMaxRetries(0))
	timers := withManualTimers(c)
	var out struct{ Data string }
	errc := make(chan error, 1)
	go func() { errc <- c.Do(t.Context(), "GET", "x", nil, &out) }()
	select {
	case <-timers.stopped: // the headers came and the timer was stopped
	case err := <-errc:
		t.Fatalf("Do returned before the body was released: %v", err)
	}
	assert.Zero(t, timers.fire(), "no timer left to cut the body off")
	close(release)
	require.NoError(t, <-errc)
	assert.Len(t, out.Data, 1<<20)
}

// The context bounds all attempts: its deadline passing (made to pass by
// the test once the request has reached the server) ends the call with
// context.DeadlineExceeded and no retry.
func TestContextBoundsAllAttempts(t *testing.T) {
	t.Parallel()
	ctx := newDeadlineCtx(t.Context())
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		ctx.expire()
		<-r.Context().Done()
	})
	c := newTestClient(t, Komga, srv.URL, WithTimeout(0))
	err := c.Do(ctx, "GET", "x", nil, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, int64(1), srv.requests.Load())

	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = c.Do(cctx, "GET", "x", nil, nil)
	assert.ErrorIs(t, err, context.Canceled)
	var ce *ConfigError
	//nolint:staticcheck // a nil context is a programming error that must not panic
	assert.ErrorAs(t, c.Do(nil, "GET", "x", nil, nil), &ce)
}

func TestConnectionPoolSurvivesFailures(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/always-busy" || n.Add(1)%2 == 1 {
			w.WriteHeader(503)
			_, _ = io.WriteString(w, "busy")
			return
		}
		w.Header().Set("Transfer-Encoding", "chunked") // decoders stop before the last chunk
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	c := newTestClient(t, Komga, srv.URL, WithMaxRetries(0))
	for range 20 {
		_ = c.Do(t.Context(), "GET", "x", nil, &struct{ OK bool }{})
	}
	assert.Equal(t, int64(20), srv.requests.Load())
	assert.Equal(t, int64(1), srv.conns.Load(), "one connection reused for failures and chunked answers")

	// Retries running out must not flush the pool either.
	c = newTestClient(t, Komga, srv.URL, WithMaxRetries(2))
	srv.conns.Store(0)
	srv.requests.Store(0)
	for range 5 {
		err := c.Do(t.Context(), "GET", "always-busy", nil, nil)
		require.ErrorIs(t, err, ErrUnavailable, "every attempt failed")
	}
	assert.Equal(t, int64(15), srv.requests.Load(), "3 attempts per call")
	assert.Equal(t, int64(1), srv.conns.Load())
}

// echoAuth records the credential headers it receives.
type echoAuth struct {
	mu   sync.Mutex
	seen []string
}

func (e *echoAuth) handler(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.seen = append(e.seen, r.Header.Get("Authorization")+"|"+r.Header.Get("X-API-Key")+"|"+r.Header.Get("Cookie"))
	e.mu.Unlock()
	_, _ = io.WriteString(w, `{}`)
}

func (e *echoAuth) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.seen)
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	other := &echoAuth{}
	otherSrv := newCountingServer(t, other.handler)
	// Same host name, other port: another service on the same NAS.
	otherPort := strings.Replace(otherSrv.URL, "127.0.0.1", "localhost", 1)

	var mainSrv *countingServer
	mainSrv = newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/komga/api/slash":
			http.Redirect(w, r, "/komga/api/slash/", http.StatusFound)
		case "/komga/api/slash/":
			assert.Equal(t, "KEY-123456", r.Header.Get("X-API-Key"), "same-origin hops keep credentials")
			_, _ = io.WriteString(w, `{"ok":true}`)
		case "/komga/api/other-host":
			http.Redirect(w, r, otherSrv.URL+"/steal", http.StatusTemporaryRedirect)
		case "/komga/api/other-name":
			http.Redirect(w, r, otherPort+"/steal", http.StatusFound)
		case "/komga/api/login":
			http.Redirect(w, r, "/komga/login", http.StatusFound)
		case "/komga/api/loop":
			http.Redirect(w, r, "/komga/api/loop", http.StatusFound)
		case "/komga/login":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>sign in</html>")
		}
	})
	c := newTestClient(t, Komga, mainSrv.URL+"/komga", WithAPIKey("KEY-123456"))

	var out struct{ OK bool }
	require.NoError(t, c.Do(t.Context(), "GET", "api/slash", nil, &out))
	assert.True(t, out.OK)

	for _, p := range []string{"api/other-host", "api/other-name"} {
		err := c.Do(t.Context(), "GET", p, nil, nil)
		require.ErrorIs(t, err, ErrRedirect, p)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Contains(t, e.Location, "/steal")
	}
	assert.Zero(t, other.count(), "no request, let alone credentials, may reach another origin")

	err := c.Do(t.Context(), "GET", "api/login", nil, nil)
	assert.ErrorIs(t, err, ErrUnauthorized, "a redirect to the sign-in page means the credentials were not accepted")

	err = c.Do(t.Context(), "GET", "api/loop", nil, nil)
	assert.ErrorIs(t, err, ErrRedirect)
}

// Redirects that would send the credentials where they do not belong, or
// turn a DELETE into a GET of some page whose 200 looks like success, are
// not followed.
func TestRedirectsNotFollowed(t *testing.T) {
	t.Parallel()
	var gets sync.Map // paths the server saw as GET
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Store(r.URL.Path, r.Header.Get("X-API-Key"))
		}
		switch r.URL.Path {
		case "/komga/api/thing":
			http.Redirect(w, r, "/komga/api/moved", http.StatusFound)
		case "/komga/api/out":
			http.Redirect(w, r, "/other-app/data", http.StatusFound)
		case "/komga/api/root-login":
			http.Redirect(w, r, "/login?next=x", http.StatusSeeOther) // a proxy stripped /komga
		case "/komga/api/page":
			http.Redirect(w, r, "/komga/sso/auth", http.StatusFound)
		case "/komga/sso/auth", "/other-app/data", "/login", "/komga/api/moved":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>sign in</html>")
		}
	})
	c := newTestClient(t, Komga, srv.URL+"/komga/", WithAPIKey("KEY-123456"))
	seen := func(path string) bool { _, ok := gets.Load(path); return ok }

	for _, m := range []string{"DELETE", "POST", "PUT", "PATCH"} {
		err := c.Do(t.Context(), m, "api/thing", nil, nil)
		require.ErrorIs(t, err, ErrRedirect, m)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, http.StatusFound, e.StatusCode)
		assert.Contains(t, e.Hint, "redirect of a "+m+" not followed")
	}
	assert.False(t, seen("/komga/api/moved"), "a redirected DELETE or POST never becomes a GET")

	err := c.Do(t.Context(), "GET", "api/out", nil, nil)
	require.ErrorIs(t, err, ErrRedirect)
	assert.Contains(t, err.Error(), "out of the base URL's path")
	assert.False(t, seen("/other-app/data"), "another application on the same origin sees nothing")

	err = c.Do(t.Context(), "GET", "api/root-login", nil, nil)
	require.ErrorIs(t, err, ErrUnauthorized, "the sign-in page at the root is still the sign-in page")
	assert.False(t, seen("/login"))

	// A followed GET that ends on an HTML page is a sign-in page, even
	// when the caller expected no JSON.
	err = c.Do(t.Context(), "GET", "api/page", nil, nil)
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.True(t, seen("/komga/sso/auth"))
}

// A redirect whose Location does not parse: net/http's error quotes the
// header, which may carry the original URL and its token. It is replaced,
// and not retried.
func TestRedirectWithBadLocation(t *testing.T) {
	t.Parallel()
	const token = "kk-SUPERSECRET-token-0123456789"
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/log%zzin?next="+url.QueryEscape("http://"+r.Host+r.URL.String()))
		w.WriteHeader(http.StatusSeeOther)
	})
	c := newTestClient(t, Khoj, srv.URL, WithAPIKey(token))
	err := c.Do(t.Context(), "GET", "auth/token", nil, nil, Query(url.Values{"token": {token}}))
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, errBadLocation)
	assert.NotContains(t, fmt.Sprintf("%v %+v", err, err), token)
	assert.Equal(t, int64(1), srv.requests.Load(), "not retried")
}

// A key in a query parameter of the caller's naming is masked wherever the
// client prints the URL: errors and log lines.
func TestQueryKeyWithCustomNameIsMasked(t *testing.T) {
	t.Parallel()
	const key = "custom-param-key-0123456789"
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestClient(t, ComfyUI, srv.URL, WithAuthenticator(APIKeyIn(InQuery("auth"), key)), WithLogger(logger), WithMaxRetries(0))
	err := c.Do(t.Context(), "GET", "system_stats", nil, nil)
	require.Error(t, err)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.URL, "auth=REDACTED")
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", err, err, err), key)
	assert.Contains(t, logs.String(), "auth=REDACTED")
	assert.NotContains(t, logs.String(), key)
}

func TestRedirectHTTPSToHTTPRefused(t *testing.T) {
	t.Parallel()
	plain := &echoAuth{}
	plainSrv := newCountingServer(t, plain.handler)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plainSrv.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	defer tlsSrv.Close()
	c := newTestClient(t, Komga, tlsSrv.URL, WithHTTPClient(tlsSrv.Client()), WithAPIKey("KEY-abcdef"))
	err := c.Do(t.Context(), "GET", "api/me", nil, nil)
	require.ErrorIs(t, err, ErrRedirect)
	assert.Contains(t, err.Error(), "https to http")
	assert.Zero(t, plain.count())
}

func TestOriginGuardInTransport(t *testing.T) {
	t.Parallel()
	tr := &transport{base: http.DefaultTransport, origin: origin{scheme: "http", host: "127.0.0.1", port: "1"}}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:2/x", strings.NewReader("body"))
	_, err := tr.RoundTrip(req)
	assert.ErrorIs(t, err, errOtherOrigin)
	assert.False(t, retryableTransportError(err))
}

func TestHTMLWhereJSONExpected(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, "<!doctype html><title>Login</title>")
		case "/garbage":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":`)
		case "/empty":
			w.WriteHeader(200)
		}
	})
	c := newTestClient(t, Komga, srv.URL)
	var out map[string]any
	assert.ErrorIs(t, c.Do(t.Context(), "GET", "html", nil, &out), ErrUnauthorized)
	assert.NoError(t, c.Do(t.Context(), "GET", "html", nil, nil), "without an expected body, HTML is fine")
	assert.ErrorIs(t, c.Do(t.Context(), "GET", "garbage", nil, &out), ErrUnexpectedServer)
	assert.ErrorIs(t, c.Do(t.Context(), "GET", "empty", nil, &out), ErrUnexpectedServer)
}

func TestErrorBodyCapped(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, strings.Repeat("e", 200<<10))
	})
	c := newTestClient(t, Komga, srv.URL)
	var e *Error
	require.ErrorAs(t, c.Do(t.Context(), "GET", "x", nil, nil), &e)
	assert.Len(t, e.Body, maxErrorBody)
	assert.LessOrEqual(t, len(e.Error()), 600)
}

func TestPaths(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.RequestURI())
		_, _ = io.WriteString(w, `{}`)
	})
	c := newTestClient(t, Komga, srv.URL+"/komga/")
	for _, tt := range []struct{ in, want string }{
		{"/api/v1/books", "/komga/api/v1/books"},
		{"api/v1/books?page=0&size=2", "/komga/api/v1/books?page=0&size=2"},
		{"api/v1/books/a%20b", "/komga/api/v1/books/a%20b"},
	} {
		require.NoError(t, c.Do(t.Context(), "GET", tt.in, nil, nil))
		assert.Equal(t, tt.want, got.Load(), tt.in)
	}
	for _, bad := range []string{"../admin", "api/../../x", "api/%2e%2e/x", "api/..%2fx", "http://evil.example/x", "//evil.example/x", "api/x\r\nHost: evil", `api\..\x`, "api/%zz"} {
		err := c.Do(t.Context(), "GET", bad, nil, nil)
		assert.ErrorIs(t, err, ErrInvalidPath, bad)
	}
	_, err := joinPath("api/v2/users/me/api-keys", "../../admin")
	assert.ErrorIs(t, err, ErrInvalidPath)
	for _, bad := range []string{"", ".", "..", "a/b", "a\\b", "a\nb"} {
		_, err := joinPath("x", bad)
		assert.ErrorIs(t, err, ErrInvalidPath, "%q", bad)
	}
	p, err := joinPath("x", "a b?c#d")
	require.NoError(t, err)
	assert.Equal(t, "x/a%20b%3Fc%23d", p)
}

func TestQueryOption(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.RawQuery)
		_, _ = io.WriteString(w, `{}`)
	})
	c := newTestClient(t, Komga, srv.URL)
	type listOptions struct {
		Page   int      `url:"page"`
		Size   int      `url:"size,omitempty"`
		Sort   []string `url:"sort,omitempty"`
		Search *string  `url:"search,omitempty"`
	}
	require.NoError(t, c.Do(t.Context(), "GET", "api/v1/series", nil, nil,
		Query(listOptions{Page: 0, Size: 20, Sort: []string{"name,asc", "id,desc"}})))
	assert.Equal(t, "page=0&size=20&sort=name%2Casc&sort=id%2Cdesc", got.Load())
	err := c.Do(t.Context(), "GET", "x", nil, nil, Query(map[string]string{"a": "b"}))
	assert.Error(t, err, "go-querystring takes structs, not maps")
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		opts    []Option
		setting string
	}{
		{"empty url", "", nil, "baseURL"},
		{"no scheme", "nas:25600", nil, "baseURL"},
		{"query in url", "http://h/?a=1", nil, "baseURL"},
		{"userinfo", "http://u:p@h/", nil, "baseURL"},
		{"require tls", "http://nas.lan/", []Option{WithRequireTLS()}, "baseURL"},
		{"header crlf", "http://h", []Option{WithHeader("X-Proxy", "a\r\nInjected: yes")}, "WithHeader"},
		{"header name", "http://h", []Option{WithHeader("Bad Name", "v")}, "WithHeader"},
		{"user agent ctl", "http://h", []Option{WithUserAgent("ua\x00")}, "WithUserAgent"},
		{"key lf", "http://h", []Option{WithAPIKey("abc\ndef")}, "APIKey"},
		{"key in bad header", "http://h", []Option{WithAuthenticator(APIKeyIn(InHeader("X Key"), "k"))}, "APIKey"},
		{"empty key", "http://h", []Option{WithAPIKey("")}, "WithAPIKey"},
		{"basic colon", "http://h", []Option{WithAuthenticator(BasicAuth("a:b", "p"))}, "BasicAuth"},
		{"basic ctl", "http://h", []Option{WithAuthenticator(BasicAuth("a", "p\r\n"))}, "BasicAuth"},
		{"cookie semicolon", "http://h", []Option{WithAuthenticator(SessionCookie(Komga, "a;b"))}, "SessionCookie"},
		{"nil authenticator", "http://h", []Option{WithAuthenticator(nil)}, "WithAuthenticator"},
		{"nil http client", "http://h", []Option{WithHTTPClient(nil)}, "WithHTTPClient"},
		{"negative timeout", "http://h", []Option{WithTimeout(-1)}, "WithTimeout"},
		{"negative retries", "http://h", []Option{WithMaxRetries(-1)}, "WithMaxRetries"},
		{"retry wait order", "http://h", []Option{WithRetryWait(2, 1)}, "WithRetryWait"},
		{"nil logger", "http://h", []Option{WithLogger(nil)}, "WithLogger"},
		{"empty login", "http://h", []Option{WithLogin("", "pw")}, "WithLogin"},
		{"login colon (Komga signs in with Basic)", "http://h", []Option{WithLogin("a:b", "pw")}, "WithLogin"},
		{"nil authenticator func", "http://h", []Option{WithAuthenticator(AuthenticatorFunc(nil))}, "WithAuthenticator"},
		{"nil authenticator pointer", "http://h", []Option{WithAuthenticator((*rotatingToken)(nil))}, "WithAuthenticator"},
	}
	for _, tt := range tests {
		_, err := New(Komga, tt.url, tt.opts...)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, tt.name)
		assert.Equal(t, tt.setting, ce.Setting, tt.name)
	}
	for _, ok := range []string{"http://127.0.0.1:25600", "http://localhost/", "http://[::1]:8080/x", "https://nas.lan/"} {
		_, err := New(Komga, ok, WithRequireTLS())
		assert.NoError(t, err, ok)
	}
	_, err := New("plex", "http://h")
	assert.Error(t, err)
	err = (&Client{spec: komgaSpec}).Do(t.Context(), "GET", "x", nil, nil, Header("X", "a\nb"))
	var ce *ConfigError
	assert.ErrorAs(t, err, &ce)
}

func TestLoggerRedacts(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, failThen(1, 503, ""))
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestClient(t, Komga, srv.URL, WithLogger(logger), WithAPIKey("LOGSECRET-1"))
	require.NoError(t, c.Do(t.Context(), "GET", "x?api_key=LOGSECRET-2&page=1", nil, nil))
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Contains(t, out, "api_key=REDACTED&page=1")
	assert.Contains(t, out, "attempt=2")
	assert.Contains(t, out, "status=503")
	assert.NotContains(t, out, "LOGSECRET")
}

// newTestLogger logs text to b, guarded by mu.
func newTestLogger(b *strings.Builder, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return b.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestNoCookieJar(t *testing.T) {
	t.Parallel()
	var cookies []string
	var mu sync.Mutex
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cookies = append(cookies, r.Header.Get("Cookie"))
		mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "KOMGA-SESSION", Value: "c2Vzc2lvbg==", Path: "/"})
		_, _ = io.WriteString(w, `{}`)
	})
	jar := &recordingJar{}
	hc := &http.Client{Transport: testTransport, Jar: jar, Timeout: 5 * time.Second}
	c := newTestClient(t, Komga, srv.URL, WithAPIKey("KEY-0123456789"), WithHTTPClient(hc))
	for range 3 {
		require.NoError(t, c.Do(t.Context(), "GET", "x", nil, nil))
	}
	assert.Equal(t, []string{"", "", ""}, cookies, "API-key mode never sends cookies")
	assert.Zero(t, jar.calls.Load(), "the caller's jar is not used")
	assert.Equal(t, 5*time.Second, hc.Timeout, "the caller's client is not modified")
	assert.Nil(t, hc.CheckRedirect)
	assert.Equal(t, 5*time.Second, c.hc.Transport.(*transport).timeout, "its Timeout becomes the per-attempt timeout")
}

type recordingJar struct{ calls atomic.Int64 }

func (j *recordingJar) SetCookies(*url.URL, []*http.Cookie) { j.calls.Add(1) }
func (j *recordingJar) Cookies(*url.URL) []*http.Cookie     { j.calls.Add(1); return nil }

func TestDefaultTransportKeepsIdleConnections(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, Komga, "http://h")
	tr := c.hc.Transport.(*transport).base.(*http.Transport)
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, 16)
	assert.Nil(t, c.hc.Jar)
	assert.Zero(t, c.hc.Timeout, "http.Client.Timeout would cut off bodies")
	c.CloseIdleConnections()
}

func TestRequestBodyKinds(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(r.Header.Get("Content-Type") + " " + string(b))
		_, _ = io.WriteString(w, `{}`)
	})
	c := newTestClient(t, Komga, srv.URL)
	require.NoError(t, c.Do(t.Context(), "PUT", "x", []byte(`{"raw":1}`), nil))
	assert.Equal(t, `application/json {"raw":1}`, got.Load())
	require.NoError(t, c.Do(t.Context(), "PUT", "x", struct {
		A int `json:"a"`
	}{2}, nil))
	assert.Equal(t, `application/json {"a":2}`, got.Load())
	// An io.Reader is streamed as it is, never encoded as JSON ({}).
	require.NoError(t, c.Do(t.Context(), "PUT", "x", strings.NewReader(`{"r":3}`), nil))
	assert.Equal(t, `application/octet-stream {"r":3}`, got.Load())
	var ce *ConfigError
	err := c.Do(t.Context(), "PUT", "x", func() {}, nil)
	assert.ErrorAs(t, err, &ce, "unencodable bodies fail before sending")
	err = c.Do(t.Context(), "GET", "x", nil, nil, Query(42))
	assert.ErrorAs(t, err, &ce, "a query go-querystring cannot encode (not a struct)")
}

func TestSecretSetIsBounded(t *testing.T) {
	t.Parallel()
	var s secretSet
	for i := range 1000 {
		s.add(fmt.Sprintf("token-%04d", i))
	}
	assert.Len(t, s.recent, maxSecrets)
	assert.Equal(t, "REDACTED", s.scrub("token-0999"))
	assert.Equal(t, "token-0001", s.scrub("token-0001"), "long-expired tokens are forgotten")
}

// The credentials the client was given stay masked however many tokens
// pass through it.
func TestSecretSetKeepsConfiguredCredentials(t *testing.T) {
	t.Parallel()
	var s secretSet
	s.keep("the-password", "the-api-key")
	for i := range 1000 {
		s.add(fmt.Sprintf("token-%04d", i))
		s.add("the-password") // re-seen: still one entry, still kept
	}
	assert.Equal(t, "REDACTED REDACTED", s.scrub("the-password the-api-key"))
	assert.Len(t, s.kept, 2)
	assert.Len(t, s.recent, maxSecrets)

	// Through a client: a key, then many created keys.
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "echo: "+r.Header.Get("X-API-Key"), http.StatusInternalServerError)
	})
	c := newTestClient(t, Komga, srv.URL, WithAPIKey("configured-key-1234"), WithMaxRetries(0))
	for i := range 100 {
		c.secrets.add(fmt.Sprintf("created-key-%04d", i))
	}
	err := c.Do(t.Context(), "GET", "x", nil, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "configured-key-1234")
	assert.Contains(t, err.Error(), "echo: REDACTED")
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, Komga, "http://h")
	for attempt := range 70 {
		d := c.backoff(100*time.Millisecond, 5*time.Second, attempt, nil)
		assert.GreaterOrEqual(t, d, 50*time.Millisecond)
		assert.LessOrEqual(t, d, 5*time.Second)
	}
	// Exponential: attempt n waits in [min·2ⁿ/2, min·2ⁿ), until the cap.
	for attempt, base := range []time.Duration{100, 200, 400, 800, 1600, 3200, 5000} {
		base *= time.Millisecond
		seen := map[time.Duration]bool{}
		for range 50 {
			d := c.backoff(100*time.Millisecond, 5*time.Second, attempt, nil)
			assert.GreaterOrEqual(t, d, base/2, "attempt %d", attempt)
			assert.Less(t, d, base, "attempt %d", attempt)
			seen[d] = true
		}
		assert.Greater(t, len(seen), 1, "attempt %d: jittered, not a fixed wait", attempt)
	}
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"7"}}}
	assert.Equal(t, 7*time.Second, c.backoff(time.Millisecond, time.Second, 0, resp))
	assert.Equal(t, time.Duration(0), c.backoff(0, 0, 3, nil))
}

// Without WithLogger nothing is logged anywhere: not through slog's default
// logger, not through the log package (go-retryablehttp's default logger
// writes there), not even for retried failures. Not parallel: it swaps
// process-wide loggers.
func TestNoLoggingByDefault(t *testing.T) {
	var logBuf, slogBuf bytes.Buffer
	oldOut, oldFlags, oldSlog := log.Writer(), log.Flags(), slog.Default()
	log.SetOutput(&logBuf)
	slog.SetDefault(slog.New(slog.NewTextHandler(&slogBuf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { log.SetOutput(oldOut); log.SetFlags(oldFlags); slog.SetDefault(oldSlog) })

	srv := newCountingServer(t, failThen(9, 503, "0"))
	c := newTestClient(t, Komga, srv.URL, WithAPIKey("KEY-nolog-123"))
	require.ErrorIs(t, c.Do(t.Context(), "GET", "x", nil, nil), ErrUnavailable)
	assert.Equal(t, int64(3), srv.requests.Load(), "retried")
	assert.Nil(t, c.rc.Logger)
	assert.Empty(t, logBuf.String())
	assert.Empty(t, slogBuf.String())
}

// rotatingToken is a caller's own Authenticator that can renew its token.
type rotatingToken struct {
	mu      sync.Mutex
	token   string
	renewed int
	fail    error
}

func (a *rotatingToken) Authenticate(r *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	r.Header.Set("Authorization", "Bearer "+a.token)
	return nil
}

func (a *rotatingToken) Reauthenticate(_ context.Context, rejected *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	if rejected.Header.Get("Authorization") == "Bearer "+a.token { // not renewed by another goroutine yet
		a.token = "fresh-token-0001"
		a.renewed++
	}
	return nil
}

func TestCustomReauthenticator(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer fresh-token-0001" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	a := &rotatingToken{token: "stale-token-0001"}
	c := newTestClient(t, Audiobookshelf, srv.URL, WithAuthenticator(a))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			var out struct{ OK bool }
			assert.NoError(t, c.Do(t.Context(), "GET", "api/me", nil, &out))
			assert.True(t, out.OK)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, a.renewed, "renewed once, replayed by all")

	// A renewal that fails: its error is returned, and the call is not
	// replayed.
	b := &rotatingToken{token: "stale-token-0002", fail: errors.New("token service said no")}
	c = newTestClient(t, Audiobookshelf, srv.URL, WithAuthenticator(b))
	before := srv.requests.Load()
	err := c.Do(t.Context(), "GET", "api/me", nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "token service said no")
	assert.Equal(t, before+1, srv.requests.Load())
}

// A header written whole where its name was wanted ("Authorization: Bearer
// …") is refused without quoting the value.
func TestBadHeaderNameNotQuoted(t *testing.T) {
	t.Parallel()
	_, err := New(Komga, "http://h", WithHeader("Authorization: Bearer kk-secret-in-name", "x"))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "WithHeader", ce.Setting)
	assert.Contains(t, err.Error(), `"Authorization"`)
	assert.Contains(t, err.Error(), "byte 14")
	assert.NotContains(t, err.Error(), "kk-secret")
}

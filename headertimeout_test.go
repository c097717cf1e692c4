package authclient_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
)

// headerTimeout is the per-attempt timeout of these tests. It must pass
// (the server holds its answer on a channel until then), so the tests only
// wait for it; nothing races the scheduler.
const headerTimeout = 400 * time.Millisecond

// timeoutTransports is the class of transports the per-attempt timeout is
// enforced on: the client's own (bounded by its ResponseHeaderTimeout,
// TLSHandshakeTimeout and dial timeout, no context timer), one it builds
// for an http.Client without a Transport (its own too), its own under a
// middleware and the caller's (a context timer: a middleware may not call
// the transport, and the client must not change the caller's).
//
// Under -race only the client's own transport runs, the mechanism these
// tests are for: every case waits for a real timeout, which -cpu 1
// serialises. The context timer of the other three is tested under -race
// by TestAttemptTimersReused and the transport tests' manual timers, and
// .ci/run runs all four here without -race.
func timeoutTransports() map[string]func() []authclient.Option {
	if raceEnabled {
		return map[string]func() []authclient.Option{"own": allTimeoutTransports()["own"]}
	}
	return allTimeoutTransports()
}

func allTimeoutTransports() map[string]func() []authclient.Option {
	return map[string]func() []authclient.Option{
		"own": func() []authclient.Option { return nil },
		"own for a client without transport": func() []authclient.Option {
			return []authclient.Option{authclient.WithHTTPClient(&http.Client{})}
		},
		"own with middleware": func() []authclient.Option {
			return []authclient.Option{authclient.WithMiddleware(func(next http.RoundTripper) http.RoundTripper { return next })}
		},
		"yours": func() []authclient.Option {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			return []authclient.Option{authclient.WithHTTPClient(&http.Client{Transport: tr})}
		},
	}
}

// timeoutServer serves, under /x/: fast (an answer at once), slow (no
// headers until release is closed or the client gives up), stream
// (headers and a first part, the rest once more is closed) and upload
// (reads 4 bytes, reports them on got, then the rest of the body,
// reporting on cut if the client gave up sending it). It
// counts new connections.
type timeoutServer struct {
	*httptest.Server
	conns   atomic.Int64
	slow    atomic.Int64
	release chan struct{}
	more    chan struct{}
	got     chan struct{}
	cut     chan struct{}
}

func newTimeoutServer(t *testing.T) *timeoutServer {
	t.Helper()
	s := &timeoutServer{release: make(chan struct{}), more: make(chan struct{}), got: make(chan struct{}, 1), cut: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/x/fast", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	mux.HandleFunc("/x/slow", func(w http.ResponseWriter, r *http.Request) {
		s.slow.Add(1)
		select {
		case <-s.release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/x/slowonce", func(w http.ResponseWriter, r *http.Request) {
		if s.slow.Add(1) == 1 {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	mux.HandleFunc("/x/stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		select {
		case <-s.more:
			_, _ = io.WriteString(w, "second")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/x/upload", func(w http.ResponseWriter, r *http.Request) {
		var head [4]byte
		if _, err := io.ReadFull(r.Body, head[:]); err != nil {
			return
		}
		s.got <- struct{}{}
		rest, err := io.ReadAll(r.Body)
		if err != nil {
			s.cut <- struct{}{}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"n":`+strconv.Itoa(len(head)+len(rest))+`}`)
	})
	s.Server = httptest.NewUnstartedServer(mux)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.release) })
	return s
}

func newTimeoutClient(t *testing.T, url string, extra []authclient.Option, opts ...authclient.Option) *authclient.Client {
	t.Helper()
	all := append([]authclient.Option{authclient.WithAPIKey("k-0123456789abcdef"),
		authclient.WithTimeout(headerTimeout), authclient.WithRetryWait(0, 0)}, extra...)
	c, err := authclient.New(authclient.Komga, url+"/x/", append(all, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// requireAttemptTimeout checks err is the per-attempt timeout, typed the
// same whichever transport enforced it.
func requireAttemptTimeout(t *testing.T, err error) {
	t.Helper()
	var te *authclient.TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Timeout())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "no response headers within the per-attempt timeout")
	assert.NotContains(t, err.Error(), "net/http")
	assert.NotContains(t, err.Error(), "k-0123456789abcdef")
}

// TestAttemptTimeoutSlowHeaders: on every transport, headers that do not
// come in time are the per-attempt timeout, typed as ever; an idempotent
// call is retried after it, and calls after it reuse their connection
// (the timed-out one is closed: one new dial, then none).
func TestAttemptTimeoutSlowHeaders(t *testing.T) {
	t.Parallel()
	for name, extra := range timeoutTransports() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newTimeoutServer(t)
			c := newTimeoutClient(t, s.URL, extra(), authclient.WithMaxRetries(0))
			requireAttemptTimeout(t, c.Do(t.Context(), "GET", "slow", nil, nil))
			assert.Equal(t, int64(1), s.slow.Load(), "no retry with WithMaxRetries(0)")

			c = newTimeoutClient(t, s.URL, extra())
			s.slow.Store(0)
			var out struct{ OK bool }
			require.NoError(t, c.Do(t.Context(), "GET", "slowonce", nil, &out))
			assert.True(t, out.OK)
			assert.Equal(t, int64(2), s.slow.Load(), "the attempt that timed out was retried")

			before := s.conns.Load()
			for range 20 {
				require.NoError(t, c.Do(t.Context(), "GET", "fast", nil, nil))
			}
			assert.Equal(t, before, s.conns.Load(), "calls after a timeout dial no new connection")
		})
	}
}

// TestAttemptTimeoutNeverCutsResponseBody: on every transport, a body
// still arriving after the timeout has passed (another call timing out on
// the same client shows it did) is read whole.
func TestAttemptTimeoutNeverCutsResponseBody(t *testing.T) {
	t.Parallel()
	for name, extra := range timeoutTransports() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newTimeoutServer(t)
			c := newTimeoutClient(t, s.URL, extra(), authclient.WithMaxRetries(0))
			resp, err := c.Stream(t.Context(), "GET", "stream", nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			requireAttemptTimeout(t, c.Do(t.Context(), "GET", "slow", nil, nil))
			close(s.more)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err, "the body was cut by the per-attempt timeout")
			assert.Equal(t, "first;second", string(body))
		})
	}
}

// gatedReader yields "head", then blocks until gate is closed, then yields
// "tail".
type gatedReader struct {
	gate  chan struct{}
	state int
}

func (g *gatedReader) Read(p []byte) (int, error) {
	switch g.state {
	case 0:
		g.state = 1
		return copy(p, "head"), nil
	case 1:
		<-g.gate
		g.state = 2
		return copy(p, "tail"), nil
	}
	return 0, io.EOF
}

// TestAttemptTimeoutUpload: on the client's own transports, a request body
// still being sent when the timeout has passed (another call timing out
// on the same client shows it did) is never cut: the timeout counts from
// when the request was written. On the caller's transport, and under a
// middleware, the context timer runs from the start of the attempt, so
// the stalled upload is the per-attempt timeout, as before (net/http
// returns it once the body's blocked Read returns).
func TestAttemptTimeoutUpload(t *testing.T) {
	t.Parallel()
	for name, extra := range timeoutTransports() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newTimeoutServer(t)
			c := newTimeoutClient(t, s.URL, extra(), authclient.WithMaxRetries(0))
			body := &gatedReader{gate: make(chan struct{})}
			errc := make(chan error, 1)
			var out struct{ N int }
			go func() { errc <- c.Do(t.Context(), "POST", "upload", body, &out) }()
			<-s.got // the upload has started, and stalls
			if name == "yours" || name == "own with middleware" {
				// The timer must fire: nothing else ends the upload. The
				// transport gives up the connection, and returns once
				// the body's Read returns.
				<-s.cut
				close(body.gate)
				requireAttemptTimeout(t, <-errc)
				return
			}
			requireAttemptTimeout(t, c.Do(t.Context(), "GET", "slow", nil, nil))
			close(body.gate)
			require.NoError(t, <-errc, "the upload was cut by the per-attempt timeout")
			assert.Equal(t, 8, out.N)
		})
	}
}

// TestAttemptTimeoutTLSHandshake: on every transport, a server that
// accepts the connection and never completes the TLS handshake is the
// per-attempt timeout (the own transport's TLSHandshakeTimeout, mapped).
func TestAttemptTimeoutTLSHandshake(t *testing.T) {
	t.Parallel()
	for name, extra := range timeoutTransports() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			done := make(chan struct{})
			defer close(done)
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					go func() { <-done; conn.Close() }()
				}
			}()
			c := newTimeoutClient(t, "https://"+ln.Addr().String(), extra(), authclient.WithMaxRetries(0))
			requireAttemptTimeout(t, c.Do(t.Context(), "GET", "fast", nil, nil))
		})
	}
}

// TestAttemptTimeoutLeavesYourTransport: the timeout is never set on the
// caller's transport.
func TestAttemptTimeoutLeavesYourTransport(t *testing.T) {
	t.Parallel()
	s := newTimeoutServer(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	hc := &http.Client{Transport: tr}
	c := newTimeoutClient(t, s.URL, []authclient.Option{authclient.WithHTTPClient(hc)})
	require.NoError(t, c.Do(t.Context(), "GET", "fast", nil, nil))
	assert.Zero(t, tr.ResponseHeaderTimeout)
	assert.Equal(t, http.DefaultTransport.(*http.Transport).TLSHandshakeTimeout, tr.TLSHandshakeTimeout)
	assert.Same(t, tr, hc.Transport)
	assert.Zero(t, hc.Timeout)
}

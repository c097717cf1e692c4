package authclient

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBoundByTransportDial: the client's own transport bounds connecting
// whatever dialer it has, the class of dialers a clone of
// http.DefaultTransport can carry (DialContext, DialTLSContext, none): a
// dial that never completes ends when the timeout has passed (it must: the
// dialer only waits for its context), and the error is the per-attempt
// timeout. With a timeout of 0 the transport is left as it was.
func TestBoundByTransportDial(t *testing.T) {
	t.Parallel()
	const d = 400 * time.Millisecond
	hang := func(n *atomic.Int64) func(ctx context.Context, _, _ string) (net.Conn, error) {
		return func(ctx context.Context, _, _ string) (net.Conn, error) {
			n.Add(1)
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
		}
	}
	for name, tc := range map[string]struct {
		url string
		set func(tr *http.Transport, n *atomic.Int64)
	}{
		"DialContext":    {"http://127.0.0.1:1/x", func(tr *http.Transport, n *atomic.Int64) { tr.DialContext = hang(n) }},
		"DialTLSContext": {"https://127.0.0.1:1/x", func(tr *http.Transport, n *atomic.Int64) { tr.DialTLSContext = hang(n) }},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int64
			tr := &http.Transport{}
			tc.set(tr, &n)
			require.True(t, boundByTransport(tr, d))
			assert.Equal(t, d, tr.ResponseHeaderTimeout)
			assert.Equal(t, d, tr.TLSHandshakeTimeout)
			req, err := http.NewRequestWithContext(t.Context(), "GET", tc.url, nil)
			require.NoError(t, err)
			resp, err := tr.RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
			}
			require.Error(t, err)
			assert.Equal(t, errAttemptTimeout, transportTimeout(req.Context(), err))
			assert.Equal(t, int64(1), n.Load())
		})
	}
	t.Run("no dialer", func(t *testing.T) {
		tr := &http.Transport{}
		require.True(t, boundByTransport(tr, d))
		assert.NotNil(t, tr.DialContext)
	})
	t.Run("no timeout", func(t *testing.T) {
		tr := &http.Transport{}
		assert.False(t, boundByTransport(tr, 0))
		assert.Nil(t, tr.DialContext)
		assert.Zero(t, tr.ResponseHeaderTimeout)
	})
}

// TestTransportTimeoutLeavesOtherErrors: only a timeout is the per-attempt
// timeout, and not one while the caller's context is done (the caller's).
func TestTransportTimeoutLeavesOtherErrors(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errNoResponse}
	assert.Same(t, refused, transportTimeout(t.Context(), refused))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: context.DeadlineExceeded}
	assert.Same(t, timeout, transportTimeout(ctx, timeout))
	assert.Equal(t, errAttemptTimeout, transportTimeout(t.Context(), timeout))
}

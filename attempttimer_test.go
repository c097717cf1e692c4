package authclient_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
)

// TestAttemptTimersReused: what bounds an attempt on a caller's transport
// is recycled once the attempt got its headers (a slot of the transport's
// attempt watch, or, beyond its slots, a pooled timer), so the class "a
// timer armed again for another attempt" must never reach an earlier one. A stream whose headers came in time (its
// timer stopped and recycled) keeps its body while later attempts time
// out with recycled timers; every timed-out attempt is a timeout error;
// quick calls in between succeed. The server holds answers on channels:
// the only time that passes is the timeout itself, which must expire.
func TestAttemptTimersReused(t *testing.T) {
	t.Parallel()
	const timeout = 400 * time.Millisecond
	release := make(chan struct{})
	more := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/x/fast", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	})
	mux.HandleFunc("/x/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/x/stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		select {
		case <-more:
			_, _ = io.WriteString(w, "second")
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)
	// A transport of the caller's: the per-attempt timeout is then the
	// context timer whose recycling this is about (the client's own
	// transport bounds the attempt itself: headertimeout_test.go). The
	// quick calls may retry, so a loaded machine that holds one past the
	// timeout does not fail them; the slow ones never retry.
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	c, err := authclient.New(authclient.Komga, srv.URL+"/x/", authclient.WithAPIKey("k-0123456789abcdef"),
		authclient.WithTimeout(timeout), authclient.WithHTTPClient(hc), authclient.WithMaxRetries(3),
		authclient.WithRetryWait(0, 0))
	require.NoError(t, err)
	defer c.CloseIdleConnections()

	for range 20 {
		require.NoError(t, c.Do(t.Context(), "GET", "fast", nil, nil))
	}
	resp, err := c.Stream(t.Context(), "GET", "stream", nil)
	require.NoError(t, err)
	defer resp.Body.Close()

	for range 2 {
		err := c.Do(t.Context(), "GET", "slow", nil, nil, authclient.NoRetry())
		var te *authclient.TransportError
		require.ErrorAs(t, err, &te)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		for range 5 {
			require.NoError(t, c.Do(t.Context(), "GET", "fast", nil, nil))
		}
	}
	close(more)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "the stream's body was cut by a timer armed for another attempt")
	assert.Equal(t, "first;second", strings.TrimSpace(string(body)))
}

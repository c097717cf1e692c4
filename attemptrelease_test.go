package authclient_test

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
)

// ctxRecorder is a middleware that records the context of the last
// request it saw: the attempt's.
type ctxRecorder struct {
	next http.RoundTripper
	last atomic.Pointer[context.Context]
}

func (r *ctxRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	r.last.Store(&ctx)
	return r.next.RoundTrip(req)
}

// TestAttemptContextReleased: an attempt's context is released once its
// answer's body is closed, whenever there is something to release: the
// class of callers' contexts that can be done (cancellable, with a
// deadline), for Do (which closes the body) and for Stream (the caller
// does). With a context that is never done (Background, values only) the
// attempt's context has no parent to be released from; the answer is the
// same, its body whole.
func TestAttemptContextReleased(t *testing.T) {
	t.Parallel()
	tr := httpmock.NewMockTransport()
	tr.RegisterResponder("GET", "http://komga.test/x/api/v1/series", httpmock.NewStringResponder(200, `{"content":[]}`))
	rec := &ctxRecorder{}
	c, err := authclient.New(authclient.Komga, "http://komga.test/x/", authclient.WithAPIKey("k-0123456789abcdef"),
		authclient.WithHTTPClient(&http.Client{Transport: tr}),
		authclient.WithMiddleware(func(next http.RoundTripper) http.RoundTripper { rec.next = next; return rec }))
	require.NoError(t, err)

	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	deadline, cancelD := context.WithTimeout(context.Background(), time.Hour)
	defer cancelD()
	type key struct{}
	for name, tc := range map[string]struct {
		ctx      context.Context
		released bool
	}{
		"cancellable": {cancellable, true},
		"deadline":    {deadline, true},
		"background":  {context.Background(), false},
		"values only": {context.WithValue(context.Background(), key{}, 1), false},
	} {
		var out map[string]any
		require.NoError(t, c.Do(tc.ctx, "GET", "api/v1/series", nil, &out), name)
		assert.Contains(t, out, "content", name)
		attempt := *rec.last.Load()
		if tc.released {
			assert.Error(t, attempt.Err(), "%s: Do returned and the attempt's context was not released", name)
		}
		assert.NoError(t, tc.ctx.Err(), "%s: the caller's context itself is untouched", name)

		resp, err := c.Stream(tc.ctx, "GET", "api/v1/series", nil)
		require.NoError(t, err, name)
		attempt = *rec.last.Load()
		assert.NoError(t, attempt.Err(), "%s: released before the stream's body was closed", name)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err, name)
		assert.JSONEq(t, `{"content":[]}`, string(body), name)
		require.NoError(t, resp.Body.Close())
		if tc.released {
			assert.Error(t, attempt.Err(), "%s: the stream's body was closed and the attempt's context was not released", name)
		}
	}
}

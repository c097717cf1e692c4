package authclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStreamPerAttemptTimeoutBoundsHeadersOnly: the per-attempt timer is
// stopped once the headers of a Stream arrive, so a body the server holds
// back for longer is still read whole; the timer is never left pending.
func TestStreamPerAttemptTimeoutBoundsHeadersOnly(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "head,")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "tail")
	}))
	defer srv.Close()
	c := newTestClient(t, Komga, srv.URL+"/base/", WithTimeout(DefaultTimeout))
	m := withManualTimers(c)
	resp, err := c.Stream(t.Context(), http.MethodGet, "events", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	<-m.stopped // the attempt's timer was stopped when the headers came
	assert.Zero(t, m.fire(), "no per-attempt timer left to cut the body off")
	close(release)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "head,tail", string(b))
}

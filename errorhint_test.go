package authclient

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ErrorHint's hint is server text made safe: the class is every credential
// the call carried (the client's key, a Secret, a per-call Header) in a
// hint, control characters, and length; a nil function is a ConfigError.
func TestErrorHintIsMaskedFoldedAndBounded(t *testing.T) {
	t.Parallel()
	const key = "client-key-abc123"
	const body = "body-secret-xyz789"
	const hdr = "header-secret-q1w2"
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error": "refused", "echo": %q}`, r.Header.Get("Authorization")+" "+r.Header.Get("X-Proxy")+" "+body)
	})
	c := newTestClient(t, Komga, srv.URL, WithAuthenticator(APIKeyIn(InHeader("Authorization"), key)))
	hint := func(b []byte) string { return "echo:\n" + string(b) + strings.Repeat("x", 1000) }
	err := c.Do(t.Context(), "POST", "x", nil, nil, ErrorHint(hint), Secret(body, ""), Header("X-Proxy", hdr))
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Hint, "echo:")
	assert.NotContains(t, e.Hint, "\n")
	assert.LessOrEqual(t, len(e.Hint), maxMessage+len("…"))
	for _, text := range []string{e.Hint, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", e)} {
		for _, s := range []string{key, body, hdr} {
			assert.NotContains(t, text, s)
		}
	}
	// An empty hint leaves the core's own alone.
	err = c.Do(t.Context(), "POST", "x", nil, nil, ErrorHint(func([]byte) string { return " \n " }))
	require.ErrorAs(t, err, &e)
	assert.Empty(t, e.Hint)

	before := srv.requests.Load()
	err = c.Do(t.Context(), "POST", "x", nil, nil, ErrorHint(nil))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ErrorHint", ce.Setting)
	assert.Equal(t, before, srv.requests.Load(), "nothing sent")
}

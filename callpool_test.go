package authclient_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
)

// TestDoCallsShareNothing: Do recycles its calls, so nothing one call was
// given (a ResponseMeta, an ErrorHint, an ErrorCode, an output) may reach
// the next. Each member of the class is set on one call and must be absent
// from the call that follows.
func TestDoCallsShareNothing(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga(authtest.WithPrefix("/x"))
	defer k.Close()
	k.AddUser("admin@example.org", "pw", "ADMIN")
	key := k.AddAPIKey("admin@example.org", "test")
	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key))
	require.NoError(t, err)
	defer c.CloseIdleConnections()

	const missing = "api/v1/no-such-endpoint"
	for range 20 {
		var m authclient.Meta
		var first map[string]any
		require.NoError(t, c.Do(t.Context(), "GET", "api/v2/users/me", nil, &first, authclient.ResponseMeta(&m)))
		require.Equal(t, http.StatusOK, m.StatusCode)

		err := c.Do(t.Context(), "GET", missing, nil, nil,
			authclient.ErrorHint(func([]byte) string { return "first hint" }),
			authclient.ErrorCode(func(int, []byte) string { return "FIRST_CODE" }))
		var e *authclient.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, "first hint", e.Hint)
		require.Equal(t, "FIRST_CODE", e.Code)

		err = c.Do(t.Context(), "GET", missing, nil, nil)
		require.ErrorAs(t, err, &e)
		assert.Equal(t, http.StatusOK, m.StatusCode, "a later call filled an earlier call's Meta")
		assert.NotEqual(t, "first hint", e.Hint, "a later call used an earlier call's ErrorHint")
		assert.NotEqual(t, "FIRST_CODE", e.Code, "a later call used an earlier call's ErrorCode")

		var none map[string]any
		require.NoError(t, c.Do(t.Context(), "GET", "api/v2/users/me", nil, nil))
		assert.Nil(t, none)
		assert.NotEmpty(t, first)
	}
}

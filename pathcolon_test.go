package authclient_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
)

// TestDoPathColonInFirstSegment: the class "a path whose first segment
// holds a colon", the only paths that url.Parse refuses once the other
// checks passed (Do asks it only then): ":x", "1a:b", "a_b:c/d" are
// ErrInvalidPath and nothing is sent; a colon further on, or a first
// segment that reads as a scheme, is sent as it is.
func TestDoPathColonInFirstSegment(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga(authtest.WithPrefix("/x"))
	defer k.Close()
	k.AddUser("admin@example.org", "pw", "ADMIN")
	key := k.AddAPIKey("admin@example.org", "test")
	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	for _, p := range []string{":x", "/:x", ":", "1a:b", "a_b:c/d", "-x:y", "+:/x"} {
		err := c.Do(t.Context(), "GET", p, nil, nil)
		assert.ErrorIs(t, err, authclient.ErrInvalidPath, p)
	}
	// Accepted: the request goes out (the fake answers 404 for these).
	for _, p := range []string{"api/v1/series:x", "api/a:b/c", "ab:c"} {
		err := c.Do(t.Context(), "GET", p, nil, nil)
		assert.NotErrorIs(t, err, authclient.ErrInvalidPath, p)
		var e *authclient.Error
		assert.ErrorAs(t, err, &e, p)
	}
}

package authtest_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
)

func paths(reqs []authtest.Request) []string {
	out := make([]string, 0, len(reqs))
	for _, q := range reqs {
		out = append(out, q.Method+" "+q.Path)
	}
	return out
}

// One clock for the fake and the client: the client refreshes the
// Audiobookshelf access token (1 hour) just before it expires, without a
// 401 first, and without anybody sleeping.
func TestSharedClockRefreshesBeforeExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		advance time.Duration
	}{
		{"inside the margin", time.Hour - 10*time.Second},
		{"expired", 2 * time.Hour},
		{"refresh token nearly gone", 29 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := authtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"), authtest.WithClock(clock))
			defer a.Close()
			c, err := authclient.New(authclient.Audiobookshelf, a.URL, authclient.WithLogin("root", "root"),
				authclient.WithClock(clock.Now))
			require.NoError(t, err)
			require.NoError(t, c.CheckAuth(ctx))
			first := paths(a.Received())
			require.NoError(t, c.CheckAuth(ctx))
			assert.Equal(t, 0, a.Refreshes())

			clock.Advance(tc.advance)
			require.NoError(t, c.CheckAuth(ctx))
			assert.Equal(t, 1, a.Refreshes())
			assert.Equal(t, 1, a.Logins())
			got := paths(a.Received())
			// Login, the check, the check again, then refresh and the check:
			// never a rejected request in between.
			want := append(append(append([]string{}, first...), first[len(first)-1]), "POST /auth/refresh", first[len(first)-1])
			assert.Equal(t, want, got)
		})
	}
	// Before the margin: no refresh.
	clock := authtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := authtest.NewAudiobookshelf(authtest.WithClock(clock))
	defer a.Close()
	c, err := authclient.New(authclient.Audiobookshelf, a.URL, authclient.WithLogin("root", "root"), authclient.WithClock(clock.Now))
	require.NoError(t, err)
	require.NoError(t, c.CheckAuth(ctx))
	clock.Advance(time.Hour - 2*time.Minute)
	require.NoError(t, c.CheckAuth(ctx))
	assert.Equal(t, 0, a.Refreshes())
}

// An Audiobookshelf API key with an expiry stops working when the shared
// clock passes it, and the error says unauthorized.
func TestSharedClockAPIKeyExpires(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := authtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"), authtest.WithClock(clock))
	defer a.Close()
	key := a.AddAPIKey("root", "ci", time.Hour, true)
	c, err := authclient.New(authclient.Audiobookshelf, a.URL, authclient.WithAPIKey(key), authclient.WithClock(clock.Now))
	require.NoError(t, err)
	require.NoError(t, c.CheckAuth(ctx))
	clock.Advance(59 * time.Minute)
	require.NoError(t, c.CheckAuth(ctx))
	clock.Advance(2 * time.Minute)
	err = c.CheckAuth(ctx)
	require.Error(t, err)
	assert.True(t, errors.Is(err, authclient.ErrUnauthorized), "%v", err)
	assert.NotContains(t, err.Error(), key)
	// Expired for good: the fake deactivated it.
	clock.Advance(-time.Hour)
	assert.Error(t, c.CheckAuth(ctx))
	var e *authclient.Error
	require.ErrorAs(t, c.CheckAuth(ctx), &e)
	assert.Equal(t, http.StatusUnauthorized, e.StatusCode)
}

// A nil clock is refused when the client is built, with a typed error.
func TestSharedClockNilIsRefused(t *testing.T) {
	t.Parallel()
	a := authtest.NewAudiobookshelf()
	defer a.Close()
	c, err := authclient.New(authclient.Audiobookshelf, a.URL, authclient.WithLogin("root", "root"), authclient.WithClock(nil))
	assert.Nil(t, c)
	var ce *authclient.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "WithClock", ce.Setting)
}

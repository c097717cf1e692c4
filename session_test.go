package authclient

import (
	"errors"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineUp runs fn in n goroutines while the test holds c's renewal lock,
// lets the renewal go only once all n are waiting for it, and returns their
// errors. Every call of fn must need a renewal (sign-in, refresh, or a
// rejected session).
func lineUp(t *testing.T, c *Client, n int, fn func() error) []error {
	t.Helper()
	sa, ok := c.authenticator().(*sessionAuth)
	require.True(t, ok, "the client uses a session")
	require.NoError(t, sa.acquire(t.Context()))
	results := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { results <- fn() })
	}
	for sa.renewing.Load() < int32(n) {
		if len(results) > 0 {
			break // a call did not wait for the renewal: fail below
		}
		runtime.Gosched()
	}
	lined := sa.renewing.Load()
	sa.release()
	wg.Wait()
	close(results)
	require.Equal(t, int32(n), lined, "every goroutine waited for the renewal")
	var errs []error
	for err := range results {
		errs = append(errs, err)
	}
	return errs
}

func TestABSFailedRefreshIsSharedByWaiters(t *testing.T) {
	t.Parallel()
	for _, knownExpiry := range []bool{true, false} {
		a, clock := setupABS(t)
		c := newABSClient(t, a, clock, WithLogin("root", "root"))
		_, err := c.CurrentUser(t.Context())
		require.NoError(t, err)
		if !knownExpiry {
			// Restored without expiry: the 100 learn of it from a 401 and
			// go through Reauthenticate.
			s := c.Session()
			s.Expiry = time.Time{}
			c = newABSClient(t, a, clock, WithSession(s), WithLogin("root", "root"))
		}
		before := c.Session()
		clock.Advance(2 * time.Hour)
		a.Faults.FailNextOn("/auth/refresh", 1000, http.StatusTooManyRequests, 600*time.Second)

		errs := lineUp(t, c, 100, func() error { _, err := c.CurrentUser(t.Context()); return err })
		assert.Equal(t, 1, a.Requests("POST", "/auth/refresh"), "known expiry %v: one refresh for 100 goroutines", knownExpiry)
		assert.Equal(t, 1, a.Requests("POST", "/login"), "a 429 never makes the client sign in")
		var first *Error
		for _, err := range errs {
			require.ErrorIs(t, err, ErrRateLimited)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, 600*time.Second, e.RetryAfter)
			assert.NotSame(t, first, e, "each caller gets its own copy")
			first = e
		}
		assert.Equal(t, before.RefreshToken, c.Session().RefreshToken, "the session is kept")

		// A new call within the server's wait gets the same answer without
		// asking again, with what is left of the wait.
		clock.Advance(100 * time.Second)
		_, err = c.CurrentUser(t.Context())
		require.ErrorIs(t, err, ErrRateLimited)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 500*time.Second, e.RetryAfter)
		assert.Equal(t, 1, a.Requests("POST", "/auth/refresh"), "not asked again during the wait")

		// Once the wait is over, a new call tries again.
		clock.Advance(501 * time.Second)
		a.Faults.FailNextOn("/auth/refresh", 0, 0, -1)
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 2, a.Requests("POST", "/auth/refresh"))
		assert.Equal(t, 1, a.Refreshes())
	}
}

func TestABSFailedReloginIsSharedByWaiters(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("alice", "alice-pw"))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	clock.Advance(2 * time.Hour)
	a.SetUserActive("alice", false) // refresh and sign-in both rejected

	errs := lineUp(t, c, 100, func() error { _, err := c.CurrentUser(t.Context()); return err })
	assert.Equal(t, 1, a.Requests("POST", "/auth/refresh"))
	assert.Equal(t, 2, a.Requests("POST", "/login"), "the first sign-in and one retry for 100 goroutines")
	for _, err := range errs {
		require.ErrorIs(t, err, ErrUnauthorized)
	}

	a.SetUserActive("alice", true)
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err, "a later call tries again")
	assert.Equal(t, 2, a.Requests("POST", "/auth/refresh"))
}

func TestKomgaFailedSignInIsSharedByWaiters(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	keys := func(c *Client) func() error {
		return func() error { _, err := c.ListAPIKeys(t.Context()); return err }
	}
	logins := func() int { return k.Requests("GET", "/api/v2/users/me") } // Komga signs in there

	// First use with a wrong password: one attempt (Authenticate).
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, "wrong"))
	for _, err := range lineUp(t, c, 100, keys(c)) {
		require.ErrorIs(t, err, ErrUnauthorized)
	}
	assert.Equal(t, 1, logins())

	// A saved session expires and the password has changed since: one
	// attempt (Reauthenticate after the 401s).
	signedIn := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
	_, err := signedIn.CurrentUser(t.Context())
	require.NoError(t, err)
	c = newTestClient(t, Komga, k.URL, WithSession(signedIn.Session()), WithLogin(komgaAdmin, "old password"))
	k.ExpireSessions()
	before := logins()
	for _, err := range lineUp(t, c, 100, keys(c)) {
		require.ErrorIs(t, err, ErrUnauthorized)
	}
	assert.Equal(t, before+1, logins(), "100 rejected requests cause one sign-in attempt")
	assert.Equal(t, 100, k.Requests("GET", "/api/v2/users/me/api-keys"), "none replayed")
}

func TestSessionAndLoginCombineInEitherOrder(t *testing.T) {
	t.Parallel()
	for name, order := range map[string]func(s *Session) []Option{
		"session first": func(s *Session) []Option { return []Option{WithSession(s), WithLogin("root", "root")} },
		"login first":   func(s *Session) []Option { return []Option{WithLogin("root", "root"), WithSession(s)} },
	} {
		a, clock := setupABS(t)
		first := newABSClient(t, a, clock, WithLogin("root", "root"))
		_, err := first.CurrentUser(t.Context())
		require.NoError(t, err)

		c := newABSClient(t, a, clock, order(first.Session())...)
		require.NotNil(t, c.Session(), "%s: the saved session is restored", name)
		assert.Equal(t, first.Session().Token, c.Session().Token, name)
		u, err := c.CurrentUser(t.Context())
		require.NoError(t, err, name)
		assert.Equal(t, "root", u.Username, name)
		assert.Equal(t, 1, a.Requests("POST", "/login"), "%s: the saved session is used, no sign-in", name)

		clock.Advance(31 * 24 * time.Hour) // the refresh token expired too
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err, name)
		assert.Equal(t, 2, a.Requests("POST", "/login"), "%s: the login signs in again", name)
	}

	// Other credentials still replace a session: the last one wins.
	a, clock := setupABS(t)
	saved := &Session{Server: Audiobookshelf, Token: "t", RefreshToken: "r"}
	key := a.AddAPIKey("root", "k", 0, true)
	c := newABSClient(t, a, clock, WithSession(saved), WithAPIKey(key))
	assert.Nil(t, c.Session())
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	c = newABSClient(t, a, clock, WithAPIKey(key), WithSession(saved))
	assert.NotNil(t, c.Session())
	c = newABSClient(t, a, clock, WithSession(saved), WithLogin("root", "root"), WithAPIKey(key))
	assert.Nil(t, c.Session())
}

// requireLoggedOut checks err is the logged-out client's error.
func requireLoggedOut(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, ErrUnauthorized)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Message, "logged out")
}

func TestRenewalAfterLogoutDoesNotSignIn(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("root", "root"))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	sa := c.authenticator().(*sessionAuth)
	stale := sa.cur.Load()
	clock.Advance(2 * time.Hour)

	// A request read the session (and loggedOut) before Logout ran and
	// reaches the renewal after it.
	require.NoError(t, c.Logout(t.Context()))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.URL+"api/me", nil)
	require.NoError(t, err)
	_, err = sa.renew(req, stale)
	requireLoggedOut(t, err)
	req.Header.Set("Authorization", "Bearer "+stale.Token)
	requireLoggedOut(t, sa.Reauthenticate(t.Context(), req))

	assert.Equal(t, 1, a.Requests("POST", "/login"))
	assert.Zero(t, a.Requests("POST", "/auth/refresh"))
	assert.Nil(t, c.Session(), "still logged out")
	_, err = c.CurrentUser(t.Context())
	requireLoggedOut(t, err)
	assert.Equal(t, 1, a.Requests("POST", "/login"))
}

func TestLogoutBeforeFirstSignIn(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
	require.NoError(t, c.Logout(t.Context()))
	assert.Zero(t, k.TotalRequests(), "no session: nothing to end on the server")
	_, err := c.CurrentUser(t.Context())
	requireLoggedOut(t, err)
	assert.Zero(t, k.Logins(), "the client does not sign in after Logout")
	assert.Nil(t, c.Session())
	require.NoError(t, c.Logout(t.Context()), "idempotent")

	_, err = c.Login(t.Context(), komgaAdmin, komgaAdminPw)
	require.NoError(t, err)
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err, "Login signs in again")

	a, clock := setupABS(t)
	ac := newABSClient(t, a, clock, WithLogin("root", "root"))
	require.NoError(t, ac.Logout(t.Context()))
	_, err = ac.ListLibraries(t.Context())
	requireLoggedOut(t, err)
	assert.Zero(t, a.Requests("POST", "/login"))
	assert.Zero(t, a.Requests("POST", "/logout"))
	assert.False(t, errors.Is(err, ErrRateLimited))
}

// The session hook hears of every session the client obtains from the
// server, and not of one it was given (WithSession): the caller already
// stored that. The class: restore then use (no call), restore then a
// sign-in again after the server dropped the session (Komga: one call, the
// new session), restore then a refresh that rotates the refresh token
// (Audiobookshelf: one call, the rotated tokens), and an explicit Login.
func TestSessionHookHearsOfObtainedSessionsNotRestoredOnes(t *testing.T) {
	t.Parallel()
	type hooked struct {
		mu   sync.Mutex
		list []Session
	}
	hook := func(h *hooked) Option {
		return WithSessionHook(func(s Session) { h.mu.Lock(); h.list = append(h.list, s); h.mu.Unlock() })
	}
	got := func(h *hooked) []Session { h.mu.Lock(); defer h.mu.Unlock(); return append([]Session(nil), h.list...) }

	t.Run("Komga restore, then sign in again", func(t *testing.T) {
		t.Parallel()
		k := setupKomga(t)
		first := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
		_, err := first.CurrentUser(t.Context())
		require.NoError(t, err)
		saved := first.Session()

		var h hooked
		c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw), WithSession(saved), hook(&h))
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
		assert.Empty(t, got(&h), "a restored session is not reported back")
		assert.Equal(t, 1, k.Logins(), "the restored session was used, no sign-in")

		k.ExpireSessions()
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
		list := got(&h)
		require.Len(t, list, 1, "the new session is reported")
		assert.NotEqual(t, saved.Token, list[0].Token)
		assert.Equal(t, c.Session().Token, list[0].Token)
	})

	t.Run("Audiobookshelf restore, then refresh", func(t *testing.T) {
		t.Parallel()
		a, clock := setupABS(t)
		first := newABSClient(t, a, clock, WithLogin("root", "root"))
		_, err := first.CurrentUser(t.Context())
		require.NoError(t, err)
		saved := first.Session()

		var h hooked
		c := newABSClient(t, a, clock, WithSession(saved), hook(&h))
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
		assert.Empty(t, got(&h), "a restored session is not reported back")

		clock.Advance(2 * time.Hour) // past the access token's expiry
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
		list := got(&h)
		require.Len(t, list, 1, "the refreshed session is reported")
		assert.NotEqual(t, saved.RefreshToken, list[0].RefreshToken, "with the rotated refresh token")
		assert.Equal(t, c.Session().RefreshToken, list[0].RefreshToken)
	})

	t.Run("explicit Login", func(t *testing.T) {
		t.Parallel()
		k := setupKomga(t)
		var h hooked
		c := newTestClient(t, Komga, k.URL, hook(&h))
		s, err := c.Login(t.Context(), komgaAdmin, komgaAdminPw)
		require.NoError(t, err)
		list := got(&h)
		require.Len(t, list, 1)
		assert.Equal(t, s.Token, list[0].Token)
	})
}

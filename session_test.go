package authclient

import (
	"encoding/json"
	"errors"
	"fmt"
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

		// A new call within the wait (bounded by the Retry-After cap, 30 s
		// by default) gets the same answer without asking again, with what
		// is left of the server's wait.
		clock.Advance(20 * time.Second)
		_, err = c.CurrentUser(t.Context())
		require.ErrorIs(t, err, ErrRateLimited)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 580*time.Second, e.RetryAfter)
		assert.Equal(t, 1, a.Requests("POST", "/auth/refresh"), "not asked again during the wait")

		// Once the capped wait is over, a new call tries again.
		clock.Advance(DefaultRetryAfterCap)
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
	err = ac.Do(t.Context(), http.MethodGet, "api/libraries", nil, nil)
	requireLoggedOut(t, err)
	assert.Zero(t, a.Requests("POST", "/login"))
	assert.Zero(t, a.Requests("POST", "/logout"))
	assert.False(t, errors.Is(err, ErrRateLimited))
}

// TestABSShortLivedTokenRenewedOncePerLifetime covers the class "a token
// whose lifetime is near or below the fixed 30 s refresh margin"
// (Audiobookshelf's ACCESS_TOKEN_EXPIRY can be seconds): the margin scales
// with the token's lifetime (at most half of it), so sequential calls in the
// first part of the token's life send it as it is, one call in the margin
// renews it once, and goroutines that meet it expired share one refresh —
// for tokens of a few seconds as for an hour, and for a session restored
// from a store written without IssuedAt.
func TestABSShortLivedTokenRenewedOncePerLifetime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lifetime, margin time.Duration
		restored         bool
	}{
		{2 * time.Second, time.Second, false},
		{10 * time.Second, 5 * time.Second, false},
		{10 * time.Second, 5 * time.Second, true},
		{40 * time.Second, 20 * time.Second, false},
		{60 * time.Second, 30 * time.Second, false},
		{time.Hour, 30 * time.Second, false},
		{time.Hour, 30 * time.Second, true},
	} {
		name := fmt.Sprintf("%v restored=%v", tc.lifetime, tc.restored)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, clock := setupABS(t)
			a.SetTokenExpiry(tc.lifetime, 30*24*time.Hour) // ACCESS_TOKEN_EXPIRY; the limiter keeps its default
			c := newABSClient(t, a, clock, WithLogin("root", "root"))
			me := func() error { _, err := c.CurrentUser(t.Context()); return err }
			require.NoError(t, me())
			s := c.Session()
			assert.Equal(t, clock.Now(), s.IssuedAt.UTC(), "IssuedAt is the token's iat")
			if tc.restored {
				// Saved by a version without IssuedAt: it is read from the token.
				s.IssuedAt = time.Time{}
				data, err := json.Marshal(s)
				require.NoError(t, err)
				assert.NotContains(t, string(data), "issued_at")
				var saved Session
				require.NoError(t, json.Unmarshal(data, &saved))
				c = newABSClient(t, a, clock, WithSession(&saved), WithLogin("root", "root"))
			}

			step := (tc.lifetime - tc.margin) / 5
			for i := range 5 {
				if i > 0 {
					clock.Advance(step)
				}
				require.NoError(t, me())
			}
			assert.Equal(t, 0, a.Refreshes(), "5 calls outside the margin send the token as it is")
			assert.Equal(t, 1, a.Logins())

			clock.Advance(tc.lifetime - tc.margin/2 - 4*step) // inside the margin
			require.NoError(t, me())
			require.NoError(t, me())
			assert.Equal(t, 1, a.Refreshes(), "renewed once inside the margin, then the new token is used")

			clock.Advance(2 * tc.lifetime) // expired
			for _, err := range lineUp(t, c, 20, me) {
				require.NoError(t, err, "no refresh storm, so no 429 from the limiter either")
			}
			assert.Equal(t, 2, a.Refreshes(), "20 goroutines meeting the expired token share one refresh")
			assert.Equal(t, 2, a.Requests("POST", "/auth/refresh"))
		})
	}
}

// TestABSRenewalRetryAfterIsBoundedByCap covers the class "a renewal refused
// with a Retry-After longer than the client's cap" (999999 s, a day, from a
// proxy or from the server's own limiter with a long window): the client
// answers later calls from the shared failure without asking only until the
// cap has passed, then asks again (once for all callers) and carries on when
// the server has recovered. The error still reports the server's wait.
func TestABSRenewalRetryAfterIsBoundedByCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		cap        time.Duration // 0: the default
		retryAfter time.Duration
		limiter    bool // the fake's own limiter (RATE_LIMIT_AUTH_WINDOW) instead of an injected 429
	}{
		{"999999s default cap", 0, 999999 * time.Second, false},
		{"a day, cap 5s", 5 * time.Second, 24 * time.Hour, false},
		{"limiter window 999999s", 0, 999999 * time.Second, true},
		{"limiter window 1h, cap 1m", time.Minute, time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, clock := setupABS(t)
			capWait := DefaultRetryAfterCap
			var opts []Option
			if tc.cap > 0 {
				capWait = tc.cap
				opts = append(opts, WithRetryAfterCap(tc.cap))
			}
			c := newABSClient(t, a, clock, append(opts, WithLogin("root", "root"))...)
			me := func() error { _, err := c.CurrentUser(t.Context()); return err }
			require.NoError(t, me())
			clock.Advance(2 * time.Hour) // the access token expired
			if tc.limiter {
				a.SetRateLimit(1, tc.retryAfter)
				_, err := newABSClient(t, a, clock).Login(t.Context(), "root", "root") // uses up the one request
				require.NoError(t, err)
			} else {
				a.Faults.FailNextOn("/auth/refresh", 1, http.StatusTooManyRequests, tc.retryAfter)
			}

			err := me()
			require.ErrorIs(t, err, ErrRateLimited)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.retryAfter, e.RetryAfter, "the server's wait is reported as it is")
			assert.Equal(t, 1, a.Requests("POST", "/auth/refresh"))

			clock.Advance(capWait - time.Second) // within the cap: not asked again
			err = me()
			require.ErrorIs(t, err, ErrRateLimited)
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.retryAfter-capWait+time.Second, e.RetryAfter, "what is left of the server's wait")
			assert.Equal(t, 1, a.Requests("POST", "/auth/refresh"), "answered from the shared failure")

			clock.Advance(time.Second) // the cap has passed
			if tc.limiter {
				// Still limited: asked once more, refused again, and the
				// next call waits for the cap again.
				require.ErrorIs(t, me(), ErrRateLimited)
				require.ErrorIs(t, me(), ErrRateLimited)
				assert.Equal(t, 2, a.Requests("POST", "/auth/refresh"))
				a.SetRateLimit(40, 10*time.Minute) // the server recovers
				clock.Advance(capWait)
			}
			require.NoError(t, me(), "asked again after the cap and the server has recovered")
			assert.Equal(t, 1, a.Refreshes())
			wantLogins := 1
			if tc.limiter {
				wantLogins++ // the sign-in that used up the limiter
			}
			assert.Equal(t, wantLogins, a.Logins(), "a 429 never makes the client sign in again")
		})
	}
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

package authclient

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setupABS starts a fake Audiobookshelf (root "root"/"root") on a frozen
// clock shared with the client, plus a plain user and a library.
func setupABS(t *testing.T) (*authtest.Audiobookshelf, *authtest.Clock) {
	t.Helper()
	clock := authtest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	a := authtest.NewAudiobookshelf(authtest.WithClock(clock))
	t.Cleanup(a.Close)
	a.AddUser("alice", "alice-pw", "user")
	a.AddLibrary("Books")
	return a, clock
}

func newABSClient(t *testing.T, a *authtest.Audiobookshelf, clock *authtest.Clock, opts ...Option) *Client {
	t.Helper()
	return newTestClient(t, Audiobookshelf, a.URL, append([]Option{withClock(clock.Now)}, opts...)...)
}

func TestABSLoginAndCurrentUser(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("root", "root"))
	u, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "root", u.Username)
	assert.True(t, u.Admin)
	assert.Equal(t, []string{"root"}, u.Roles)
	require.NotNil(t, u.Audiobookshelf)
	assert.True(t, u.Audiobookshelf.Active)
	assert.True(t, u.Audiobookshelf.Permissions["download"])
	assert.False(t, u.Audiobookshelf.DeprecatedToken)

	s := c.Session()
	require.NotNil(t, s)
	assert.NotEmpty(t, s.Token)
	assert.NotEmpty(t, s.RefreshToken)
	assert.Equal(t, clock.Now().Add(time.Hour).Unix(), s.Expiry.Unix(), "access token expiry read from its exp claim")
	assert.Equal(t, clock.Now().Add(30*24*time.Hour).Unix(), s.RefreshExpiry.Unix())
	assert.Equal(t, 1, a.Logins())

	h := a.LastHeader("GET", "/api/me")
	assert.Equal(t, "Bearer "+s.Token, h.Get("Authorization"))
	assert.Empty(t, h.Get("Cookie"), "no cookie jar")
	assert.Equal(t, "true", a.LastHeader("POST", "/login").Get("X-Return-Tokens"))
}

func TestABSWrongPassword(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("root", "wrong"))
	_, err := c.CurrentUser(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CredentialPassword, e.Credential)
	assert.Equal(t, "Unauthorized", e.Message, "ABS's plain-text 401 without a content type")
	assert.Contains(t, e.Hint, "wrong username or password")

	// An empty password is still sent ("password": ""): to ABS that is a
	// wrong password, 401, not its 400.
	_, err = c.Login(t.Context(), "alice", "")
	require.ErrorIs(t, err, ErrUnauthorized)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusUnauthorized, e.StatusCode)
	assert.Equal(t, CredentialPassword, e.Credential)
	assert.Contains(t, e.Hint, "wrong username or password")

	// ABS's 400 is for a missing field, which Login never sends: only a
	// hand-made sign-in gets it, and it is no credential problem.
	err = newABSClient(t, a, clock).Do(t.Context(), "POST", "login", map[string]string{"username": "alice"}, nil)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusBadRequest, e.StatusCode)
	assert.Equal(t, "Bad Request", e.Message, "plain text without a content type")
	assert.NotErrorIs(t, err, ErrUnauthorized)
	assert.Equal(t, 0, a.Logins())
}

func TestABSProactiveRefreshBeforeExpiry(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	var rotations []Session
	var mu sync.Mutex
	c := newABSClient(t, a, clock, WithLogin("root", "root"),
		WithSessionHook(func(s Session) { mu.Lock(); rotations = append(rotations, s); mu.Unlock() }))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	first := c.Session()

	clock.Advance(59*time.Minute + 45*time.Second) // inside the refresh margin
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, a.Refreshes(), "refreshed before the token expired")
	assert.Equal(t, 1, a.Logins())
	second := c.Session()
	assert.NotEqual(t, first.Token, second.Token)
	assert.NotEqual(t, first.RefreshToken, second.RefreshToken, "the rotated refresh token is kept")
	assert.Equal(t, first.RefreshToken, a.LastHeader("POST", "/auth/refresh").Get("X-Refresh-Token"))
	mu.Lock()
	assert.Len(t, rotations, 2, "the caller is told about the sign-in and the rotation")
	mu.Unlock()
}

// hammer runs fn in n goroutines at once and fails on any error.
func hammer(t *testing.T, n int, fn func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() { errs <- fn() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestABSExpiredAccessToken100Goroutines(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	me := func(c *Client) func() error {
		return func() error { _, err := c.CurrentUser(t.Context()); return err }
	}

	// The client knows the expiry: the first goroutine refreshes, the
	// others wait for it.
	c := newABSClient(t, a, clock, WithLogin("root", "root"))
	require.NoError(t, me(c)())
	clock.Advance(2 * time.Hour)
	hammer(t, 100, me(c))
	assert.Equal(t, 1, a.Refreshes(), "100 goroutines meeting an expired access token cause exactly one refresh")

	// The expiry is unknown (a session restored without it): all 100 get
	// a 401, and still only one refreshes.
	fresh := newABSClient(t, a, clock, WithLogin("root", "root"))
	require.NoError(t, me(fresh)())
	s := fresh.Session()
	s.Expiry = time.Time{}
	c2 := newABSClient(t, a, clock, WithSession(s))
	clock.Advance(2 * time.Hour)
	before := a.Refreshes()
	hammer(t, 100, me(c2))
	assert.Equal(t, before+1, a.Refreshes(), "100 rejected requests cause exactly one refresh")
	assert.Equal(t, 2, a.Logins())
}

func TestABSRefreshFailsThenSignsInAgain(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("root", "root"))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	clock.Advance(31 * 24 * time.Hour) // refresh token expired too
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, a.Logins(), "with both tokens expired the client signs in again")
}

func TestABSSavedSessionRestores(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("root", "root"))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	data, err := json.Marshal(c.Session())
	require.NoError(t, err)

	// The service restarts: no password, only the stored session.
	var saved Session
	require.NoError(t, json.Unmarshal(data, &saved))
	c2 := newABSClient(t, a, clock, WithSession(&saved))
	u, err := c2.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "root", u.Username)
	assert.Equal(t, 1, a.Logins())

	clock.Advance(2 * time.Hour) // access token expired: refresh, no password needed
	_, err = c2.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, a.Refreshes())
	assert.Equal(t, 1, a.Logins())

	clock.Advance(31 * 24 * time.Hour)
	_, err = c2.CurrentUser(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized, "without a password the caller must sign in again")
}

func TestABSRateLimit(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	a.SetRateLimit(3, 10*time.Minute)
	a.SetTokenExpiry(2*time.Minute, 30*24*time.Hour)
	c := newABSClient(t, a, clock, WithLogin("root", "root"))
	for range 3 {
		_, err := c.Login(t.Context(), "root", "root")
		require.NoError(t, err)
	}
	_, err := c.Login(t.Context(), "root", "root")
	require.ErrorIs(t, err, ErrRateLimited)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Positive(t, e.RetryAfter)
	assert.Equal(t, "Too many authentication requests", e.Message)

	// A rate-limited refresh keeps the session: the user is not logged out.
	before := c.Session()
	clock.Advance(3 * time.Minute) // the access token expired; the limiter's window has not
	_, err = c.CurrentUser(t.Context())
	require.ErrorIs(t, err, ErrRateLimited, "the refresh waits out short limits only; this one is minutes")
	require.ErrorAs(t, err, &e)
	assert.Greater(t, e.RetryAfter, DefaultRetryAfterCap)
	assert.Equal(t, before.RefreshToken, c.Session().RefreshToken, "a 429 never signs the user out")

	clock.Advance(10 * time.Minute)
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err)
}

func TestABSRefreshRetriesShortRateLimit(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("root", "root"))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	clock.Advance(2 * time.Hour)
	a.Faults.FailNextOn("/auth/refresh", 1, http.StatusTooManyRequests, 0)
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err, "a 429 within the cap is waited out for refresh")
	assert.Equal(t, 1, a.Refreshes())
}

func TestABSLogout(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("root", "root"))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	refresh := c.Session().RefreshToken
	require.NoError(t, c.Logout(t.Context()))
	assert.Equal(t, refresh, a.LastHeader("POST", "/logout").Get("X-Refresh-Token"))
	assert.Nil(t, c.Session())
	require.NoError(t, c.Logout(t.Context()), "idempotent")
	assert.Equal(t, 1, a.Requests("POST", "/logout"))

	// The logged-out refresh token no longer works.
	c2 := newABSClient(t, a, clock, WithSession(&Session{Server: Audiobookshelf, RefreshToken: refresh}))
	_, err = c2.CurrentUser(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "Invalid refresh token", e.Message)

	// All devices.
	c3 := newABSClient(t, a, clock, WithLogin("root", "root"))
	c4 := newABSClient(t, a, clock, WithLogin("root", "root"))
	_, err = c3.CurrentUser(t.Context())
	require.NoError(t, err)
	_, err = c4.CurrentUser(t.Context())
	require.NoError(t, err)
	other := c4.Session().RefreshToken
	require.NoError(t, c3.Logout(t.Context(), LogoutAllDevices()))
	c5 := newABSClient(t, a, clock, WithSession(&Session{Server: Audiobookshelf, RefreshToken: other}))
	_, err = c5.CurrentUser(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized, "allDevices ended the other session too")
}

func TestABSAPIKeys(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("root", "root"))

	k, err := c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "sdk"})
	require.NoError(t, err)
	assert.True(t, k.Active, "the SDK creates keys active, unlike the server's default")
	assert.True(t, k.ExpiresAt.IsZero())
	assert.NotEmpty(t, k.UserID)
	claims, ok := decodeJWT(k.Secret)
	require.True(t, ok)
	assert.Equal(t, "api", claims.Type)

	kc := newABSClient(t, a, clock, WithAPIKey(k.Secret))
	u, err := kc.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "root", u.Username)
	assert.Equal(t, "Bearer "+k.Secret, a.LastHeader("GET", "/api/me").Get("Authorization"))

	// Deactivated: 401 that says it is an API key and may be inactive.
	info, err := absSetKeyActive(t, c, k.ID, false)
	require.NoError(t, err)
	assert.False(t, info.Active)
	_, err = kc.CurrentUser(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CredentialAPIKey, e.Credential)
	assert.Contains(t, e.Hint, "inactive")
	assert.NotContains(t, e.Error(), k.Secret)
	_, err = absSetKeyActive(t, c, k.ID, true)
	require.NoError(t, err)
	_, err = kc.CurrentUser(t.Context())
	require.NoError(t, err)

	// Inactive on request, with an expiry, for another user.
	alice, err := newABSClient(t, a, clock, WithLogin("alice", "alice-pw")).CurrentUser(t.Context())
	require.NoError(t, err)
	k2, err := c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "alice", UserID: alice.ID, ExpiresIn: time.Hour, Inactive: true})
	require.NoError(t, err)
	assert.False(t, k2.Active)
	assert.Equal(t, clock.Now().Add(time.Hour).Unix(), k2.ExpiresAt.Unix())

	keys, err := c.ListAPIKeys(t.Context())
	require.NoError(t, err)
	require.Len(t, keys, 2)
	byName := map[string]APIKeyInfo{keys[0].Name: keys[0], keys[1].Name: keys[1]}
	assert.Equal(t, "alice", byName["alice"].Username)
	assert.Equal(t, alice.ID, byName["alice"].UserID)

	// Expired key: the diagnosis says so.
	_, err = absSetKeyActive(t, c, k2.ID, true)
	require.NoError(t, err)
	clock.Advance(2 * time.Hour)
	_, err = newABSClient(t, a, clock, WithAPIKey(k2.Secret)).CurrentUser(t.Context())
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CredentialAPIKey, e.Credential)
	assert.Contains(t, e.Hint, "expired at")

	// A plain user cannot manage keys: 403 plain text.
	_, err = newABSClient(t, a, clock, WithLogin("alice", "alice-pw")).ListAPIKeys(t.Context())
	require.ErrorIs(t, err, ErrForbidden)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "Forbidden", e.Message)

	require.NoError(t, c.DeleteAPIKey(t.Context(), k.ID))
	assert.ErrorIs(t, c.DeleteAPIKey(t.Context(), k.ID), ErrNotFound)
	_, err = kc.CurrentUser(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized, "a deleted key stops working")

	// Client-side validation.
	_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{})
	var ce *ConfigError
	assert.ErrorAs(t, err, &ce)
	_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "x", ExpiresIn: time.Millisecond})
	assert.ErrorAs(t, err, &ce)
	_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "x", UserID: "no-such-user"})
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusBadRequest, e.StatusCode)
}

func TestABSRotateAPIKeyKeepsUser(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	admin := newABSClient(t, a, clock, WithLogin("root", "root"))
	alice, err := newABSClient(t, a, clock, WithLogin("alice", "alice-pw")).CurrentUser(t.Context())
	require.NoError(t, err)
	old, err := admin.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "bridge", UserID: alice.ID})
	require.NoError(t, err)

	nk, err := admin.RotateAPIKey(t.Context(), old.ID, CreateAPIKeyRequest{})
	require.NoError(t, err)
	assert.Equal(t, alice.ID, nk.UserID, "the new key acts as the old key's user")
	u, err := newABSClient(t, a, clock, WithAPIKey(nk.Secret)).CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "alice", u.Username)
	_, err = newABSClient(t, a, clock, WithAPIKey(old.Secret)).CurrentUser(t.Context())
	assert.ErrorIs(t, err, ErrUnauthorized)

	// Verification fails: the new key is deleted, the old one kept.
	a.Faults.FailNextOn("/api/me", 1, http.StatusUnauthorized, -1)
	_, err = admin.RotateAPIKey(t.Context(), nk.ID, CreateAPIKeyRequest{})
	var re *RotationError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "verify", re.Stage)
	keys, err := admin.ListAPIKeys(t.Context())
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Equal(t, nk.ID, keys[0].ID)
}

func TestABSLegacyTokenFlagged(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	var logs strings.Builder
	var mu sync.Mutex
	logger := newTestLogger(&logs, &mu)
	c := newABSClient(t, a, clock, WithAPIKey(a.LegacyToken("root")), WithLogger(logger))
	u, err := c.CurrentUser(t.Context())
	require.NoError(t, err, "the legacy token is still accepted")
	assert.True(t, u.Audiobookshelf.DeprecatedToken)
	mu.Lock()
	assert.Contains(t, logs.String(), "legacy user token")
	mu.Unlock()
}

func TestABSUnauthorizedDiagnosis(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	login := newABSClient(t, a, clock, WithLogin("root", "root"))
	_, err := login.CurrentUser(t.Context())
	require.NoError(t, err)
	s := login.Session()

	tests := []struct {
		name, token, credential, hint string
	}{
		{"refresh token as bearer", s.RefreshToken, CredentialRefreshToken, "cannot authenticate"},
		{"garbage", "not-a-jwt", CredentialAPIKey, "not a token"},
		{"forged key", fakeJWT(`{"keyId":"x","type":"api","iat":1}`), CredentialAPIKey, "inactive"},
		{"forged legacy", fakeJWT(`{"userId":"x","username":"y","iat":1}`), CredentialLegacyToken, "deprecated"},
		{"expired access token", fakeJWT(`{"userId":"x","type":"access","exp":1}`), CredentialAccessToken, "expired at 1970"},
	}
	for _, tt := range tests {
		_, err := newABSClient(t, a, clock, WithAPIKey(tt.token)).CurrentUser(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized, tt.name)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, tt.credential, e.Credential, tt.name)
		assert.Contains(t, e.Hint, tt.hint, tt.name)
		assert.NotContains(t, e.Error(), tt.token, tt.name)
	}
	_, err = newABSClient(t, a, clock).CurrentUser(t.Context())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CredentialNone, e.Credential)
}

func fakeJWT(payload string) string {
	return "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestABSStatusProvidersHealth(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock)
	info, err := c.Probe(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &ServerInfo{Server: Audiobookshelf, Version: "2.36.0", Initialized: true, AuthMethods: []string{"local"}}, info)
	ps, err := c.ListOAuthProviders(t.Context())
	require.NoError(t, err)
	assert.Empty(t, ps)

	a.EnableOpenID("Sign in with Authentik")
	ps, err = c.ListOAuthProviders(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []OAuthProvider{{ID: "openid", Name: "Sign in with Authentik", LoginURL: a.URL + "auth/openid"}}, ps)
	info, err = c.Probe(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"local", "openid"}, info.AuthMethods)

	h, err := c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "OK", h.Status)

	un := authtest.NewAudiobookshelfUninitialised()
	defer un.Close()
	info, err = newTestClient(t, Audiobookshelf, un.URL).Probe(t.Context())
	require.NoError(t, err)
	assert.False(t, info.Initialized)

}

func TestABSUnsupportedAndPaths(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("root", "root"))
	assert.ErrorIs(t, c.DeleteAPIKey(t.Context(), ".."), ErrInvalidPath)
	err := c.Do(t.Context(), "GET", "api/no-such-route", nil, nil)
	require.ErrorIs(t, err, ErrNotFound)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "Cannot GET /api/no-such-route", e.Message, "the Express HTML page's text")
}

// absSetKeyActive activates or deactivates an API key as package
// audiobookshelf's SetAPIKeyActive does, for the core's key tests.
func absSetKeyActive(t *testing.T, c *Client, id string, active bool) (*APIKeyInfo, error) {
	t.Helper()
	var out struct {
		APIKey absKeyDTO `json:"apiKey"`
	}
	if err := c.Do(t.Context(), http.MethodPatch, "api/api-keys/"+id, map[string]bool{"isActive": active}, &out); err != nil {
		return nil, err
	}
	k := out.APIKey.info()
	return &k, nil
}

// absError returns err's *Error.
func absError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	require.ErrorAs(t, err, &e)
	return e
}

// absStub is a server that answers each path with a fixed JSON body, to
// stand in for answers the fake never gives.
func absStub(t *testing.T, bodies map[string]string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestABSProbeFails(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock)

	a.Faults.FailNextOn("/status", 1, http.StatusInternalServerError, -1)
	info, err := c.Probe(t.Context())
	assert.Nil(t, info)
	e := absError(t, err)
	assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
	assert.True(t, strings.HasSuffix(e.URL, "/status"), e.URL)
	assert.NotErrorIs(t, err, ErrUnexpectedServer, "a failing Audiobookshelf is not another server")

	a.Faults.FailNextOn("/status", 3, http.StatusBadGateway, -1)
	_, err = c.Probe(t.Context())
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, http.StatusBadGateway, absError(t, err).StatusCode)

	// Another application's JSON /status.
	other := absStub(t, map[string]string{"/status": `{"app": "jellyfin", "serverVersion": "10.9.0"}`})
	_, err = newTestClient(t, Audiobookshelf, other.URL).Probe(t.Context())
	require.ErrorIs(t, err, ErrUnexpectedServer)
	e = absError(t, err)
	assert.Equal(t, http.StatusOK, e.StatusCode)
	assert.Contains(t, e.Message, "not Audiobookshelf's status")

	// Komga has no /status at all.
	k := authtest.NewKomga()
	t.Cleanup(k.Close)
	_, err = newTestClient(t, Audiobookshelf, k.URL).Probe(t.Context())
	e = absError(t, err)
	assert.Equal(t, http.StatusNotFound, e.StatusCode)
	assert.Equal(t, "No endpoint GET /status.", e.Message, "Komga's own answer")
	require.ErrorIs(t, err, ErrUnexpectedServer, "another server's 404")
	assert.False(t, errors.Is(err, ErrNotFound))
	assert.Contains(t, e.Hint, "not Audiobookshelf")
}

func TestABSHealthFails(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock)

	stub := absStub(t, map[string]string{"/ping": `{"success": false}`, "/healthcheck": `"OK"`})
	h, err := newTestClient(t, Audiobookshelf, stub.URL).Health(t.Context())
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Nil(t, h)
	e := absError(t, err)
	assert.Equal(t, http.StatusOK, e.StatusCode)
	assert.Equal(t, "ping did not answer success", e.Message)
	assert.True(t, strings.HasSuffix(e.URL, "/ping"), e.URL)

	a.Faults.FailNextOn("/ping", 3, http.StatusServiceUnavailable, -1)
	_, err = c.Health(t.Context())
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, 0, a.Requests("GET", "/healthcheck"), "no /healthcheck after a failed /ping")

	a.Faults.FailNextOn("/healthcheck", 1, http.StatusInternalServerError, -1)
	_, err = c.Health(t.Context())
	e = absError(t, err)
	assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
	assert.True(t, strings.HasSuffix(e.URL, "/healthcheck"), e.URL)
	assert.Equal(t, "Internal Server Error", e.Message)

	a.Faults.FailNextOn("/healthcheck", 3, http.StatusServiceUnavailable, -1)
	_, err = c.Health(t.Context())
	require.ErrorIs(t, err, ErrUnavailable)

	h, err = c.Health(t.Context())
	require.NoError(t, err, "the faults are used up")
	assert.Equal(t, "OK", h.Status)
}

func TestABSLogoutFailureKeepsSession(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	c := newABSClient(t, a, clock, WithLogin("root", "root"))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	before := c.Session()

	a.Faults.FailNextOn("/logout", 1, http.StatusInternalServerError, -1)
	err = c.Logout(t.Context())
	e := absError(t, err)
	assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
	assert.NotErrorIs(t, err, ErrUnauthorized)
	assert.NotContains(t, err.Error(), before.RefreshToken)
	s := c.Session()
	require.NotNil(t, s, "a failed logout keeps the session")
	assert.Equal(t, before.RefreshToken, s.RefreshToken)
	assert.Equal(t, 1, a.SessionCount("root"))
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err, "still signed in")

	require.NoError(t, c.Logout(t.Context()), "a later logout works")
	assert.Nil(t, c.Session())
	assert.Equal(t, 0, a.SessionCount("root"))
	assert.Equal(t, before.RefreshToken, a.LastHeader("POST", "/logout").Get("X-Refresh-Token"))
	assert.Equal(t, 2, a.Requests("POST", "/logout"))

	// A 503 is retried; a 401 means the session is already gone.
	c2 := newABSClient(t, a, clock, WithLogin("root", "root"))
	_, err = c2.CurrentUser(t.Context())
	require.NoError(t, err)
	a.Faults.FailNextOn("/logout", 1, http.StatusServiceUnavailable, -1)
	require.NoError(t, c2.Logout(t.Context()))
	assert.Nil(t, c2.Session())
	assert.Equal(t, 0, a.SessionCount("root"))

	c3 := newABSClient(t, a, clock, WithLogin("root", "root"))
	_, err = c3.CurrentUser(t.Context())
	require.NoError(t, err)
	a.Faults.FailNextOn("/logout", 1, http.StatusUnauthorized, -1)
	require.NoError(t, c3.Logout(t.Context()))
	assert.Nil(t, c3.Session())
}

func TestABSBasePathURL(t *testing.T) {
	t.Parallel()
	a, clock := setupABS(t)
	rec := &comfyRecorder{}
	c := newTestClient(t, Audiobookshelf, a.BasePathURL(), withClock(clock.Now), WithLogin("root", "root"),
		WithHTTPClient(&http.Client{Transport: rec}))
	assert.True(t, strings.HasSuffix(c.BaseURL(), "/audiobookshelf/"), c.BaseURL())

	u, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "root", u.Username)
	first := c.Session()

	clock.Advance(2 * time.Hour)
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, a.Refreshes())
	assert.Equal(t, first.RefreshToken, a.LastHeader("POST", "/auth/refresh").Get("X-Refresh-Token"))

	require.NoError(t, c.Logout(t.Context()))
	assert.Nil(t, c.Session())
	assert.Equal(t, 0, a.SessionCount("root"))
	assert.Equal(t, 1, a.Logins())

	urls, _ := rec.all()
	var paths []string
	for _, u := range urls {
		require.True(t, strings.HasPrefix(u, a.BasePathURL()), u)
		paths = append(paths, strings.TrimPrefix(u, a.BasePathURL()))
	}
	assert.Equal(t, []string{"login", "api/me", "auth/refresh", "api/me", "logout"}, paths)
}

// absKeyID returns the id of the listed key whose secret is secret, by its
// keyId claim.
func absKeyID(t *testing.T, secret string) string {
	t.Helper()
	claims, ok := decodeJWT(secret)
	require.True(t, ok)
	return claims.KeyID
}

// absListedIDs lists the ids of every key on the server, as root.
func absListedIDs(t *testing.T, a *authtest.Audiobookshelf, clock *authtest.Clock) []string {
	t.Helper()
	keys, err := newABSClient(t, a, clock, WithLogin("root", "root")).ListAPIKeys(t.Context())
	require.NoError(t, err)
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

// TestABSRotateKeyNotHeldKeepsClientIdentity covers the class "rotating a
// key the client does not authenticate with": whoever owns it (another
// user, the client's own user) and whatever the client authenticates with
// (an admin API key, a session, the legacy token), the client keeps its
// credential and stays who it is, the old key is deleted and the new key,
// acting as the old key's user, is returned.
func TestABSRotateKeyNotHeldKeepsClientIdentity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		owner string // the rotated key's user
		auth  func(a *authtest.Audiobookshelf) Option
	}{
		{"admin key rotates a user's key", "alice", func(a *authtest.Audiobookshelf) Option {
			return WithAPIKey(a.AddAPIKey("boss", "boss-key", 0, true))
		}},
		{"admin key rotates another of the admin's keys", "boss", func(a *authtest.Audiobookshelf) Option {
			return WithAPIKey(a.AddAPIKey("boss", "boss-key", 0, true))
		}},
		{"admin key rotates another admin's key", "carol", func(a *authtest.Audiobookshelf) Option {
			return WithAPIKey(a.AddAPIKey("boss", "boss-key", 0, true))
		}},
		{"session rotates a user's key", "alice", func(*authtest.Audiobookshelf) Option { return WithLogin("boss", "boss-pw") }},
		{"session rotates its own user's key", "boss", func(*authtest.Audiobookshelf) Option { return WithLogin("boss", "boss-pw") }},
		{"legacy token rotates its own user's key", "boss", func(a *authtest.Audiobookshelf) Option {
			return WithAPIKey(a.LegacyToken("boss"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, clock := setupABS(t)
			a.AddUser("boss", "boss-pw", "admin")
			a.AddUser("carol", "carol-pw", "admin")
			c := newABSClient(t, a, clock, tc.auth(a))
			sent := func() string { return a.LastHeader("GET", "/api/me").Get("Authorization") }
			me, err := c.CurrentUser(t.Context())
			require.NoError(t, err)
			require.Equal(t, "boss", me.Username)
			credential := sent()

			oldSecret := a.AddAPIKey(tc.owner, "bridge", 0, true)
			oldID := absKeyID(t, oldSecret)
			nk, err := c.RotateAPIKey(t.Context(), oldID, CreateAPIKeyRequest{})
			require.NoError(t, err, "the old key is deleted with the client's own rights")
			assert.Equal(t, a.UserID(tc.owner), nk.UserID, "the new key acts as the old key's user")

			u, err := c.CurrentUser(t.Context())
			require.NoError(t, err)
			assert.Equal(t, "boss", u.Username, "the client is still itself")
			assert.Equal(t, credential, sent(), "with the credential it had")
			assert.NotContains(t, absListedIDs(t, a, clock), oldID, "the old key is deleted")
			assert.Contains(t, absListedIDs(t, a, clock), nk.ID)
			_, err = newABSClient(t, a, clock, WithAPIKey(oldSecret)).CurrentUser(t.Context())
			require.ErrorIs(t, err, ErrUnauthorized)
			u, err = newABSClient(t, a, clock, WithAPIKey(nk.Secret)).CurrentUser(t.Context())
			require.NoError(t, err)
			assert.Equal(t, tc.owner, u.Username)
		})
	}
}

// TestABSRotateHeldKeySwitches covers the class "rotating the key the
// client authenticates with": the client switches to the new key (same
// user), the old one is deleted, and rotating again works from the new key.
// An expiring key keeps its lifetime.
func TestABSRotateHeldKeySwitches(t *testing.T) {
	t.Parallel()
	for _, owner := range []string{"root", "boss"} {
		t.Run(owner, func(t *testing.T) {
			t.Parallel()
			a, clock := setupABS(t)
			a.AddUser("boss", "boss-pw", "admin")
			secret := a.AddAPIKey(owner, "self", 90*24*time.Hour, true)
			c := newABSClient(t, a, clock, WithAPIKey(secret))
			for range 2 {
				clock.Advance(time.Hour)
				oldID := absKeyID(t, secret)
				nk, err := c.RotateAPIKey(t.Context(), oldID, CreateAPIKeyRequest{})
				require.NoError(t, err)
				assert.Equal(t, clock.Now().Add(90*24*time.Hour).Unix(), nk.ExpiresAt.Unix(), "same lifetime, from now")
				u, err := c.CurrentUser(t.Context())
				require.NoError(t, err, "the client switched to the new key")
				assert.Equal(t, owner, u.Username)
				assert.Equal(t, "Bearer "+nk.Secret, a.LastHeader("GET", "/api/me").Get("Authorization"))
				assert.Equal(t, []string{nk.ID}, absListedIDs(t, a, clock))
				secret = nk.Secret
			}
		})
	}
}

// rtFunc is a RoundTripper made of a function.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// absRotationRequest says which request of a rotation r is, given the old
// key: "list", "create", "verify" (GET /api/me with another key than
// old), "delete old", "delete new", or "".
func absRotationRequest(r *http.Request, oldSecret, oldID string) string {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/api/api-keys"):
		return "list"
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/api/api-keys"):
		return "create"
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/api/me") && r.Header.Get("Authorization") != "Bearer "+oldSecret:
		return "verify"
	case r.Method == http.MethodDelete && strings.HasSuffix(p, "/api/api-keys/"+oldID):
		return "delete old"
	case r.Method == http.MethodDelete && strings.Contains(p, "/api/api-keys/"):
		return "delete new"
	}
	return ""
}

// TestABSRotationFailureRollsBackAndReportsState covers the class "a
// rotation that fails after it has changed something": whichever step
// fails (create, verify, deleting the old key after the client switched),
// the rotation is rolled back and the *RotationError says which keys
// exist, which one the client uses and whether the old key was deleted,
// and it unwraps to the cause. A rollback that fails, a deletion whose
// answer was lost, or one the client cannot check afterwards, are reported
// without ever leaving the client with no working key.
func TestABSRotationFailureRollsBackAndReportsState(t *testing.T) {
	t.Parallel()
	type fault struct {
		status int  // answer with this status instead of asking the server
		lose   bool // ask the server, then lose the answer
	}
	for _, tc := range []struct {
		name   string
		faults map[string]fault // by absRotationRequest; the first list always passes
		stage  string
		cause  error
		// the state the error reports, and what the server holds
		newDeleted, oldDeleted, clientOnNew, returned, rollbackErr bool
		says                                                       []string
	}{
		{name: "create fails", faults: map[string]fault{"create": {status: 403}}, stage: "create", cause: ErrForbidden,
			says: []string{"nothing was created", "the old key still exists", "the client uses the old key"}},
		{name: "verify fails", faults: map[string]fault{"verify": {status: 401}}, stage: "verify", cause: ErrUnauthorized,
			newDeleted: true, says: []string{"rolled back", "the client uses the old key"}},
		{name: "verify and rollback fail", faults: map[string]fault{"verify": {status: 401}, "delete new": {status: 500}},
			stage: "verify", cause: ErrUnauthorized, rollbackErr: true,
			says: []string{"the new key still exists", "rollback failed", "the old key still exists", "the client uses the old key"}},
		{name: "delete old refused after the switch", faults: map[string]fault{"delete old": {status: 403}},
			stage: "delete old key", cause: ErrForbidden, newDeleted: true,
			says: []string{"rolled back", "the old key still exists", "the client uses the old key"}},
		{name: "delete old fails, rollback fails", faults: map[string]fault{"delete old": {status: 500}, "delete new": {status: 500}},
			stage: "delete old key", rollbackErr: true,
			says: []string{"the new key still exists", "rollback failed", "the client uses the old key"}},
		{name: "delete old fails, the check fails", faults: map[string]fault{"delete old": {status: 500}, "list": {status: 500}},
			stage: "delete old key", clientOnNew: true, returned: true, rollbackErr: true,
			says: []string{"the new key still exists", "the old key may still exist", "the client uses the new key"}},
		{name: "delete old done but its answer lost", faults: map[string]fault{"delete old": {lose: true}},
			oldDeleted: true, clientOnNew: true, returned: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, clock := setupABS(t)
			secret := a.AddAPIKey("root", "self", 0, true)
			oldID := absKeyID(t, secret)
			var mu sync.Mutex
			armed, lists := false, 0
			rt := rtFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				kind := absRotationRequest(r, secret, oldID)
				if kind == "list" {
					lists++
				}
				f, ok := tc.faults[kind]
				ok = ok && armed && (kind != "list" || lists > 1)
				mu.Unlock()
				if ok && f.status != 0 {
					return &http.Response{StatusCode: f.status, Header: http.Header{}, Request: r,
						Body: io.NopCloser(strings.NewReader(http.StatusText(f.status)))}, nil
				}
				resp, err := testTransport.RoundTrip(r)
				if ok && f.lose && err == nil {
					resp.Body.Close()
					return nil, errors.New("connection reset (test)")
				}
				return resp, err
			})
			c := newABSClient(t, a, clock, WithAPIKey(secret), WithMaxRetries(0), WithHTTPClient(&http.Client{Transport: rt}))
			mu.Lock()
			armed = true
			mu.Unlock()

			nk, err := c.RotateAPIKey(t.Context(), oldID, CreateAPIKeyRequest{})
			mu.Lock()
			armed = false
			mu.Unlock()
			ids := absListedIDs(t, a, clock)
			if tc.stage == "" {
				require.NoError(t, err, "the old key is gone: the rotation completed")
			} else {
				var re *RotationError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, tc.stage, re.Stage)
				if tc.cause != nil {
					assert.ErrorIs(t, err, tc.cause, "unwraps to the cause")
				}
				assert.Equal(t, oldID, re.OldKeyID)
				assert.Equal(t, tc.newDeleted, re.NewKeyDeleted, "NewKeyDeleted")
				assert.Equal(t, tc.oldDeleted, re.OldKeyDeleted, "OldKeyDeleted")
				assert.Equal(t, tc.rollbackErr, re.RollbackErr != nil, "RollbackErr: %v", re.RollbackErr)
				if tc.clientOnNew {
					assert.Equal(t, re.NewKeyID, re.ClientKeyID)
				} else {
					assert.Equal(t, oldID, re.ClientKeyID)
				}
				for _, want := range tc.says {
					assert.Contains(t, err.Error(), want)
				}
				assert.NotContains(t, err.Error(), secret)
				if re.NewKeyID != "" {
					assert.Equal(t, !tc.newDeleted, slices.Contains(ids, re.NewKeyID), "the new key exists unless deleted")
				}
			}
			assert.Equal(t, !tc.oldDeleted, slices.Contains(ids, oldID), "the old key exists unless deleted")
			assert.Equal(t, tc.returned, nk != nil, "the new key is returned when it is kept")

			// The client still works, with the key the error names.
			want := secret
			if tc.clientOnNew {
				require.NotNil(t, nk)
				want = nk.Secret
			}
			_, err = c.CurrentUser(t.Context())
			require.NoError(t, err)
			assert.Equal(t, "Bearer "+want, a.LastHeader("GET", "/api/me").Get("Authorization"))
		})
	}
}

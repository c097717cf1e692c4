package authclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	komgaAdmin    = "admin@example.org"
	komgaAdminPw  = "correct horse ☃"
	komgaReader   = "reader@example.org"
	komgaReaderPw = "reader-pw"
)

// setupKomga starts a fake Komga mounted under /komga (as behind a reverse
// proxy) with an admin and a reader.
func setupKomga(t *testing.T) *authtest.Komga {
	t.Helper()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	t.Cleanup(k.Close)
	k.AddUser(komgaAdmin, komgaAdminPw, "ADMIN", "FILE_DOWNLOAD")
	k.AddUser(komgaReader, komgaReaderPw, "PAGE_STREAMING")
	return k
}

func TestKomgaCurrentUserWithEachAuthenticator(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	key := k.AddAPIKey(komgaAdmin, "script")
	for name, opt := range map[string]Option{
		"api key":  WithAPIKey(key),
		"login":    WithLogin(komgaAdmin, komgaAdminPw),
		"basic":    WithAuthenticator(BasicAuth(komgaAdmin, komgaAdminPw)),
		"key in X": WithAuthenticator(APIKeyIn(InHeader("X-API-Key"), key)),
	} {
		c := newTestClient(t, Komga, k.URL, opt)
		u, err := c.CurrentUser(t.Context())
		require.NoError(t, err, name)
		assert.Equal(t, komgaAdmin, u.Username, name)
		assert.Equal(t, komgaAdmin, u.Email, name)
		assert.True(t, u.Admin, name)
		assert.ElementsMatch(t, []string{"ADMIN", "FILE_DOWNLOAD", "USER"}, u.Roles, name)
		require.NotNil(t, u.Komga, name)
		assert.True(t, u.Komga.SharedAllLibraries, name)
		assert.NotEmpty(t, u.ID, name)
		if name == "api key" {
			h := k.LastHeader("GET", "/api/v2/users/me")
			assert.Equal(t, key, h.Get("X-API-Key"), "Komga's own header")
			assert.Empty(t, h.Get("Authorization"))
		}
	}
}

func TestKomgaUnauthorized(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	for name, opt := range map[string]Option{
		"wrong key":      WithAPIKey("0123456789abcdef0123456789abcdef"),
		"wrong password": WithLogin(komgaAdmin, "nope"),
		"wrong basic":    WithAuthenticator(BasicAuth(komgaAdmin, "nope")),
		"bearer ignored": WithAuthenticator(BearerToken("0123456789abcdef0123456789abcdef")),
		"none":           WithAuthenticator(NoAuth()),
		"stale cookie":   WithAuthenticator(SessionCookie(Komga, base64.StdEncoding.EncodeToString([]byte("gone")))),
	} {
		c := newTestClient(t, Komga, k.URL, opt)
		_, err := c.CurrentUser(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized, name)
		assert.False(t, errors.Is(err, ErrForbidden), name)
		var e *Error
		require.ErrorAs(t, err, &e, name)
		assert.Equal(t, http.StatusUnauthorized, e.StatusCode, name)
		assert.NotEmpty(t, e.Hint, name)
		assert.Contains(t, e.URL, "/komga/api/v2/users/me", name)
	}
}

func TestKomgaForbiddenAndNotFound(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithAPIKey(k.AddAPIKey(komgaReader, "reader")))
	err := c.Do(t.Context(), "GET", "api/v2/users", nil, nil)
	assert.ErrorIs(t, err, ErrForbidden)
	assert.False(t, errors.Is(err, ErrUnauthorized))
	err = c.Do(t.Context(), "GET", "api/v1/no-such-thing", nil, nil)
	assert.ErrorIs(t, err, ErrNotFound)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Message, "No endpoint")
}

func TestKomgaLoginReusesOneSession(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
	assert.Nil(t, c.Session(), "sign-in is lazy")
	for range 5 {
		_, err := c.CurrentUser(t.Context())
		require.NoError(t, err)
	}
	assert.Equal(t, 1, k.Logins(), "one password check, then the session")
	s := c.Session()
	require.NotNil(t, s)
	assert.Equal(t, Komga, s.Server)
	assert.Equal(t, komgaAdmin, s.Username)
	assert.NotEmpty(t, s.Token)
	assert.Empty(t, k.LastHeader("GET", "/api/v2/users/me").Get("Authorization"), "no password after sign-in")
	assert.Equal(t, s.Token, k.LastHeader("GET", "/api/v2/users/me").Get("X-Auth-Token"))
}

func TestKomgaExplicitLogin(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	var hooked []Session
	var mu sync.Mutex
	c := newTestClient(t, Komga, k.URL, WithSessionHook(func(s Session) { mu.Lock(); hooked = append(hooked, s); mu.Unlock() }))
	_, err := c.Login(t.Context(), komgaAdmin, "wrong")
	require.ErrorIs(t, err, ErrUnauthorized)
	s, err := c.Login(t.Context(), komgaAdmin, komgaAdminPw)
	require.NoError(t, err)
	assert.NotEmpty(t, s.Token)
	u, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, komgaAdmin, u.Email)
	assert.Equal(t, 1, k.Logins())
	mu.Lock()
	assert.Len(t, hooked, 1)
	mu.Unlock()
}

func TestKomgaExpiredSessionSignsInAgainOnce(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	first := c.Session().Token

	k.ExpireSessions() // a server restart drops every session
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := c.CurrentUser(t.Context())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 2, k.Logins(), "100 goroutines meeting an expired session cause exactly one re-login")
	assert.NotEqual(t, first, c.Session().Token)
}

func TestKomgaConcurrentFirstUseSignsInOnce(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := c.ListAPIKeys(t.Context())
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, k.Logins())
}

func TestKomgaSessionExpiresAfterIdleWeek(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	k.Clock.Advance(7*24*time.Hour + time.Minute)
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, k.Logins())
}

func TestKomgaRememberMeSurvivesRestart(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw), WithRememberMe())
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	saved := c.Session()
	require.NotEmpty(t, saved.RememberMe)

	// A service restarts with the saved session and no password.
	data, err := json.Marshal(saved)
	require.NoError(t, err)
	var restored Session
	require.NoError(t, json.Unmarshal(data, &restored))
	k.ExpireSessions() // and Komga restarted too
	c2 := newTestClient(t, Komga, k.URL, WithSession(&restored))
	u, err := c2.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, komgaAdmin, u.Email)
	assert.Equal(t, 1, k.Logins(), "remember-me, not the password, signed in again")
	assert.NotEqual(t, saved.Token, c2.Session().Token)
	assert.Equal(t, saved.RememberMe, c2.Session().RememberMe)
}

func TestKomgaRestoredSessionWithoutRenewal(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	c2 := newTestClient(t, Komga, k.URL, WithSession(c.Session()))
	_, err = c2.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, k.Logins(), "the restored session is used as is")

	k.ExpireSessions()
	_, err = c2.CurrentUser(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized, "no password and no remember-me: the caller must sign in")

	c3 := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw), WithSession(c.Session()))
	_, err = c3.CurrentUser(t.Context())
	require.NoError(t, err, "with a password too, the client signs in again")

	_, err = New(Komga, k.URL, WithSession(&Session{Server: Audiobookshelf, Token: "t"}))
	var ce *ConfigError
	assert.ErrorAs(t, err, &ce)
	_, err = New(Komga, k.URL, WithSession(&Session{}))
	assert.ErrorAs(t, err, &ce)
}

func TestKomgaAPIKeys(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))

	keys, err := c.ListAPIKeys(t.Context())
	require.NoError(t, err)
	assert.Empty(t, keys)

	created, err := c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "backup script"})
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), created.Secret)
	assert.Equal(t, "backup script", created.Name)
	assert.True(t, created.Active)
	assert.False(t, created.CreatedAt.IsZero())

	keys, err = c.ListAPIKeys(t.Context())
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Equal(t, created.ID, keys[0].ID)
	assert.Equal(t, "backup script", keys[0].Name)

	// The new key works.
	kc := newTestClient(t, Komga, k.URL, WithAPIKey(created.Secret))
	_, err = kc.CurrentUser(t.Context())
	require.NoError(t, err)

	// Names are unique per user, case-insensitively: ERR_1034.
	_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "BACKUP SCRIPT"})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusBadRequest, e.StatusCode)
	assert.Equal(t, KomgaDuplicateKeyName, e.Code)
	assert.Contains(t, e.Error(), "already exists")

	// Client-side checks for what Komga keys cannot do.
	_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: " "})
	var ce *ConfigError
	assert.ErrorAs(t, err, &ce)
	_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "x", ExpiresIn: time.Hour})
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "x", Inactive: true})
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	// The server's own validation shape reaches the error too.
	err = c.Do(t.Context(), "POST", "api/v2/users/me/api-keys", map[string]string{"comment": ""}, nil)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "comment: must not be blank", e.Message)

	require.NoError(t, c.DeleteAPIKey(t.Context(), created.ID))
	assert.ErrorIs(t, c.DeleteAPIKey(t.Context(), created.ID), ErrNotFound)
	assert.ErrorIs(t, c.DeleteAPIKey(t.Context(), "../../users"), ErrInvalidPath)
	_, err = kc.CurrentUser(t.Context())
	assert.ErrorIs(t, err, ErrUnauthorized, "a deleted key stops working")
}

func TestKomgaRotateAPIKey(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	oldSecret := k.AddAPIKey(komgaAdmin, "ci")
	c := newTestClient(t, Komga, k.URL, WithAPIKey(oldSecret))
	keys, err := c.ListAPIKeys(t.Context())
	require.NoError(t, err)
	require.Len(t, keys, 1)
	oldID := keys[0].ID

	nk, err := c.RotateAPIKey(t.Context(), oldID, CreateAPIKeyRequest{})
	require.NoError(t, err)
	assert.NotEqual(t, oldSecret, nk.Secret)
	assert.Contains(t, nk.Name, "ci (rotated ")

	keys, err = c.ListAPIKeys(t.Context())
	require.NoError(t, err, "the client switched to the new key")
	require.Len(t, keys, 1)
	assert.Equal(t, nk.ID, keys[0].ID)

	old := newTestClient(t, Komga, k.URL, WithAPIKey(oldSecret))
	_, err = old.CurrentUser(t.Context())
	assert.ErrorIs(t, err, ErrUnauthorized, "the old key is gone")

	// Rotating again strips the previous stamp instead of stacking them.
	nk2, err := c.RotateAPIKey(t.Context(), nk.ID, CreateAPIKeyRequest{Name: "ci-2"})
	require.NoError(t, err)
	assert.Equal(t, "ci-2", nk2.Name)

	_, err = c.RotateAPIKey(t.Context(), "0UNKNOWNID000", CreateAPIKeyRequest{})
	require.ErrorIs(t, err, ErrNotFound)
	keys, err = c.ListAPIKeys(t.Context())
	require.NoError(t, err)
	assert.Len(t, keys, 1, "nothing is created for an unknown key")
}

func TestKomgaRotateAPIKeyRollsBack(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	oldSecret := k.AddAPIKey(komgaAdmin, "ci")
	c := newTestClient(t, Komga, k.URL, WithAPIKey(oldSecret))
	keys, err := c.ListAPIKeys(t.Context())
	require.NoError(t, err)

	// Creating the new key fails (its name is taken): nothing changes.
	_, err = c.RotateAPIKey(t.Context(), keys[0].ID, CreateAPIKeyRequest{Name: "ci"})
	var re *RotationError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "create", re.Stage)
	assert.NoError(t, re.RollbackErr)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, KomgaDuplicateKeyName, e.Code)
	after, err := c.ListAPIKeys(t.Context())
	require.NoError(t, err)
	assert.Len(t, after, 1)

	// The new key fails verification: it is deleted, the old one kept.
	k.Faults.FailNextOn("/api/v2/users/me", 1, http.StatusUnauthorized, -1)
	_, err = c.RotateAPIKey(t.Context(), keys[0].ID, CreateAPIKeyRequest{})
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "verify", re.Stage)
	assert.NoError(t, re.RollbackErr)
	assert.ErrorIs(t, err, ErrUnauthorized)
	after, err = c.ListAPIKeys(t.Context())
	require.NoError(t, err, "the client still uses the old key")
	require.Len(t, after, 1)
	assert.Equal(t, keys[0].ID, after[0].ID)

	// Deleting the old key fails: rolled back, the new key deleted and
	// the client back on the old key.
	k.Faults.FailNextOn("/api/v2/users/me/api-keys/"+keys[0].ID, 1, http.StatusInternalServerError, -1)
	nk, err := c.RotateAPIKey(t.Context(), keys[0].ID, CreateAPIKeyRequest{})
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "delete old key", re.Stage)
	assert.Nil(t, nk)
	assert.True(t, re.NewKeyDeleted)
	assert.False(t, re.OldKeyDeleted)
	assert.Empty(t, re.ClientKeyID, "Komga cannot tell which key the client holds")
	after, err = c.ListAPIKeys(t.Context())
	require.NoError(t, err, "the client uses the old key again")
	require.Len(t, after, 1)
	assert.Equal(t, keys[0].ID, after[0].ID)
}

func TestKomgaOAuthProviders(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithAPIKey("0123456789abcdef0123456789abcdef")) // even a bad key
	ps, err := c.ListOAuthProviders(t.Context())
	require.NoError(t, err)
	assert.Empty(t, ps)
	k.AddOAuthProvider("Google", "google")
	k.AddOAuthProvider("My IdP", "authentik")
	ps, err = c.ListOAuthProviders(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []OAuthProvider{
		{ID: "google", Name: "Google", LoginURL: k.URL + "oauth2/authorization/google"},
		{ID: "authentik", Name: "My IdP", LoginURL: k.URL + "oauth2/authorization/authentik"},
	}, ps)
}

// komgaSessionCookie converts c's session into its KOMGA-SESSION cookie
// through the public core (package komga's SessionCookie does the same).
func komgaSessionCookie(t *testing.T, c *Client) *http.Cookie {
	t.Helper()
	var m Meta
	require.NoError(t, c.Do(t.Context(), http.MethodGet, "api/v1/login/set-cookie", nil, nil, NoRedirect(), ResponseMeta(&m)))
	for _, ck := range (&http.Response{Header: m.Header}).Cookies() {
		if ck.Name == "KOMGA-SESSION" {
			return ck
		}
	}
	t.Fatal("no KOMGA-SESSION cookie")
	return nil
}

func TestKomgaLogout(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw), WithRememberMe())
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	token := c.Session().Token
	require.NoError(t, c.Logout(t.Context()))
	assert.Equal(t, 1, k.Requests("POST", "/api/logout"))
	assert.Equal(t, token, k.LastHeader("POST", "/api/logout").Get("X-Auth-Token"))
	assert.Nil(t, c.Session())
	assert.Zero(t, k.Sessions())
	require.NoError(t, c.Logout(t.Context()), "logout is idempotent")
	assert.Equal(t, 1, k.Requests("POST", "/api/logout"), "no session, no request")

	_, err = c.CurrentUser(t.Context())
	assert.ErrorIs(t, err, ErrUnauthorized, "a logged-out client does not sign in again by itself")
	_, err = c.Login(t.Context(), komgaAdmin, komgaAdminPw)
	require.NoError(t, err)
	require.NoError(t, c.Logout(t.Context(), LogoutWithGET()))
	assert.Equal(t, 1, k.Requests("GET", "/api/logout"))

	// A session cookie is logged out on the server too.
	c2 := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
	cookie := komgaSessionCookie(t, c2)
	cc := newTestClient(t, Komga, k.URL, WithAuthenticator(SessionCookie(Komga, cookie.Value)))
	require.NoError(t, cc.Logout(t.Context()))
	_, err = c2.CurrentUser(t.Context())
	require.NoError(t, err, "c2 signs in again after its session was ended elsewhere")

	// API keys have no session: nothing to do.
	kc := newTestClient(t, Komga, k.URL, WithAPIKey(k.AddAPIKey(komgaAdmin, "k")))
	before := k.TotalRequests()
	require.NoError(t, kc.Logout(t.Context()))
	assert.Equal(t, before, k.TotalRequests())
}

func TestKomgaProbe(t *testing.T) {
	t.Parallel()
	empty := authtest.NewKomga()
	defer empty.Close()
	c := newTestClient(t, Komga, empty.URL)
	info, err := c.Probe(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &ServerInfo{Server: Komga, Initialized: false}, info)

	k := setupKomga(t)
	info, err = newTestClient(t, Komga, k.URL).Probe(t.Context())
	require.NoError(t, err)
	assert.True(t, info.Initialized)

	other := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/json/api/v1/claim" {
			_, _ = w.Write([]byte(`{"something":"else"}`))
			return
		}
		http.NotFound(w, r)
	})
	_, err = newTestClient(t, Komga, other.URL).Probe(t.Context())
	assert.ErrorIs(t, err, ErrUnexpectedServer)
	_, err = newTestClient(t, Komga, other.URL+"/json").Probe(t.Context())
	assert.ErrorIs(t, err, ErrUnexpectedServer)

	// A sign-in proxy in front of it answers with its HTML page.
	proxy := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<html><form>sign in</form></html>"))
	})
	_, err = newTestClient(t, Komga, proxy.URL).Probe(t.Context())
	assert.ErrorIs(t, err, ErrUnauthorized)
}

func TestKomgaAPIKeyModeSendsNoCookies(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	k.SetLegacyCookieBug(true) // Komga < 1.23.5: key + session cookie = empty 200
	login := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
	_, err := login.CurrentUser(t.Context()) // the server hands out session state
	require.NoError(t, err)
	c := newTestClient(t, Komga, k.URL, WithAPIKey(k.AddAPIKey(komgaAdmin, "k")))
	for range 3 {
		u, err := c.CurrentUser(t.Context())
		require.NoError(t, err)
		assert.Equal(t, komgaAdmin, u.Email)
	}
	assert.Empty(t, k.LastHeader("GET", "/api/v2/users/me").Get("Cookie"))
}

func TestKomgaFaults(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithAPIKey(k.AddAPIKey(komgaAdmin, "k")))
	k.Faults.FailNext(2, http.StatusServiceUnavailable, 0)
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err, "two 503s with Retry-After: 0 are retried")

	k.Faults.FailNext(1, http.StatusTooManyRequests, time.Hour)
	_, err = c.ListAPIKeys(t.Context())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.ErrorIs(t, err, ErrRateLimited)
	assert.Equal(t, time.Hour, e.RetryAfter)

	k.Faults.ResetNext(1)
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err, "a reset connection is retried")

	k.Faults.ResetNext(1)
	_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "once"})
	var te *TransportError
	require.ErrorAs(t, err, &te, "a POST is not retried after a reset")
}

func TestKomgaHealthAndCheckAuth(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	key := k.AddAPIKey(komgaAdmin, "health")
	c := newTestClient(t, Komga, k.URL, WithAPIKey(key))
	h, err := c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "UP", h.Status)
	require.NoError(t, c.CheckAuth(t.Context()))

	bad := newTestClient(t, Komga, k.URL, WithAPIKey("0123456789abcdef0123456789abcdef"))
	_, err = bad.Health(t.Context())
	require.NoError(t, err, "health needs no credentials")
	require.ErrorIs(t, bad.CheckAuth(t.Context()), ErrUnauthorized)

	k.Faults.FailNext(3, http.StatusServiceUnavailable, 0)
	_, err = c.Health(t.Context())
	require.ErrorIs(t, err, ErrUnavailable)
}

// The fake's latency knob, met by the per-attempt timeout. The latency
// (an hour: it ends when the client hangs up) can never beat the timeout,
// however slow the machine.
func TestKomgaFakeLatency(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	key := k.AddAPIKey(komgaAdmin, "slow")
	c := newTestClient(t, Komga, k.URL, WithAPIKey(key), WithTimeout(300*time.Millisecond), WithMaxRetries(0))
	k.Faults.SetLatency(time.Hour)
	_, err := c.CurrentUser(t.Context())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	k.Faults.SetLatency(0)
	c = newTestClient(t, Komga, k.URL, WithAPIKey(key)) // the default timeout
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err)
}

package authclient_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// absUnderPrefix starts a fake Audiobookshelf under /abs with a user.
func absUnderPrefix(t *testing.T) *authtest.Audiobookshelf {
	t.Helper()
	a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	t.Cleanup(a.Close)
	a.AddUser("alice", "alice-pw", "user")
	return a
}

func newABS(t *testing.T, a *authtest.Audiobookshelf, opts ...authclient.Option) *authclient.Client {
	t.Helper()
	c, err := authclient.New(authclient.Audiobookshelf, a.BasePathURL(), append([]authclient.Option{authclient.WithRetryWait(0, 0)}, opts...)...)
	require.NoError(t, err)
	return c
}

// signInAnswer signs in at /login as a sign-in route the client has no
// method for would be called, and returns the raw answer.
func signInAnswer(t *testing.T, c *authclient.Client, user, password string) []byte {
	t.Helper()
	var raw []byte
	var answer jsonRaw
	require.NoError(t, c.Do(t.Context(), http.MethodPost, "login", map[string]string{"username": user, "password": password}, &answer,
		authclient.Unauthenticated(), authclient.NoRetry(), authclient.Header("x-return-tokens", "true"), authclient.Secret(password)))
	raw = answer
	return raw
}

type jsonRaw []byte

func (j *jsonRaw) UnmarshalJSON(b []byte) error { *j = append((*j)[:0], b...); return nil }

// A sign-in the client has no method for, parsed with ParseSession and
// installed with UseSession, is used and renewed like a password session
// (but never signs in again), and each renewal reaches the session hook.
func TestParseSessionAndUseSession(t *testing.T) {
	t.Parallel()
	a := absUnderPrefix(t)
	var mu sync.Mutex
	var hooked []authclient.Session
	c := newABS(t, a, authclient.WithSessionHook(func(s authclient.Session) { mu.Lock(); hooked = append(hooked, s); mu.Unlock() }))

	s, err := c.ParseSession(signInAnswer(t, c, "alice", "alice-pw"))
	require.NoError(t, err)
	assert.Equal(t, authclient.Audiobookshelf, s.Server)
	assert.Equal(t, "alice", s.Username)
	assert.NotEmpty(t, s.Token)
	assert.NotEmpty(t, s.RefreshToken)
	assert.False(t, s.Expiry.IsZero(), "read from the access token's exp")
	assert.False(t, s.IssuedAt.IsZero(), "read from its iat")
	assert.False(t, s.RefreshExpiry.IsZero())
	assert.Nil(t, c.Session(), "parsing installs nothing")

	require.NoError(t, c.UseSession(s))
	got := c.Session()
	require.NotNil(t, got)
	assert.Equal(t, s.Token, got.Token)
	got.Token = "changed by the caller"
	assert.Equal(t, s.Token, c.Session().Token, "the client keeps its own copy")

	u, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "alice", u.Username)
	assert.Equal(t, "Bearer "+s.Token, a.LastHeader("GET", "/api/me").Get("Authorization"))

	a.Faults.FailNextOn("/api/me", 1, http.StatusUnauthorized, -1)
	_, err = c.CurrentUser(t.Context())
	require.NoError(t, err, "renewed with the refresh token and replayed")
	assert.Equal(t, 1, a.Refreshes())
	mu.Lock()
	require.Len(t, hooked, 1, "the renewal reaches the hook; UseSession's own session does not")
	assert.NotEqual(t, s.Token, hooked[0].Token)
	mu.Unlock()

	// Once the refresh token is gone the client cannot sign in again by itself.
	logins := a.Logins()
	a.SessionCount("alice")
	c2 := newABS(t, a)
	require.NoError(t, c2.UseSession(&authclient.Session{Token: "not-a-jwt-access-token", RefreshToken: "not-a-refresh-token"}))
	_, err = c2.CurrentUser(t.Context())
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
	assert.NotContains(t, err.Error(), "not-a-jwt-access-token")
	assert.NotContains(t, err.Error(), "not-a-refresh-token")
	assert.Equal(t, logins, a.Logins(), "no password sign-in")
}

// UseSession refuses every session it could not send, and keeps the
// client's credentials: the class is nil, no token, control characters or
// white space in any token, another server's session; and servers without
// sessions.
func TestUseSessionRefuses(t *testing.T) {
	t.Parallel()
	a := absUnderPrefix(t)
	key := a.AddAPIKey("alice", "k", 0, true)
	c := newABS(t, a, authclient.WithAPIKey(key))
	const tok = "planted-token-Qz81"
	var ce *authclient.ConfigError
	for name, s := range map[string]*authclient.Session{
		"nil":                 nil,
		"no token":            {RefreshToken: tok},
		"CR LF in token":      {Token: tok + "\r\nX-Injected: 1"},
		"LF in refresh":       {Token: tok, RefreshToken: tok + "\n"},
		"NUL in remember-me":  {Token: tok, RememberMe: tok + "\x00"},
		"leading space":       {Token: " " + tok},
		"another server's":    {Server: authclient.Komga, Token: tok},
		"unknown server name": {Server: "Jellyfin", Token: tok},
	} {
		err := c.UseSession(s)
		require.ErrorAs(t, err, &ce, name)
		assert.Equal(t, "UseSession", ce.Setting, name)
		assert.NotContains(t, fmt.Sprintf("%v %+v %#v", err, err, err), tok, name)
	}
	assert.Nil(t, c.Session())
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err, "still the API key")
	assert.Equal(t, "Bearer "+key, a.LastHeader("GET", "/api/me").Get("Authorization"))

	for _, server := range []authclient.Server{authclient.ComfyUI, authclient.Khoj} {
		oc, err := authclient.New(server, a.BasePathURL())
		require.NoError(t, err)
		require.ErrorIs(t, oc.UseSession(&authclient.Session{Token: tok}), errors.ErrUnsupported, server)
	}
}

// Komga's sessions install the same way: a session token from elsewhere.
func TestUseSessionKomga(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	t.Cleanup(k.Close)
	k.AddUser("me@example.org", "pw-123456")
	signer, err := authclient.New(authclient.Komga, k.URL)
	require.NoError(t, err)
	s, err := signer.Login(t.Context(), "me@example.org", "pw-123456")
	require.NoError(t, err)

	c, err := authclient.New(authclient.Komga, k.URL)
	require.NoError(t, err)
	require.NoError(t, c.UseSession(s))
	u, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "me@example.org", u.Email)
	_, err = c.ParseSession([]byte(`{}`))
	require.ErrorIs(t, err, errors.ErrUnsupported, "Komga's sign-in answer is a header, not JSON")
}

// ParseSession's errors: the class is every answer that is not the login
// JSON (not JSON, another shape, null, an array, no access token, longer
// than the client reads), each ErrUnexpectedServer with StatusCode 0 and
// nothing of the answer; and servers whose sign-in is not JSON.
func TestParseSessionRefuses(t *testing.T) {
	t.Parallel()
	a := absUnderPrefix(t)
	c := newABS(t, a)
	const tok = "planted-refresh-Wm62"
	for name, data := range map[string][]byte{
		"not JSON":        []byte("<html>" + tok + "</html>"),
		"empty":           nil,
		"null":            []byte("null"),
		"array":           []byte(`["` + tok + `"]`),
		"user not object": []byte(`{"user": "` + tok + `"}`),
		"no access token": []byte(`{"user": {"username": "root", "refreshToken": "` + tok + `"}}`),
		"too long":        tooLongAnswer(),
	} {
		s, err := c.ParseSession(data)
		require.ErrorIs(t, err, authclient.ErrUnexpectedServer, name)
		assert.Nil(t, s, name)
		var e *authclient.Error
		require.ErrorAs(t, err, &e, name)
		assert.Zero(t, e.StatusCode, name)
		assert.NotContains(t, err.Error(), tok, name)
	}
	// A token a header could not carry parses, but is never installed.
	s, err := c.ParseSession([]byte(`{"user": {"username": "root", "accessToken": "a\r\nX-Injected: 1"}}`))
	require.NoError(t, err)
	require.Error(t, c.UseSession(s))

	for _, server := range []authclient.Server{authclient.ComfyUI, authclient.Khoj, authclient.Komga} {
		oc, err := authclient.New(server, a.BasePathURL())
		require.NoError(t, err)
		_, err = oc.ParseSession([]byte(`{"user": {"accessToken": "x"}}`))
		require.ErrorIs(t, err, errors.ErrUnsupported, server)
	}
}

// ParseUser reads the account as CurrentUser does; tokens in the object
// are masked from then on (here: a server echoing one in an error).
func TestParseUser(t *testing.T) {
	t.Parallel()
	a := absUnderPrefix(t)
	c := newABS(t, a, authclient.WithLogin("alice", "alice-pw"))
	var raw jsonRaw
	require.NoError(t, c.Do(t.Context(), http.MethodGet, "api/me", nil, &raw))
	u, err := c.ParseUser(raw)
	require.NoError(t, err)
	want, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, want, u)
	assert.Equal(t, "user", u.Audiobookshelf.Type)

	const tok = "object-access-token-Yb40"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad token "+tok+" and refresh "+tok+"-r", http.StatusBadRequest)
	}))
	t.Cleanup(echo.Close)
	ec, err := authclient.New(authclient.Audiobookshelf, echo.URL, authclient.WithMaxRetries(0))
	require.NoError(t, err)
	_, err = ec.ParseUser([]byte(`{"id": "u1", "username": "x", "accessToken": "` + tok + `", "refreshToken": "` + tok + `-r"}`))
	require.NoError(t, err)
	err = ec.Do(t.Context(), http.MethodGet, "api/libraries", nil, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), tok, "the object's tokens are masked from the moment they are parsed")
	assert.Contains(t, err.Error(), "REDACTED")

	for name, data := range map[string][]byte{
		"not JSON": []byte("<html>"), "null": []byte("null"), "string": []byte(`"` + tok + `"`),
		"no id": []byte(`{"username": "x"}`), "id a number": []byte(`{"id": 5}`),
		"too long": tooLongAnswer(),
	} {
		_, err := c.ParseUser(data)
		require.ErrorIs(t, err, authclient.ErrUnexpectedServer, name)
		assert.NotContains(t, err.Error(), tok, name)
	}
	for _, server := range []authclient.Server{authclient.ComfyUI, authclient.Khoj, authclient.Komga} {
		oc, err := authclient.New(server, a.BasePathURL())
		require.NoError(t, err)
		_, err = oc.ParseUser([]byte(`{"id": "u1"}`))
		require.ErrorIs(t, err, errors.ErrUnsupported, server)
	}
}

// tooLongAnswer is a JSON answer past what the client reads (33 MiB, a
// planted token at its start), made once: under -race building it costs
// more than the test.
var tooLongAnswer = sync.OnceValue(func() []byte {
	b := []byte(`{"user": {"id": "1", "accessToken": "planted-refresh-Wm62", "x": "`)
	b = append(b, bytes.Repeat([]byte("x"), 33<<20)...)
	return append(b, `"}}`...)
})

package komga_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/komga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	admin   = "admin@example.org"
	adminPw = "correct horse ☃"
)

// fast makes retries quick (a backoff, not a timeout: nothing races it).
var fast = authclient.WithRetryWait(0, 0)

// setup starts a fake Komga mounted under /komga (as behind a reverse
// proxy) with an admin.
func setup(t *testing.T) *authtest.Komga {
	t.Helper()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	t.Cleanup(k.Close)
	k.AddUser(admin, adminPw, "ADMIN")
	return k
}

// newClient is a Komga client for baseURL with quick retries.
func newClient(t *testing.T, baseURL string, opts ...authclient.Option) *komga.Client {
	t.Helper()
	c, err := komga.New(baseURL, append([]authclient.Option{fast}, opts...)...)
	require.NoError(t, err)
	return c
}

// The constructors check the server: the class is every way to get a
// *komga.Client (New, NewFromEnv, Wrap, a zero or nil Client) and every bad
// input to them (nil, another server, a bad URL, a missing variable), each
// a *authclient.ConfigError that names no credential.
func TestConstructorsCheckTheServer(t *testing.T) {
	k := setup(t)
	key := k.AddAPIKey(admin, "script")
	var ce *authclient.ConfigError

	core, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key))
	require.NoError(t, err)
	c, err := komga.Wrap(core)
	require.NoError(t, err)
	assert.Same(t, core, c.Core(), "Wrap shares the core")
	u, err := c.Core().CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, admin, u.Email)

	_, err = komga.Wrap(nil)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "komga.Wrap", ce.Setting)
	for _, other := range []authclient.Server{authclient.ComfyUI, authclient.Audiobookshelf, authclient.Khoj} {
		oc, err := authclient.New(other, k.URL, authclient.WithAPIKey(key))
		require.NoError(t, err)
		w, err := komga.Wrap(oc)
		require.ErrorAs(t, err, &ce, other)
		assert.Nil(t, w)
		assert.Contains(t, err.Error(), string(other), other)
		assert.NotContains(t, err.Error(), key, other)
	}

	for _, bad := range []string{"", "ftp://h/", "http://h/\n", "://"} {
		c, err := komga.New(bad, authclient.WithAPIKey(key))
		require.ErrorAs(t, err, &ce, bad)
		assert.Nil(t, c)
	}
	c, err = komga.New(k.URL, authclient.WithLogin(admin, adminPw))
	require.NoError(t, err)
	assert.Equal(t, authclient.Komga, c.Core().Server())

	// Clients not made by a constructor fail cleanly, never panic.
	for name, bad := range map[string]*komga.Client{"nil": nil, "zero": {}} {
		assert.Nil(t, bad.Core(), name)
		ck, err := bad.SessionCookie(t.Context())
		require.ErrorAs(t, err, &ce, name)
		assert.Equal(t, "komga.Client", ce.Setting, name)
		assert.Nil(t, ck, name)
	}

	// NewFromEnv reads KOMGA_* (t.Setenv: this test is not parallel).
	t.Setenv("KOMGA_URL", k.URL)
	t.Setenv("KOMGA_API_KEY", key)
	c, err = komga.NewFromEnv(fast)
	require.NoError(t, err)
	require.NoError(t, c.Core().CheckAuth(t.Context()))
	assert.Equal(t, key, k.LastHeader("GET", "/api/v2/users/me").Get("X-API-Key"))
	t.Setenv("KOMGA_URL", "")
	c, err = komga.NewFromEnv()
	require.ErrorAs(t, err, &ce)
	assert.Nil(t, c)
	assert.Equal(t, "KOMGA_URL", ce.Setting)
	assert.NotContains(t, err.Error(), key)
}

// SessionCookie works for every way a client holds a session: a lazy
// WithLogin not signed in yet, one signed in already, Login, remember-me.
func TestSessionCookieFromEachSession(t *testing.T) {
	t.Parallel()
	k := setup(t)
	for name, mk := range map[string]func() *komga.Client{
		"WithLogin, not signed in": func() *komga.Client { return newClient(t, k.URL, authclient.WithLogin(admin, adminPw)) },
		"WithLogin, signed in": func() *komga.Client {
			c := newClient(t, k.URL, authclient.WithLogin(admin, adminPw))
			_, err := c.Core().CurrentUser(t.Context())
			require.NoError(t, err)
			return c
		},
		"Login": func() *komga.Client {
			c := newClient(t, k.URL)
			_, err := c.Core().Login(t.Context(), admin, adminPw)
			require.NoError(t, err)
			return c
		},
		"remember-me": func() *komga.Client {
			return newClient(t, k.URL, authclient.WithLogin(admin, adminPw), authclient.WithRememberMe())
		},
	} {
		c := mk()
		cookie, err := c.SessionCookie(t.Context())
		require.NoError(t, err, name)
		assert.Equal(t, "KOMGA-SESSION", cookie.Name, name)
		assert.True(t, cookie.HttpOnly, name)
		assert.Equal(t, "/komga/", cookie.Path, name)
		raw, err := base64.StdEncoding.DecodeString(cookie.Value)
		require.NoError(t, err, name)
		assert.Equal(t, c.Core().Session().Token, string(raw), "%s: the cookie is the Base64 of the session id", name)

		// The cookie works as a session of its own, and the client keeps its.
		cc := newClient(t, k.URL, authclient.WithAuthenticator(authclient.SessionCookie(authclient.Komga, cookie.Value)))
		u, err := cc.Core().CurrentUser(t.Context())
		require.NoError(t, err, name)
		assert.Equal(t, admin, u.Email, name)
		_, err = c.Core().CurrentUser(t.Context())
		require.NoError(t, err, name)
	}
}

// SessionCookie needs a session: the class is every authenticator without
// one (API key in Komga's header or another placement, Basic, a cookie),
// each a *authclient.ConfigError naming no credential; without any
// credential Komga refuses (ErrUnauthorized), and a wrong password is the
// sign-in's ErrUnauthorized.
func TestSessionCookieNeedsASession(t *testing.T) {
	t.Parallel()
	k := setup(t)
	key := k.AddAPIKey(admin, "k")
	browser := newClient(t, k.URL, authclient.WithLogin(admin, adminPw))
	ck, err := browser.SessionCookie(t.Context())
	require.NoError(t, err)
	secrets := []string{key, adminPw, ck.Value, base64.StdEncoding.EncodeToString([]byte(admin + ":" + adminPw))}

	for name, opt := range map[string]authclient.Option{
		"api key":        authclient.WithAPIKey(key),
		"api key bearer": authclient.WithAuthenticator(authclient.APIKeyIn(authclient.InHeader("X-API-Key"), key)),
		"basic":          authclient.WithAuthenticator(authclient.BasicAuth(admin, adminPw)),
		"cookie":         authclient.WithAuthenticator(authclient.SessionCookie(authclient.Komga, ck.Value)),
	} {
		c := newClient(t, k.URL, opt)
		got, err := c.SessionCookie(t.Context())
		var ce *authclient.ConfigError
		require.ErrorAs(t, err, &ce, name)
		assert.Equal(t, "komga.Client.SessionCookie", ce.Setting, name)
		assert.Nil(t, got, name)
		for _, s := range secrets {
			assert.NotContains(t, err.Error(), s, name)
		}
	}

	_, err = newClient(t, k.URL).SessionCookie(t.Context())
	require.ErrorIs(t, err, authclient.ErrUnauthorized, "no credential")
	_, err = newClient(t, k.URL, authclient.WithLogin(admin, "wrong password")).SessionCookie(t.Context())
	require.ErrorIs(t, err, authclient.ErrUnauthorized, "wrong password")
	assert.NotContains(t, err.Error(), "wrong password")
}

// fakeKomga is a Komga that signs in (Basic to /api/v2/users/me gives an
// X-Auth-Token) and answers set-cookie with setCookie's headers; /echo
// answers 400 with the request's query echoed in the message.
func fakeKomga(t *testing.T, setCookie func(w http.ResponseWriter)) *httptest.Server {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v2/users/me":
			if _, _, ok := r.BasicAuth(); ok {
				w.Header().Set("X-Auth-Token", "session-token-"+string(rune('a'+n.Add(1))))
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id": "1", "email": "` + admin + `", "roles": ["ADMIN"]}`))
		case "/api/v1/login/set-cookie":
			setCookie(w)
		case "/echo":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status": 400, "error": "Bad Request", "message": "bad value ` + r.URL.Query().Get("v") + `"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// An answer without a usable KOMGA-SESSION cookie is ErrNoSessionCookie
// (an ErrUnexpectedServer): the class is no cookie, other cookies only, an
// empty value, a deletion (Max-Age=0, or an expiry in the past).
func TestSessionCookieMissing(t *testing.T) {
	t.Parallel()
	for name, header := range map[string][]string{
		"no cookie":     nil,
		"other cookies": {"JSESSIONID=abcdefgh; Path=/", "komga-remember-me=xyzxyzxyz; Path=/"},
		"empty value":   {"KOMGA-SESSION=; Path=/; HttpOnly"},
		"deleted":       {"KOMGA-SESSION=old-value-here; Path=/; Max-Age=0"},
		"wrong case":    {"komga-session=abcdefgh; Path=/"},
	} {
		srv := fakeKomga(t, func(w http.ResponseWriter) {
			for _, h := range header {
				w.Header().Add("Set-Cookie", h)
			}
			w.WriteHeader(http.StatusNoContent)
		})
		c := newClient(t, srv.URL, authclient.WithLogin(admin, adminPw))
		ck, err := c.SessionCookie(t.Context())
		require.ErrorIs(t, err, komga.ErrNoSessionCookie, name)
		require.ErrorIs(t, err, authclient.ErrUnexpectedServer, name)
		assert.True(t, strings.HasPrefix(err.Error(), "komga: "), name)
		assert.Nil(t, ck, name)
	}

	// Komga's refusals are the core's errors.
	srv := fakeKomga(t, func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	_, err := newClient(t, srv.URL, authclient.WithLogin(admin, adminPw), authclient.WithMaxRetries(0)).SessionCookie(t.Context())
	require.ErrorIs(t, err, authclient.ErrServer)
	var e *authclient.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
}

// The cookie is a credential: whatever its value (the Base64 of the
// session, or an opaque one a proxy or another version sets), it never
// shows in the client's errors or logs, in any form an echo takes (as it
// is, or in another call's error message and log lines).
func TestSessionCookieIsMasked(t *testing.T) {
	t.Parallel()
	for _, value := range []string{"opaque-cookie-value-1234", "c2Vzc2lvbi10b2tlbi1i", "a+b/c=d%2Fe-long-enough"} {
		srv := fakeKomga(t, func(w http.ResponseWriter) {
			w.Header().Add("Set-Cookie", "KOMGA-SESSION="+value+"; Path=/; HttpOnly")
			w.WriteHeader(http.StatusNoContent)
		})
		var logs bytes.Buffer
		c := newClient(t, srv.URL, authclient.WithLogin(admin, adminPw),
			authclient.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		ck, err := c.SessionCookie(t.Context())
		require.NoError(t, err, value)
		assert.Equal(t, value, ck.Value)
		err = c.Core().Do(t.Context(), http.MethodGet, "echo", nil, nil, authclient.Query(url.Values{"v": {value}}))
		require.Error(t, err, value)
		var e *authclient.Error
		require.ErrorAs(t, err, &e, value)
		assert.Contains(t, e.Message, "bad value", value)
		for _, s := range []string{err.Error(), e.Message, e.Hint, logs.String()} {
			assert.NotContains(t, s, value, value)
		}
		assert.NotContains(t, logs.String(), adminPw)
		assert.False(t, errors.Is(err, komga.ErrNoSessionCookie))
	}
}

package khoj_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/khoj"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	alice = "alice@example.org"
	bob   = "bob@example.org"
)

// fast makes retries quick (a backoff, not a timeout: nothing races it).
var fast = authclient.WithRetryWait(0, 0)

// setup starts a fake Khoj mounted under /khoj (as behind a reverse proxy)
// on a frozen clock, with Alice and Bob as users.
func setup(t *testing.T) (*authtest.Khoj, *authtest.Clock) {
	t.Helper()
	clock := authtest.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	k := authtest.NewKhoj(authtest.WithPrefix("/khoj"), authtest.WithClock(clock))
	t.Cleanup(k.Close)
	k.AddUser(alice)
	k.AddUser(bob)
	return k, clock
}

// newClient is a Khoj client for baseURL with quick retries.
func newClient(t *testing.T, baseURL string, opts ...authclient.Option) *khoj.Client {
	t.Helper()
	c, err := khoj.New(baseURL, append([]authclient.Option{fast}, opts...)...)
	require.NoError(t, err)
	return c
}

// assertNoSecret fails if err's text, in any form, holds one of secrets.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out := fmt.Sprintf(verb, err)
		for _, s := range secrets {
			assert.NotContains(t, out, s, "%s of the error leaks a secret", verb)
		}
	}
}

// The constructors check the server: the class is every way to get a
// *khoj.Client (New, NewFromEnv, Wrap, a zero or nil Client) and every bad
// input to them (nil, another server, a bad URL, a missing variable), each
// a *authclient.ConfigError that names no credential, and nothing is sent.
func TestConstructorsCheckTheServer(t *testing.T) {
	k, _ := setup(t)
	token := k.AddToken(alice, "script")
	var ce *authclient.ConfigError

	core, err := authclient.New(authclient.Khoj, k.URL, authclient.WithAPIKey(token))
	require.NoError(t, err)
	c, err := khoj.Wrap(core)
	require.NoError(t, err)
	assert.Same(t, core, c.Core(), "Wrap shares the core")
	require.NoError(t, c.Core().CheckAuth(t.Context()))

	_, err = khoj.Wrap(nil)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "khoj.Wrap", ce.Setting)
	for _, other := range []authclient.Server{authclient.ComfyUI, authclient.Audiobookshelf, authclient.Komga} {
		oc, err := authclient.New(other, k.URL, authclient.WithAPIKey(token))
		require.NoError(t, err)
		w, err := khoj.Wrap(oc)
		require.ErrorAs(t, err, &ce, other)
		assert.Nil(t, w)
		assert.Contains(t, err.Error(), string(other), other)
		assert.NotContains(t, err.Error(), token, other)
	}
	for _, bad := range []string{"", "ftp://h/", "http://h/\n", "://"} {
		c, err := khoj.New(bad, authclient.WithAPIKey(token))
		require.ErrorAs(t, err, &ce, bad)
		assert.Nil(t, c)
	}

	// Clients not made by a constructor fail cleanly, never panic.
	before := k.TotalRequests()
	for name, bad := range map[string]*khoj.Client{"nil": nil, "zero": {}} {
		assert.Nil(t, bad.Core(), name)
		for op, err := range map[string]error{
			"SendMagicLink":   bad.SendMagicLink(t.Context(), alice),
			"VerifyMagicLink": bad.VerifyMagicLink(t.Context(), alice, "123456"),
			"BootstrapToken":  func() error { _, err := bad.BootstrapToken(t.Context(), alice, "123456", "x"); return err }(),
		} {
			require.ErrorAs(t, err, &ce, name+" "+op)
			assert.Equal(t, "khoj.Client", ce.Setting, name+" "+op)
		}
	}
	assert.Equal(t, before, k.TotalRequests())

	// NewFromEnv reads KHOJ_* (t.Setenv: this test is not parallel).
	t.Setenv("KHOJ_URL", k.URL)
	t.Setenv("KHOJ_API_KEY", token)
	c, err = khoj.NewFromEnv(fast)
	require.NoError(t, err)
	require.NoError(t, c.Core().CheckAuth(t.Context()))
	t.Setenv("KHOJ_URL", "")
	c, err = khoj.NewFromEnv()
	require.ErrorAs(t, err, &ce)
	assert.Nil(t, c)
	assert.Equal(t, "KHOJ_URL", ce.Setting)
	assert.NotContains(t, err.Error(), token)
}

func TestMagicLinkSignIn(t *testing.T) {
	t.Parallel()
	k, _ := setup(t)
	c := newClient(t, k.URL)
	const newcomer = "New.User@Example.org"
	require.NoError(t, c.SendMagicLink(t.Context(), newcomer))
	code := k.MagicCode(newcomer)
	require.Len(t, code, 6)
	assert.Empty(t, k.LastHeader("POST", "/auth/magic").Get("Authorization"))

	require.NoError(t, c.VerifyMagicLink(t.Context(), newcomer, code))
	u, err := c.Core().CurrentUser(t.Context())
	require.NoError(t, err, "signed in with the session cookie")
	assert.Equal(t, "new.user@example.org", u.Email)
	assert.Contains(t, k.LastHeader("GET", "/api/v1/user").Get("Cookie"), "session=")
	assert.Equal(t, 0, k.Requests("GET", "/"), "the 307 to / is not followed")

	tok, err := c.Core().CreateAPIKey(t.Context(), authclient.CreateAPIKeyRequest{Name: "minted"})
	require.NoError(t, err)
	assert.Equal(t, []string{tok.Secret}, k.Tokens(newcomer))

	// The code is single-use.
	err = c.VerifyMagicLink(t.Context(), newcomer, code)
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
}

func TestBootstrapToken(t *testing.T) {
	t.Parallel()
	k, _ := setup(t)
	c := newClient(t, k.URL)
	require.NoError(t, c.SendMagicLink(t.Context(), alice))
	tok, err := c.BootstrapToken(t.Context(), alice, k.MagicCode(alice), "ci")
	require.NoError(t, err)
	assert.Equal(t, "ci", tok.Name)
	assert.Equal(t, []string{tok.Secret}, k.Tokens(alice))
	_, err = c.Core().CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "Bearer "+tok.Secret, k.LastHeader("GET", "/api/v1/user").Get("Authorization"), "the client uses the new token")
	assert.Empty(t, k.LastHeader("GET", "/api/v1/user").Get("Cookie"))

	// A bad name is refused before the code is spent.
	require.NoError(t, c.SendMagicLink(t.Context(), bob))
	_, err = c.BootstrapToken(t.Context(), bob, k.MagicCode(bob), strings.Repeat("x", 51))
	var ce *authclient.ConfigError
	require.ErrorAs(t, err, &ce)
	_, err = c.BootstrapToken(t.Context(), bob, k.MagicCode(bob), "")
	require.NoError(t, err, "the code was not used up by the refused call")

	// A wrong code: nothing is minted.
	require.NoError(t, c.SendMagicLink(t.Context(), alice))
	_, err = c.BootstrapToken(t.Context(), alice, "000000", "again")
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
	assert.Len(t, k.Tokens(alice), 1)
}

func TestMagicLinkErrors(t *testing.T) {
	t.Parallel()
	k, clock := setup(t)
	c := newClient(t, k.URL)
	ctx := t.Context()

	t.Run("wrong code", func(t *testing.T) {
		require.NoError(t, c.SendMagicLink(ctx, alice))
		wrong := "999999"
		if k.MagicCode(alice) == wrong {
			wrong = "999998"
		}
		err := c.VerifyMagicLink(ctx, alice, wrong)
		require.ErrorIs(t, err, authclient.ErrUnauthorized)
		var e *authclient.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, khoj.WrongCode, e.Code)
		assert.Equal(t, authclient.CredentialNone, e.Credential)
		assert.Contains(t, e.URL, "code=REDACTED")
		assertNoSecret(t, err, wrong)
	})
	t.Run("expired code", func(t *testing.T) {
		require.NoError(t, c.SendMagicLink(ctx, bob))
		code := k.MagicCode(bob)
		clock.Advance(5*time.Minute + time.Second)
		err := c.VerifyMagicLink(ctx, bob, code)
		require.ErrorIs(t, err, authclient.ErrUnauthorized)
		var e *authclient.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, khoj.CodeExpired, e.Code)
		assert.Contains(t, e.Hint, "5 minutes")
		assertNoSecret(t, err, code)
	})
	t.Run("unknown user", func(t *testing.T) {
		err := c.VerifyMagicLink(ctx, "nobody@example.org", "123456")
		require.ErrorIs(t, err, authclient.ErrNotFound)
		var e *authclient.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, khoj.UnknownUser, e.Code)
		assert.Equal(t, "User not found.", e.Message)
	})
	t.Run("address Khoj refuses", func(t *testing.T) {
		err := c.SendMagicLink(ctx, "someone@invalid.test")
		require.ErrorIs(t, err, authclient.ErrNotFound)
		var e *authclient.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, khoj.InvalidEmail, e.Code)
	})
	t.Run("malformed address", func(t *testing.T) {
		err := c.SendMagicLink(ctx, "not an address")
		var e *authclient.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, http.StatusUnprocessableEntity, e.StatusCode)
		assert.NotEmpty(t, e.Message)
	})
	t.Run("empty input", func(t *testing.T) {
		var ce *authclient.ConfigError
		require.ErrorAs(t, c.SendMagicLink(ctx, " "), &ce)
		require.ErrorAs(t, c.VerifyMagicLink(ctx, "", "123456"), &ce)
		require.ErrorAs(t, c.VerifyMagicLink(ctx, alice, ""), &ce)
	})
}

func TestMagicLinkRateLimitsAreNotRetried(t *testing.T) {
	t.Parallel()
	k, _ := setup(t)
	c := newClient(t, k.URL)
	ctx := t.Context()
	const addr = "limited@example.org"

	// 10 codes per user in 24 hours; the 11th is refused, once.
	var err error
	for range 11 {
		if err = c.SendMagicLink(ctx, addr); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, authclient.ErrRateLimited)
	var e *authclient.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "Ran out of login attempts. Please wait before trying again.", e.Message)
	assert.Contains(t, e.Hint, "10 per user")
	assert.Equal(t, 11, k.Requests("POST", "/auth/magic"), "a 429 is not retried")

	// 20 requests per address in 24 hours, counted before the user lookup:
	// an address Khoj refuses never gets a user, so only this limit applies.
	for range 21 {
		if err = c.SendMagicLink(ctx, "someone@invalid.test"); errors.Is(err, authclient.ErrRateLimited) {
			break
		}
		require.ErrorIs(t, err, authclient.ErrNotFound)
	}
	require.ErrorIs(t, err, authclient.ErrRateLimited)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "Too many requests for your email address. Please wait before trying again.", e.Message)
	assert.Equal(t, 32, k.Requests("POST", "/auth/magic"))

	// 10 code checks per user in 24 hours, successful or not.
	for range 11 {
		if err = c.VerifyMagicLink(ctx, alice, "000000"); errors.Is(err, authclient.ErrRateLimited) {
			break
		}
		require.ErrorIs(t, err, authclient.ErrUnauthorized)
	}
	require.ErrorIs(t, err, authclient.ErrRateLimited)
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Message, "Ran out of login attempts")
	assert.Equal(t, 11, k.Requests("GET", "/auth/magic"))
}

// On a server in anonymous mode (no /auth routes) every magic-link
// operation is an *authclient.UnsupportedError (errors.ErrUnsupported), not
// a "not found": the class is SendMagicLink, VerifyMagicLink and
// BootstrapToken, under a prefix.
func TestAnonymousModeHasNoMagicLinks(t *testing.T) {
	t.Parallel()
	k := authtest.NewKhojAnonymous(authtest.WithPrefix("/khoj"))
	t.Cleanup(k.Close)
	c := newClient(t, k.URL)
	_, err := c.BootstrapToken(t.Context(), alice, "123456", "x")
	for op, err := range map[string]error{
		"SendMagicLink":   c.SendMagicLink(t.Context(), alice),
		"VerifyMagicLink": c.VerifyMagicLink(t.Context(), alice, "123456"),
		"BootstrapToken":  err,
	} {
		require.ErrorIs(t, err, errors.ErrUnsupported, op)
		var ue *authclient.UnsupportedError
		require.ErrorAs(t, err, &ue, op)
		assert.True(t, strings.HasPrefix(string(ue.Op), "khoj."), op)
		assert.Contains(t, err.Error(), "anonymous mode", op)
		assertNoSecret(t, err, "123456")
	}
}

// An accepted code without a usable session is ErrNoSession (an
// ErrUnexpectedServer), and the client keeps its credentials: the class is
// a 2xx instead of a redirect, a redirect without a cookie, with only other
// cookies, with Khoj's cleared cookie ("null", expired), with an empty
// value, with a deletion (Max-Age=0), and with a value no request could
// carry.
func TestVerifyMagicLinkWithoutASession(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		status  int
		cookies []string
	}{
		"200 instead of a redirect": {http.StatusOK, []string{"session=abcdefghijkl; path=/"}},
		"204 instead of a redirect": {http.StatusNoContent, nil},
		"redirect without a cookie": {http.StatusTemporaryRedirect, nil},
		"other cookies only":        {http.StatusTemporaryRedirect, []string{"csrftoken=abcdefghijkl; path=/"}},
		"cleared cookie":            {http.StatusTemporaryRedirect, []string{"session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT"}},
		"empty value":               {http.StatusTemporaryRedirect, []string{"session=; path=/"}},
		"deleted":                   {http.StatusTemporaryRedirect, []string{"session=abcdefghijkl; path=/; Max-Age=0"}},
		"unsendable value":          {http.StatusTemporaryRedirect, []string{"session=\"a b\"; path=/"}},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, ck := range tt.cookies {
				w.Header().Add("Set-Cookie", ck)
			}
			if tt.status >= 300 {
				w.Header().Set("Location", "/")
			}
			w.WriteHeader(tt.status)
		}))
		t.Cleanup(srv.Close)
		c := newClient(t, srv.URL, authclient.WithAPIKey("kk-before-0123456789"))
		err := c.VerifyMagicLink(t.Context(), alice, "123456")
		require.ErrorIs(t, err, khoj.ErrNoSession, name)
		require.ErrorIs(t, err, authclient.ErrUnexpectedServer, name)
		assert.True(t, strings.HasPrefix(err.Error(), "khoj: "), name)
		assertNoSecret(t, err, "123456", "abcdefghijkl")
		_, err = c.BootstrapToken(t.Context(), alice, "123456", "x")
		require.ErrorIs(t, err, khoj.ErrNoSession, name)
		srv.Close()
	}
}

// A failing Khoj is never a wrong code: with its database down /auth/magic
// answers 500, which is ErrServer for every magic-link operation (the
// class), and no code is masked out of the error only by luck.
func TestMagicLinkDuringADatabaseOutageIsAServerFailure(t *testing.T) {
	t.Parallel()
	k, _ := setup(t)
	c := newClient(t, k.URL, authclient.WithMaxRetries(0))
	k.SetDatabaseDown(true)
	_, bootErr := c.BootstrapToken(t.Context(), alice, "123456", "x")
	for op, err := range map[string]error{
		"SendMagicLink":   c.SendMagicLink(t.Context(), alice),
		"VerifyMagicLink": c.VerifyMagicLink(t.Context(), alice, "123456"),
		"BootstrapToken":  bootErr,
	} {
		require.ErrorIs(t, err, authclient.ErrServer, op)
		assert.NotErrorIs(t, err, authclient.ErrUnauthorized, op)
		var e *authclient.Error
		require.ErrorAs(t, err, &e, op)
		assert.Empty(t, e.Code, op)
		assertNoSecret(t, err, "123456")
	}
}

// BootstrapToken keeps the session when minting fails after the code was
// accepted, so the caller can mint again with the core's CreateAPIKey; the
// minting error is the core's.
func TestBootstrapTokenKeepsTheSessionWhenMintingFails(t *testing.T) {
	t.Parallel()
	const session = "signed-session-value-0123"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET /auth/magic":
			w.Header().Add("Set-Cookie", "session="+session+"; path=/; Max-Age=1209600; httponly; samesite=lax")
			w.Header().Set("Location", "/")
			w.WriteHeader(http.StatusTemporaryRedirect)
		case "POST /auth/token":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("Internal Server Error"))
		case "GET /echo":
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte(r.Header.Get("Cookie")))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, authclient.WithMaxRetries(0))
	tok, err := c.BootstrapToken(t.Context(), alice, "123456", "ci")
	require.ErrorIs(t, err, authclient.ErrServer)
	assert.Nil(t, tok)
	err = c.Core().Do(t.Context(), "GET", "echo", nil, nil)
	var e *authclient.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "session="+session, string(e.Body), "the client kept the session")
	assertNoSecret(t, err, session, "123456")

	// A name longer than Khoj's limit is refused before the code is used.
	_, err = c.BootstrapToken(t.Context(), alice, "123456", strings.Repeat("é", 51))
	var ce *authclient.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "khoj.BootstrapToken", ce.Setting)
	for name, args := range map[string][2]string{"no address": {" ", "123456"}, "no code": {alice, " "}} {
		_, err = c.BootstrapToken(t.Context(), args[0], args[1], "ci")
		require.ErrorAs(t, err, &ce, name)
	}
}

package authclient

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	khojAlice = "alice@example.org"
	khojBob   = "bob@example.org"
)

// setupKhoj starts a fake Khoj mounted under /khoj (as behind a reverse
// proxy) on a frozen clock, with Alice and Bob as users.
func setupKhoj(t *testing.T) (*authtest.Khoj, *authtest.Clock) {
	t.Helper()
	clock := authtest.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	k := authtest.NewKhoj(authtest.WithPrefix("/khoj"), authtest.WithClock(clock))
	t.Cleanup(k.Close)
	k.AddUser(khojAlice)
	k.AddUser(khojBob)
	return k, clock
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

func TestKhojCurrentUserWithTokenAndSession(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	tok := k.AddToken(khojAlice, "script")
	for name, opt := range map[string]Option{
		"token":          WithAPIKey(tok),
		"bearer":         WithAuthenticator(BearerToken(tok)),
		"session cookie": WithAuthenticator(SessionCookie(Khoj, k.SessionCookie(khojAlice).Value)),
	} {
		c := newTestClient(t, Khoj, k.URL, opt)
		u, err := c.CurrentUser(t.Context())
		require.NoError(t, err, name)
		assert.Equal(t, khojAlice, u.Email, name)
		assert.Equal(t, khojAlice, u.Username, name)
		assert.Empty(t, u.ID, "Khoj returns no user id")
		require.NotNil(t, u.Khoj, name)
		assert.Equal(t, "2.0.0-beta.28", u.Khoj.Version, name)
		assert.True(t, u.Khoj.Premium, name)
		assert.False(t, u.Khoj.Anonymous, name)
		require.NoError(t, c.CheckAuth(t.Context()), name)
		h := k.LastHeader("GET", "/api/health")
		if name == "session cookie" {
			assert.Empty(t, h.Get("Authorization"), "the session cookie only")
			assert.Contains(t, h.Get("Cookie"), "session=")
		} else {
			assert.Equal(t, "Bearer "+tok, h.Get("Authorization"), name)
			assert.Empty(t, h.Get("Cookie"), name)
		}
	}
	c := newTestClient(t, Khoj, k.URL, WithAPIKey(tok))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "Bearer "+tok, k.LastHeader("GET", "/api/v1/user").Get("Authorization"), "exactly \"Bearer \"")
	assert.Empty(t, k.LastHeader("GET", "/api/v1/user").Get("Cookie"))
}

// Khoj says "not signed in" three ways; each is ErrUnauthorized.
func TestKhojBadTokenEachUnauthenticatedForm(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	const bad = "kk-not-a-token-the-server-knows-0000000000000"
	c := newTestClient(t, Khoj, k.URL, WithAPIKey(bad))

	t.Run("403 Forbidden on API routes", func(t *testing.T) {
		_, err := c.CurrentUser(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized)
		assert.False(t, errors.Is(err, ErrForbidden), "Khoj's 403 means not signed in")
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, http.StatusForbidden, e.StatusCode)
		assert.Equal(t, "Forbidden", e.Message)
		assert.Equal(t, CredentialAPIKey, e.Credential)
		assert.Contains(t, e.Hint, "never 401")
		assertNoSecret(t, err, bad)
	})
	t.Run("303 to the sign-in page on /auth/token", func(t *testing.T) {
		before := k.Requests("GET", "/login")
		_, err := c.ListAPIKeys(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, http.StatusSeeOther, e.StatusCode)
		assert.Contains(t, e.Location, "/khoj/login?next=")
		assert.Equal(t, CredentialAPIKey, e.Credential)
		assert.Equal(t, before, k.Requests("GET", "/login"), "the sign-in page is never fetched")
		assertNoSecret(t, err, bad)
	})
	t.Run("200 without an e-mail from /api/health", func(t *testing.T) {
		err := c.CheckAuth(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, http.StatusOK, e.StatusCode)
		assert.Contains(t, e.Hint, "/api/health")
		assertNoSecret(t, err, bad)
	})
	t.Run("the HTML page a followed redirect would give is not success", func(t *testing.T) {
		err := c.Do(t.Context(), "GET", "settings", nil, nil)
		require.ErrorIs(t, err, ErrUnauthorized)
	})
}

func TestKhojUnauthorizedHints(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	tok := k.AddToken(khojAlice, "script")
	stale := k.SessionCookie(khojAlice).Value + "x"
	for name, tt := range map[string]struct {
		opt  Option
		cred string
		hint string
	}{
		"no credentials":      {WithAuthenticator(NoAuth()), CredentialNone, "no credentials were sent"},
		"lower-case bearer":   {WithAuthenticator(APIKeyIn(InHeader("Authorization"), "bearer "+tok)), CredentialAPIKey, "case-sensitive"},
		"token in X-API-Key":  {WithAuthenticator(APIKeyIn(InHeader("X-API-Key"), tok)), CredentialAPIKey, "only from Authorization: Bearer"},
		"token in the query":  {WithAuthenticator(APIKeyIn(InQuery("token"), tok)), CredentialAPIKey, "only from Authorization: Bearer"},
		"not a kk- token":     {WithAPIKey("0123456789abcdef"), CredentialAPIKey, "does not start with \"kk-\""},
		"deleted token":       {WithAPIKey("kk-deleted"), CredentialAPIKey, "may have been deleted"},
		"tampered cookie":     {WithAuthenticator(SessionCookie(Khoj, stale)), CredentialSessionCookie, "session cookie was rejected"},
		"space inside bearer": {WithAuthenticator(APIKeyIn(InHeader("Authorization"), "Bearer  "+tok)), CredentialAPIKey, "white space"},
	} {
		c := newTestClient(t, Khoj, k.URL, tt.opt)
		_, err := c.CurrentUser(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized, name)
		var e *Error
		require.ErrorAs(t, err, &e, name)
		assert.Equal(t, tt.cred, e.Credential, name)
		assert.Contains(t, e.Hint, tt.hint, name)
		assertNoSecret(t, err, tok, stale)
	}
}

// Khoj's hints about white space in the Authorization header follow what
// Khoj does (khoj.md §2): surrounding white space is stripped before Khoj
// sees the value, so it is never blamed; what breaks the lookup is the
// split on exactly "Bearer ": white space doubled after it, "Bearer "
// twice, or white space inside the token. Every such header gets a hint
// that names its actual fault, and none claims that Khoj does not trim.
func TestKhojBearerWhiteSpaceHintsFollowKhojsSplit(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	tok := k.AddToken(khojAlice, "script")
	for name, tt := range map[string]struct{ header, hint string }{
		"two spaces after Bearer":   {"Bearer  " + tok, "more than one space after \"Bearer\""},
		"three spaces after Bearer": {"Bearer   " + tok, "more than one space after \"Bearer\""},
		"tab after Bearer":          {"Bearer \t" + tok, "began with white space"},
		"Bearer twice in a row":     {"Bearer Bearer " + tok, "\"Bearer \" more than once"},
		"two bearer values":         {"Bearer " + tok + ", Bearer " + tok, "\"Bearer \" more than once"},
		"space inside the token":    {"Bearer " + tok[:10] + " " + tok[10:], "white space inside it"},
		"tab inside the token":      {"Bearer " + tok[:10] + "\t" + tok[10:], "white space inside it"},
	} {
		c := newTestClient(t, Khoj, k.URL, WithAuthenticator(APIKeyIn(InHeader("Authorization"), tt.header)))
		_, err := c.CurrentUser(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized, name)
		var e *Error
		require.ErrorAs(t, err, &e, name)
		assert.Contains(t, e.Hint, tt.hint, name)
		assert.NotContains(t, e.Hint, "does not trim", name)
		assertNoSecret(t, err, tok, tok[10:])
	}
	// A plain wrong token is not blamed on white space.
	c := newTestClient(t, Khoj, k.URL, WithAPIKey("kk-deleted-token"))
	_, err := c.CurrentUser(t.Context())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.NotContains(t, e.Hint, "white space")
}

// An unauthenticated DELETE /auth/token?token=… is answered with a 303 whose
// next= carries the original URL, token included: it must not reach the
// error.
func TestKhojTokenInRedirectIsRedacted(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	secret := k.AddToken(khojAlice, "victim")
	c := newTestClient(t, Khoj, k.URL, WithAPIKey("kk-wrong"))
	err := c.Do(t.Context(), "DELETE", "auth/token", nil, nil, Query(url.Values{"token": {secret}}))
	require.ErrorIs(t, err, ErrUnauthorized)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Location, "next=")
	assert.Contains(t, e.Location, "REDACTED")
	assert.Contains(t, e.URL, "token=REDACTED")
	assertNoSecret(t, err, secret)
	assert.Len(t, k.Tokens(khojAlice), 1)
}

// Behind a proxy that does not pass on the public host, Khoj builds its 303
// on its own origin. That redirect is not followed (another origin) and
// still means "not signed in".
func TestKhojRedirectToInternalOriginIsUnauthorized(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	secret := k.AddToken(khojAlice, "victim")
	target, err := url.Parse(k.URL)
	require.NoError(t, err)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
		r.Out.Host = target.Host // the internal host, as a careless proxy sends it
	}})
	t.Cleanup(proxy.Close)
	c := newTestClient(t, Khoj, proxy.URL+target.Path, WithAPIKey("kk-wrong"))

	_, err = c.ListAPIKeys(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.False(t, errors.Is(err, ErrRedirect))
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.True(t, strings.HasPrefix(e.Location, k.URL[:len(k.URL)-len(target.Path)]), e.Location)
	assert.Equal(t, 0, k.Requests("GET", "/login"), "not followed")

	err = c.Do(t.Context(), "DELETE", "auth/token", nil, nil, Query(url.Values{"token": {secret}}))
	require.ErrorIs(t, err, ErrRedirect, "Do knows nothing of Khoj's sign-in page on another origin")
	assertNoSecret(t, err, secret)
}

// The token a delete carries in its query string reaches no log line, and
// no error when the delete is refused.
func TestKhojDeleteTokenNeverLogged(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	own := k.AddToken(khojAlice, "own")
	doomed := k.AddToken(khojAlice, "doomed")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestClient(t, Khoj, k.URL, WithAPIKey(own), WithLogger(logger))
	require.NoError(t, c.DeleteAPIKey(t.Context(), doomed))
	assert.Contains(t, logs.String(), "auth/token?token=REDACTED", "the delete was logged")

	bad := newTestClient(t, Khoj, k.URL, WithAPIKey("kk-wrong"), WithLogger(logger))
	err := bad.Do(t.Context(), "DELETE", "auth/token", nil, nil, Query(url.Values{"token": {own}}))
	require.ErrorIs(t, err, ErrUnauthorized)
	assertNoSecret(t, err, own, doomed)
	assert.NotContains(t, logs.String(), own)
	assert.NotContains(t, logs.String(), doomed)
	assert.NotContains(t, logs.String(), "kk-wrong")
}

func TestKhojTokens(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	c := newTestClient(t, Khoj, k.URL, WithAPIKey(k.AddToken(khojAlice, "first")))

	created, err := c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "backup script"})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(created.Secret, "kk-"))
	assert.Equal(t, "backup script", created.Name)
	assert.True(t, created.Active)
	assert.Len(t, created.ID, 16)
	assert.NotContains(t, created.Secret, created.ID)
	assert.NotContains(t, fmt.Sprintf("%v %+v", created, *created), created.Secret)

	random, err := c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{})
	require.NoError(t, err)
	assert.Regexp(t, `^[A-Z][a-z]+ [A-Z][a-z]+$`, random.Name, "Khoj names an unnamed token")
	assert.Contains(t, k.LastHeader("POST", "/auth/token").Get("Authorization"), "Bearer kk-")

	keys, err := c.ListAPIKeys(t.Context())
	require.NoError(t, err)
	require.Len(t, keys, 3)
	assert.Equal(t, "first", keys[0].Name)
	assert.Equal(t, created.ID, keys[1].ID)
	assert.Equal(t, random.ID, keys[2].ID)
	for _, key := range keys {
		assert.NotContains(t, key.ID, "kk-", "ids are fingerprints, not tokens")
	}

	// Delete by id and by the token itself; both are checked.
	require.NoError(t, c.DeleteAPIKey(t.Context(), created.ID))
	require.NoError(t, c.DeleteAPIKey(t.Context(), random.Secret))
	assert.Len(t, k.Tokens(khojAlice), 1)

	// Khoj answers 200 to deleting nothing; the SDK says so.
	err = c.DeleteAPIKey(t.Context(), created.ID)
	require.ErrorIs(t, err, ErrNotFound)
	bobs := k.AddToken(khojBob, "bob's")
	err = c.DeleteAPIKey(t.Context(), bobs)
	require.ErrorIs(t, err, ErrNotFound, "another user's token")
	assertNoSecret(t, err, bobs)
	assert.Len(t, k.Tokens(khojBob), 1)
	assert.Zero(t, k.Requests("DELETE", "/auth/token")-2, "nothing is sent for an unknown token")
}

func TestKhojCreateTokenRefusesWhatKhojCannotDo(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	c := newTestClient(t, Khoj, k.URL, WithAPIKey(k.AddToken(khojAlice, "first")))
	for name, r := range map[string]CreateAPIKeyRequest{
		"expiry":   {Name: "x", ExpiresIn: time.Hour},
		"inactive": {Name: "x", Inactive: true},
		"user":     {Name: "x", UserID: "2"},
	} {
		_, err := c.CreateAPIKey(t.Context(), r)
		require.ErrorIs(t, err, errors.ErrUnsupported, name)
	}
	_, err := c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: strings.Repeat("é", 51)})
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 0, k.Requests("POST", "/auth/token"), "refused before anything is sent")
	_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: strings.Repeat("é", 50)})
	require.NoError(t, err, "50 characters is Khoj's limit, not 50 bytes")
}

func TestKhojCreateTokenIsNeverRetried(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	c := newTestClient(t, Khoj, k.URL, WithAPIKey(k.AddToken(khojAlice, "first")))
	k.Faults.FailNextOn("/auth/token", 1, http.StatusServiceUnavailable, 0)
	_, err := c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "once"})
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, 1, k.Requests("POST", "/auth/token"))
	assert.Len(t, k.Tokens(khojAlice), 1)
}

// khojIgnoringDeletes puts a proxy in front of k that answers every DELETE
// /auth/token with Khoj's 200 null without passing it on, as a server
// whose delete silently fails would.
func khojIgnoringDeletes(t *testing.T, k *authtest.Khoj) string {
	t.Helper()
	target, err := url.Parse(k.URL)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/auth/token") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("null"))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + target.Path
}

func TestKhojDeleteTokenStillListed(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	tok := k.AddToken(khojAlice, "first")
	doomed := k.AddToken(khojAlice, "doomed")
	c := newTestClient(t, Khoj, khojIgnoringDeletes(t, k), WithAPIKey(tok))
	err := c.DeleteAPIKey(t.Context(), doomed)
	require.ErrorIs(t, err, ErrUnexpectedServer)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Message, "still listed")
	assert.Equal(t, http.MethodDelete, e.Method, "the answer to the DELETE, with the status the server sent")
	assert.Equal(t, http.StatusOK, e.StatusCode)
	assertNoSecret(t, err, doomed, tok)
}

func TestKhojRotateToken(t *testing.T) {
	t.Parallel()
	k, clock := setupKhoj(t)
	old := k.AddToken(khojAlice, "a name long enough to be cut short by rotation")
	c := newTestClient(t, Khoj, k.URL, WithAPIKey(old), withClock(clock.Now))
	keys, err := c.ListAPIKeys(t.Context())
	require.NoError(t, err)

	nk, err := c.RotateAPIKey(t.Context(), keys[0].ID, CreateAPIKeyRequest{})
	require.NoError(t, err)
	assert.Equal(t, "a name long enough t (rotated 2026-11-30 12:00:00)", nk.Name, "within Khoj's 50 characters")
	assert.Equal(t, []string{nk.Secret}, k.Tokens(khojAlice), "the old token is gone")
	u, err := c.CurrentUser(t.Context())
	require.NoError(t, err, "the client switched to the new token")
	assert.Equal(t, khojAlice, u.Email)

	// The new token fails its check: it is deleted, the old one kept.
	k.Faults.FailNextOn("/api/v1/user", 1, http.StatusForbidden, -1)
	_, err = c.RotateAPIKey(t.Context(), nk.ID, CreateAPIKeyRequest{Name: "next"})
	var re *RotationError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "verify", re.Stage)
	require.NoError(t, re.RollbackErr)
	assert.Equal(t, []string{nk.Secret}, k.Tokens(khojAlice))
	assertNoSecret(t, err, nk.Secret, old)
}

// khojMagicSignIn signs c in to the fake k as email with a magic link,
// through the public core only (package khoj's VerifyMagicLink does the
// same), and returns the code it used.
func khojMagicSignIn(t *testing.T, c *Client, k *authtest.Khoj, email string) string {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, c.Do(ctx, http.MethodPost, "auth/magic", map[string]string{"email": email}, nil, Unauthenticated(), NoRetry()))
	code := k.MagicCode(email)
	var m Meta
	require.NoError(t, c.Do(ctx, http.MethodGet, "auth/magic", nil, nil, Query(url.Values{"code": {code}, "email": {email}}),
		Secret(code), Unauthenticated(), NoRetry(), NoRedirect(), ResponseMeta(&m)))
	for _, ck := range (&http.Response{Header: m.Header}).Cookies() {
		if ck.Name == "session" && ck.MaxAge >= 0 {
			require.NoError(t, c.SetAuthenticator(SessionCookie(Khoj, ck.Value)))
			return code
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func TestKhojOAuthProviders(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	c := newTestClient(t, Khoj, k.URL, WithAPIKey("kk-even-a-bad-token"))
	ps, err := c.ListOAuthProviders(t.Context())
	require.NoError(t, err)
	assert.Empty(t, ps, "no GOOGLE_CLIENT_ID, no Google sign-in")
	assert.NotNil(t, ps)

	k.SetGoogleClientID("1234.apps.googleusercontent.com")
	ps, err = c.ListOAuthProviders(t.Context())
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, OAuthProvider{ID: "google", Name: "Google", LoginURL: k.URL + "auth/login",
		ClientID: "1234.apps.googleusercontent.com", RedirectURI: "/auth/redirect"}, ps[0])
	assert.Empty(t, k.LastHeader("GET", "/auth/oauth/metadata").Get("Authorization"), "public: no credentials sent")
}

func TestKhojProbeAndHealth(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	c := newTestClient(t, Khoj, k.URL)
	info, err := c.Probe(t.Context())
	require.NoError(t, err)
	assert.Equal(t, Khoj, info.Server)
	assert.False(t, info.Anonymous)
	h, err := c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "OK", h.Status)

	anon := authtest.NewKhojAnonymous()
	t.Cleanup(anon.Close)
	ca := newTestClient(t, Khoj, anon.URL)
	info, err = ca.Probe(t.Context())
	require.NoError(t, err)
	assert.True(t, info.Anonymous)
	assert.Equal(t, "2.0.0-beta.28", info.Version)
	h, err = ca.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "OK", h.Status)

	komga := authtest.NewKomga()
	t.Cleanup(komga.Close)
	_, err = newTestClient(t, Khoj, komga.URL).Probe(t.Context())
	require.ErrorIs(t, err, ErrUnexpectedServer)
}

func TestKhojAnonymousMode(t *testing.T) {
	t.Parallel()
	k := authtest.NewKhojAnonymous()
	t.Cleanup(k.Close)
	c := newTestClient(t, Khoj, k.URL, WithAPIKey("kk-whatever"))
	u, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "default@example.com", u.Email)
	assert.True(t, u.Khoj.Anonymous)
	require.NoError(t, c.CheckAuth(t.Context()))

	_, err = c.ListAPIKeys(t.Context())
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Contains(t, err.Error(), "anonymous mode")
	_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "x"})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	err = c.DeleteAPIKey(t.Context(), "0123456789abcdef")
	require.ErrorIs(t, err, errors.ErrUnsupported)
	var ue *UnsupportedError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, OpDeleteAPIKey, ue.Op)
	_, err = c.RotateAPIKey(t.Context(), "0123456789abcdef", CreateAPIKeyRequest{})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, OpRotateAPIKey, ue.Op)
	_, err = c.ListOAuthProviders(t.Context())
	require.ErrorIs(t, err, errors.ErrUnsupported)

	cs := newTestClient(t, Khoj, k.URL, WithAuthenticator(SessionCookie(Khoj, "anything")))
	require.NoError(t, cs.Logout(t.Context()), "no sessions: nothing to end")
}

func TestKhojLogout(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	c := newTestClient(t, Khoj, k.URL, WithAuthenticator(SessionCookie(Khoj, k.SessionCookie(khojAlice).Value)))
	_, err := c.CurrentUser(t.Context())
	require.NoError(t, err)

	require.NoError(t, c.Logout(t.Context()))
	assert.Equal(t, 1, k.Requests("GET", "/auth/logout"))
	assert.Equal(t, 0, k.Requests("GET", "/"), "the 307 to / is not followed")
	require.NoError(t, c.Logout(t.Context()), "idempotent")
	assert.Equal(t, 1, k.Requests("GET", "/auth/logout"))
	_, err = c.CurrentUser(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.Empty(t, k.LastHeader("GET", "/api/v1/user").Get("Cookie"), "the session is forgotten")

	// A token is not a session: Logout sends nothing.
	ct := newTestClient(t, Khoj, k.URL, WithAPIKey(k.AddToken(khojAlice, "t")))
	require.NoError(t, ct.Logout(t.Context()))
	assert.Equal(t, 1, k.Requests("GET", "/auth/logout"))
}

func TestKhojUnsupported(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	c := newTestClient(t, Khoj, k.URL, WithAPIKey(k.AddToken(khojAlice, "t")))
	ctx := t.Context()
	_, err := c.Login(ctx, khojAlice, "pw")
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Contains(t, err.Error(), "magic link")
	require.ErrorIs(t, c.UseSession(&Session{Token: "a-session-token"}), errors.ErrUnsupported)
	_, err = c.ParseSession([]byte(`{}`))
	require.ErrorIs(t, err, errors.ErrUnsupported)
	_, err = c.ParseUser([]byte(`{}`))
	require.ErrorIs(t, err, errors.ErrUnsupported)
	_, err = New(Khoj, k.URL, WithLogin(khojAlice, "pw"))
	require.Error(t, err, "no password sign-in to configure")
	assert.Equal(t, 0, k.TotalRequests()-k.Requests("POST", "/auth/token")-k.Requests("GET", "/auth/token"))
}

func TestKhojNewFromEnv(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	tok := k.AddToken(khojAlice, "env")
	for name, env := range map[string]map[string]string{
		"variable": {"KHOJ_URL": k.URL, "KHOJ_API_KEY": tok},
		"file":     {"KHOJ_URL": k.URL, "KHOJ_API_KEY_FILE": "/run/secrets/khoj"},
	} {
		lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
		readFile := func(string) ([]byte, error) { return []byte(tok + "\n"), nil }
		c, err := newFromEnv(Khoj, lookup, readFile, fast)
		require.NoError(t, err, name)
		u, err := c.CurrentUser(t.Context())
		require.NoError(t, err, name)
		assert.Equal(t, khojAlice, u.Email, name)
		assert.Equal(t, "Bearer "+tok, k.LastHeader("GET", "/api/v1/user").Get("Authorization"), name)
	}
	env := map[string]string{"KHOJ_URL": k.URL, "KHOJ_USERNAME": khojAlice, "KHOJ_PASSWORD": "pw-secret"}
	_, err := newFromEnv(Khoj, func(name string) (string, bool) { v, ok := env[name]; return v, ok }, nil)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "KHOJ_USERNAME", ce.Setting)
	assert.Contains(t, err.Error(), "KHOJ_API_KEY")
	assertNoSecret(t, err, "pw-secret")
}

// FuzzKhojTokenList decodes GET /auth/token answers: whatever the server
// sends, decoding never panics, and every token kept is a non-empty string
// whose fingerprint is 16 hex digits, not the token.
func FuzzKhojTokenList(f *testing.F) {
	f.Add([]byte(`[{"_state":{"adding":false,"db":"default"},"id":1,"user_id":2,"token":"kk-abc","name":"Brave Falcon","accessed_at":null}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"token":1},{"token":null},"x",{"name":"n"},{"token":"kk-x","name":7}]`))
	f.Add([]byte(`{"detail":"Forbidden"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var l khojTokenList
		if err := json.Unmarshal(data, &l); err != nil {
			return
		}
		for _, tok := range l {
			if tok.Token == "" {
				t.Fatalf("an empty token was kept from %q", data)
			}
			id := tok.info().ID
			if _, err := hex.DecodeString(id); err != nil || len(id) != 16 || id == tok.Token {
				t.Fatalf("fingerprint %q of %q", id, tok.Token)
			}
		}
	})
}

// khojStub serves fixed answers by "METHOD /path"; a list of answers is
// served in turn (the last one repeats).
func khojStub(t *testing.T, answers map[string][]func(http.ResponseWriter)) *Client {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Method + " " + r.URL.Path
		mu.Lock()
		list, n := answers[k], seen[k]
		seen[k]++
		mu.Unlock()
		if len(list) == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"detail":"Not Found"}`)
			return
		}
		list[min(n, len(list)-1)](w)
	}))
	t.Cleanup(srv.Close)
	return newTestClient(t, Khoj, srv.URL, WithAPIKey("kk-stub-token-0123456789"), WithMaxRetries(0))
}

func khojAnswer(status int, ctype, body string, hdr ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Add(hdr[i], hdr[i+1])
		}
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// Answers Khoj does not give, or gives only when something is wrong,
// become clear typed errors.
func TestKhojUnexpectedAnswers(t *testing.T) {
	t.Parallel()
	const js = "application/json"
	list := khojAnswer(200, js, `[{"token":"kk-stub-token-0123456789","name":"a"},{"token":"kk-other-0123456789","name":"b"}]`)
	type answers = map[string][]func(http.ResponseWriter)
	for name, tt := range map[string]struct {
		answers answers
		run     func(c *Client) error
		want    error
		msg     string
	}{
		"health answers HTML": {answers{"GET /api/health": {khojAnswer(200, "text/html", "<html>sign in</html>")}},
			func(c *Client) error { return c.CheckAuth(t.Context()) }, ErrUnauthorized, "HTML"},
		"health answers text": {answers{"GET /api/health": {khojAnswer(200, "text/plain", "hello")}},
			func(c *Client) error { return c.CheckAuth(t.Context()) }, ErrUnexpectedServer, "not Khoj's /api/health"},
		"health answers other JSON": {answers{"GET /api/health": {khojAnswer(200, js, `{"status":"ok"}`)}},
			func(c *Client) error { return c.CheckAuth(t.Context()) }, ErrUnexpectedServer, "not Khoj's /api/health"},
		"create answers no token": {answers{"POST /auth/token": {khojAnswer(200, js, `{"name":"x"}`)}},
			func(c *Client) error {
				_, err := c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "x"})
				return err
			},
			ErrUnexpectedServer, "no token"},
		"delete fails": {answers{"GET /auth/token": {list}, "DELETE /auth/token": {khojAnswer(503, js, `{"detail":"down"}`)}},
			func(c *Client) error { return c.DeleteAPIKey(t.Context(), "kk-other-0123456789") }, ErrUnavailable, "down"},
		"list after delete fails": {answers{"GET /auth/token": {list, khojAnswer(500, "text/plain", "Internal Server Error")},
			"DELETE /auth/token": {khojAnswer(200, js, "null")}},
			func(c *Client) error { return c.DeleteAPIKey(t.Context(), "kk-other-0123456789") }, nil, "Internal Server Error"},
		"metadata of another shape": {answers{"GET /auth/oauth/metadata": {khojAnswer(200, js, `{"github":{}}`)}},
			func(c *Client) error { _, err := c.ListOAuthProviders(t.Context()); return err }, ErrUnexpectedServer, "not Khoj's OAuth metadata"},
		"no auth routes and a closed user route": {answers{"GET /api/v1/user": {khojAnswer(403, js, `{"detail":"Forbidden"}`)}},
			func(c *Client) error { _, err := c.Probe(t.Context()); return err }, ErrUnexpectedServer, "not a Khoj server in anonymous mode"},
		"no auth routes and a named user": {answers{"GET /api/v1/user": {khojAnswer(200, js, `{"email":"a@b.c","username":"a@b.c"}`)}},
			func(c *Client) error { _, err := c.Probe(t.Context()); return err }, ErrUnexpectedServer, "not the anonymous default user"},
	} {
		c := khojStub(t, tt.answers)
		err := tt.run(c)
		require.Error(t, err, name)
		if tt.want != nil {
			require.ErrorIs(t, err, tt.want, name)
		}
		var e *Error
		require.ErrorAs(t, err, &e, name)
		assert.Contains(t, err.Error(), tt.msg, name)
		assertNoSecret(t, err, "kk-stub-token-0123456789", "kk-other-0123456789", "123456")
	}
}

// khojMethods is every Khoj operation of the client, for tables that check
// how each one reports a server failure.
func khojMethods(t *testing.T) map[string]func(c *Client) error {
	ctx := t.Context()
	return map[string]func(c *Client) error{
		"CurrentUser": func(c *Client) error { _, err := c.CurrentUser(ctx); return err },
		"CheckAuth":   func(c *Client) error { return c.CheckAuth(ctx) },
		"ListAPIKeys": func(c *Client) error { _, err := c.ListAPIKeys(ctx); return err },
		"CreateAPIKey": func(c *Client) error {
			_, err := c.CreateAPIKey(ctx, CreateAPIKeyRequest{Name: "new"})
			return err
		},
		"DeleteAPIKey": func(c *Client) error { return c.DeleteAPIKey(ctx, "0123456789abcdef") },
		"RotateAPIKey": func(c *Client) error {
			_, err := c.RotateAPIKey(ctx, "0123456789abcdef", CreateAPIKeyRequest{Name: "next"})
			return err
		},
		"Do GET api route":   func(c *Client) error { return c.Do(ctx, "GET", "api/chat/options", nil, nil) },
		"Do GET auth route":  func(c *Client) error { return c.Do(ctx, "GET", "auth/oauth/metadata", nil, nil) },
		"Do GET web page":    func(c *Client) error { return c.Do(ctx, "GET", "settings", nil, new(any)) },
		"Do DELETE":          func(c *Client) error { return c.Do(ctx, "DELETE", "auth/token?token=kk-x", nil, nil) },
		"Logout":             func(c *Client) error { return c.Logout(ctx) },
		"ListOAuthProviders": func(c *Client) error { _, err := c.ListOAuthProviders(ctx); return err },
		"Probe":              func(c *Client) error { _, err := c.Probe(ctx); return err },
		"Health":             func(c *Client) error { _, err := c.Health(ctx); return err },
	}
}

// A Khoj server-side failure is never "the token was rejected". With its
// database down Khoj cannot look any credential up: API routes answer 500
// (ErrServer), the token routes and pages redirect to /server/error
// (ErrUnavailable, not followed), /auth/magic answers 500. The class:
// every Khoj method, with every kind of credential the client can hold
// (token, session cookie) and in anonymous mode; the calls that need no
// credential and no database (Health, Probe, ListOAuthProviders) still
// succeed, as they do on Khoj.
func TestKhojDatabaseDownIsAServerFailureNotARejectedCredential(t *testing.T) {
	t.Parallel()
	noDatabaseNeeded := map[string]bool{"Health": true, "Probe": true, "ListOAuthProviders": true}
	for mode, setup := range map[string]func(k *authtest.Khoj) Option{
		"token": func(k *authtest.Khoj) Option { return WithAPIKey(k.AddToken(khojAlice, "script")) },
		"session": func(k *authtest.Khoj) Option {
			return WithAuthenticator(SessionCookie(Khoj, k.SessionCookie(khojAlice).Value))
		},
		"anonymous mode": nil,
	} {
		for name, run := range khojMethods(t) {
			t.Run(mode+"/"+name, func(t *testing.T) {
				t.Parallel()
				var k *authtest.Khoj
				var opts []Option
				if setup == nil {
					k = authtest.NewKhojAnonymous(authtest.WithPrefix("/khoj"))
					t.Cleanup(k.Close)
				} else {
					k, _ = setupKhoj(t)
					opts = append(opts, setup(k))
				}
				c := newTestClient(t, Khoj, k.URL, opts...)
				k.SetDatabaseDown(true)
				err := run(c)
				if setup != nil && noDatabaseNeeded[name] {
					require.NoError(t, err, "%s needs no credential and no database", name)
					return
				}
				if mode != "session" && name == "Logout" {
					require.NoError(t, err, "a client without a session has none to end")
					return
				}
				require.Error(t, err)
				assert.NotErrorIs(t, err, ErrUnauthorized)
				assert.NotContains(t, err.Error(), "rejected")
				if !errors.Is(err, ErrUnavailable) {
					require.ErrorIs(t, err, ErrServer)
				}
				var e *Error
				require.ErrorAs(t, err, &e)
				if e.StatusCode == http.StatusFound {
					require.ErrorIs(t, err, ErrUnavailable)
					assert.Contains(t, e.Location, "/server/error")
					assert.Contains(t, e.Hint, "error page")
				} else {
					assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
					require.ErrorIs(t, err, ErrServer)
				}
				assert.Equal(t, 0, k.Requests("GET", "/server/error"), "the error page is never fetched as if it were the API")
				assertNoSecret(t, err, "123456")

				k.SetDatabaseDown(false)
				if setup != nil && name == "CurrentUser" {
					_, err := c.CurrentUser(t.Context())
					require.NoError(t, err, "the credential still works once the database is back")
				}
			})
		}
	}
}

// Logout during a database outage fails, and the client keeps its session
// to try again, rather than reporting a logout that did not happen.
func TestKhojLogoutDuringDatabaseOutageKeepsTheSession(t *testing.T) {
	t.Parallel()
	k, _ := setupKhoj(t)
	c := newTestClient(t, Khoj, k.URL, WithAuthenticator(SessionCookie(Khoj, k.SessionCookie(khojAlice).Value)))
	k.SetDatabaseDown(true)
	require.ErrorIs(t, c.Logout(t.Context()), ErrUnavailable)
	k.SetDatabaseDown(false)
	u, err := c.CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, khojAlice, u.Email)
	require.NoError(t, c.Logout(t.Context()))
	_, err = c.CurrentUser(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
}

// A 500 from Khoj (an unhandled exception, the database failing inside a
// handler) is ErrServer on every Khoj method that reaches the server: never
// ErrUnauthorized, never retried.
func TestKhojInternalServerErrorIsErrServerOnEveryMethod(t *testing.T) {
	t.Parallel()
	for name, run := range khojMethods(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			k, _ := setupKhoj(t)
			tok := k.AddToken(khojAlice, "script")
			c := newTestClient(t, Khoj, k.URL, WithAPIKey(tok))
			if name == "Logout" {
				c = newTestClient(t, Khoj, k.URL, WithAuthenticator(SessionCookie(Khoj, k.SessionCookie(khojAlice).Value)))
			}
			k.Faults.FailNext(1, http.StatusInternalServerError, -1)
			err := run(c)
			require.ErrorIs(t, err, ErrServer)
			assert.NotErrorIs(t, err, ErrUnauthorized)
			assert.NotErrorIs(t, err, ErrUnavailable)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
			assert.Equal(t, "Internal Server Error", e.Message)
			assert.Equal(t, 1, k.TotalRequests(), "a 500 is not retried")
			assertNoSecret(t, err, tok)
		})
	}
}

// The same answers from a stub, for the shapes alone: a redirect to the
// error page is ErrUnavailable whether Khoj writes it relative or absolute
// (on the token routes also on another origin, as Khoj behind a proxy may),
// and whatever the method; the page is never fetched.
func TestKhojRedirectToErrorPageIsErrUnavailable(t *testing.T) {
	t.Parallel()
	for name, loc := range map[string]string{
		"relative":           "/server/error",
		"absolute":           "http://127.0.0.1:1/server/error",
		"with a query":       "/server/error?next=/auth/token",
		"303 see other form": "/server/error",
		"another origin":     "http://khoj-internal:42110/server/error", // Khoj behind a proxy that hides the public origin
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var fetched sync.Map
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/server/error" {
					fetched.Store(r.URL.Path, true)
					w.Header().Set("Content-Type", "text/html")
					_, _ = io.WriteString(w, "<html><title>Server Error</title></html>")
					return
				}
				l := loc
				if strings.HasPrefix(l, "http://127.0.0.1:1") {
					l = "http://" + r.Host + strings.TrimPrefix(l, "http://127.0.0.1:1")
				}
				w.Header().Set("Location", l)
				status := http.StatusFound
				if name == "303 see other form" {
					status = http.StatusSeeOther
				}
				w.WriteHeader(status)
			}))
			t.Cleanup(srv.Close)
			c := newTestClient(t, Khoj, srv.URL, WithAPIKey("kk-stub-token-0123456789"))
			_, err := c.ListAPIKeys(t.Context())
			require.ErrorIs(t, err, ErrUnavailable)
			_, err = c.CreateAPIKey(t.Context(), CreateAPIKeyRequest{Name: "x"})
			require.ErrorIs(t, err, ErrUnavailable)
			if name == "another origin" {
				// Not followed either way; only the token routes, whose
				// answers the client knows, read it as the error page.
				require.ErrorIs(t, c.Do(t.Context(), "GET", "settings", nil, nil), ErrRedirect)
			} else {
				require.ErrorIs(t, c.Do(t.Context(), "GET", "settings", nil, nil), ErrUnavailable)
			}
			_, ok := fetched.Load("/server/error")
			assert.False(t, ok, "the error page was fetched")
		})
	}
}

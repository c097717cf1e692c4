package audiobookshelf_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/audiobookshelf"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const appURI = "audiobookshelf://oauth"

// stubServer is an httptest server answering with h, for answers the fake
// never gives.
func stubServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// browserTransport is the browser's: not http.DefaultTransport, whose idle
// connections httptest.Server.Close closes under a parallel test's feet.
var browserTransport = http.DefaultTransport.(*http.Transport).Clone()

// browse plays the browser: it follows the identity provider's redirects
// from authURL until it lands on the app's URI, and returns that URL.
func browse(t *testing.T, authURL string) string {
	t.Helper()
	browser := &http.Client{Transport: browserTransport, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Scheme != "http" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := browser.Get(authURL)
	require.NoError(t, err)
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(callback, appURI), callback)
	return callback
}

// secretsOf lists what must never be printed of a login: its state and
// verifier, and the flow's cookie values the callback request carried.
func secretsOf(t *testing.T, a *authtest.Audiobookshelf, l *audiobookshelf.OpenIDLogin) []string {
	t.Helper()
	out := []string{l.State, l.CodeVerifier}
	if h := a.LastHeader("GET", "/auth/openid/callback"); h != nil {
		for _, ck := range (&http.Request{Header: h}).Cookies() {
			if len(ck.Value) >= 8 {
				out = append(out, ck.Value)
			}
		}
	}
	return out
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

func TestOpenIDSignIn(t *testing.T) {
	t.Parallel()
	a := setup(t)
	// A client with a key: the flow's calls carry none of it.
	key := a.AddAPIKey("alice", "k", 0, true)
	c := newClient(t, a, authclient.WithAPIKey(key))

	_, err := c.StartOpenIDLogin(t.Context(), appURI)
	e := errorOf(t, err)
	assert.Equal(t, http.StatusInternalServerError, e.StatusCode, "OpenID not configured: the server's 500 page")
	assert.Contains(t, e.Hint, "not configured")
	assert.Contains(t, e.URL, "/abs/auth/openid")

	a.EnableOpenID("Login with OpenId")
	l, err := c.StartOpenIDLogin(t.Context(), appURI)
	require.NoError(t, err)
	assert.NotContains(t, l.AuthURL, l.CodeVerifier)
	assert.Contains(t, l.AuthURL, url.QueryEscape(l.State), "the provider gets the state")
	assert.GreaterOrEqual(t, len(l.CodeVerifier), 43)
	assert.Equal(t, appURI, l.RedirectURI)
	start := a.LastHeader("GET", "/auth/openid")
	assert.Empty(t, start.Get("Authorization"), "no credential on the flow's calls")

	callback := browse(t, l.AuthURL)
	s, err := c.FinishOpenIDLogin(t.Context(), l, callback)
	require.NoError(t, err)
	assert.NotEmpty(t, s.Token)
	assert.NotEmpty(t, s.RefreshToken)
	assert.False(t, s.Expiry.IsZero(), "read from the access token")
	assert.Equal(t, authclient.Audiobookshelf, s.Server)
	h := a.LastHeader("GET", "/auth/openid/callback")
	assert.Empty(t, h.Get("Authorization"))
	assert.Contains(t, h.Get("Cookie"), "connect.sid=")
	assert.Contains(t, h.Get("Cookie"), "auth_method=openid-mobile")

	// The client now uses the session, not the key.
	u, err := c.Core().CurrentUser(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "root", u.Username)
	assert.Equal(t, "Bearer "+s.Token, a.LastHeader("GET", "/api/me").Get("Authorization"))
	got := c.Core().Session()
	require.NotNil(t, got)
	assert.Equal(t, s.RefreshToken, got.RefreshToken)

	// Renewed like a password session: a 401 refreshes it once and replays.
	a.Faults.FailNextOn("/api/libraries", 1, http.StatusUnauthorized, -1)
	_, err = c.ListLibraries(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, a.Refreshes())
	assert.Equal(t, 0, a.Logins(), "never a password sign-in")
	assert.NotEqual(t, s.Token, c.Core().Session().Token)

	require.NoError(t, c.Core().Logout(t.Context()))
	assert.Nil(t, c.Core().Session())
}

// Callbacks that must not reach the server: the class is every way a
// callback URL can be wrong (a forged, stale, empty or missing state; no
// code; a URL that does not parse; the identity provider's refusal, with
// and without a description, with a code that is not one, echoing the
// state) and every login the client did not start (nil, zero, another
// client's). Each is typed, names none of the secrets, and sends nothing.
func TestOpenIDCallbackRefused(t *testing.T) {
	t.Parallel()
	a := setup(t)
	a.EnableOpenID("")
	c := newClient(t, a)
	stale, err := c.StartOpenIDLogin(t.Context(), appURI)
	require.NoError(t, err)
	staleCallback := browse(t, stale.AuthURL)
	l, err := c.StartOpenIDLogin(t.Context(), appURI)
	require.NoError(t, err)
	callback := browse(t, l.AuthURL)
	code := mustQuery(t, callback).Get("code")
	secrets := []string{l.State, l.CodeVerifier, code, stale.State}
	before := a.Requests("GET", "/auth/openid/callback")

	var ce *authclient.ConfigError
	for name, cb := range map[string]string{
		"forged state":    appURI + "?code=" + code + "&state=forged",
		"stale state":     staleCallback,
		"empty state":     appURI + "?code=" + code + "&state=",
		"no state":        appURI + "?code=" + code,
		"no code":         appURI + "?state=" + url.QueryEscape(l.State),
		"not a URL":       "http://[::1" + code,
		"control char":    appURI + "\n?code=" + code,
		"state elsewhere": appURI + "#state=" + url.QueryEscape(l.State) + "&code=" + code,
	} {
		_, err := c.FinishOpenIDLogin(t.Context(), l, cb)
		require.ErrorAs(t, err, &ce, name)
		assert.Equal(t, "audiobookshelf.FinishOpenIDLogin", ce.Setting, name)
		assertNoSecret(t, err, secrets...)
	}

	other := newClient(t, a)
	theirs, err := other.StartOpenIDLogin(t.Context(), appURI)
	require.NoError(t, err)
	for name, bad := range map[string]*audiobookshelf.OpenIDLogin{
		"nil": nil, "zero": {}, "copied fields": {State: l.State, CodeVerifier: l.CodeVerifier, AuthURL: l.AuthURL}, "another client's": theirs,
	} {
		_, err := c.FinishOpenIDLogin(t.Context(), bad, callback)
		require.ErrorAs(t, err, &ce, name)
		assert.Contains(t, ce.Problem, "not started", name)
		assertNoSecret(t, err, secrets...)
	}

	// The identity provider's refusal: typed, ErrUnauthorized, secrets masked.
	for cb, want := range map[string]string{
		appURI + "?error=access_denied&state=" + url.QueryEscape(l.State):                             "access_denied",
		appURI + "?error=login_required&error_description=Please+sign+in+again":                       "login_required",
		appURI + "?error=%3Cscript%3E":                                                                "invalid",
		appURI + "?error=" + strings.Repeat("x", 65):                                                  "invalid",
		appURI + "?error=denied_" + url.QueryEscape(l.State):                                          "invalid",
		appURI + "?error=server_error&error_description=" + url.QueryEscape("state "+l.State+"\r\nX"): "server_error",
		appURI + "?error=temporarily_unavailable&error_description=" + strings.Repeat("%C3%A9", 300):  "temporarily_unavailable",
	} {
		_, err := c.FinishOpenIDLogin(t.Context(), l, cb)
		require.ErrorIs(t, err, authclient.ErrUnauthorized, cb)
		var ie *audiobookshelf.IdPError
		require.ErrorAs(t, err, &ie, cb)
		assert.Equal(t, want, ie.Code, cb)
		assert.NotContains(t, ie.Description, "\n")
		assert.LessOrEqual(t, len(ie.Description), 200+len("…"))
		assert.True(t, strings.HasPrefix(err.Error(), "audiobookshelf: "), err.Error())
		assert.NotErrorIs(t, err, authclient.ErrForbidden)
		assertNoSecret(t, err, secrets...)
	}
	_, err = c.FinishOpenIDLogin(t.Context(), l, appURI+"?error=login_required&error_description=Please+sign+in+again")
	assert.Contains(t, err.Error(), "login_required (Please sign in again)")

	assert.Equal(t, before, a.Requests("GET", "/auth/openid/callback"), "nothing was sent")
	assert.Nil(t, c.Core().Session())

	// The login is still good after all that.
	_, err = c.FinishOpenIDLogin(t.Context(), l, callback)
	require.NoError(t, err)
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Query()
}

// The server refuses the exchange: a tampered verifier (500, as the real
// server's invalid_grant), a code used twice (400 No session), a user
// deactivated meanwhile (401). Each is the core's *Error, names none of
// the secrets, and leaves the client without a session.
func TestOpenIDExchangeFails(t *testing.T) {
	t.Parallel()
	a := setup(t)
	a.EnableOpenID("")
	c := newClient(t, a)

	l, err := c.StartOpenIDLogin(t.Context(), appURI)
	require.NoError(t, err)
	callback := browse(t, l.AuthURL)
	real := l.CodeVerifier
	l.CodeVerifier = strings.Repeat("x", 43)
	_, err = c.FinishOpenIDLogin(t.Context(), l, callback)
	e := errorOf(t, err)
	assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
	assert.Equal(t, "Error in callback", e.Message)
	assertNoSecret(t, err, append(secretsOf(t, a, l), real, mustQuery(t, callback).Get("code"))...)
	assert.Nil(t, c.Core().Session())

	// The flow's session is consumed: the same callback again is "No session".
	_, err = c.FinishOpenIDLogin(t.Context(), l, callback)
	e = errorOf(t, err)
	assert.Equal(t, http.StatusBadRequest, e.StatusCode)
	assert.Equal(t, "No session", e.Message)

	a.SetOpenIDUser("alice")
	l, err = c.StartOpenIDLogin(t.Context(), appURI)
	require.NoError(t, err)
	callback = browse(t, l.AuthURL)
	a.SetUserActive("alice", false)
	_, err = c.FinishOpenIDLogin(t.Context(), l, callback)
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
	assert.Equal(t, http.StatusUnauthorized, errorOf(t, err).StatusCode)
	assertNoSecret(t, err, secretsOf(t, a, l)...)
	assert.Nil(t, c.Core().Session())
}

// Starts the client refuses: the class is every redirect URI that is not
// an absolute URL (nothing is sent), one the server does not allow (its
// 400), and every answer that is not a usable redirect (not a 3xx, no
// Location, a Location that is not http(s), no connect.sid, a deleted or
// empty one).
func TestOpenIDStartFails(t *testing.T) {
	t.Parallel()
	a := setup(t)
	a.EnableOpenID("")
	c := newClient(t, a)
	var ce *authclient.ConfigError
	before := a.TotalRequests()
	for _, bad := range []string{"", "oauth", "/relative/path", "%zz://x", "app://cb\n"} {
		_, err := c.StartOpenIDLogin(t.Context(), bad)
		require.ErrorAs(t, err, &ce, "%q", bad)
		assert.Equal(t, "audiobookshelf.StartOpenIDLogin", ce.Setting)
	}
	assert.Equal(t, before, a.TotalRequests(), "nothing sent")

	_, err := c.StartOpenIDLogin(t.Context(), "https://evil.example/cb")
	e := errorOf(t, err)
	assert.Equal(t, http.StatusBadRequest, e.StatusCode)
	assert.Equal(t, "Invalid redirect_uri", e.Message)

	for name, tc := range map[string]struct {
		status   int
		location string
		cookies  []string
		want     error
	}{
		"200":                 {http.StatusOK, "", []string{"connect.sid=s%3Aabcdefgh"}, audiobookshelf.ErrNotRedirected},
		"302 no Location":     {http.StatusFound, "", []string{"connect.sid=s%3Aabcdefgh"}, audiobookshelf.ErrNotRedirected},
		"javascript:":         {http.StatusFound, "javascript:alert(1)", []string{"connect.sid=s%3Aabcdefgh"}, audiobookshelf.ErrNotRedirected},
		"no host":             {http.StatusFound, "https:///authorize", []string{"connect.sid=s%3Aabcdefgh"}, audiobookshelf.ErrNotRedirected},
		"no cookie":           {http.StatusFound, "https://idp.example/authorize", nil, audiobookshelf.ErrNoFlowCookie},
		"other cookie":        {http.StatusFound, "https://idp.example/authorize", []string{"auth_method=openid-mobile"}, audiobookshelf.ErrNoFlowCookie},
		"deleted session":     {http.StatusFound, "https://idp.example/authorize", []string{"connect.sid=x; Max-Age=-1"}, audiobookshelf.ErrNoFlowCookie},
		"empty session":       {http.StatusFound, "https://idp.example/authorize", []string{"connect.sid="}, audiobookshelf.ErrNoFlowCookie},
		"relative Location":   {http.StatusFound, "/fake-idp/authorize?x=1", []string{"connect.sid=s%3Aabcdefgh"}, nil},
		"303 with the cookie": {http.StatusSeeOther, "https://idp.example/a", []string{"connect.sid=s%3Aabcdefgh"}, nil},
	} {
		stub := stubServer(t, func(w http.ResponseWriter, r *http.Request) {
			for _, ck := range tc.cookies {
				w.Header().Add("Set-Cookie", ck)
			}
			if tc.location != "" {
				w.Header().Set("Location", tc.location)
			}
			w.WriteHeader(tc.status)
		})
		sc, err := audiobookshelf.New(stub.URL+"/abs/", fast)
		require.NoError(t, err)
		l, err := sc.StartOpenIDLogin(t.Context(), appURI)
		if tc.want == nil {
			require.NoError(t, err, name)
			assert.True(t, strings.HasPrefix(l.AuthURL, "http"), l.AuthURL)
			continue
		}
		require.ErrorIs(t, err, tc.want, name)
		require.ErrorIs(t, err, authclient.ErrUnexpectedServer, name)
		assert.Nil(t, l, name)
	}
}

// A callback the server redirects to another origin carries nothing
// there: no cookie, code, state or verifier, whatever the redirect.
func TestOpenIDCallbackRedirectedElsewhereCarriesNothing(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []*http.Request
	elsewhere := stubServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(r.Context()))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"user": {"username": "evil", "accessToken": "evil-token-0123456789"}}`))
	})
	const sid = "s%3Aflow-session-cookie-value"
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		abs := stubServer(t, func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/abs/auth/openid":
				w.Header().Add("Set-Cookie", "connect.sid="+sid+"; Path=/; HttpOnly")
				w.Header().Add("Set-Cookie", "auth_method=openid-mobile; Path=/")
				http.Redirect(w, r, "https://idp.example/authorize?"+r.URL.RawQuery, http.StatusFound)
			case "/abs/auth/openid/callback":
				http.Redirect(w, r, elsewhere.URL+"/steal", status)
			default:
				http.NotFound(w, r)
			}
		})
		c, err := audiobookshelf.New(abs.URL+"/abs/", fast)
		require.NoError(t, err)
		l, err := c.StartOpenIDLogin(t.Context(), appURI)
		require.NoError(t, err)
		_, err = c.FinishOpenIDLogin(t.Context(), l, appURI+"?code=the-code-0123456789&state="+url.QueryEscape(l.State))
		require.ErrorIs(t, err, authclient.ErrRedirect, status)
		assert.Nil(t, c.Core().Session(), "no session from elsewhere")
		assertNoSecret(t, err, l.State, l.CodeVerifier, "the-code-0123456789", "flow-session-cookie-value")
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, seen, "not followed at all")
	for _, r := range seen {
		dump := r.URL.String() + fmt.Sprint(r.Header)
		for _, s := range []string{"the-code", "flow-session", "code_verifier", "state="} {
			assert.NotContains(t, dump, s)
		}
	}
}

// A callback redirected on the same origin but outside the base path
// carries none of the flow's secrets there either.
func TestOpenIDCallbackRedirectedOutsideBasePath(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []*http.Request
	const sid = "s%3Aflow-session-cookie-value"
	abs := stubServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/abs/auth/openid":
			w.Header().Add("Set-Cookie", "connect.sid="+sid+"; Path=/")
			http.Redirect(w, r, "https://idp.example/authorize", http.StatusFound)
		case "/abs/auth/openid/callback":
			http.Redirect(w, r, "/steal", http.StatusTemporaryRedirect)
		default:
			mu.Lock()
			seen = append(seen, r.Clone(r.Context()))
			mu.Unlock()
			http.NotFound(w, r)
		}
	})
	c, err := audiobookshelf.New(abs.URL+"/abs/", fast)
	require.NoError(t, err)
	l, err := c.StartOpenIDLogin(t.Context(), appURI)
	require.NoError(t, err)
	_, err = c.FinishOpenIDLogin(t.Context(), l, appURI+"?code=the-code-0123456789&state="+url.QueryEscape(l.State))
	require.Error(t, err)
	assert.Nil(t, c.Core().Session())
	assertNoSecret(t, err, l.State, l.CodeVerifier, "the-code-0123456789", "flow-session-cookie-value")
	mu.Lock()
	defer mu.Unlock()
	for _, r := range seen {
		dump := r.URL.String() + fmt.Sprint(r.Header)
		for _, s := range []string{"the-code", "flow-session", l.State, l.CodeVerifier} {
			assert.NotContains(t, dump, s)
		}
	}
}

// Printing a login, in every fmt verb, by value and by pointer, and
// logging it with slog, shows neither its state, its verifier nor the
// flow's cookies, and still shows the page to open.
func TestOpenIDLoginRedacted(t *testing.T) {
	t.Parallel()
	a := setup(t)
	a.EnableOpenID("")
	c := newClient(t, a)
	l, err := c.StartOpenIDLogin(t.Context(), appURI)
	require.NoError(t, err)
	callback := browse(t, l.AuthURL)
	_, err = c.FinishOpenIDLogin(t.Context(), l, callback)
	require.NoError(t, err)
	secrets := append(secretsOf(t, a, l), mustQuery(t, callback).Get("code"))
	require.GreaterOrEqual(t, len(secrets), 4, "state, verifier, connect.sid, code")

	var formatted []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10.3v"} {
		formatted = append(formatted, fmt.Sprintf(verb, *l), fmt.Sprintf(verb, l))
	}
	formatted = append(formatted, fmt.Sprint(*l), fmt.Sprintln(l), fmt.Sprintf("%v", []any{*l, l}),
		fmt.Sprintf("%+v", struct{ L *audiobookshelf.OpenIDLogin }{l}))
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("openid", "login", *l, "ptr", l)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("openid", "login", *l, "group", slog.Group("g", "l", l))
	for _, out := range append(formatted, logs.String()) {
		for _, s := range secrets {
			assert.NotContains(t, out, s)
		}
	}
	assert.Contains(t, formatted[0], "REDACTED")
	assert.Contains(t, formatted[0], "/fake-idp/authorize", "the page to open is still shown")
	assert.Contains(t, logs.String(), "REDACTED")
}

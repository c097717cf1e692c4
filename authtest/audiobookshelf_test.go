package authtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// absResult is a response read in full.
type absResult struct {
	status int
	header http.Header
	body   string
}

func (r absResult) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &m), r.body)
	return m
}

// absNoRedirect returns a client of srv that does not follow redirects and,
// with jar, keeps cookies.
func absNoRedirect(srv *Audiobookshelf, jar bool) *http.Client {
	c := &http.Client{
		Transport:     srv.HTTP.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if jar {
		c.Jar, _ = cookiejar.New(nil)
	}
	return c
}

// absCall sends a request; target is a path relative to srv.URL or an
// absolute URL; hdr are header name/value pairs. A body starting with "{" is
// sent as JSON unless hdr sets Content-Type.
func absCall(t *testing.T, c *http.Client, srv *Audiobookshelf, method, target, body string, hdr ...string) absResult {
	t.Helper()
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		target = srv.URL + strings.TrimPrefix(target, "/")
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	require.NoError(t, err)
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c == nil {
		c = absNoRedirect(srv, false)
	}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return absResult{status: res.StatusCode, header: res.Header, body: string(b)}
}

// absAssertBare checks a passport-style answer: reason phrase, no Content-Type.
func absAssertBare(t *testing.T, r absResult, status int) {
	t.Helper()
	assert.Equal(t, status, r.status)
	assert.Equal(t, http.StatusText(status), r.body)
	_, hasCT := r.header["Content-Type"]
	assert.False(t, hasCT, "no Content-Type expected, got %q", r.header.Get("Content-Type"))
	assert.Empty(t, r.header.Get("WWW-Authenticate"))
}

// absAssertText checks a body and its exact Content-Type.
func absAssertText(t *testing.T, r absResult, status int, contentType, body string) {
	t.Helper()
	assert.Equal(t, status, r.status)
	assert.Equal(t, contentType, r.header.Get("Content-Type"))
	assert.Equal(t, body, r.body)
}

func absClaimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func absKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// absLogin logs in API style and returns the access and refresh tokens.
func absLogin(t *testing.T, srv *Audiobookshelf, user, pass string) (access, refresh string) {
	t.Helper()
	r := absCall(t, nil, srv, "POST", "login", fmt.Sprintf(`{"username":%q,"password":%q}`, user, pass), "x-return-tokens", "true")
	require.Equal(t, http.StatusOK, r.status, r.body)
	u := r.json(t)["user"].(map[string]any)
	return u["accessToken"].(string), u["refreshToken"].(string)
}

func absBearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func absCookieNamed(r absResult, name string) string {
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, name+"=") {
			return c
		}
	}
	return ""
}

func absCookieToken(setCookie string) string {
	v := strings.SplitN(setCookie, ";", 2)[0]
	return v[strings.IndexByte(v, '=')+1:]
}

func absExpress404(path string) string {
	return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET " +
		path + "</pre>\n</body>\n</html>\n"
}

func TestAudiobookshelfStatusPingHealthAndBasePath(t *testing.T) {
	t.Parallel()
	srv := NewAudiobookshelf()
	defer srv.Close()
	assert.Equal(t, srv.HTTP.URL+"/", srv.URL)
	assert.Equal(t, srv.HTTP.URL+"/audiobookshelf/", srv.BasePathURL())

	for _, p := range []string{"status", "audiobookshelf/status", "audiobookshelf/status/"} {
		r := absCall(t, nil, srv, "GET", p, "")
		absAssertText(t, r, 200, "application/json; charset=utf-8",
			`{"app":"audiobookshelf","serverVersion":"2.36.0","isInit":true,"language":"en-us","authMethods":["local"],"authFormData":{"authLoginCustomMessage":""}}`)
		assert.Equal(t, "frame-ancestors 'self'", r.header.Get("Content-Security-Policy"))
		assert.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"))
		assert.Empty(t, r.header.Get("RateLimit-Limit"))
	}
	assert.Equal(t, 2, srv.Requests("GET", "/status"))

	r := absCall(t, nil, srv, "GET", "ping", "")
	absAssertText(t, r, 200, "application/json; charset=utf-8", `{"success":true}`)
	r = absCall(t, nil, srv, "GET", "audiobookshelf/healthcheck", "")
	absAssertText(t, r, 200, "text/plain; charset=utf-8", "OK")
	assert.Equal(t, `W/"2-nOO9QiTIwXgNtWtBJezz8kv3SLc"`, r.header.Get("ETag"), "Express's ETag of OK")

	// Unknown routes and methods answer like Express.
	r = absCall(t, nil, srv, "GET", "nope", "")
	absAssertText(t, r, 404, "text/html; charset=utf-8", absExpress404("/nope"))
	assert.Equal(t, "default-src 'none'", r.header.Get("Content-Security-Policy"))
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	r = absCall(t, nil, srv, "PUT", "login", "")
	assert.Equal(t, 404, r.status)
	assert.Contains(t, r.body, "<pre>Cannot PUT /login</pre>")
	r = absCall(t, nil, srv, "OPTIONS", "login", "")
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "GET,HEAD,POST", r.header.Get("Allow"))

	// A custom base path is rewritten the same way.
	srv2 := NewAudiobookshelf(WithPrefix("/abs"))
	defer srv2.Close()
	assert.Equal(t, srv2.HTTP.URL+"/abs/", srv2.BasePathURL())
	for _, p := range []string{"ping", "abs/ping"} {
		assert.Equal(t, 200, absCall(t, nil, srv2, "GET", p, "").status)
	}
}

func TestAudiobookshelfInit(t *testing.T) {
	t.Parallel()
	srv := NewAudiobookshelfUninitialised()
	defer srv.Close()

	r := absCall(t, nil, srv, "GET", "status", "")
	assert.Equal(t, `{"app":"audiobookshelf","serverVersion":"2.36.0","isInit":false,"language":"en-us","authMethods":["local"],"authFormData":{"authLoginCustomMessage":""},"ConfigPath":"/data/config","MetadataPath":"/data/metadata"}`, r.body)
	absAssertBare(t, absCall(t, nil, srv, "POST", "login", `{"username":"root","password":"root"}`), 401)

	// The real server crashes without newRoot; the fake answers 500.
	absAssertText(t, absCall(t, nil, srv, "POST", "init", `{}`), 500, "text/plain; charset=utf-8", "Internal Server Error")
	absAssertText(t, absCall(t, nil, srv, "POST", "init", `{"newRoot":null}`), 500, "text/plain; charset=utf-8", "Internal Server Error")
	absAssertText(t, absCall(t, nil, srv, "POST", "init", `{"newRoot":{"username":"Admin","password":"pw"}}`), 200, "text/plain; charset=utf-8", "OK")
	absAssertText(t, absCall(t, nil, srv, "POST", "init", `{"newRoot":{"username":"root2","password":"x"}}`), 500, "text/plain; charset=utf-8", "Internal Server Error")
	assert.NotContains(t, absCall(t, nil, srv, "GET", "status", "").body, "ConfigPath")
	absLogin(t, srv, "admin", "pw")

	// A root created without a password logs in with "" only.
	srv2 := NewAudiobookshelfUninitialised()
	defer srv2.Close()
	require.Equal(t, 200, absCall(t, nil, srv2, "POST", "init", `{"newRoot":{}}`).status)
	absLogin(t, srv2, "root", "")
	absAssertBare(t, absCall(t, nil, srv2, "POST", "login", `{"username":"root","password":"x"}`), 401)
}

func TestAudiobookshelfLogin(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 11, 22, 10, 9, 47, 0, time.UTC))
	srv := NewAudiobookshelf(WithClock(clock))
	defer srv.Close()

	// Browser style: refresh token as a cookie only.
	r := absCall(t, nil, srv, "POST", "login", `{"username":"ROOT","password":"root"}`)
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
	assert.Equal(t, "40;w=600", r.header.Get("RateLimit-Policy"))
	rc := absCookieNamed(r, "refresh_token")
	assert.Regexp(t, `^refresh_token=[\w-]+\.[\w-]+\.[\w-]+; Max-Age=2592000; Path=/; Expires=Tue, 22 Dec 2026 10:09:47 GMT; HttpOnly; SameSite=Lax$`, rc)
	assert.Regexp(t, `^connect\.sid=s%3A[\w-]+\.[\w%]+; Path=/; HttpOnly$`, absCookieNamed(r, "connect.sid"))
	body := r.json(t)
	u := body["user"].(map[string]any)
	assert.Nil(t, u["refreshToken"])
	assert.Equal(t, "root", u["username"])
	assert.Equal(t, "root", u["type"])
	assert.NotContains(t, u, "isOldToken")
	assert.Equal(t, true, u["permissions"].(map[string]any)["delete"])
	assert.Nil(t, body["userDefaultLibraryId"])
	assert.Equal(t, []any{}, body["ereaderDevices"])
	assert.Equal(t, "debian", body["Source"])
	ss := body["serverSettings"].(map[string]any)
	assert.Equal(t, "2.36.0", ss["version"])
	assert.Equal(t, []any{"local"}, ss["authActiveAuthMethods"])

	access := absClaimsOf(t, u["accessToken"].(string))
	assert.ElementsMatch(t, []string{"userId", "username", "jti", "type", "iat", "exp"}, absKeys(access))
	assert.Equal(t, "access", access["type"])
	assert.Equal(t, float64(clock.Now().Unix()), access["iat"])
	assert.Equal(t, float64(3600), access["exp"].(float64)-access["iat"].(float64))
	refresh := absClaimsOf(t, absCookieToken(rc))
	assert.Equal(t, "refresh", refresh["type"])
	assert.Equal(t, float64(2592000), refresh["exp"].(float64)-refresh["iat"].(float64))
	legacy := absClaimsOf(t, u["token"].(string))
	assert.ElementsMatch(t, []string{"userId", "username", "iat"}, absKeys(legacy))
	assert.Equal(t, srv.LegacyToken("root"), u["token"])
	assert.Equal(t, srv.UserID("root"), u["id"])

	// API style: refresh token in the body, no refresh cookie.
	r = absCall(t, nil, srv, "POST", "login", `{"username":"root","password":"root"}`, "x-return-tokens", "true")
	require.Equal(t, 200, r.status)
	assert.NotEmpty(t, r.json(t)["user"].(map[string]any)["refreshToken"])
	assert.Empty(t, absCookieNamed(r, "refresh_token"))
	assert.NotEmpty(t, absCookieNamed(r, "connect.sid"))
	// Only the exact string "true" counts.
	r = absCall(t, nil, srv, "POST", "login", `{"username":"root","password":"root"}`, "x-return-tokens", "1")
	assert.Nil(t, r.json(t)["user"].(map[string]any)["refreshToken"])
	assert.NotEmpty(t, absCookieNamed(r, "refresh_token"))

	// Form-encoded bodies work too; HTTPS behind a proxy adds Secure.
	r = absCall(t, nil, srv, "POST", "login", "username=root&password=root",
		"Content-Type", "application/x-www-form-urlencoded", "X-Forwarded-Proto", "https")
	require.Equal(t, 200, r.status)
	assert.Contains(t, absCookieNamed(r, "refresh_token"), "; HttpOnly; Secure; SameSite=Lax")
	assert.Equal(t, 4, srv.Logins())
	assert.Equal(t, 4, srv.SessionCount("root"))

	// Failures.
	absAssertBare(t, absCall(t, nil, srv, "POST", "login", `{"username":"root","password":"wrong"}`), 401)
	absAssertBare(t, absCall(t, nil, srv, "POST", "login", `{"username":"nobody","password":"x"}`), 401)
	absAssertBare(t, absCall(t, nil, srv, "POST", "login", `{"username":"root"}`), 400)
	absAssertBare(t, absCall(t, nil, srv, "POST", "login", `{"password":"root"}`), 400)
	absAssertBare(t, absCall(t, nil, srv, "POST", "login", ""), 400)
	absAssertBare(t, absCall(t, nil, srv, "POST", "login", `{"username":1,"password":2}`), 401)
	r = absCall(t, nil, srv, "POST", "login", `{"username":`)
	assert.Equal(t, 400, r.status)
	assert.Contains(t, r.body, "<pre>Bad Request</pre>")

	srv.AddUser("alice", "alicepass", "user")
	absLogin(t, srv, "Alice", "alicepass")
	srv.SetUserActive("alice", false)
	absAssertBare(t, absCall(t, nil, srv, "POST", "login", `{"username":"alice","password":"alicepass"}`), 401)
	srv.AddUser("sso-only", "", "user")
	absAssertBare(t, absCall(t, nil, srv, "POST", "login", `{"username":"sso-only","password":""}`), 401)
	assert.Equal(t, 5, srv.Logins())
}

func TestAudiobookshelfBearerCheck(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := NewAudiobookshelf(WithClock(clock))
	defer srv.Close()
	other := NewAudiobookshelf()
	defer other.Close()
	access, refresh := absLogin(t, srv, "root", "root")
	foreign, _ := absLogin(t, other, "root", "root")

	for name, hdr := range map[string][]string{
		"none":          nil,
		"garbage":       {"Authorization", "Bearer not-a-jwt"},
		"basic":         {"Authorization", "Basic cm9vdDpyb290"},
		"refresh token": absBearer(refresh),
		"other secret":  absBearer(foreign),
		"cookies only":  {"Cookie", "refresh_token=" + refresh},
	} {
		t.Run(name, func(t *testing.T) {
			absAssertBare(t, absCall(t, nil, srv, "GET", "api/me", "", hdr...), 401)
		})
	}
	absAssertBare(t, absCall(t, nil, srv, "GET", "api/no-such-route", ""), 401)

	r := absCall(t, nil, srv, "GET", "api/me", "", "Authorization", "bearer "+access)
	require.Equal(t, 200, r.status)
	me := r.json(t)
	assert.NotContains(t, me, "accessToken")
	assert.Equal(t, "root", me["username"])
	assert.Equal(t, 200, absCall(t, nil, srv, "GET", "audiobookshelf/api/me/?token="+access, "").status)

	r = absCall(t, nil, srv, "POST", "api/authorize", "", absBearer(access)...)
	require.Equal(t, 200, r.status)
	assert.ElementsMatch(t, []string{"user", "userDefaultLibraryId", "serverSettings", "ereaderDevices", "Source"}, absKeys(r.json(t)))
	assert.NotContains(t, r.json(t)["user"], "accessToken")

	r = absCall(t, nil, srv, "GET", "api/authorize", "", absBearer(access)...)
	absAssertText(t, r, 404, "text/html; charset=utf-8", absExpress404("/api/authorize"))
	assert.Len(t, r.body, 152)
	r = absCall(t, nil, srv, "GET", "api/no-such-route", "", absBearer(access)...)
	assert.Len(t, r.body, 156)
	assert.Equal(t, "default-src 'none'", r.header.Get("Content-Security-Policy"))
	r = absCall(t, nil, srv, "GET", "audiobookshelf/api/no-such-route", "", absBearer(access)...)
	assert.Contains(t, r.body, "Cannot GET /audiobookshelf/api/no-such-route")

	// Legacy token: accepted, flags the user until an access token is used.
	legacy := srv.LegacyToken("root")
	r = absCall(t, nil, srv, "POST", "api/authorize", "", absBearer(legacy)...)
	require.Equal(t, 200, r.status)
	assert.Equal(t, true, r.json(t)["user"].(map[string]any)["isOldToken"])
	assert.Contains(t, r.body, `"token":"`+legacy+`","isOldToken":true,"mediaProgress"`)
	assert.NotContains(t, absCall(t, nil, srv, "GET", "api/me", "", absBearer(access)...).body, "isOldToken")

	// Access tokens expire; legacy tokens never do; inactive users are refused.
	clock.Advance(time.Hour + time.Second)
	absAssertBare(t, absCall(t, nil, srv, "GET", "api/me", "", absBearer(access)...), 401)
	assert.Equal(t, 200, absCall(t, nil, srv, "GET", "api/me", "", absBearer(legacy)...).status)
	srv.SetTokenExpiry(time.Minute, time.Hour)
	short, _ := absLogin(t, srv, "root", "root")
	assert.Equal(t, float64(60), absClaimsOf(t, short)["exp"].(float64)-absClaimsOf(t, short)["iat"].(float64))
	srv.SetUserActive("root", false)
	absAssertBare(t, absCall(t, nil, srv, "GET", "api/me", "", absBearer(short)...), 401)
	absAssertBare(t, absCall(t, nil, srv, "GET", "api/me", "", absBearer(legacy)...), 401)
}

func TestAudiobookshelfRefresh(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := NewAudiobookshelf(WithClock(clock))
	defer srv.Close()
	access, r0 := absLogin(t, srv, "root", "root")

	refresh := func(hdr ...string) absResult { return absCall(t, nil, srv, "POST", "auth/refresh", "", hdr...) }
	assertErr := func(r absResult, msg string) {
		t.Helper()
		absAssertText(t, r, 401, "application/json; charset=utf-8", `{"error":"`+msg+`"}`)
	}

	// Rotation through the header: the new refresh token is in the body and in a cookie.
	clock.Advance(time.Second)
	r := refresh("x-refresh-token", r0)
	require.Equal(t, 200, r.status, r.body)
	assert.NotEmpty(t, r.header.Get("RateLimit-Remaining"))
	u := r.json(t)["user"].(map[string]any)
	r1 := u["refreshToken"].(string)
	assert.NotEqual(t, r0, r1)
	assert.NotEqual(t, access, u["accessToken"])
	assert.Equal(t, r1, absCookieToken(absCookieNamed(r, "refresh_token")))
	assert.ElementsMatch(t, []string{"user", "userDefaultLibraryId", "serverSettings", "ereaderDevices", "Source"}, absKeys(r.json(t)))

	// The old token inside the grace period gets the already-rotated one.
	clock.Advance(5 * time.Minute)
	r = refresh("x-refresh-token", r0)
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, r1, r.json(t)["user"].(map[string]any)["refreshToken"])
	assert.Equal(t, 200, absCall(t, nil, srv, "GET", "api/me", "", absBearer(r.json(t)["user"].(map[string]any)["accessToken"].(string))...).status)
	clock.Advance(5*time.Minute + time.Second)
	assertErr(refresh("x-refresh-token", r0), "Invalid refresh token")

	// Cookie style: the body has no refresh token, the header would win.
	r = refresh("Cookie", "refresh_token="+r1)
	require.Equal(t, 200, r.status)
	assert.Nil(t, r.json(t)["user"].(map[string]any)["refreshToken"])
	r2 := absCookieToken(absCookieNamed(r, "refresh_token"))
	assert.NotEqual(t, r1, r2)
	r = refresh("Cookie", "refresh_token=garbage", "x-refresh-token", r2)
	require.Equal(t, 200, r.status)
	r3 := r.json(t)["user"].(map[string]any)["refreshToken"].(string)
	assert.Equal(t, 4, srv.Refreshes())

	// Errors.
	assertErr(refresh(), "No refresh token provided")
	assertErr(refresh("x-refresh-token", "abc"), "Invalid refresh token")
	assertErr(refresh("x-refresh-token", access), "Invalid token type")
	assertErr(refresh("x-refresh-token", srv.LegacyToken("root")), "Invalid token type")
	srv.SetUserActive("root", false)
	assertErr(refresh("x-refresh-token", r3), "User not found or inactive")
	srv.SetUserActive("root", true)
	assert.Equal(t, 4, srv.Refreshes())

	// Grace period 0: the previous token dies at once.
	srv.SetRefreshGracePeriod(0)
	r = refresh("x-refresh-token", r3)
	require.Equal(t, 200, r.status)
	assertErr(refresh("x-refresh-token", r3), "Invalid refresh token")

	// Refresh token expiry.
	srv.SetTokenExpiry(time.Hour, 2*time.Hour)
	_, rs := absLogin(t, srv, "root", "root")
	clock.Advance(2 * time.Hour)
	assertErr(refresh("x-refresh-token", rs), "Refresh token expired")
	assertErr(refresh("x-refresh-token", rs), "Refresh token expired")
}

func TestAudiobookshelfLogout(t *testing.T) {
	t.Parallel()
	srv := NewAudiobookshelf()
	defer srv.Close()

	accessA, refreshA := absLogin(t, srv, "root", "root")
	_, refreshB := absLogin(t, srv, "root", "root")
	require.Equal(t, 2, srv.SessionCount("root"))

	r := absCall(t, nil, srv, "POST", "logout", "", "x-refresh-token", refreshA)
	absAssertText(t, r, 200, "application/json; charset=utf-8", `{"redirect_url":null}`)
	assert.Empty(t, r.header.Get("RateLimit-Limit"))
	assert.Equal(t, "refresh_token=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT", absCookieNamed(r, "refresh_token"))
	assert.Equal(t, "auth_method=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT", absCookieNamed(r, "auth_method"))
	assert.Equal(t, 1, srv.SessionCount("root"))
	absAssertText(t, absCall(t, nil, srv, "POST", "auth/refresh", "", "x-refresh-token", refreshA),
		401, "application/json; charset=utf-8", `{"error":"Invalid refresh token"}`)
	assert.Equal(t, 200, absCall(t, nil, srv, "GET", "api/me", "", absBearer(accessA)...).status, "access tokens outlive logout")

	// No token at all: still 200.
	assert.Equal(t, `{"redirect_url":null}`, absCall(t, nil, srv, "POST", "logout", "").body)

	// The cookie wins over the header.
	_, refreshC := absLogin(t, srv, "root", "root")
	absCall(t, nil, srv, "POST", "logout", "", "Cookie", "refresh_token="+refreshC, "x-refresh-token", refreshB)
	assert.Equal(t, 200, absCall(t, nil, srv, "POST", "auth/refresh", "", "x-refresh-token", refreshB).status)
	assert.Equal(t, 401, absCall(t, nil, srv, "POST", "auth/refresh", "", "x-refresh-token", refreshC).status)

	// A rotated (grace-period) token does not end the session; allDevices does.
	_, old := absLogin(t, srv, "root", "root")
	require.Equal(t, 200, absCall(t, nil, srv, "POST", "auth/refresh", "", "x-refresh-token", old).status)
	n := srv.SessionCount("root")
	absCall(t, nil, srv, "POST", "logout", "", "x-refresh-token", old)
	assert.Equal(t, n, srv.SessionCount("root"))
	srv.AddUser("bob", "pw", "user")
	absLogin(t, srv, "bob", "pw")
	absCall(t, nil, srv, "POST", "logout?allDevices=1", "", "x-refresh-token", old)
	assert.Equal(t, 0, srv.SessionCount("root"))
	assert.Equal(t, 1, srv.SessionCount("bob"))
}

func TestAudiobookshelfAPIKeys(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 11, 22, 10, 9, 50, 933e6, time.UTC))
	srv := NewAudiobookshelf(WithClock(clock))
	defer srv.Close()
	srv.AddLibrary("Books")
	rootID := srv.UserID("root")
	access, _ := absLogin(t, srv, "root", "root")
	asRoot := absBearer(access)

	// Created inactive by default: 401 until PATCHed.
	r := absCall(t, nil, srv, "POST", "api/api-keys", `{"name":"sdk-test","userId":"`+rootID+`"}`, asRoot...)
	require.Equal(t, 200, r.status, r.body)
	created := r.json(t)["apiKey"].(map[string]any)
	assert.Equal(t, []string{"apiKey", "id", "name", "expiresAt", "userId", "isActive", "createdByUserId", "updatedAt", "createdAt", "user"},
		absOrderedKeys(t, r.body, "apiKey"))
	assert.Equal(t, false, created["isActive"])
	assert.Nil(t, created["expiresAt"])
	assert.Equal(t, "2026-11-22T10:09:50.933Z", created["createdAt"])
	assert.Equal(t, map[string]any{"id": rootID, "username": "root", "type": "root"}, created["user"])
	key := created["apiKey"].(string)
	id := created["id"].(string)
	claims := absClaimsOf(t, key)
	assert.Equal(t, map[string]any{"keyId": id, "name": "sdk-test", "type": "api", "iat": float64(clock.Now().Unix())}, claims)
	absAssertBare(t, absCall(t, nil, srv, "GET", "api/libraries", "", absBearer(key)...), 401)

	r = absCall(t, nil, srv, "PATCH", "api/api-keys/"+id, `{"isActive":true}`, asRoot...)
	require.Equal(t, 200, r.status)
	row := r.json(t)["apiKey"].(map[string]any)
	assert.Equal(t, true, row["isActive"])
	assert.Equal(t, map[string]any{"id": rootID, "username": "root", "type": "root"}, row["user"])
	r = absCall(t, nil, srv, "GET", "api/libraries", "", absBearer(key)...)
	require.Equal(t, 200, r.status)
	assert.Equal(t, "Books", r.json(t)["libraries"].([]any)[0].(map[string]any)["name"])
	assert.Equal(t, 200, absCall(t, nil, srv, "POST", "api/authorize", "", absBearer(key)...).status)

	// PATCH without a change returns the full user row (quirk).
	r = absCall(t, nil, srv, "PATCH", "api/api-keys/"+id, `{}`, asRoot...)
	require.Equal(t, 200, r.status)
	assert.Contains(t, r.json(t)["apiKey"].(map[string]any)["user"], "pash")

	// List: every key, no secret.
	r = absCall(t, nil, srv, "GET", "api/api-keys", "", asRoot...)
	require.Equal(t, 200, r.status)
	keys := r.json(t)["apiKeys"].([]any)
	require.Len(t, keys, 1)
	assert.ElementsMatch(t, []string{"id", "name", "description", "expiresAt", "lastUsedAt", "isActive", "permissions",
		"createdAt", "updatedAt", "userId", "createdByUserId", "user", "createdByUser"}, absKeys(keys[0].(map[string]any)))
	assert.NotContains(t, r.body, key)

	// Expiring key: exp claim, then 401 and deactivation once past.
	r = absCall(t, nil, srv, "POST", "api/api-keys", `{"name":"short","userId":"`+rootID+`","isActive":true,"expiresIn":60}`, asRoot...)
	require.Equal(t, 200, r.status)
	short := r.json(t)["apiKey"].(map[string]any)
	assert.Equal(t, "2026-11-22T10:10:50.933Z", short["expiresAt"])
	assert.Equal(t, float64(60), absClaimsOf(t, short["apiKey"].(string))["exp"].(float64)-absClaimsOf(t, short["apiKey"].(string))["iat"].(float64))
	assert.Equal(t, 200, absCall(t, nil, srv, "GET", "api/me", "", absBearer(short["apiKey"].(string))...).status)
	clock.Advance(61 * time.Second)
	absAssertBare(t, absCall(t, nil, srv, "GET", "api/me", "", absBearer(short["apiKey"].(string))...), 401)
	assert.Contains(t, absCall(t, nil, srv, "GET", "api/api-keys", "", asRoot...).body, `"name":"short","description":null,"expiresAt":"2026-11-22T10:10:50.933Z","lastUsedAt":null,"isActive":false`)
	require.Equal(t, 200, absCall(t, nil, srv, "PATCH", "api/api-keys/"+short["id"].(string), `{"isActive":true}`, asRoot...).status)
	absAssertBare(t, absCall(t, nil, srv, "GET", "api/me", "", absBearer(short["apiKey"].(string))...), 401)
	assert.Contains(t, absCall(t, nil, srv, "GET", "api/api-keys", "", asRoot...).body, `"name":"short","description":null,"expiresAt":"2026-11-22T10:10:50.933Z","lastUsedAt":null,"isActive":false`)

	// Validation.
	bad := func(method, path, body string) {
		t.Helper()
		absAssertText(t, absCall(t, nil, srv, method, path, body, asRoot...), 400, "text/plain; charset=utf-8", "Bad Request")
	}
	bad("POST", "api/api-keys", `{"userId":"`+rootID+`"}`)
	bad("POST", "api/api-keys", `{"name":"","userId":"`+rootID+`"}`)
	bad("POST", "api/api-keys", `{"name":"x"}`)
	bad("POST", "api/api-keys", `{"name":"x","userId":"`+rootID+`","expiresIn":"10"}`)
	bad("POST", "api/api-keys", `{"name":"x","userId":"`+rootID+`","expiresIn":-5}`)
	bad("POST", "api/api-keys", `{"name":"x","userId":"00000000-0000-4000-8000-000000000000"}`)
	bad("PATCH", "api/api-keys/"+id, `{"isActive":"yes"}`)
	bad("PATCH", "api/api-keys/"+id, `{"userId":"nope"}`)
	absAssertText(t, absCall(t, nil, srv, "PATCH", "api/api-keys/00000000-0000-4000-8000-000000000000", `{"isActive":false}`, asRoot...),
		404, "text/plain; charset=utf-8", "Not Found")
	r = absCall(t, nil, srv, "POST", "api/api-keys", `{"name":"x","userId":"`+rootID+`","expiresIn":0}`, asRoot...)
	assert.Equal(t, 200, r.status, "expiresIn 0 means never")

	// Roles: admins manage keys but not root's; users get 403; a key acts as its user.
	srv.AddUser("admin", "adminpass", "admin")
	aliceID := srv.AddUser("alice", "alicepass", "user")
	adminTok, _ := absLogin(t, srv, "admin", "adminpass")
	aliceTok, _ := absLogin(t, srv, "alice", "alicepass")
	absAssertText(t, absCall(t, nil, srv, "POST", "api/api-keys", `{"name":"x","userId":"`+rootID+`","isActive":true}`, absBearer(adminTok)...),
		403, "text/plain; charset=utf-8", "Forbidden")
	absAssertText(t, absCall(t, nil, srv, "PATCH", "api/api-keys/"+id, `{"isActive":false}`, absBearer(adminTok)...),
		403, "text/plain; charset=utf-8", "Forbidden")
	r = absCall(t, nil, srv, "POST", "api/api-keys", `{"name":"alice-key","userId":"`+aliceID+`","isActive":"yes"}`, absBearer(adminTok)...)
	require.Equal(t, 200, r.status)
	aliceKey := r.json(t)["apiKey"].(map[string]any)["apiKey"].(string)
	assert.Equal(t, true, r.json(t)["apiKey"].(map[string]any)["isActive"], "isActive is JS-truthy")
	for _, tok := range []string{aliceTok, aliceKey} {
		absAssertText(t, absCall(t, nil, srv, "GET", "api/api-keys", "", absBearer(tok)...), 403, "text/plain; charset=utf-8", "Forbidden")
		assert.Equal(t, 200, absCall(t, nil, srv, "GET", "api/libraries", "", absBearer(tok)...).status)
	}
	srv.SetUserActive("alice", false)
	absAssertBare(t, absCall(t, nil, srv, "GET", "api/libraries", "", absBearer(aliceKey)...), 401)

	// AddAPIKey, then DELETE.
	k2 := srv.AddAPIKey("admin", "helper-key", 0, true)
	assert.Equal(t, "admin", absCall(t, nil, srv, "GET", "api/me", "", absBearer(k2)...).json(t)["username"])
	assert.Equal(t, 401, absCall(t, nil, srv, "GET", "api/me", "", absBearer(srv.AddAPIKey("admin", "off", 0, false))...).status)
	absAssertText(t, absCall(t, nil, srv, "DELETE", "api/api-keys/"+id, "", asRoot...), 200, "text/plain; charset=utf-8", "OK")
	absAssertText(t, absCall(t, nil, srv, "DELETE", "api/api-keys/"+id, "", asRoot...), 404, "text/plain; charset=utf-8", "Not Found")
	absAssertBare(t, absCall(t, nil, srv, "GET", "api/libraries", "", absBearer(key)...), 401)
}

// absOrderedKeys lists the keys of the object at field (or the top level)
// in wire order.
func absOrderedKeys(t *testing.T, body, field string) []string {
	t.Helper()
	var outer map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(body), &outer))
	dec := json.NewDecoder(strings.NewReader(string(outer[field])))
	_, err := dec.Token()
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

func TestAudiobookshelfRateLimit(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := NewAudiobookshelf(WithClock(clock))
	defer srv.Close()
	srv.SetRateLimit(3, time.Minute)
	good := `{"username":"root","password":"root"}`

	for i, want := range []string{"2", "1", "0"} {
		r := absCall(t, nil, srv, "POST", "login", `{"username":"root","password":"bad"}`)
		assert.Equal(t, 401, r.status)
		assert.Equal(t, "3;w=60", r.header.Get("RateLimit-Policy"))
		assert.Equal(t, "3", r.header.Get("RateLimit-Limit"))
		assert.Equal(t, want, r.header.Get("RateLimit-Remaining"))
		assert.Equal(t, fmt.Sprint(60-10*i), r.header.Get("RateLimit-Reset"))
		assert.Empty(t, r.header.Get("Retry-After"))
		clock.Advance(10 * time.Second)
	}
	r := absCall(t, nil, srv, "POST", "login", good)
	absAssertText(t, r, 429, "application/json; charset=utf-8", `{"error":"Too many authentication requests"}`)
	assert.Equal(t, "30", r.header.Get("Retry-After"))
	assert.Equal(t, "30", r.header.Get("RateLimit-Reset"))
	assert.Equal(t, "0", r.header.Get("RateLimit-Remaining"))
	assert.Equal(t, 429, absCall(t, nil, srv, "POST", "auth/refresh", "").status, "one shared limiter")
	assert.Equal(t, 429, absCall(t, nil, srv, "GET", "auth/openid", "").status)
	assert.Equal(t, 401, absCall(t, nil, srv, "GET", "api/me", "").status, "/api is not limited")
	r = absCall(t, nil, srv, "POST", "logout", "")
	assert.Equal(t, 200, r.status)
	assert.Empty(t, r.header.Get("RateLimit-Limit"))

	// Per client IP (forwarding headers are honoured, as on the real server).
	assert.Equal(t, 200, absCall(t, nil, srv, "POST", "login", good, "X-Forwarded-For", "203.0.113.9").status)

	clock.Advance(31 * time.Second)
	r = absCall(t, nil, srv, "POST", "login", good)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "2", r.header.Get("RateLimit-Remaining"))

	srv.SetRateLimit(0, time.Minute)
	r = absCall(t, nil, srv, "POST", "login", good)
	assert.Equal(t, 200, r.status)
	assert.Empty(t, r.header.Get("RateLimit-Policy"))
}

func TestAudiobookshelfOpenIDDisabled(t *testing.T) {
	t.Parallel()
	srv := NewAudiobookshelf()
	defer srv.Close()
	r := absCall(t, nil, srv, "GET", "auth/openid", "")
	assert.Equal(t, 500, r.status)
	assert.Contains(t, r.body, "<pre>Internal Server Error</pre>")
	assert.Len(t, r.body, 148)
	assert.Equal(t, "39", r.header.Get("RateLimit-Remaining"))
	assert.Equal(t, 500, absCall(t, nil, srv, "GET", "auth/openid/callback", "").status)
}

// absPKCE returns a verifier and its S256 challenge.
func absPKCE() (verifier, challenge string) {
	verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// absStartMobile runs the mobile flow up to the app's redirect URI and
// returns the code and state the app receives.
func absStartMobile(t *testing.T, srv *Audiobookshelf, c *http.Client, redirectURI, challenge, state string) (code string) {
	t.Helper()
	q := url.Values{"response_type": {"code"}, "redirect_uri": {redirectURI}, "code_challenge": {challenge},
		"code_challenge_method": {"S256"}, "state": {state}}
	r := absCall(t, c, srv, "GET", "auth/openid?"+q.Encode(), "")
	require.Equal(t, 302, r.status, r.body)
	idp := r.header.Get("Location")
	require.True(t, strings.HasPrefix(idp, srv.HTTP.URL+"/fake-idp/authorize?"), idp)

	r = absCall(t, c, srv, "GET", idp, "")
	require.Equal(t, 302, r.status, r.body)
	back := r.header.Get("Location")
	require.True(t, strings.HasPrefix(back, srv.HTTP.URL+"/audiobookshelf/auth/openid/mobile-redirect?"), back)

	r = absCall(t, c, srv, "GET", back, "")
	require.Equal(t, 302, r.status, r.body)
	app, err := url.Parse(r.header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, redirectURI, app.Scheme+"://"+app.Host+app.Path)
	assert.Equal(t, state, app.Query().Get("state"))
	return app.Query().Get("code")
}

func TestAudiobookshelfOpenIDMobileFlow(t *testing.T) {
	t.Parallel()
	srv := NewAudiobookshelf()
	defer srv.Close()
	srv.EnableOpenID("Sign in with SSO")
	verifier, challenge := absPKCE()

	assert.Equal(t, `{"app":"audiobookshelf","serverVersion":"2.36.0","isInit":true,"language":"en-us","authMethods":["local","openid"],"authFormData":{"authLoginCustomMessage":"","authOpenIDButtonText":"Sign in with SSO","authOpenIDAutoLaunch":false}}`,
		absCall(t, nil, srv, "GET", "status", "").body)

	// The first response sets the session and auth_method cookies.
	c := absNoRedirect(srv, true)
	q := url.Values{"response_type": {"code"}, "redirect_uri": {"audiobookshelf://oauth"}, "code_challenge": {challenge}, "state": {"s1"}}
	r := absCall(t, c, srv, "GET", "auth/openid?"+q.Encode(), "")
	require.Equal(t, 302, r.status)
	assert.Regexp(t, `^auth_method=openid-mobile; Max-Age=315360000; Path=/; Expires=.*; HttpOnly$`, absCookieNamed(r, "auth_method"))
	assert.NotEmpty(t, absCookieNamed(r, "connect.sid"))
	assert.NotEmpty(t, r.header.Get("RateLimit-Limit"))

	c = absNoRedirect(srv, true)
	code := absStartMobile(t, srv, c, "audiobookshelf://oauth", challenge, "state-123")
	cb := "auth/openid/callback?" + url.Values{"code": {code}, "state": {"state-123"}, "code_verifier": {verifier}}.Encode()
	r = absCall(t, c, srv, "GET", cb, "")
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
	assert.Empty(t, absCookieNamed(r, "refresh_token"))
	assert.Contains(t, absCookieNamed(r, "openid_id_token"), "; HttpOnly; Secure; SameSite=Strict")
	u := r.json(t)["user"].(map[string]any)
	assert.Equal(t, "root", u["username"])
	assert.Equal(t, true, u["hasOpenIDLink"])
	assert.Equal(t, 200, absCall(t, nil, srv, "GET", "api/me", "", absBearer(u["accessToken"].(string))...).status)
	assert.Equal(t, 200, absCall(t, nil, srv, "POST", "auth/refresh", "", "x-refresh-token", u["refreshToken"].(string)).status)
	assert.Equal(t, 0, srv.Logins(), "OpenID logins are not POST /login")

	// The session data is consumed: a replay has no session.
	absAssertText(t, absCall(t, c, srv, "GET", cb, ""), 400, "text/html; charset=utf-8", "No session")
	absAssertText(t, absCall(t, nil, srv, "GET", cb, ""), 400, "text/html; charset=utf-8", "No session")

	// Logout after an OpenID login points at the IdP's end-session endpoint.
	r = absCall(t, c, srv, "POST", "logout", "", "x-refresh-token", u["refreshToken"].(string))
	assert.Contains(t, r.json(t)["redirect_url"], srv.HTTP.URL+"/fake-idp/logout?id_token_hint=")
	assert.NotEmpty(t, absCookieNamed(r, "openid_id_token"))

	// A wrong code_verifier fails the token exchange.
	c = absNoRedirect(srv, true)
	code = absStartMobile(t, srv, c, "audiobookshelf://oauth", challenge, "s2")
	r = absCall(t, c, srv, "GET", "auth/openid/callback?"+url.Values{"code": {code}, "state": {"s2"}, "code_verifier": {"wrong"}}.Encode(), "")
	absAssertText(t, r, 500, "text/html; charset=utf-8", "Error in callback")

	// A wrong state, too.
	c = absNoRedirect(srv, true)
	code = absStartMobile(t, srv, c, "audiobookshelf://oauth", challenge, "s3")
	r = absCall(t, c, srv, "GET", "auth/openid/callback?"+url.Values{"code": {code}, "state": {"other"}, "code_verifier": {verifier}}.Encode(), "")
	absAssertText(t, r, 500, "text/html; charset=utf-8", "Error in callback")

	// The IdP user must exist and be active.
	srv.AddUser("carol", "", "user")
	srv.SetUserActive("carol", false)
	srv.SetOpenIDUser("carol")
	c = absNoRedirect(srv, true)
	code = absStartMobile(t, srv, c, "audiobookshelf://oauth", challenge, "s4")
	r = absCall(t, c, srv, "GET", "auth/openid/callback?"+url.Values{"code": {code}, "state": {"s4"}, "code_verifier": {verifier}}.Encode(), "")
	absAssertText(t, r, 401, "text/html; charset=utf-8", "Unauthorized")
	srv.SetUserActive("carol", true)
	c = absNoRedirect(srv, true)
	code = absStartMobile(t, srv, c, "audiobookshelf://oauth", challenge, "s5")
	r = absCall(t, c, srv, "GET", "auth/openid/callback?"+url.Values{"code": {code}, "state": {"s5"}, "code_verifier": {verifier}}.Encode(), "")
	require.Equal(t, 200, r.status)
	assert.Equal(t, "carol", r.json(t)["user"].(map[string]any)["username"])

	// Start errors.
	start := func(q url.Values) absResult { return absCall(t, nil, srv, "GET", "auth/openid?"+q.Encode(), "") }
	absAssertText(t, start(url.Values{"response_type": {"token"}, "redirect_uri": {"audiobookshelf://oauth"}, "code_challenge": {challenge}}),
		400, "text/html; charset=utf-8", "Invalid response_type, only code supported")
	absAssertText(t, start(url.Values{"response_type": {"code"}, "redirect_uri": {"myapp://cb"}, "code_challenge": {challenge}}),
		400, "text/html; charset=utf-8", "Invalid redirect_uri")
	absAssertText(t, start(url.Values{"response_type": {"code"}, "redirect_uri": {"audiobookshelf://oauth"}}),
		400, "text/html; charset=utf-8", "code_challenge required for mobile flow (PKCE)")
	absAssertText(t, start(url.Values{"response_type": {"code"}, "redirect_uri": {"audiobookshelf://oauth"}, "code_challenge": {challenge}, "code_challenge_method": {"plain"}}),
		400, "text/html; charset=utf-8", "Only S256 code_challenge_method method supported")
	absAssertText(t, absCall(t, nil, srv, "GET", "auth/openid/mobile-redirect?code=x&state=unknown", ""),
		400, "text/html; charset=utf-8", "State parameter mismatch")

	// The whitelist can be widened.
	srv.SetOpenIDRedirectURIs([]string{"*"})
	c = absNoRedirect(srv, true)
	absStartMobile(t, srv, c, "myapp://cb", challenge, "s6")
}

func TestAudiobookshelfOpenIDWebFlow(t *testing.T) {
	t.Parallel()
	srv := NewAudiobookshelf()
	defer srv.Close()
	srv.EnableOpenID("")
	assert.Contains(t, absCall(t, nil, srv, "GET", "status", "").body, `"authOpenIDButtonText":"Login with OpenId"`)

	absAssertText(t, absCall(t, nil, srv, "GET", "auth/openid", ""), 400, "application/json; charset=utf-8", `{"message":"No callback parameter"}`)
	absAssertText(t, absCall(t, nil, srv, "GET", "auth/openid?callback=https://evil.example/audiobookshelf/x", ""),
		400, "application/json; charset=utf-8", `{"message":"Invalid callback URL - must be same-origin"}`)
	absAssertText(t, absCall(t, nil, srv, "GET", "auth/openid?callback=/audiobookshelf/login&state=x", ""),
		400, "text/html; charset=utf-8", "Invalid state, not allowed on web flow")

	c := absNoRedirect(srv, true)
	r := absCall(t, c, srv, "GET", "auth/openid?callback="+url.QueryEscape(srv.HTTP.URL+"/audiobookshelf/login"), "")
	require.Equal(t, 302, r.status, r.body)
	assert.Regexp(t, `^auth_method=openid;`, absCookieNamed(r, "auth_method"))
	assert.NotEmpty(t, absCookieNamed(r, "auth_cb"))
	r = absCall(t, c, srv, "GET", r.header.Get("Location"), "")
	require.Equal(t, 302, r.status)
	r = absCall(t, c, srv, "GET", r.header.Get("Location"), "")
	require.Equal(t, 302, r.status, r.body)
	assert.NotEmpty(t, absCookieNamed(r, "refresh_token"))
	loc, err := url.Parse(r.header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "/audiobookshelf/login", loc.Path)
	assert.Equal(t, srv.LegacyToken("root"), loc.Query().Get("setToken"))
	assert.Equal(t, 200, absCall(t, nil, srv, "GET", "api/me", "", absBearer(loc.Query().Get("accessToken"))...).status)
}

func TestAudiobookshelfSessionsAndPassword(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := NewAudiobookshelf(WithClock(clock))
	defer srv.Close()
	srv.AddUser("dave", "old", "user")
	_, r1 := absLogin(t, srv, "dave", "old")
	clock.Advance(time.Second)
	a2, r2 := absLogin(t, srv, "dave", "old")

	r := absCall(t, nil, srv, "GET", "api/me/sessions", "", append(absBearer(a2), "x-refresh-token", r2, "User-Agent", "sdk-test/1")...)
	require.Equal(t, 200, r.status)
	body := r.json(t)
	assert.Equal(t, float64(2), body["total"])
	assert.Equal(t, float64(1), body["numPages"])
	sessions := body["sessions"].([]any)
	first := sessions[0].(map[string]any)
	assert.Equal(t, true, first["current"])
	assert.Equal(t, "127.0.0.1", first["ipAddress"])
	assert.Equal(t, false, sessions[1].(map[string]any)["current"])
	r = absCall(t, nil, srv, "GET", "api/me/sessions?page=1&itemsPerPage=1", "", absBearer(a2)...)
	assert.Equal(t, float64(2), r.json(t)["numPages"])
	assert.Len(t, r.json(t)["sessions"], 1)

	otherID := sessions[1].(map[string]any)["id"].(string)
	absAssertText(t, absCall(t, nil, srv, "DELETE", "api/me/sessions/not-a-uuid", "", absBearer(a2)...), 400, "text/plain; charset=utf-8", "Bad Request")
	absAssertText(t, absCall(t, nil, srv, "DELETE", "api/me/sessions/00000000-0000-4000-8000-000000000000", "", absBearer(a2)...), 404, "text/plain; charset=utf-8", "Not Found")
	absAssertText(t, absCall(t, nil, srv, "DELETE", "api/me/sessions/"+otherID, "", absBearer(a2)...), 200, "text/plain; charset=utf-8", "OK")
	assert.Equal(t, 401, absCall(t, nil, srv, "POST", "auth/refresh", "", "x-refresh-token", r1).status)

	// Password change.
	absAssertText(t, absCall(t, nil, srv, "PATCH", "api/me/password", `{"password":"nope","newPassword":"new"}`, absBearer(a2)...),
		400, "text/html; charset=utf-8", "Invalid password")
	absAssertText(t, absCall(t, nil, srv, "PATCH", "api/me/password", `{"password":"old"}`, absBearer(a2)...),
		400, "text/html; charset=utf-8", "Missing or invalid password or new password")
	_, r3 := absLogin(t, srv, "dave", "old")
	r = absCall(t, nil, srv, "PATCH", "api/me/password", `{"password":"old","newPassword":"new"}`, append(absBearer(a2), "x-refresh-token", r2)...)
	require.Equal(t, 200, r.status, r.body)
	assert.NotEmpty(t, r.header.Get("RateLimit-Limit"))
	newRefresh := r.json(t)["user"].(map[string]any)["refreshToken"].(string)
	assert.Equal(t, 200, absCall(t, nil, srv, "POST", "auth/refresh", "", "x-refresh-token", newRefresh).status)
	assert.Equal(t, 401, absCall(t, nil, srv, "POST", "auth/refresh", "", "x-refresh-token", r3).status)
	absLogin(t, srv, "dave", "new")
	assert.Equal(t, 401, absCall(t, nil, srv, "POST", "login", `{"username":"dave","password":"old"}`).status)

	// Guests.
	srv.AddUser("guest", "g", "guest")
	ga, _ := absLogin(t, srv, "guest", "g")
	assert.Equal(t, `{"itemsPerPage":10,"numPages":0,"page":0,"sessions":[],"total":0}`, absCall(t, nil, srv, "GET", "api/me/sessions", "", absBearer(ga)...).body)
	absAssertText(t, absCall(t, nil, srv, "DELETE", "api/me/sessions/"+otherID, "", absBearer(ga)...), 403, "text/plain; charset=utf-8", "Forbidden")
	absAssertText(t, absCall(t, nil, srv, "PATCH", "api/me/password", `{"password":"g","newPassword":"h"}`, absBearer(ga)...), 403, "text/plain; charset=utf-8", "Forbidden")
}

func TestAudiobookshelfLibraries(t *testing.T) {
	t.Parallel()
	srv := NewAudiobookshelf()
	defer srv.Close()
	access, _ := absLogin(t, srv, "root", "root")
	assert.Equal(t, `{"libraries":[]}`, absCall(t, nil, srv, "GET", "api/libraries", "", absBearer(access)...).body)

	id := srv.AddLibrary("Books")
	srv.AddLibrary("Podcasts")
	r := absCall(t, nil, srv, "GET", "api/libraries", "", absBearer(access)...)
	require.Equal(t, 200, r.status)
	libs := r.json(t)["libraries"].([]any)
	require.Len(t, libs, 2)
	lib := libs[0].(map[string]any)
	assert.Equal(t, id, lib["id"])
	assert.Equal(t, "book", lib["mediaType"])
	assert.NotEmpty(t, lib["folders"])
	assert.IsType(t, float64(0), lib["createdAt"])
	assert.IsType(t, float64(0), lib["lastUpdate"])
	assert.Equal(t, id, absCall(t, nil, srv, "POST", "api/authorize", "", absBearer(access)...).json(t)["userDefaultLibraryId"])

	assert.Equal(t, "Books", absCall(t, nil, srv, "GET", "api/libraries/"+id, "", absBearer(access)...).json(t)["name"])
	absAssertText(t, absCall(t, nil, srv, "GET", "api/libraries/00000000-0000-4000-8000-000000000000", "", absBearer(access)...),
		404, "text/html; charset=utf-8", "Library not found")
	absAssertText(t, absCall(t, nil, srv, "GET", "api/items/x/cover", ""), 404, "text/plain; charset=utf-8", "Not Found")
}

func TestAudiobookshelfConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := NewAudiobookshelf()
	defer srv.Close()
	srv.SetRateLimit(0, 0)
	// post is safe to call from goroutines (assert only, no require).
	post := func(path, body string, hdr ...string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := srv.HTTP.Client().Do(req)
		if !assert.NoError(t, err) {
			return 0, nil
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				status, m := post("login", `{"username":"root","password":"root"}`, "x-return-tokens", "true")
				if !assert.Equal(t, 200, status) {
					return
				}
				u := m["user"].(map[string]any)
				status, _ = post("api/authorize", "", "Authorization", "Bearer "+u["accessToken"].(string))
				assert.Equal(t, 200, status)
				status, _ = post("auth/refresh", "", "x-refresh-token", u["refreshToken"].(string))
				assert.Equal(t, 200, status)
				srv.AddLibrary(fmt.Sprint("lib", j))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 40, srv.Logins())
	assert.Equal(t, 40, srv.Refreshes())
	assert.Equal(t, 40, srv.SessionCount("root"))
}

func TestAudiobookshelfBadInputAndTLS(t *testing.T) {
	t.Parallel()
	srv := NewAudiobookshelf(WithTLS())
	defer srv.Close()
	srv.EnableOpenID("")
	access, _ := absLogin(t, srv, "root", "root")
	auth := absBearer(access)

	// Nothing here may crash the fake; each answer is an HTTP status.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "login", `[1,2]`},
		{"POST", "login", `"str"`},
		{"POST", "init", `{"newRoot":"x"}`},
		{"POST", "auth/refresh", `{`},
		{"POST", "logout?allDevices=1", ""},
		{"POST", "api/api-keys", `{"name":{},"userId":[],"expiresIn":{},"isActive":[]}`},
		{"POST", "api/api-keys", `[]`},
		{"PATCH", "api/api-keys/x", `{"isActive":null}`},
		{"PATCH", "api/me/password", `{"password":5,"newPassword":null}`},
		{"GET", "api/me/sessions?page=abc&itemsPerPage=-4", ""},
		{"BREW", "api/me", ""},
		{"GET", "auth/openid/callback?code=&state=", ""},
		{"GET", "auth/openid/mobile-redirect", ""},
		{"GET", "fake-idp/authorize?response_type=code&redirect_uri=%zz", ""},
		{"GET", "fake-idp/authorize", ""},
	} {
		r := absCall(t, nil, srv, c.method, c.path, c.body, auth...)
		assert.GreaterOrEqual(t, r.status, 200, "%s %s", c.method, c.path)
	}
	for _, tok := range []string{"a.b.c", "eyJhbGciOiJub25lIn0.e30.", "...", "Bearer", strings.Repeat("x", 5000)} {
		absAssertBare(t, absCall(t, nil, srv, "GET", "api/me", "", absBearer(tok)...), 401)
		absAssertText(t, absCall(t, nil, srv, "POST", "auth/refresh", "", "x-refresh-token", tok),
			401, "application/json; charset=utf-8", `{"error":"Invalid refresh token"}`)
	}
	r := absCall(t, nil, srv, "POST", "api/api-keys", `{"name":"x","userId":"u"`, auth...)
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))

	// Over HTTPS the refresh cookie is Secure.
	r = absCall(t, nil, srv, "POST", "login", `{"username":"root","password":"root"}`)
	assert.Contains(t, absCookieNamed(r, "refresh_token"), "; HttpOnly; Secure; SameSite=Lax")
}

// TestAudiobookshelfShortAccessTokens: ACCESS_TOKEN_EXPIRY is honoured as
// given, down to seconds (exp − iat = 10 at 10), for login and refresh,
// and such a token is refused once expired.
func TestAudiobookshelfShortAccessTokens(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := NewAudiobookshelf(WithClock(clock))
	defer srv.Close()
	for _, ttl := range []time.Duration{time.Second, 10 * time.Second, 40 * time.Second} {
		srv.SetTokenExpiry(ttl, time.Hour)
		access, refresh := absLogin(t, srv, "root", "root")
		c := absClaimsOf(t, access)
		assert.Equal(t, ttl.Seconds(), c["exp"].(float64)-c["iat"].(float64))
		r := absCall(t, nil, srv, "POST", "auth/refresh", "", "x-refresh-token", refresh)
		require.Equal(t, 200, r.status, r.body)
		c = absClaimsOf(t, r.json(t)["user"].(map[string]any)["accessToken"].(string))
		assert.Equal(t, ttl.Seconds(), c["exp"].(float64)-c["iat"].(float64), "refresh issues the same lifetime")
		assert.Equal(t, 200, absCall(t, nil, srv, "GET", "api/me", "", absBearer(access)...).status)
		clock.Advance(ttl + time.Second)
		absAssertBare(t, absCall(t, nil, srv, "GET", "api/me", "", absBearer(access)...), 401)
	}
}

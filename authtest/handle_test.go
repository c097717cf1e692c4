package authtest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
)

// whoami answers with the signed-in user and the path parameter id.
func whoami(w http.ResponseWriter, r *http.Request) {
	u, ok := authtest.UserFrom(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": r.PathValue("id"), "user": u.Name, "userID": u.ID, "ok": ok})
}

type whoamiOut struct {
	ID     string `json:"id"`
	User   string `json:"user"`
	UserID string `json:"userID"`
	OK     bool   `json:"ok"`
}

// rawGet sends a GET with the given headers and returns the response with
// its body read.
func rawGet(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	cl := &http.Client{Transport: testTransport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.NoError(t, err)
	return resp, string(b)
}

// sameUnauthenticated checks that a user route and one of the fake's own
// protected routes answer an unauthenticated request alike.
func sameUnauthenticated(t *testing.T, own, mine string, hdr map[string]string, sameBody bool) {
	t.Helper()
	r1, b1 := rawGet(t, own, hdr)
	r2, b2 := rawGet(t, mine, hdr)
	assert.Equal(t, r1.StatusCode, r2.StatusCode)
	for _, h := range []string{"Content-Type", "WWW-Authenticate", "Set-Cookie", "X-Auth-Token"} {
		assert.Equal(t, r1.Header.Values(h), r2.Header.Values(h), h)
	}
	if sameBody {
		assert.Equal(t, b1, b2)
	}
	assert.NotContains(t, b2, "whoami")
}

func doWhoami(t *testing.T, c *authclient.Client, path string) whoamiOut {
	t.Helper()
	var out whoamiOut
	require.NoError(t, c.Do(t.Context(), http.MethodGet, path, nil, &out))
	return out
}

func TestHandleKomga(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer k.Close()
	id := k.AddUser("admin@example.org", "secret", "ADMIN")
	require.NoError(t, k.Handle(http.MethodGet, "/api/v1/books/:id", http.HandlerFunc(whoami)))
	require.NoError(t, k.HandlePublic(http.MethodGet, "/api/v1/public/:id", http.HandlerFunc(whoami)))

	// Every credential Komga takes: Basic (then its session), an API key.
	for name, opt := range map[string]authclient.Option{
		"login":  authclient.WithLogin("admin@example.org", "secret"),
		"apikey": authclient.WithAPIKey(k.AddAPIKey("admin@example.org", "t")),
	} {
		c, err := authclient.New(authclient.Komga, k.URL, opt)
		require.NoError(t, err, name)
		for range 2 {
			out := doWhoami(t, c, "api/v1/books/42")
			assert.Equal(t, whoamiOut{ID: "42", User: "admin@example.org", UserID: id, OK: true}, out, name)
		}
	}
	// No credential, a wrong password, a wrong key, a bad session cookie,
	// an XHR: the answers of Komga's own protected endpoints.
	for name, hdr := range map[string]map[string]string{
		"none":     nil,
		"basic":    {"Authorization": "Basic YWRtaW5AZXhhbXBsZS5vcmc6d3Jvbmc="},
		"apikey":   {"X-API-Key": "nope"},
		"cookie":   {"Cookie": "KOMGA-SESSION=bm9wZQ=="},
		"header":   {"X-Auth-Token": "nope"},
		"xhr":      {"X-Requested-With": "XMLHttpRequest"},
		"bearer":   {"Authorization": "Bearer x"},
		"emptykey": {"X-API-Key": ""},
	} {
		t.Run(name, func(t *testing.T) {
			sameUnauthenticated(t, k.URL+"api/v2/users/me", k.URL+"api/v1/books/42", hdr, false)
		})
	}
	out := doWhoamiRaw(t, k.URL+"api/v1/public/7")
	assert.Equal(t, whoamiOut{ID: "7"}, out)
}

func doWhoamiRaw(t *testing.T, url string) whoamiOut {
	t.Helper()
	resp, body := rawGet(t, url, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	var out whoamiOut
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	return out
}

func TestHandleAudiobookshelf(t *testing.T) {
	t.Parallel()
	a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	defer a.Close()
	require.NoError(t, a.Handle(http.MethodGet, "/api/podcasts/:id", http.HandlerFunc(whoami)))
	for name, opt := range map[string]authclient.Option{
		"login":  authclient.WithLogin("root", "root"),
		"apikey": authclient.WithAPIKey(a.AddAPIKey("root", "ci", 0, true)),
	} {
		c, err := authclient.New(authclient.Audiobookshelf, a.URL, opt)
		require.NoError(t, err, name)
		out := doWhoami(t, c, "api/podcasts/p1")
		assert.Equal(t, "p1", out.ID, name)
		assert.Equal(t, "root", out.User, name)
		assert.NotEmpty(t, out.UserID, name)
		// Express matches case-insensitively.
		out = doWhoami(t, c, "API/Podcasts/p2")
		assert.Equal(t, "p2", out.ID, name)
		out = doWhoami(t, c, "api/podcasts/p3/")
		assert.Equal(t, "p3", out.ID, name)
	}
	for name, hdr := range map[string]map[string]string{
		"none":     nil,
		"badjwt":   {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"},
		"garbage":  {"Authorization": "Bearer nope"},
		"inactive": {"Authorization": "Bearer " + a.AddAPIKey("root", "off", 0, false)},
		"basic":    {"Authorization": "Basic cm9vdDpyb290"},
	} {
		t.Run(name, func(t *testing.T) {
			sameUnauthenticated(t, a.URL+"api/me", a.URL+"api/podcasts/p1", hdr, true)
		})
	}
}

func TestHandleComfyUI(t *testing.T) {
	t.Parallel()
	c := authtest.NewComfyUI("right-key", authtest.WithPrefix("/comfy"))
	defer c.Close()
	require.NoError(t, c.Handle(http.MethodGet, "/custom/:id", http.HandlerFunc(whoami)))
	require.NoError(t, c.Handle(http.MethodGet, "/custom/:id/thing.js", http.HandlerFunc(whoami)))

	client, err := authclient.New(authclient.ComfyUI, c.URL, authclient.WithAPIKey("right-key"))
	require.NoError(t, err)
	assert.Equal(t, whoamiOut{ID: "9"}, doWhoami(t, client, "custom/9"))
	assert.Equal(t, whoamiOut{ID: "8"}, doWhoami(t, client, "api/custom/8")) // ComfyUI's /api copy
	resp, _ := rawGet(t, c.URL+"api/custom/8", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// Each key source the patch takes.
	for name, hdr := range map[string]map[string]string{
		"bearer": {"Authorization": "Bearer right-key"},
		"xkey":   {"X-API-Key": "right-key"},
	} {
		resp, body := rawGet(t, c.URL+"custom/1", hdr)
		assert.Equal(t, http.StatusOK, resp.StatusCode, name+body)
	}
	resp, _ = rawGet(t, c.URL+"custom/1?api_key=right-key", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// No key, a wrong key, and the first source present wins even when a
	// later one is right.
	for name, hdr := range map[string]map[string]string{
		"none":       nil,
		"wrong":      {"X-API-Key": "wrong"},
		"firstwins":  {"Authorization": "Bearer wrong", "X-API-Key": "right-key"},
		"emptybear":  {"Authorization": "Bearer "},
		"basicstyle": {"Authorization": "Basic cmlnaHQta2V5"},
	} {
		t.Run(name, func(t *testing.T) {
			sameUnauthenticated(t, c.URL+"system_stats", c.URL+"custom/1", hdr, true)
		})
	}
	// An exempt path (a static suffix) needs no key, as in the patch.
	assert.Equal(t, whoamiOut{ID: "3"}, doWhoamiRaw(t, c.URL+"custom/3/thing.js"))
}

func TestHandleKhoj(t *testing.T) {
	t.Parallel()
	k := authtest.NewKhoj(authtest.WithPrefix("/khoj"))
	defer k.Close()
	k.AddUser("me@example.org")
	require.NoError(t, k.Handle(http.MethodGet, "/api/custom/:id", http.HandlerFunc(whoami)))
	require.NoError(t, k.Handle(http.MethodGet, "/custom-page", http.HandlerFunc(whoami)))

	c, err := authclient.New(authclient.Khoj, k.URL, authclient.WithAPIKey(k.AddToken("me@example.org", "t")))
	require.NoError(t, err)
	out := doWhoami(t, c, "api/custom/5")
	assert.Equal(t, "5", out.ID)
	assert.Equal(t, "me@example.org", out.User)
	assert.True(t, out.OK)

	for name, hdr := range map[string]map[string]string{
		"none":   nil,
		"wrong":  {"Authorization": "Bearer nope"},
		"cookie": {"Cookie": "session=garbage"},
		"basic":  {"Authorization": "Basic bWU6eA=="},
	} {
		t.Run(name, func(t *testing.T) {
			// 403 {"detail":"Forbidden"} under /api/.
			sameUnauthenticated(t, k.URL+"api/v1/user", k.URL+"api/custom/5", hdr, true)
			// A 303 to the login page elsewhere.
			r1, _ := rawGet(t, k.URL+"chat", hdr)
			r2, _ := rawGet(t, k.URL+"custom-page", hdr)
			assert.Equal(t, http.StatusSeeOther, r2.StatusCode)
			assert.Equal(t, r1.StatusCode, r2.StatusCode)
			assert.Equal(t, strings.Replace(r1.Header.Get("Location"), "%2Fchat", "%2Fcustom-page", 1), r2.Header.Get("Location"))
		})
	}

	anon := authtest.NewKhojAnonymous(authtest.WithPrefix("/khoj"))
	defer anon.Close()
	require.NoError(t, anon.Handle(http.MethodGet, "/api/custom/:id", http.HandlerFunc(whoami)))
	out = doWhoamiRaw(t, anon.URL+"api/custom/6")
	assert.True(t, out.OK)
	assert.Equal(t, "6", out.ID)
}

// A user route never takes over one of the fake's own routes: the exact
// method and pattern is refused, and a parameter never matches a path the
// fake answers itself.
func TestHandleRefusesTheFakesOwnRoutes(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer k.Close()
	a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	defer a.Close()
	c := authtest.NewComfyUI("key", authtest.WithPrefix("/comfy"))
	defer c.Close()
	kh := authtest.NewKhoj(authtest.WithPrefix("/khoj"))
	defer kh.Close()
	h := http.HandlerFunc(whoami)
	for _, tc := range []struct {
		srv             *authtest.Server
		method, pattern string
	}{
		{k.Server, "GET", "/api/v2/users/me"},
		{k.Server, "POST", "/api/logout"},
		{k.Server, "GET", "/api/v2/users/me/api-keys"},
		{k.Server, "DELETE", "/api/v2/users/me/api-keys/:x"},
		{a.Server, "POST", "/login"},
		{a.Server, "POST", "/auth/refresh"},
		{a.Server, "POST", "/LOGIN"},
		{a.Server, "GET", "/api/me"},
		{c.Server, "GET", "/system_stats"},
		{c.Server, "GET", "/api/system_stats"},
		{c.Server, "POST", "/prompt"},
		{kh.Server, "POST", "/auth/magic"},
		{kh.Server, "GET", "/auth/token"},
		{kh.Server, "GET", "/api/v1/user"},
	} {
		err := tc.srv.Handle(tc.method, tc.pattern, h)
		assert.ErrorIs(t, err, authtest.ErrRouteTaken, tc.pattern)
		assert.ErrorIs(t, tc.srv.HandlePublic(tc.method, tc.pattern, h), authtest.ErrRouteTaken, tc.pattern)
	}
	// A parameter route is accepted but the fake's own route wins.
	require.NoError(t, k.HandlePublic("GET", "/api/v2/users/:x", h))
	resp, body := rawGet(t, k.URL+"api/v2/users/me", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.NotContains(t, body, `"ok"`)
	assert.Equal(t, whoamiOut{ID: ""}, doWhoamiRaw(t, k.URL+"api/v2/users/other"))
}

func TestHandleBadArguments(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga()
	defer k.Close()
	h := http.HandlerFunc(whoami)
	for name, err := range map[string]error{
		"nil":        k.Handle("GET", "/x", nil),
		"nomethod":   k.Handle("", "/x", h),
		"spacemeth":  k.Handle("G ET", "/x", h),
		"crlfmeth":   k.Handle("GET\r\n", "/x", h),
		"relative":   k.Handle("GET", "x", h),
		"empty":      k.Handle("GET", "", h),
		"query":      k.Handle("GET", "/x?y", h),
		"fragment":   k.Handle("GET", "/x#y", h),
		"emptyparam": k.Handle("GET", "/x/:", h),
	} {
		require.Error(t, err, name)
		assert.False(t, errors.Is(err, authtest.ErrRouteTaken), name)
	}
}

// The rest of Khoj's chain applies too: the session cookie (refreshed as
// Starlette does), the database being down, the client-app crash.
func TestHandleKhojSessionAndFailures(t *testing.T) {
	t.Parallel()
	k := authtest.NewKhoj(authtest.WithPrefix("/khoj"))
	defer k.Close()
	k.AddUser("me@example.org")
	require.NoError(t, k.Handle(http.MethodGet, "/api/custom/:id", http.HandlerFunc(whoami)))
	cookie := k.SessionCookie("me@example.org")
	hdr := map[string]string{"Cookie": cookie.Name + "=" + cookie.Value}
	r1, _ := rawGet(t, k.URL+"api/v1/user", hdr)
	r2, body := rawGet(t, k.URL+"api/custom/1", hdr)
	assert.Equal(t, http.StatusOK, r2.StatusCode, body)
	assert.Contains(t, body, "me@example.org")
	assert.Equal(t, len(r1.Header.Values("Set-Cookie")), len(r2.Header.Values("Set-Cookie")))
	assert.NotEmpty(t, r2.Header.Get("Set-Cookie"))

	tok := k.AddToken("me@example.org", "t")
	for name, tc := range map[string]struct {
		query string
		hdr   map[string]string
	}{
		"clientapp-crash": {"?client_id=x", nil},
		"clientapp-empty": {"?client_id=x", map[string]string{"Authorization": "Bearer "}},
		"clientapp-wrong": {"?client_id=x", map[string]string{"Authorization": "Bearer nope"}},
	} {
		t.Run(name, func(t *testing.T) {
			sameUnauthenticated(t, k.URL+"api/v1/user"+tc.query, k.URL+"api/custom/1"+tc.query, tc.hdr, true)
		})
	}
	k.SetDatabaseDown(true)
	sameUnauthenticated(t, k.URL+"api/v1/user", k.URL+"api/custom/1", map[string]string{"Authorization": "Bearer " + tok}, true)
	r, _ := rawGet(t, k.URL+"api/custom/1", map[string]string{"Authorization": "Bearer " + tok})
	assert.Equal(t, http.StatusInternalServerError, r.StatusCode)
}

// ComfyUI's simulated reverse proxy stands in front of user routes too.
func TestHandleComfyUIProxy(t *testing.T) {
	t.Parallel()
	c := authtest.NewComfyUI("", authtest.WithPrefix("/comfy"))
	defer c.Close()
	require.NoError(t, c.Handle(http.MethodGet, "/custom", http.HandlerFunc(whoami)))
	resp, _ := rawGet(t, c.URL+"custom", nil) // plain ComfyUI: no key needed
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	c.RequireHeader("X-Proxy-Secret", "s")
	sameUnauthenticated(t, c.URL+"system_stats", c.URL+"custom", nil, true)
	resp, _ = rawGet(t, c.URL+"custom", map[string]string{"X-Proxy-Secret": "s"})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	c.RequireBasicAuth("u", "p")
	for name, hdr := range map[string]map[string]string{
		"none":  {"X-Proxy-Secret": "s"},
		"wrong": {"X-Proxy-Secret": "s", "Authorization": "Basic dTp4"},
	} {
		t.Run(name, func(t *testing.T) {
			sameUnauthenticated(t, c.URL+"system_stats", c.URL+"custom", hdr, true)
		})
	}
	resp, _ = rawGet(t, c.URL+"custom", map[string]string{"X-Proxy-Secret": "s", "Authorization": "Basic dTpw"})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

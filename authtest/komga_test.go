package authtest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	komgaTSIDRe  = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{13}$`)
	komgaKeyRe   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	komgaStartAt = time.Date(2025, 3, 1, 10, 0, 0, 123456000, time.UTC)
)

// komgaResult is one answer of the fake.
type komgaResult struct {
	Status int
	Header http.Header
	Body   string
}

func (r komgaResult) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Body), &m), "body: %q", r.Body)
	return m
}

func (r komgaResult) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// komgaSetCookie returns the raw Set-Cookie line for name, or "".
func (r komgaResult) setCookie(name string) string {
	for _, v := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			return v
		}
	}
	return ""
}

// komgaNew starts a fake on a frozen clock with an admin and a plain user.
func komgaNew(t *testing.T, opts ...Option) *Komga {
	t.Helper()
	k := NewKomga(append([]Option{WithClock(NewClock(komgaStartAt))}, opts...)...)
	t.Cleanup(k.Close)
	k.AddUser("admin@example.org", "secret", "ADMIN", "FILE_DOWNLOAD", "page_streaming", "BOGUS")
	k.AddUser("user@example.org", "pässwörd")
	return k
}

// komgaDo sends one request to path (relative to the fake's URL) with
// headers given as name, value pairs, without a cookie jar or redirects.
func komgaDo(t *testing.T, k *Komga, method, path, body string, headers ...string) komgaResult {
	t.Helper()
	return komgaDoWith(t, &http.Client{Transport: testTransport, CheckRedirect: komgaNoRedirect}, k.URL+strings.TrimPrefix(path, "/"), method, body, headers...)
}

func komgaNoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func komgaDoWith(t *testing.T, c *http.Client, url, method, body string, headers ...string) komgaResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[http.CanonicalHeaderKey(headers[i])] = append(req.Header[http.CanonicalHeaderKey(headers[i])], headers[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return komgaResult{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func komgaBasic(email, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))
}

// komgaAssertUnauthorized checks Spring Security's 401 with the Boot error JSON.
func komgaAssertUnauthorized(t *testing.T, r komgaResult, path string) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, r.Status, r.Body)
	assert.Equal(t, `Basic realm="Realm"`, r.Header.Get("WWW-Authenticate"))
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	komgaAssertBootError(t, r, 401, "Unauthorized", "Unauthorized", path)
}

func komgaAssertBootError(t *testing.T, r komgaResult, status int, errText, message, path string) {
	t.Helper()
	require.Equal(t, status, r.Status, r.Body)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"timestamp":"2025-03-01T10:00:00.123+00:00","status":`+
		strconv.Itoa(status)+`,"error":"`+errText+`","message":"`+message+`","path":"`+path+`"}`, r.Body)
}

func TestKomgaDiscoveryNeedsNoAuth(t *testing.T) {
	t.Parallel()
	k := NewKomga()
	defer k.Close()

	r := komgaDo(t, k, "GET", "api/v1/claim", "")
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"isClaimed":false}`, r.Body)

	r = komgaDo(t, k, "GET", "api/v1/oauth2/providers", "")
	require.Equal(t, 200, r.Status)
	assert.Equal(t, `[]`, r.Body)

	k.AddOAuthProvider("Google", "google")
	k.AddOAuthProvider("GitHub", "github")
	r = komgaDo(t, k, "GET", "api/v1/oauth2/providers", "")
	assert.JSONEq(t, `[{"name":"Google","registrationId":"google"},{"name":"GitHub","registrationId":"github"}]`, r.Body)

	k.AddUser("a@b.c", "x")
	assert.JSONEq(t, `{"isClaimed":true}`, komgaDo(t, k, "GET", "api/v1/claim", "").Body)

	r = komgaDo(t, k, "GET", "actuator/health", "")
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "application/vnd.spring-boot.actuator.v3+json", r.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"status":"UP"}`, r.Body)
	r = komgaDo(t, k, "GET", "actuator/health", "", "Accept", "application/json")
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, 0, k.Sessions())
}

func TestKomgaClaim(t *testing.T) {
	t.Parallel()
	k := NewKomga(WithClock(NewClock(komgaStartAt)))
	defer k.Close()

	r := komgaDo(t, k, "POST", "api/v1/claim", "", "X-Komga-Email", "admin@example.org")
	komgaAssertBootError(t, r, 400, "Bad Request", "Required header 'X-Komga-Password' is not present.", "/api/v1/claim")
	r = komgaDo(t, k, "POST", "api/v1/claim", "", "X-Komga-Email", "nope", "X-Komga-Password", " ")
	require.Equal(t, 400, r.Status)
	assert.JSONEq(t, `{"violations":[{"fieldName":"claimAdmin.email","message":"must be a well-formed email address"},`+
		`{"fieldName":"claimAdmin.password","message":"must not be blank"}]}`, r.Body)

	r = komgaDo(t, k, "POST", "api/v1/claim", "", "X-Komga-Email", "admin@example.org", "X-Komga-Password", "pw")
	require.Equal(t, 200, r.Status, r.Body)
	assert.Equal(t, []any{"ADMIN", "FILE_DOWNLOAD", "PAGE_STREAMING", "KOBO_SYNC", "KOREADER_SYNC", "USER"}, r.json(t)["roles"])
	assert.Equal(t, 200, komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", komgaBasic("admin@example.org", "pw")).Status)

	r = komgaDo(t, k, "POST", "api/v1/claim", "", "X-Komga-Email", "other@example.org", "X-Komga-Password", "pw")
	komgaAssertBootError(t, r, 400, "Bad Request", "This server has already been claimed", "/api/v1/claim")
}

func TestKomgaBasicLoginSetsSessionCookie(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)

	r := komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", komgaBasic("ADMIN@Example.org", "secret"))
	require.Equal(t, 200, r.Status, r.Body)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Empty(t, r.Header.Values("X-Auth-Token"))
	line := r.setCookie("KOMGA-SESSION")
	require.Regexp(t, `^KOMGA-SESSION=[A-Za-z0-9+/]+=*; Path=/; HttpOnly; SameSite=Lax$`, line)
	id, err := base64.StdEncoding.DecodeString(r.cookie("KOMGA-SESSION").Value)
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, string(id))
	assert.Empty(t, r.setCookie("komga-remember-me"), "no remember-me without the parameter")

	me := r.json(t)
	assert.Regexp(t, komgaTSIDRe, me["id"])
	assert.Equal(t, "admin@example.org", me["email"])
	assert.Equal(t, []any{"ADMIN", "FILE_DOWNLOAD", "PAGE_STREAMING", "USER"}, me["roles"])
	assert.Equal(t, true, me["sharedAllLibraries"])
	assert.Equal(t, []any{}, me["sharedLibrariesIds"])
	assert.Equal(t, []any{}, me["labelsAllow"])
	assert.Equal(t, []any{}, me["labelsExclude"])
	assert.NotContains(t, me, "ageRestriction")
	assert.Equal(t, 1, k.Logins())
	assert.Equal(t, 1, k.Sessions())

	// The cookie alone authenticates; no new session id is written.
	cookie := "KOMGA-SESSION=" + r.cookie("KOMGA-SESSION").Value
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", cookie)
	require.Equal(t, 200, r.Status)
	assert.Empty(t, r.Header.Values("Set-Cookie"))
	// Basic for the same user next to the session is not checked again.
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", cookie, "Authorization", komgaBasic("admin@example.org", "secret"))
	require.Equal(t, 200, r.Status)
	assert.Equal(t, 1, k.Logins())
	assert.Equal(t, 1, k.Sessions())

	// UTF-8 password, and a user without roles is still USER.
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", komgaBasic("user@example.org", "pässwörd"))
	require.Equal(t, 200, r.Status)
	assert.Equal(t, []any{"USER"}, r.json(t)["roles"])
	assert.Equal(t, 2, k.Logins())
}

func TestKomgaHeaderSession(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)

	r := komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", komgaBasic("admin@example.org", "secret"), "X-Auth-Token", "")
	require.Equal(t, 200, r.Status)
	token := r.Header.Get("X-Auth-Token")
	require.NotEmpty(t, token)
	assert.Empty(t, r.Header.Values("Set-Cookie"), "header sessions get no cookie")

	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "X-Auth-Token", token)
	require.Equal(t, 200, r.Status)
	assert.Empty(t, r.Header.Values("X-Auth-Token"), "a known session is not written again")

	// The header wins over the cookie, even when empty.
	cookie := "KOMGA-SESSION=" + base64.StdEncoding.EncodeToString([]byte(token))
	assert.Equal(t, 200, komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", cookie).Status)
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", cookie, "X-Auth-Token", "")
	komgaAssertUnauthorized(t, r, "/api/v2/users/me")
	assert.Equal(t, []string{""}, r.Header.Values("X-Auth-Token"))

	// The cookie carries the Base64 form, the header the raw id: no mixing.
	assert.Equal(t, 401, komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", "KOMGA-SESSION="+token).Status)
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "X-Auth-Token", "garbage")
	komgaAssertUnauthorized(t, r, "/api/v2/users/me")
	assert.Equal(t, []string{""}, r.Header.Values("X-Auth-Token"), "unknown token: empty X-Auth-Token")

	// An unknown cookie is cleared.
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", "KOMGA-SESSION=bm9wZQ==")
	assert.Equal(t, 401, r.Status)
	assert.Equal(t, "KOMGA-SESSION=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax", r.setCookie("KOMGA-SESSION"))
}

func TestKomgaSessionExpiresAfterSevenIdleDays(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	r := komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", komgaBasic("admin@example.org", "secret"), "X-Auth-Token", "")
	token := r.Header.Get("X-Auth-Token")

	k.Clock.Advance(7*24*time.Hour - time.Second)
	require.Equal(t, 200, komgaDo(t, k, "GET", "api/v2/users/me", "", "X-Auth-Token", token).Status, "use resets the idle time")
	k.Clock.Advance(7*24*time.Hour - time.Second)
	require.Equal(t, 200, komgaDo(t, k, "GET", "api/v2/users/me", "", "X-Auth-Token", token).Status)
	assert.Equal(t, 1, k.Sessions())

	k.Clock.Advance(7 * 24 * time.Hour)
	assert.Equal(t, 0, k.Sessions())
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "X-Auth-Token", token)
	require.Equal(t, 401, r.Status)
	assert.Equal(t, []string{""}, r.Header.Values("X-Auth-Token"))
}

func TestKomgaRememberMe(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)

	r := komgaDo(t, k, "GET", "api/v2/users/me?remember-me=true", "", "Authorization", komgaBasic("admin@example.org", "secret"))
	require.Equal(t, 200, r.Status)
	require.Regexp(t, `^komga-remember-me=[A-Za-z0-9+/]+; Max-Age=31536000; Path=/; HttpOnly$`, r.setCookie("komga-remember-me"))
	remember := "komga-remember-me=" + r.cookie("komga-remember-me").Value
	assert.Equal(t, 1, k.Logins())

	k.ExpireSessions()
	assert.Equal(t, 0, k.Sessions())
	assert.Equal(t, 401, komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", "KOMGA-SESSION="+r.cookie("KOMGA-SESSION").Value).Status)

	// The remember-me cookie alone logs in again and creates a session, as a cookie...
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", remember)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "admin@example.org", r.json(t)["email"])
	require.NotNil(t, r.cookie("KOMGA-SESSION"))
	assert.Equal(t, 1, k.Sessions())
	assert.Equal(t, 200, komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", "KOMGA-SESSION="+r.cookie("KOMGA-SESSION").Value).Status)
	// ...or in X-Auth-Token when the request has that header.
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", remember, "X-Auth-Token", "")
	require.Equal(t, 200, r.Status)
	assert.NotEmpty(t, r.Header.Get("X-Auth-Token"))
	assert.Nil(t, r.cookie("KOMGA-SESSION"))
	assert.Equal(t, 1, k.Logins(), "remember-me is not a password login")

	// A tampered cookie is cancelled.
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", remember+"x")
	require.Equal(t, 401, r.Status)
	assert.Equal(t, "komga-remember-me=; Max-Age=0; Path=/", r.setCookie("komga-remember-me"))

	// A password change invalidates it, and so do 365 days.
	k.Clock.Advance(365*24*time.Hour + time.Second)
	assert.Equal(t, 401, komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", remember).Status)
}

func TestKomgaPasswordChangeExpiresSessionsAndRememberMe(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	r := komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", komgaBasic("user@example.org", "pässwörd"))
	r2 := komgaDo(t, k, "GET", "api/v2/users/me?remember-me=on", "", "Authorization", komgaBasic("user@example.org", "pässwörd"), "X-Auth-Token", "")
	require.NotNil(t, r2.cookie("komga-remember-me"))
	assert.Equal(t, 2, k.Sessions())

	id := k.AddUser("USER@example.org", "new", "KOBO_SYNC")
	assert.Equal(t, r.json(t)["id"], id)
	assert.Equal(t, 0, k.Sessions())
	assert.Equal(t, 401, komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", "komga-remember-me="+r2.cookie("komga-remember-me").Value).Status)
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", komgaBasic("user@example.org", "new"))
	require.Equal(t, 200, r.Status)
	assert.Equal(t, []any{"KOBO_SYNC", "USER"}, r.json(t)["roles"])
}

func TestKomgaUnauthorizedShapes(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	for name, headers := range map[string][]string{
		"anonymous":      nil,
		"wrong password": {"Authorization", komgaBasic("admin@example.org", "nope")},
		"unknown user":   {"Authorization", komgaBasic("ghost@example.org", "secret")},
		"bearer ignored": {"Authorization", "Bearer whatever"},
		"bad base64":     {"Authorization", "Basic %%%"},
		"no colon":       {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin@example.org"))},
		"empty basic":    {"Authorization", "Basic"},
	} {
		r := komgaDo(t, k, "GET", "api/v2/users/me", "", headers...)
		komgaAssertUnauthorized(t, r, "/api/v2/users/me")
		assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"), name)
		assert.Empty(t, r.cookie("KOMGA-SESSION"), name)
	}
	// A failed login cancels the remember-me cookie.
	r := komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", komgaBasic("admin@example.org", "nope"))
	assert.Equal(t, "komga-remember-me=; Max-Age=0; Path=/", r.setCookie("komga-remember-me"))

	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "X-Requested-With", "XMLHttpRequest")
	require.Equal(t, 401, r.Status)
	assert.Empty(t, r.Header.Values("WWW-Authenticate"))
	assert.Empty(t, r.Header.Values("Content-Type"))
	assert.Empty(t, r.Body)
	assert.Equal(t, 0, k.Logins())
}

func TestKomgaAPIKeys(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	admin := []string{"Authorization", komgaBasic("admin@example.org", "secret")}
	post := func(body string, headers ...string) komgaResult {
		return komgaDo(t, k, "POST", "api/v2/users/me/api-keys", body, append(append([]string{"Content-Type", "application/json"}, admin...), headers...)...)
	}

	r := post(`{"comment":"  my script  ","ignored":1}`)
	require.Equal(t, 200, r.Status, r.Body)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	created := r.json(t)
	key := created["key"].(string)
	assert.Regexp(t, komgaKeyRe, key)
	assert.Regexp(t, komgaTSIDRe, created["id"])
	assert.Equal(t, "my script", created["comment"])
	assert.Equal(t, "2025-03-01T10:00:00.123456Z", created["createdDate"])
	assert.Equal(t, created["createdDate"], created["lastModifiedDate"])
	me := komgaDo(t, k, "GET", "api/v2/users/me", "", admin...).json(t)
	assert.Equal(t, me["id"], created["userId"])

	r = komgaDo(t, k, "GET", "api/v2/users/me/api-keys", "", admin...)
	require.Equal(t, 200, r.Status)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Body), &list))
	require.Len(t, list, 1)
	assert.Equal(t, "******", list[0]["key"])
	assert.Equal(t, created["id"], list[0]["id"])
	assert.Equal(t, "[]", komgaDo(t, k, "GET", "api/v2/users/me/api-keys", "", "Authorization", komgaBasic("user@example.org", "pässwörd")).Body)

	// Errors: validation, unreadable bodies, wrong content type, duplicates.
	r = post(`{"comment":" \t"}`)
	require.Equal(t, 400, r.Status)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"violations":[{"fieldName":"comment","message":"must not be blank"}]}`, r.Body)
	for _, body := range []string{`{"comment":`, `{}`, `{"comment":null}`, `[]`, `{"comment":{}}`, ``} {
		komgaAssertBootError(t, post(body), 400, "Bad Request", "Failed to read request", "/api/v2/users/me/api-keys")
	}
	komgaAssertBootError(t, komgaDo(t, k, "POST", "api/v2/users/me/api-keys", `{"comment":"x"}`, append([]string{"Content-Type", "text/plain"}, admin...)...),
		415, "Unsupported Media Type", "Content-Type 'text/plain' is not supported.", "/api/v2/users/me/api-keys")
	komgaAssertBootError(t, post(`{"comment":"MY SCRIPT "}`), 400, "Bad Request", "ERR_1034", "/api/v2/users/me/api-keys")
	assert.Equal(t, 200, komgaDo(t, k, "POST", "api/v2/users/me/api-keys", `{"comment":"my script"}`,
		"Content-Type", "application/json", "Authorization", komgaBasic("user@example.org", "pässwörd")).Status, "comments are unique per user only")

	// The key authenticates on its own, without sessions, cookies or logins.
	logins, sessions := k.Logins(), k.Sessions()
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "X-API-Key", key)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "admin@example.org", r.json(t)["email"])
	assert.Empty(t, r.Header.Values("Set-Cookie"))
	assert.Empty(t, r.Header.Values("X-Auth-Token"))
	r = komgaDo(t, k, "GET", "api/v2/users/me?remember-me=true", "", "X-API-Key", key, "X-Auth-Token", "")
	require.Equal(t, 200, r.Status)
	assert.Empty(t, r.Header.Values("Set-Cookie"))
	assert.Equal(t, []string{""}, r.Header.Values("X-Auth-Token"))
	assert.Equal(t, logins, k.Logins())
	assert.Equal(t, sessions, k.Sessions())

	// The key wins over Basic; an invalid key fails even next to valid Basic.
	userBasic := komgaBasic("user@example.org", "pässwörd")
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "X-API-Key", key, "Authorization", userBasic)
	assert.Equal(t, "admin@example.org", r.json(t)["email"])
	assert.Empty(t, r.Header.Values("Set-Cookie"))
	komgaAssertUnauthorized(t, komgaDo(t, k, "GET", "api/v2/users/me", "", "X-API-Key", strings.ToUpper(key), "Authorization", userBasic), "/api/v2/users/me")
	komgaAssertUnauthorized(t, komgaDo(t, k, "GET", "api/v2/users/me", "", "X-API-Key", ""), "/api/v2/users/me")
	// Quirk: on a public endpoint an invalid key gives 401 with the normal body.
	r = komgaDo(t, k, "GET", "api/v1/claim", "", "X-API-Key", "nope")
	assert.Equal(t, 401, r.Status)
	assert.JSONEq(t, `{"isClaimed":true}`, r.Body)

	// Deleting: another user's key or an unknown id is 404.
	id := created["id"].(string)
	r = komgaDo(t, k, "DELETE", "api/v2/users/me/api-keys/"+id, "", "Authorization", userBasic)
	komgaAssertBootError(t, r, 404, "Not Found", "404 NOT_FOUND", "/api/v2/users/me/api-keys/"+id)
	r = komgaDo(t, k, "DELETE", "api/v2/users/me/api-keys/"+id, "", "X-API-Key", key)
	require.Equal(t, 204, r.Status)
	assert.Empty(t, r.Body)
	assert.Empty(t, r.Header.Values("Content-Type"))
	assert.Equal(t, 401, komgaDo(t, k, "GET", "api/v2/users/me", "", "X-API-Key", key).Status)
	assert.Equal(t, 404, komgaDo(t, k, "DELETE", "api/v2/users/me/api-keys/"+id, "", admin...).Status)
	assert.Equal(t, 200, post(`{"comment":"my script"}`).Status, "the comment is free again")
}

func TestKomgaAddAPIKey(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	key := k.AddAPIKey("User@Example.org", " ci ")
	assert.Regexp(t, komgaKeyRe, key)
	r := komgaDo(t, k, "GET", "api/v2/users/me/api-keys", "", "X-API-Key", key)
	require.Equal(t, 200, r.Status)
	assert.Contains(t, r.Body, `"comment":"ci"`)
	assert.NotContains(t, r.Body, key)
	assert.Panics(t, func() { k.AddAPIKey("ghost@example.org", "x") })
}

func TestKomgaUsersIsAdminOnly(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	r := komgaDo(t, k, "GET", "api/v2/users", "", "Authorization", komgaBasic("admin@example.org", "secret"))
	require.Equal(t, 200, r.Status)
	var users []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Body), &users))
	require.Len(t, users, 2)
	assert.Equal(t, "admin@example.org", users[0]["email"])
	assert.Equal(t, "user@example.org", users[1]["email"])

	r = komgaDo(t, k, "GET", "api/v2/users", "", "X-API-Key", k.AddAPIKey("user@example.org", "k"))
	komgaAssertBootError(t, r, 403, "Forbidden", "Forbidden", "/api/v2/users")
	komgaAssertUnauthorized(t, komgaDo(t, k, "GET", "api/v2/users", ""), "/api/v2/users")

	r = komgaDo(t, k, "GET", "actuator/info", "", "Authorization", komgaBasic("admin@example.org", "secret"))
	require.Equal(t, 200, r.Status)
	assert.Contains(t, r.Body, `"version":"1.26.3"`)
	assert.Equal(t, 403, komgaDo(t, k, "GET", "actuator/info", "", "Authorization", komgaBasic("user@example.org", "pässwörd")).Status)
}

func TestKomgaSetCookie(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	token := komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", komgaBasic("admin@example.org", "secret"), "X-Auth-Token", "").Header.Get("X-Auth-Token")

	r := komgaDo(t, k, "GET", "api/v1/login/set-cookie", "", "X-Auth-Token", token)
	require.Equal(t, 204, r.Status)
	assert.Empty(t, r.Body)
	assert.Empty(t, r.Header.Values("X-Auth-Token"))
	b64 := base64.StdEncoding.EncodeToString([]byte(token))
	assert.Equal(t, "KOMGA-SESSION="+b64+"; Path=/; HttpOnly; SameSite=Lax", r.setCookie("KOMGA-SESSION"))
	assert.Equal(t, 200, komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", "KOMGA-SESSION="+b64).Status)

	// With an API key: a fresh session that holds no authentication.
	sessions := k.Sessions()
	r = komgaDo(t, k, "GET", "api/v1/login/set-cookie", "", "X-API-Key", k.AddAPIKey("admin@example.org", "k"))
	require.Equal(t, 204, r.Status)
	c := r.cookie("KOMGA-SESSION")
	require.NotNil(t, c)
	assert.NotEqual(t, b64, c.Value)
	assert.Equal(t, sessions+1, k.Sessions())
	assert.Equal(t, 401, komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", "KOMGA-SESSION="+c.Value).Status)

	komgaAssertUnauthorized(t, komgaDo(t, k, "GET", "api/v1/login/set-cookie", ""), "/api/v1/login/set-cookie")
	r = komgaDo(t, k, "POST", "api/v1/login/set-cookie", "", "X-Auth-Token", token)
	komgaAssertBootError(t, r, 405, "Method Not Allowed", "Method 'POST' is not supported.", "/api/v1/login/set-cookie")
}

func TestKomgaLogout(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		r := komgaDo(t, k, m, "api/logout", "")
		require.Equal(t, 204, r.Status, m)
		assert.Empty(t, r.Body)
		assert.Equal(t, []string{"KOMGA-SESSION=; Max-Age=0; Path=/", "komga-remember-me=; Max-Age=0; Path=/"}, r.Header.Values("Set-Cookie"), m)
		assert.Empty(t, r.Header.Values("X-Auth-Token"), m)
	}
	komgaAssertUnauthorized(t, komgaDo(t, k, "PATCH", "api/logout", ""), "/api/logout")

	basic := komgaBasic("admin@example.org", "secret")
	login := komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", basic)
	cookie := "KOMGA-SESSION=" + login.cookie("KOMGA-SESSION").Value
	token := komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", basic, "X-Auth-Token", "").Header.Get("X-Auth-Token")
	key := k.AddAPIKey("admin@example.org", "k")
	require.Equal(t, 2, k.Sessions())

	r := komgaDo(t, k, "POST", "api/logout", "", "Cookie", cookie, "Accept", "application/json")
	require.Equal(t, 204, r.Status)
	assert.Equal(t, 1, k.Sessions())
	assert.Equal(t, 401, komgaDo(t, k, "GET", "api/v2/users/me", "", "Cookie", cookie).Status)

	r = komgaDo(t, k, "GET", "api/logout", "", "X-Auth-Token", token)
	require.Equal(t, 204, r.Status)
	assert.Equal(t, []string{""}, r.Header.Values("X-Auth-Token"))
	assert.Equal(t, "KOMGA-SESSION=; Max-Age=0; Path=/", r.setCookie("KOMGA-SESSION"))
	assert.Equal(t, 0, k.Sessions())
	assert.Equal(t, 401, komgaDo(t, k, "GET", "api/v2/users/me", "", "X-Auth-Token", token).Status)

	assert.Equal(t, 204, komgaDo(t, k, "POST", "api/logout", "", "X-API-Key", key).Status)
	assert.Equal(t, 200, komgaDo(t, k, "GET", "api/v2/users/me", "", "X-API-Key", key).Status, "keys survive logout")

	// A browser-style request is redirected to the login page.
	r = komgaDo(t, k, "GET", "api/logout", "", "Accept", "text/html,application/xhtml+xml")
	require.Equal(t, 302, r.Status)
	assert.Equal(t, "/login?logout", r.Header.Get("Location"))
	r = komgaDo(t, k, "GET", "api/logout", "", "Accept", "text/html", "X-Requested-With", "XMLHttpRequest")
	assert.Equal(t, 204, r.Status)
}

func TestKomgaRouting(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	basic := komgaBasic("user@example.org", "pässwörd")

	komgaAssertUnauthorized(t, komgaDo(t, k, "GET", "api/v1/nope", ""), "/api/v1/nope")
	komgaAssertUnauthorized(t, komgaDo(t, k, "GET", "api", ""), "/api")
	r := komgaDo(t, k, "GET", "api/v1/nope?x=1", "", "Authorization", basic)
	komgaAssertBootError(t, r, 404, "Not Found", "No endpoint GET /api/v1/nope.", "/api/v1/nope")
	r = komgaDo(t, k, "GET", "api/v2/users/me/", "", "Authorization", basic)
	assert.Equal(t, 404, r.Status, "no trailing-slash matching")
	r = komgaDo(t, k, "GET", "index.html", "")
	assert.Equal(t, 404, r.Status)
	assert.Equal(t, 404, komgaDo(t, k, "GET", "actuator/env", "").Status)

	r = komgaDo(t, k, "PUT", "api/v2/users/me", "", "Authorization", basic)
	komgaAssertBootError(t, r, 405, "Method Not Allowed", "Method 'PUT' is not supported.", "/api/v2/users/me")
	assert.Equal(t, "GET", r.Header.Get("Allow"))
	r = komgaDo(t, k, "PATCH", "api/v2/users/me/api-keys", "", "Authorization", basic)
	assert.Equal(t, 405, r.Status)
	assert.Equal(t, "GET,POST", r.Header.Get("Allow"))
	assert.Equal(t, 405, komgaDo(t, k, "GET", "api/v2/users/me/api-keys/abc", "", "Authorization", basic).Status)
	assert.Equal(t, 405, komgaDo(t, k, "POST", "api/v1/oauth2/providers", "").Status, "public paths skip authentication")
	assert.Equal(t, 401, komgaDo(t, k, "PUT", "api/v2/users/me", "").Status, "authentication comes first")

	r = komgaDo(t, k, "OPTIONS", "api/v2/users/me/api-keys", "", "Authorization", basic)
	assert.Equal(t, 200, r.Status)
	assert.Equal(t, "GET,HEAD,POST,OPTIONS", r.Header.Get("Allow"))
	r = komgaDo(t, k, "HEAD", "api/v2/users/me", "", "Authorization", basic)
	assert.Equal(t, 200, r.Status)
	assert.Empty(t, r.Body)
}

func TestKomgaPrefix(t *testing.T) {
	t.Parallel()
	k := komgaNew(t, WithPrefix("/komga"))
	require.True(t, strings.HasSuffix(k.URL, "/komga/"))

	root := strings.TrimSuffix(k.URL, "komga/")
	r := komgaDoWith(t, testClient, root+"api/v2/users/me", "GET", "", "Authorization", komgaBasic("admin@example.org", "secret"))
	assert.Equal(t, 500, r.Status, "a request outside the prefix is an error")

	r = komgaDo(t, k, "GET", "api/v2/users/me?remember-me=1", "", "Authorization", komgaBasic("admin@example.org", "secret"))
	require.Equal(t, 200, r.Status)
	assert.Regexp(t, `^KOMGA-SESSION=\S+; Path=/komga/; HttpOnly; SameSite=Lax$`, r.setCookie("KOMGA-SESSION"))
	assert.Regexp(t, `^komga-remember-me=\S+; Max-Age=31536000; Path=/komga/; HttpOnly$`, r.setCookie("komga-remember-me"))
	komgaAssertUnauthorized(t, komgaDo(t, k, "GET", "api/v2/users/me", ""), "/komga/api/v2/users/me")
	komgaAssertBootError(t, komgaDo(t, k, "GET", "api/x", "", "Authorization", komgaBasic("admin@example.org", "secret")),
		404, "Not Found", "No endpoint GET /komga/api/x.", "/komga/api/x")
	r = komgaDo(t, k, "GET", "api/logout", "", "Accept", "text/html")
	assert.Equal(t, "/komga/login?logout", r.Header.Get("Location"))
	assert.Equal(t, []string{"KOMGA-SESSION=; Max-Age=0; Path=/komga/", "komga-remember-me=; Max-Age=0; Path=/komga/"}, r.Header.Values("Set-Cookie"))

	// A cookie jar keeps the session under the prefix and drops it on logout.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Transport: testTransport, Jar: jar}
	r = komgaDoWith(t, c, k.URL+"api/v2/users/me", "GET", "", "Authorization", komgaBasic("admin@example.org", "secret"))
	require.Equal(t, 200, r.Status)
	assert.Equal(t, 200, komgaDoWith(t, c, k.URL+"api/v2/users/me/api-keys", "GET", "").Status)
	assert.Equal(t, 3, k.Logins(), "the jar's session is reused")
	assert.Equal(t, 204, komgaDoWith(t, c, k.URL+"api/logout", "POST", "").Status)
	assert.Equal(t, 401, komgaDoWith(t, c, k.URL+"api/v2/users/me", "GET", "").Status)
}

func TestKomgaTLSSecureCookies(t *testing.T) {
	t.Parallel()
	k := komgaNew(t, WithTLS())
	r := komgaDoWith(t, k.HTTP.Client(), k.URL+"api/v2/users/me?remember-me=yes", "GET", "", "Authorization", komgaBasic("admin@example.org", "secret"))
	require.Equal(t, 200, r.Status)
	assert.Regexp(t, `; Path=/; Secure; HttpOnly; SameSite=Lax$`, r.setCookie("KOMGA-SESSION"))
	assert.Regexp(t, `; Path=/; Secure; HttpOnly$`, r.setCookie("komga-remember-me"))
}

func TestKomgaLegacyCookieBug(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	key := k.AddAPIKey("admin@example.org", "k")

	// Off (1.26.x): a key next to a session cookie works normally.
	login := komgaDo(t, k, "GET", "api/v2/users/me", "", "Authorization", komgaBasic("user@example.org", "pässwörd"))
	cookie := "KOMGA-SESSION=" + login.cookie("KOMGA-SESSION").Value
	r := komgaDo(t, k, "GET", "api/v2/users/me", "", "X-API-Key", key, "Cookie", cookie)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "admin@example.org", r.json(t)["email"])

	k.SetLegacyCookieBug(true)
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "X-API-Key", key, "Cookie", cookie)
	assert.Equal(t, 200, r.Status)
	assert.Empty(t, r.Body)

	// A client with a cookie jar in API-key mode breaks on its second request.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Transport: testTransport, Jar: jar}
	r = komgaDoWith(t, c, k.URL+"api/v2/users/me", "GET", "", "X-API-Key", key)
	require.Equal(t, 200, r.Status)
	require.NotNil(t, r.cookie("KOMGA-SESSION"), "old servers issue sessions to API-key requests")
	r = komgaDoWith(t, c, k.URL+"api/v2/users/me", "GET", "", "X-API-Key", key)
	assert.Equal(t, 200, r.Status)
	assert.Empty(t, r.Body)
	// Without cookies it keeps working.
	r = komgaDo(t, k, "GET", "api/v2/users/me", "", "X-API-Key", key)
	assert.Equal(t, "admin@example.org", r.json(t)["email"])

	k.SetLegacyCookieBug(false)
	r = komgaDoWith(t, c, k.URL+"api/v2/users/me", "GET", "", "X-API-Key", key)
	assert.Equal(t, "admin@example.org", r.json(t)["email"])
}

func TestKomgaFaultsReachTheClient(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	basic := []string{"Authorization", komgaBasic("admin@example.org", "secret")}

	k.Faults.FailNext(1, http.StatusServiceUnavailable, 2*time.Second)
	r := komgaDo(t, k, "GET", "api/v2/users/me", "", basic...)
	assert.Equal(t, 503, r.Status)
	assert.Equal(t, "2", r.Header.Get("Retry-After"))
	assert.Equal(t, 0, k.Logins(), "a failed request never reaches the fake")
	assert.Equal(t, 200, komgaDo(t, k, "GET", "api/v2/users/me", "", basic...).Status)

	k.Faults.ResetNext(1)
	req, err := http.NewRequest("GET", k.URL+"api/v1/claim", nil)
	require.NoError(t, err)
	_, err = (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	assert.Error(t, err)
	assert.Equal(t, 200, komgaDo(t, k, "GET", "api/v1/claim", "").Status)
	assert.Equal(t, 2, k.Requests("GET", "/api/v1/claim"))
}

func TestKomgaConcurrentUse(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := k.AddAPIKey("admin@example.org", "k")
			for j := 0; j < 5; j++ {
				resp, err := testClient.Get(k.URL + "api/v1/claim")
				if err == nil {
					resp.Body.Close()
				}
				req, _ := http.NewRequest("GET", k.URL+"api/v2/users/me", nil)
				req.Header.Set("X-API-Key", key)
				if resp, err := testClient.Do(req); err == nil {
					resp.Body.Close()
				}
				_ = k.Sessions()
				k.SetLegacyCookieBug(j%2 == 0)
			}
			k.ExpireSessions()
		}()
	}
	wg.Wait()
	assert.Equal(t, 0, k.Logins())
}

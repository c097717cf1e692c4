package authtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	khojTestStart = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	khojTokenRE   = regexp.MustCompile(`^kk-[A-Za-z0-9_-]{43}$`)
)

const (
	khojTestForbidden = `{"detail":"Forbidden"}`
	khojTestRanOut    = `{"detail":"Ran out of login attempts. Please wait before trying again."}`
	khojTestTooMany   = `{"detail":"Too many requests for your email address. Please wait before trying again."}`
)

func khojTestServer(t *testing.T, anonymous bool, opts ...Option) *Khoj {
	t.Helper()
	opts = append([]Option{WithClock(NewClock(khojTestStart))}, opts...)
	newKhoj := NewKhoj
	if anonymous {
		newKhoj = NewKhojAnonymous
	}
	srv := newKhoj(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// khojCall sends a request to path (relative to the base URL, with a leading
// "/") with header name/value pairs, without following redirects, and
// returns the response and its body.
func khojCall(t *testing.T, srv *Khoj, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(srv.URL, "/")+path, rd)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	client := *srv.HTTP.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func khojBearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func khojCookie(c *http.Cookie) []string { return []string{"Cookie", c.Name + "=" + c.Value} }

// khojSessionOf returns the session cookie a response set, or nil.
func khojSessionOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			return c
		}
	}
	return nil
}

func khojOrigin(srv *Khoj) string { return srv.HTTP.URL }

func khojAssertJSON(t *testing.T, resp *http.Response, body string, status int, want string) {
	t.Helper()
	assert.Equal(t, status, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, want, body)
}

func khojAssertEmpty(t *testing.T, resp *http.Response, body string, status int) {
	t.Helper()
	assert.Equal(t, status, resp.StatusCode)
	assert.Empty(t, body)
	assert.Empty(t, resp.Header.Values("Content-Type"))
}

func TestKhojUnauthenticatedForms(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false)
	tok := srv.AddToken("ann@example.com", "cli")

	cases := map[string][]string{
		"no credentials":  nil,
		"unknown token":   khojBearer("kk-unknown"),
		"lowercase":       {"Authorization", "bearer " + tok},
		"two spaces":      {"Authorization", "Bearer  " + tok},
		"trailing junk":   {"Authorization", "Bearer " + tok + ".x"},
		"two bearers":     {"Authorization", "Bearer " + tok + " Bearer " + tok},
		"basic":           {"Authorization", "Basic " + tok},
		"token is prefix": {"Authorization", "Bearer kk-"},
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := khojCall(t, srv, "GET", "/api/v1/user", "", hdr...)
			khojAssertJSON(t, resp, body, http.StatusForbidden, khojTestForbidden)

			resp, body = khojCall(t, srv, "GET", "/api/health?client=emacs", "", hdr...)
			khojAssertJSON(t, resp, body, http.StatusOK, `{"detail":"OK"}`)

			for _, method := range []string{"GET", "POST", "DELETE"} {
				resp, body = khojCall(t, srv, method, "/auth/token?token=kk-abc&x=1", "", hdr...)
				khojAssertEmpty(t, resp, body, http.StatusSeeOther)
				full := khojOrigin(srv) + "/auth/token?token=kk-abc&x=1"
				assert.Equal(t, khojOrigin(srv)+"/login?next="+url.QueryEscape(full), resp.Header.Get("Location"))
			}
		})
	}

	// Trailing whitespace never reaches Khoj (or the fake): the HTTP parser
	// strips it from header values, so the token still matches.
	resp, _ := khojCall(t, srv, "GET", "/api/v1/user", "", "Authorization", "Bearer "+tok+" ")
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// Only the exact split on "Bearer " matters: text before it is ignored.
	resp, body := khojCall(t, srv, "GET", "/api/health", "", "Authorization", "xBearer "+tok)
	khojAssertJSON(t, resp, body, http.StatusOK, `{"email":"ann@example.com"}`)
	resp, body = khojCall(t, srv, "GET", "/api/v1/user", "", khojBearer(tok)...)
	khojAssertJSON(t, resp, body, http.StatusOK, `{"email":"ann@example.com","username":"ann@example.com",`+
		`"photo":null,"is_active":true,"has_documents":false,"khoj_version":"2.0.0-beta.28"}`)

	// The WhatsApp client-app branch crashes without a usable secret.
	resp, body = khojCall(t, srv, "GET", "/api/v1/user?client_id=wa", "")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "Internal Server Error", body)
	resp, _ = khojCall(t, srv, "GET", "/api/v1/user?client_id=wa", "", khojBearer("secret")...)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = khojCall(t, srv, "GET", "/api/v1/user?client_id=wa", "", khojBearer(tok)...)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a valid token wins before the client-app branch")
}

func TestKhojValidationBeforeAuth(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false)
	srv.AddUser("Ann@Example.com")

	resp, body := khojCall(t, srv, "DELETE", "/auth/token", "")
	khojAssertJSON(t, resp, body, http.StatusUnprocessableEntity,
		`{"detail":[{"type":"missing","loc":["query","token"],"msg":"Field required","input":null}]}`)

	twice := func(e string) string { return `{"detail":[` + e + `,` + e + `]}` }
	for _, tc := range []struct{ name, ctype, body, want string }{
		{"no body", "application/json", "", twice(`{"type":"missing","loc":["body"],"msg":"Field required","input":null}`)},
		{"no @", "application/json", `{"email":"ann"}`, twice(`{"type":"value_error","loc":["body","email"],` +
			`"msg":"value is not a valid email address: An email address must have an @-sign.","input":"ann",` +
			`"ctx":{"reason":"An email address must have an @-sign."}}`)},
		{"no period", "application/json", `{"email":"ann@localhost"}`, twice(`{"type":"value_error","loc":["body","email"],` +
			`"msg":"value is not a valid email address: The part after the @-sign is not valid. It should have a period.",` +
			`"input":"ann@localhost","ctx":{"reason":"The part after the @-sign is not valid. It should have a period."}}`)},
		{"missing email", "application/json", `{"mail":"a@b.c"}`, twice(`{"type":"missing","loc":["body","email"],` +
			`"msg":"Field required","input":{"mail":"a@b.c"}}`)},
		{"number", "application/json", `{"email":12}`, twice(`{"type":"string_type","loc":["body","email"],` +
			`"msg":"Input should be a valid string","input":12}`)},
		{"array", "application/json", `["a@b.c"]`, twice(`{"type":"model_attributes_type","loc":["body"],` +
			`"msg":"Input should be a valid dictionary or object to extract fields from","input":["a@b.c"]}`)},
		{"form body", "application/x-www-form-urlencoded", `email=a@b.c`, twice(`{"type":"model_attributes_type",` +
			`"loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":"email=a@b.c"}`)},
		{"broken JSON", "application/json", `{"email":`, `{"detail":[{"type":"json_invalid","loc":["body",9],` +
			`"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting value"}}]}`},
	} {
		resp, body := khojCall(t, srv, "POST", "/auth/magic", tc.body, "Content-Type", tc.ctype)
		khojAssertJSON(t, resp, body, http.StatusUnprocessableEntity, tc.want)
	}

	// GET /auth/magic: the rate limiter runs first and needs a known user.
	resp, body = khojCall(t, srv, "GET", "/auth/magic", "")
	khojAssertJSON(t, resp, body, http.StatusNotFound, `{"detail":"User not found."}`)
	resp, body = khojCall(t, srv, "GET", "/auth/magic?email=ann@example.com", "")
	khojAssertJSON(t, resp, body, http.StatusUnprocessableEntity,
		`{"detail":[{"type":"missing","loc":["query","code"],"msg":"Field required","input":null}]}`)
	srv.SetDebug(true)
	resp, body = khojCall(t, srv, "GET", "/auth/magic", "")
	khojAssertJSON(t, resp, body, http.StatusUnprocessableEntity, `{"detail":[`+
		`{"type":"missing","loc":["query","code"],"msg":"Field required","input":null},`+
		`{"type":"missing","loc":["query","email"],"msg":"Field required","input":null}]}`)
}

func TestKhojTokens(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false)
	ann := srv.AddToken("Ann@Example.com", "seed")
	bob := srv.AddToken("bob@example.com", "")
	assert.Regexp(t, khojTokenRE, ann)
	assert.Equal(t, []string{ann}, srv.Tokens("ann@example.com"))

	resp, body := khojCall(t, srv, "POST", "/auth/token?token_name=cli", "", khojBearer(ann)...)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var created struct{ Token, Name string }
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	assert.Regexp(t, khojTokenRE, created.Token)
	assert.Equal(t, "cli", created.Name)
	assert.Equal(t, `{"token":"`+created.Token+`","name":"cli"}`, body)

	for _, q := range []string{"", "?token_name="} {
		_, body = khojCall(t, srv, "POST", "/auth/token"+q, "", khojBearer(ann)...)
		require.NoError(t, json.Unmarshal([]byte(body), &created))
		assert.Regexp(t, `^[A-Z][a-z]+ [A-Z][a-z]+$`, created.Name)
	}
	resp, _ = khojCall(t, srv, "POST", "/auth/token?token_name="+url.QueryEscape(strings.Repeat("é", 50)), "", khojBearer(ann)...)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body = khojCall(t, srv, "POST", "/auth/token?token_name="+strings.Repeat("x", 51), "", khojBearer(ann)...)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "Internal Server Error", body)
	require.Len(t, srv.Tokens("ann@example.com"), 5)

	resp, body = khojCall(t, srv, "GET", "/auth/token", "", khojBearer(ann)...)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list, 5)
	assert.Equal(t, map[string]any{"_state": map[string]any{"adding": false, "db": "default"},
		"id": float64(1), "user_id": float64(2), "token": ann, "name": "seed", "accessed_at": nil}, list[0])
	assert.True(t, strings.HasPrefix(body, `[{"_state":{"adding":false,"db":"default"},"id":1,"user_id":2,"token":"`))
	_, body = khojCall(t, srv, "GET", "/auth/token", "", khojBearer(bob)...)
	assert.Contains(t, body, `"token":"`+bob+`"`)
	assert.NotContains(t, body, ann)

	// Deleting always answers 200 null, and only the caller's token goes.
	for _, token := range []string{"kk-nothing", bob, ""} {
		resp, body = khojCall(t, srv, "DELETE", "/auth/token?token="+url.QueryEscape(token), "", khojBearer(ann)...)
		khojAssertJSON(t, resp, body, http.StatusOK, "null")
	}
	assert.Equal(t, []string{bob}, srv.Tokens("bob@example.com"))
	resp, body = khojCall(t, srv, "DELETE", "/auth/token?token="+ann, "", khojBearer(ann)...)
	khojAssertJSON(t, resp, body, http.StatusOK, "null")
	assert.NotContains(t, srv.Tokens("ann@example.com"), ann)
	resp, _ = khojCall(t, srv, "GET", "/api/v1/user", "", khojBearer(ann)...)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Nil(t, srv.Tokens("nobody@example.com"))
}

func TestKhojMagicLinkFlow(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false)
	bob := srv.AddToken("bob@example.com", "bob")
	assert.Empty(t, srv.MagicCode("ann@example.com"))

	resp, body := khojCall(t, srv, "POST", "/auth/magic", `{"email": "Ann@Example.COM"}`, "Content-Type", "application/json")
	khojAssertEmpty(t, resp, body, http.StatusOK)
	code := srv.MagicCode("ann@example.com")
	require.Regexp(t, `^[0-9]{6}$`, code)

	resp, body = khojCall(t, srv, "GET", "/auth/magic?code="+code+"&email=ann@example.com", "")
	khojAssertEmpty(t, resp, body, http.StatusTemporaryRedirect)
	assert.Equal(t, "/", resp.Header.Get("Location"))
	setCookie := resp.Header.Get("Set-Cookie")
	assert.Regexp(t, `^session=[^;]+; path=/; Max-Age=1209600; httponly; samesite=lax$`, setCookie)
	session := khojSessionOf(resp)
	require.NotNil(t, session)

	// The code is single use.
	resp, body = khojCall(t, srv, "GET", "/auth/magic?code="+code+"&email=ann@example.com", "")
	khojAssertEmpty(t, resp, body, http.StatusUnauthorized)

	// Mint a token with the session, then use it.
	resp, body = khojCall(t, srv, "POST", "/auth/token?token_name=laptop", "", append(khojCookie(session), "Content-Type", "application/json")...)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotNil(t, khojSessionOf(resp), "Starlette re-sends a non-empty session")
	var created struct{ Token string }
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	resp, body = khojCall(t, srv, "GET", "/api/health", "", khojBearer(created.Token)...)
	khojAssertJSON(t, resp, body, http.StatusOK, `{"email":"ann@example.com"}`)
	assert.Nil(t, khojSessionOf(resp))

	// The session beats a Bearer header for another user.
	_, body = khojCall(t, srv, "GET", "/api/health", "", append(khojCookie(session), khojBearer(bob)...)...)
	assert.Equal(t, `{"email":"ann@example.com"}`, body)

	// A tampered cookie is ignored: the Bearer token is used instead.
	forged := &http.Cookie{Name: "session", Value: "eyJ1c2VyIjp7ImVtYWlsIjoiYm9iQGV4YW1wbGUuY29tIn19" + session.Value[strings.Index(session.Value, "."):]}
	resp, body = khojCall(t, srv, "GET", "/api/health", "", append(khojCookie(forged), khojBearer(bob)...)...)
	assert.Equal(t, `{"email":"bob@example.com"}`, body)
	assert.Empty(t, resp.Header.Values("Set-Cookie"))

	// Requesting a new code signs the session user out.
	resp, _ = khojCall(t, srv, "POST", "/auth/magic", `{"email":"ann@example.com"}`, khojCookie(session)...)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Set-Cookie"), "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT")

	// Sessions last 14 days.
	fresh := srv.SessionCookie("ann@example.com")
	srv.Clock.Advance(14 * 24 * time.Hour)
	resp, _ = khojCall(t, srv, "GET", "/api/v1/user", "", khojCookie(fresh)...)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	srv.Clock.Advance(time.Second)
	resp, _ = khojCall(t, srv, "GET", "/api/v1/user", "", khojCookie(fresh)...)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestKhojMagicLinkErrors(t *testing.T) {
	t.Parallel()
	post := func(srv *Khoj, email string) (*http.Response, string) {
		return khojCall(t, srv, "POST", "/auth/magic", `{"email":"`+email+`"}`, "Content-Type", "application/json")
	}
	verify := func(srv *Khoj, code, email string) (*http.Response, string) {
		return khojCall(t, srv, "GET", "/auth/magic?code="+code+"&email="+url.QueryEscape(email), "")
	}

	t.Run("wrong, expired and unknown", func(t *testing.T) {
		t.Parallel()
		srv := khojTestServer(t, false)
		post(srv, "ann@example.com")
		code := srv.MagicCode("ann@example.com")
		wrong := "000000"
		if code == wrong {
			wrong = "000001"
		}
		resp, body := verify(srv, wrong, "ann@example.com")
		khojAssertEmpty(t, resp, body, http.StatusUnauthorized)

		srv.Clock.Advance(5*time.Minute + time.Second)
		resp, body = verify(srv, code, "ann@example.com")
		khojAssertEmpty(t, resp, body, http.StatusForbidden)
		session := khojSessionOf(resp)
		require.NotNil(t, session, "the session user is set to {}")
		resp, _ = khojCall(t, srv, "GET", "/api/v1/user", "", khojCookie(session)...)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)

		// Exactly 5 minutes old is still valid.
		post(srv, "ann@example.com")
		srv.Clock.Advance(5 * time.Minute)
		resp, _ = verify(srv, srv.MagicCode("ann@example.com"), "ann@example.com")
		assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)

		resp, body = verify(srv, code, "nobody@example.com")
		khojAssertJSON(t, resp, body, http.StatusNotFound, `{"detail":"User not found."}`)
		resp, body = verify(srv, code, "Ann@example.com") // the limiter looks it up as given
		khojAssertJSON(t, resp, body, http.StatusNotFound, `{"detail":"User not found."}`)

		resp, body = post(srv, "someone@invalid.test")
		khojAssertJSON(t, resp, body, http.StatusNotFound, `{"detail":"Invalid email address. Please fix before trying again."}`)
		srv.AddUser("known@invalid.test")
		resp, _ = post(srv, "known@invalid.test")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "existing users are not re-checked")
	})

	t.Run("request limits", func(t *testing.T) {
		t.Parallel()
		srv := khojTestServer(t, false)
		for i := 0; i < 10; i++ {
			resp, _ := post(srv, "ann@example.com")
			require.Equal(t, http.StatusOK, resp.StatusCode, i)
		}
		mailed := srv.MagicCode("ann@example.com")
		for i := 0; i < 10; i++ {
			resp, body := post(srv, "ann@example.com")
			khojAssertJSON(t, resp, body, http.StatusTooManyRequests, khojTestRanOut)
		}
		resp, body := post(srv, "ann@example.com")
		khojAssertJSON(t, resp, body, http.StatusTooManyRequests, khojTestTooMany)
		// The refused requests replaced the code without mailing it.
		assert.Equal(t, mailed, srv.MagicCode("ann@example.com"))
		resp, _ = verify(srv, mailed, "ann@example.com")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

		srv.Clock.Advance(24*time.Hour + time.Second)
		resp, _ = post(srv, "ann@example.com")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("verification limit", func(t *testing.T) {
		t.Parallel()
		srv := khojTestServer(t, false)
		post(srv, "ann@example.com")
		code := srv.MagicCode("ann@example.com")
		wrong := "999999"
		if code == wrong {
			wrong = "999998"
		}
		for i := 0; i < 10; i++ {
			resp, _ := verify(srv, wrong, "ann@example.com")
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, i)
		}
		resp, body := verify(srv, code, "ann@example.com")
		khojAssertJSON(t, resp, body, http.StatusTooManyRequests, khojTestRanOut)
	})

	t.Run("debug lifts limits", func(t *testing.T) {
		t.Parallel()
		srv := khojTestServer(t, false)
		srv.SetDebug(true)
		for i := 0; i < 25; i++ {
			resp, _ := post(srv, "ann@example.com")
			require.Equal(t, http.StatusOK, resp.StatusCode, i)
		}
		code := srv.MagicCode("ann@example.com")
		for i := 0; i < 12; i++ {
			resp, _ := verify(srv, "x", "ann@example.com")
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, i)
		}
		resp, _ := verify(srv, code, "ann@example.com")
		assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
		resp, _ = verify(srv, code, "nobody@example.com")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no limiter, no 404")

		srv.SetDebug(false)
		resp, body := post(srv, "ann@example.com")
		khojAssertEmpty(t, resp, body, http.StatusOK)
	})
}

func TestKhojGoogle(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false)
	resp, body := khojCall(t, srv, "GET", "/auth/oauth/metadata", "")
	khojAssertJSON(t, resp, body, http.StatusOK, `{"google":{"client_id":null,"redirect_uri":"/auth/redirect"}}`)
	srv.SetGoogleClientID("123.apps.googleusercontent.com")
	_, body = khojCall(t, srv, "GET", "/auth/oauth/metadata", "")
	assert.Equal(t, `{"google":{"client_id":"123.apps.googleusercontent.com","redirect_uri":"/auth/redirect"}}`, body)

	for _, method := range []string{"GET", "POST"} {
		resp, _ = khojCall(t, srv, method, "/auth/login", "")
		require.Equal(t, http.StatusFound, resp.StatusCode)
		loc, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		assert.Equal(t, "https://accounts.google.com/o/oauth2/v2/auth", loc.Scheme+"://"+loc.Host+loc.Path)
		q := loc.Query()
		assert.Equal(t, "code", q.Get("response_type"))
		assert.Equal(t, "123.apps.googleusercontent.com", q.Get("client_id"))
		assert.Equal(t, "/auth/redirect", q.Get("redirect_uri"))
		assert.Equal(t, "openid email profile", q.Get("scope"))
		assert.NotEmpty(t, q.Get("state"))
		assert.NotNil(t, khojSessionOf(resp), "authlib keeps the state in the session")
	}

	resp, body = khojCall(t, srv, "GET", "/auth/redirect?code=x&state=y", "")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "Internal Server Error", body)
	form := "application/x-www-form-urlencoded"
	resp, _ = khojCall(t, srv, "POST", "/auth/redirect?next=/chat", "credential=c&g_csrf_token=a", "Content-Type", form)
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	assert.Equal(t, khojOrigin(srv)+"/chat", resp.Header.Get("Location"))
	resp, body = khojCall(t, srv, "POST", "/auth/redirect", "credential=c&g_csrf_token=a", "Content-Type", form, "Cookie", "g_csrf_token=b")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "Invalid CSRF token", body)
	resp, _ = khojCall(t, srv, "POST", "/auth/redirect", "credential=c&g_csrf_token=a", "Content-Type", form, "Cookie", "g_csrf_token=a")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
}

func TestKhojLogout(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false)
	session := srv.SessionCookie("ann@example.com")
	tok := srv.AddToken("ann@example.com", "cli")

	resp, body := khojCall(t, srv, "GET", "/auth/logout", "", khojCookie(session)...)
	khojAssertEmpty(t, resp, body, http.StatusTemporaryRedirect)
	assert.Equal(t, "/", resp.Header.Get("Location"))
	assert.Equal(t, "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax", resp.Header.Get("Set-Cookie"))

	// Tokens are unaffected; sessions are client-side, so only the browser
	// forgets the cookie.
	resp, _ = khojCall(t, srv, "GET", "/api/v1/user", "", khojBearer(tok)...)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = khojCall(t, srv, "GET", "/auth/logout", "")
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
}

func TestKhojPagesAndRouting(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false)
	tok := srv.AddToken("ann@example.com", "cli")
	origin := khojOrigin(srv)

	for _, tc := range []struct {
		method, path string
		hdr          []string
		status       int
		location     string
	}{
		{"GET", "/", nil, 307, "/home"},
		{"GET", "/?v=app", nil, 200, ""},
		{"GET", "/", khojBearer(tok), 200, ""},
		{"POST", "/", nil, 303, origin + "/login?next=" + url.QueryEscape(origin+"/")},
		{"GET", "/home", nil, 200, ""},
		{"GET", "/home", khojBearer(tok), 307, "/"},
		{"GET", "/login", nil, 307, "/?v=app&next=" + origin + "/"},
		{"GET", "/login?next=" + url.QueryEscape(origin+"/auth/token?token=x"), nil, 307, "/?v=app&next=" + origin + "/auth/token"},
		{"GET", "/login?next=https://evil.example/steal", nil, 307, "/?v=app&next=" + origin + "/"},
		{"GET", "/login?next=/chat", khojBearer(tok), 307, origin + "/chat"},
		{"GET", "/chat?q=1", nil, 303, origin + "/login?next=" + url.QueryEscape(origin+"/chat?q=1")},
		{"GET", "/settings", khojBearer(tok), 200, ""},
		{"GET", "/agents", nil, 200, ""},
		{"GET", "/api/health/", nil, 307, origin + "/api/health"},
		{"GET", "/auth/token/?a=1", nil, 307, origin + "/auth/token?a=1"},
	} {
		resp, body := khojCall(t, srv, tc.method, tc.path, "", tc.hdr...)
		assert.Equal(t, tc.status, resp.StatusCode, tc.method+" "+tc.path)
		assert.Equal(t, tc.location, resp.Header.Get("Location"), tc.method+" "+tc.path)
		if tc.status == 200 {
			assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
			assert.Contains(t, body, "<html>")
		}
	}

	resp, body := khojCall(t, srv, "GET", "/api/nope", "")
	khojAssertJSON(t, resp, body, http.StatusNotFound, `{"detail":"Not Found"}`)
	resp, body = khojCall(t, srv, "PUT", "/auth/token", "")
	khojAssertJSON(t, resp, body, http.StatusMethodNotAllowed, `{"detail":"Method Not Allowed"}`)
	assert.Equal(t, "POST", resp.Header.Get("Allow"))
	resp, _ = khojCall(t, srv, "POST", "/api/health", "")
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
	resp, body = khojCall(t, srv, "HEAD", "/api/health", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, body)

	// A client that follows redirects sees an HTML page, not an error.
	req, err := http.NewRequest("DELETE", srv.URL+"auth/token?token=kk-x", nil)
	require.NoError(t, err)
	followed, err := srv.HTTP.Client().Do(req)
	require.NoError(t, err)
	followed.Body.Close()
	assert.Equal(t, http.StatusOK, followed.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", followed.Header.Get("Content-Type"))
	assert.Equal(t, "app", followed.Request.URL.Query().Get("v"))
}

func TestKhojAnonymous(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, true)
	tok := srv.AddToken("ann@example.com", "cli")
	def := `{"email":"default@example.com","username":"default","photo":null,"is_active":true,` +
		`"has_documents":false,"khoj_version":"2.0.0-beta.28"}`

	for _, hdr := range [][]string{nil, khojBearer("kk-wrong"), {"Authorization", "bearer " + tok}} {
		resp, body := khojCall(t, srv, "GET", "/api/v1/user", "", hdr...)
		khojAssertJSON(t, resp, body, http.StatusOK, def)
		_, body = khojCall(t, srv, "GET", "/api/health", "", hdr...)
		assert.Equal(t, `{"email":"default@example.com"}`, body)
	}
	_, body := khojCall(t, srv, "GET", "/api/health", "", khojBearer(tok)...)
	assert.Equal(t, `{"email":"ann@example.com"}`, body)
	defTok := srv.AddToken("DEFAULT@example.com", "")
	assert.Equal(t, []string{defTok}, srv.Tokens("default@example.com"))

	for _, p := range []string{"/auth/token", "/auth/oauth/metadata", "/auth/magic", "/auth/login", "/auth/logout", "/auth/token/"} {
		resp, body := khojCall(t, srv, "GET", p, "", khojBearer(tok)...)
		khojAssertJSON(t, resp, body, http.StatusNotFound, `{"detail":"Not Found"}`)
	}
	resp, body := khojCall(t, srv, "POST", "/auth/magic", `{"email":"a@b.co"}`)
	khojAssertJSON(t, resp, body, http.StatusNotFound, `{"detail":"Not Found"}`)

	resp, _ = khojCall(t, srv, "GET", "/", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	resp, _ = khojCall(t, srv, "GET", "/chat", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// An unknown client app is not the default user.
	resp, _ = khojCall(t, srv, "GET", "/api/v1/user?client_id=wa", "", khojBearer("secret")...)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestKhojPrefix(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false, WithPrefix("/khoj/"))
	require.True(t, strings.HasSuffix(srv.URL, "/khoj/"))
	tok := srv.AddToken("ann@example.com", "cli")
	origin := khojOrigin(srv)

	resp, body := khojCall(t, srv, "GET", "/api/health", "", khojBearer(tok)...)
	khojAssertJSON(t, resp, body, http.StatusOK, `{"email":"ann@example.com"}`)
	assert.Equal(t, 1, srv.Requests("GET", "/api/health"))

	resp, err := srv.HTTP.Client().Get(origin + "/api/health")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "outside the prefix")

	resp, _ = khojCall(t, srv, "DELETE", "/auth/token?token=kk-x", "")
	assert.Equal(t, origin+"/khoj/login?next="+url.QueryEscape(origin+"/khoj/auth/token?token=kk-x"), resp.Header.Get("Location"))
	resp, _ = khojCall(t, srv, "GET", "/", "")
	assert.Equal(t, "/khoj/home", resp.Header.Get("Location"))
	resp, _ = khojCall(t, srv, "GET", "/login?next="+url.QueryEscape(origin+"/khoj/chat"), "")
	assert.Equal(t, "/khoj/?v=app&next="+origin+"/khoj/chat", resp.Header.Get("Location"))

	khojCall(t, srv, "POST", "/auth/magic", `{"email":"ann@example.com"}`)
	resp, _ = khojCall(t, srv, "GET", "/auth/magic?code="+srv.MagicCode("ann@example.com")+"&email=ann@example.com", "")
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	assert.Equal(t, "/khoj/", resp.Header.Get("Location"))
	resp, _ = khojCall(t, srv, "GET", "/auth/logout", "", khojCookie(khojSessionOf(resp))...)
	assert.Equal(t, "/khoj/", resp.Header.Get("Location"))

	// TLS and X-Forwarded-Proto change the scheme of absolute URLs.
	resp, _ = khojCall(t, srv, "GET", "/chat", "", "X-Forwarded-Proto", "https")
	assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "https://"))
}

func TestKhojConcurrent(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := srv.AddToken("ann@example.com", "")
			for _, path := range []string{"auth/token", "auth/magic"} {
				req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(`{"email":"ann@example.com"}`))
				req.Header.Set("Authorization", "Bearer "+tok)
				if resp, err := srv.HTTP.Client().Do(req); assert.NoError(t, err) {
					assert.Equal(t, http.StatusOK, resp.StatusCode)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	assert.Len(t, srv.Tokens("ann@example.com"), 16)
}

func TestKhojOddInput(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false)
	valid := srv.SessionCookie("ann@example.com").Value
	for _, v := range []string{"garbage", "a.b.c", "....", valid + "x", "x" + valid, strings.Replace(valid, ".", "..", 1)} {
		resp, _ := khojCall(t, srv, "GET", "/api/v1/user", "", "Cookie", "session="+v)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, v)
		assert.Empty(t, resp.Header.Values("Set-Cookie"), v)
	}
	resp, _ := khojCall(t, srv, "OPTIONS", "/api/health", "")
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	resp, body := khojCall(t, srv, "POST", "/auth/magic", "{\"email\":\"\xff\"}")
	khojAssertJSON(t, resp, body, http.StatusBadRequest, `{"detail":"There was an error parsing the body"}`)
	resp, body = khojCall(t, srv, "POST", "/auth/magic", "null")
	khojAssertJSON(t, resp, body, http.StatusUnprocessableEntity, `{"detail":[`+
		`{"type":"missing","loc":["body"],"msg":"Field required","input":null},`+
		`{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}`)
	resp, body = khojCall(t, srv, "POST", "/auth/magic", `{"email":"a b@c.com"}`)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, body, `"reason":"The email address contains invalid characters before the @-sign: SPACE."`)

	// pydantic accepts "Name <address>" and lower-cases the domain.
	resp, _ = khojCall(t, srv, "POST", "/auth/magic", `{"email":"Bob Smith <Bob@Example.COM>"}`)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	code := srv.MagicCode("bob@example.com")
	require.NotEmpty(t, code)
	// Starlette keeps the last of repeated query parameters.
	resp, _ = khojCall(t, srv, "GET", "/auth/magic?email=x&code=1&code="+code+"&email=bob@example.com", "")
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
}

// SetDatabaseDown answers as Khoj does with its database down: a request
// whose credential must be looked up gets a plain 500 on /api paths and a
// 302 to the error page elsewhere; /auth/magic always fails; requests
// without a credential that need no database answer as usual; and all is
// well again once the database is back.
func TestKhojDatabaseDown(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, false, WithPrefix("/khoj"))
	tok := srv.AddToken("ann@example.com", "cli")
	cookie := srv.SessionCookie("ann@example.com")
	srv.SetDatabaseDown(true)

	for _, cred := range [][]string{khojBearer(tok), khojBearer("kk-unknown"), khojCookie(cookie)} {
		for _, path := range []string{"/api/v1/user", "/api/health", "/api/chat/options"} {
			resp, body := khojCall(t, srv, "GET", path, "", cred...)
			assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, path)
			assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"), path)
			assert.Equal(t, "Internal Server Error", body, path)
			assert.Nil(t, khojSessionOf(resp), "an exception outside the session middleware sets no cookie")
		}
		for _, mp := range [][2]string{{"GET", "/auth/token"}, {"POST", "/auth/token"}, {"DELETE", "/auth/token?token=" + tok},
			{"GET", "/auth/oauth/metadata"}, {"GET", "/settings"}, {"GET", "/auth/logout"}} {
			resp, _ := khojCall(t, srv, mp[0], mp[1], "", cred...)
			assert.Equal(t, http.StatusFound, resp.StatusCode, mp)
			assert.Equal(t, "/khoj/server/error", resp.Header.Get("Location"), mp)
		}
	}
	resp, body := khojCall(t, srv, "GET", "/server/error", "", khojBearer(tok)...)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	assert.Contains(t, body, "Server Error")

	// Magic links need the database in their handlers.
	resp, body = khojCall(t, srv, "POST", "/auth/magic", `{"email":"ann@example.com"}`, "Content-Type", "application/json")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "Internal Server Error", body)
	resp, _ = khojCall(t, srv, "GET", "/auth/magic?code=123456&email=ann@example.com", "")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)

	// No credential, no database needed: the usual answers.
	resp, body = khojCall(t, srv, "GET", "/api/health", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"detail":"OK"}`, body)
	resp, _ = khojCall(t, srv, "GET", "/auth/oauth/metadata", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body = khojCall(t, srv, "GET", "/api/v1/user", "")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, khojTestForbidden, body)
	resp, _ = khojCall(t, srv, "GET", "/auth/token", "")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)

	srv.SetDatabaseDown(false)
	resp, _ = khojCall(t, srv, "GET", "/api/v1/user", "", khojBearer(tok)...)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "Khoj recovers by itself")
	resp, _ = khojCall(t, srv, "GET", "/server/error", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the error page exists without an outage too")
}

// In anonymous mode every request reads the default user from the
// database, so every request fails while it is down.
func TestKhojAnonymousDatabaseDown(t *testing.T) {
	t.Parallel()
	srv := khojTestServer(t, true)
	srv.SetDatabaseDown(true)
	resp, _ := khojCall(t, srv, "GET", "/api/v1/user", "")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	resp, _ = khojCall(t, srv, "GET", "/settings", "")
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, "/server/error", resp.Header.Get("Location"))
}

package authclient

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseErrorBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ctype, body string
		msg, code         string
	}{
		{"komga boot 401", "application/json", `{"timestamp":"2025-03-01T10:00:00.000+00:00","status":401,"error":"Unauthorized","message":"Unauthorized","path":"/api/v2/users/me"}`, "Unauthorized", ""},
		{"komga coded 400", "application/json", `{"status":400,"error":"Bad Request","message":"ERR_1034"}`, "ERR_1034", "ERR_1034"},
		{"komga violations", "application/json", `{"violations":[{"fieldName":"comment","message":"must not be blank"},{"fieldName":"x","message":"bad"}]}`, "comment: must not be blank; x: bad", ""},
		{"abs plain text no type", "", "Unauthorized", "Unauthorized", ""},
		{"abs refresh json", "application/json; charset=utf-8", `{"error": "Invalid refresh token"}`, "Invalid refresh token", ""},
		{"abs express html", "text/html; charset=utf-8", "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET /api/authorize</pre>\n</body>\n</html>\n", "Cannot GET /api/authorize", ""},
		{"abs html message", "text/html; charset=utf-8", "Library not found", "Library not found", ""},
		{"comfy 401", "application/json; charset=utf-8", `{"error": "Unauthorized", "message": "Invalid or missing API key. Provide API key via 'Authorization: Bearer <key>' or 'X-API-Key: <key>' header."}`, "Invalid or missing API key. Provide API key via 'Authorization: Bearer <key>' or 'X-API-Key: <key>' header.", "Unauthorized"},
		{"comfy prompt 400", "application/json", `{"error":{"type":"prompt_no_outputs","message":"Prompt has no outputs","details":"","extra_info":{}},"node_errors":{}}`, "Prompt has no outputs", "prompt_no_outputs"},
		{"khoj detail", "application/json", `{"detail":"Forbidden"}`, "Forbidden", ""},
		{"khoj 422", "application/json", `{"detail":[{"loc":["query","token"],"msg":"Field required","type":"missing"}]}`, "query.token: Field required", ""},
		{"empty", "application/json", "", "", ""},
		{"json array", "application/json", `[1,2]`, "", ""},
		{"broken json", "application/json", `{"message":`, "", ""},
		{"control chars folded", "text/plain", "line1\r\nline2\x00\tend", "line1 line2 end", ""},
		{"invalid utf8", "text/plain", "bad \xff byte", "bad \uFFFD byte", ""},
		// Invalid UTF-8 before the tag's end once made the lower-cased copy
		// longer than the body, and cutting the body at its offsets panicked.
		{"html invalid utf8 in pre", "text/html", "<PRE>\x8b\x8b\x8b\x8b0</pre", "\uFFFD0", ""},
		{"html invalid utf8 in title", "text/html", "<title>\xff\xfe oops</TITLE>", "\uFFFD oops", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, code := parseErrorBody(tt.ctype, []byte(tt.body))
			assert.Equal(t, tt.msg, msg)
			assert.Equal(t, tt.code, code)
		})
	}
}

// parseErrorBody is what the client makes of an error body when it holds
// no secrets: the raw text, masked, cleaned and bounded by serverText.
func parseErrorBody(contentType string, body []byte) (message, code string) {
	var s secretSet
	message, code = rawErrorBody(contentType, body)
	return s.serverText(message), s.serverText(code)
}

func FuzzParseErrorBody(f *testing.F) {
	for _, s := range []string{
		`{"message":"x","status":400}`, `{"violations":[{"fieldName":"a","message":"b"}]}`,
		`{"error":{"type":"t","message":"m"}}`, `{"detail":[{"loc":[1,"a"],"msg":"m"}]}`,
		"<html><pre>x</pre></html>", "<title>", "plain", "",
	} {
		f.Add("application/json", []byte(s))
		f.Add("text/html", []byte(s))
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		msg, code := parseErrorBody(ctype, body)
		for _, s := range []string{msg, code} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in %q", s)
			}
			if strings.ContainsAny(s, "\r\n\x00") {
				t.Fatalf("control characters in %q", s)
			}
			if len(s) > 4*maxMessage+8 {
				t.Fatalf("message of %d bytes is not bounded", len(s))
			}
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"abc", 0, false},
		{"99999999999999999999999", maxDuration, true},
		{"9223372037", maxDuration, true},
		{"Sun, 22 Nov 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Sun, 22 Nov 2026 09:00:00 GMT", 0, true},
		{"Sunday, 22-Nov-26 10:01:00 GMT", time.Minute, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "-5", "Sun, 22 Nov 2026 10:00:30 GMT", "1e9", "99999999999999999999", " 7"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 {
			t.Fatalf("negative wait %v for %q", d, v)
		}
		if !ok && d != 0 {
			t.Fatalf("wait %v without ok for %q", d, v)
		}
	})
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    *Error
		want string
	}{
		{"plain 401", &Error{Server: Komga, Method: "GET", URL: "http://h/api/v2/users/me", StatusCode: 401, Message: "Unauthorized"},
			"authclient: komga: GET http://h/api/v2/users/me: 401 Unauthorized"},
		{"code and hint", &Error{Server: Komga, Method: "POST", URL: "http://h/k", StatusCode: 400, Code: "ERR_1034", Message: "ERR_1034", Hint: "an API key with that name already exists"},
			"authclient: komga: POST http://h/k: 400 Bad Request: ERR_1034 (an API key with that name already exists)"},
		{"retry after", &Error{Server: Audiobookshelf, Method: "POST", URL: "http://h/login", StatusCode: 429, Message: "Too many authentication requests", RetryAfter: 588 * time.Second},
			"authclient: audiobookshelf: POST http://h/login: 429 Too Many Requests: Too many authentication requests (retry after 9m48s)"},
		{"redirect", &Error{Server: Khoj, Method: "GET", URL: "http://h/x", StatusCode: 302, Location: "http://evil/", Hint: "redirect not followed"},
			"authclient: khoj: GET http://h/x: 302 Found to http://evil/ (redirect not followed)"},
		{"long message truncated", &Error{Server: Khoj, Method: "GET", URL: "u", StatusCode: 500, Message: strings.Repeat("é", 400)},
			"authclient: khoj: GET u: 500 Internal Server Error: " + strings.Repeat("é", 150) + "…"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.e.Error(), tt.name)
	}
}

// TestStatusCategories checks every row of every server's status table.
func TestStatusCategories(t *testing.T) {
	t.Parallel()
	want := map[Server]map[int]error{}
	for s := range specs {
		want[s] = map[int]error{
			401: ErrUnauthorized, 403: ErrForbidden, 404: ErrNotFound, 410: ErrNotFound,
			429: ErrRateLimited, 400: nil, 499: nil,
			// Every other 5xx is a server failure with its own category,
			// on every server: never nil, never a credential problem.
			500: ErrServer, 501: ErrServer, 505: ErrServer, 507: ErrServer, 599: ErrServer,
			502: ErrUnavailable, 503: ErrUnavailable, 504: ErrUnavailable,
		}
	}
	want[Khoj][403] = ErrUnauthorized // Khoj's {"detail":"Forbidden"} means "no valid token"
	sentinels := []error{ErrUnauthorized, ErrForbidden, ErrNotFound, ErrRateLimited, ErrUnavailable, ErrServer, ErrRedirect, ErrUnexpectedServer}
	for server, rows := range want {
		for status, kind := range rows {
			e := &Error{Server: server, StatusCode: status, kind: specs[server].kind(status)}
			for _, s := range sentinels {
				assert.Equal(t, s == kind, errors.Is(e, s), "%s %d vs %v", server, status, s)
			}
		}
		for status, kind := range specs[server].statusKinds {
			assert.Equal(t, want[server][status], kind, "%s table row %d has no test", server, status)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://user:pw@h:8443/p?a=1", "https://h:8443/p?a=1"},
		{"http://h/p?api_key=S&x=1", "http://h/p?api_key=REDACTED&x=1"},
		{"http://h/p?token=S&TOKEN=S2&Key=S3&apikey=S4", "http://h/p?token=REDACTED&TOKEN=REDACTED&Key=REDACTED&apikey=REDACTED"},
		{"http://h/p?access_token=a&refresh_token=b&password=c&secret=d", "http://h/p?access_token=REDACTED&refresh_token=REDACTED&password=REDACTED&secret=REDACTED"},
		{"http://h/auth/magic?code=123456&email=a%40b.c", "http://h/auth/magic?code=REDACTED&email=a%40b.c"},
		{"http://h/p?api%5Fkey=S", "http://h/p?api%5Fkey=REDACTED"},
		{"http://h/p#frag", "http://h/p"},
		{"http://h/a%2Fb", "http://h/a%2Fb"},
		// Khoj's 303 to its sign-in page carries the original URL, token included.
		{"http://h/login?next=http%3A%2F%2Fh%2Fauth%2Ftoken%3Ftoken%3Dkk-S", "http://h/login?next=http%3A%2F%2Fh%2Fauth%2Ftoken%3Ftoken%3DREDACTED"},
		{"http://h/login?next=/auth/token?token=kk-S&x=1", "http://h/login?next=%2Fauth%2Ftoken%3Ftoken%3DREDACTED&x=1"},
		{"http://h/login?next=%2Fa%3Fnext%3D%252Fb%253Fcode%253DS", "http://h/login?next=%2Fa%3Fnext%3D%252Fb%253Fcode%253DREDACTED"},
		{"http://h/login?next=http%3A%2F%2Fh%2Fchat%3Fq%3D1", "http://h/login?next=http%3A%2F%2Fh%2Fchat%3Fq%3D1"},
		{"http://h/login?next=%zz%3Ftoken%3DS", "http://h/login?next=REDACTED"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		require.NoError(t, err)
		assert.Equal(t, tt.want, redactURL(u), tt.in)
	}
	assert.Equal(t, "(unparseable URL)", redactString("http://h/%zz?token=S"))
}

func TestTransportErrorUnwraps(t *testing.T) {
	t.Parallel()
	err := newTransportError(Komga, "GET", "http://h/x", &url.Error{Op: "Get", URL: "http://h/x?token=SECRET", Err: errAttemptTimeout})
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Timeout())
	assert.NotContains(t, err.Error(), "SECRET")
	assert.ErrorIs(t, err, errAttemptTimeout)
}

func TestUnsupportedError(t *testing.T) {
	t.Parallel()
	err := error(&UnsupportedError{Server: ComfyUI, Op: "ListAPIKeys", Reason: "ComfyUI has one static key"})
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Equal(t, "authclient: comfyui: ListAPIKeys is not supported: ComfyUI has one static key", err.Error())
	assert.Equal(t, http.StatusText(404), "Not Found")
}

// Error() says each phrase once: a server code or message that only
// repeats the status text, or each other, is left out; the comparison
// ignores case, surrounding white space and a final period. The class,
// over the error shapes the servers use, through real answers: ComfyUI's
// 401 {"error":"Unauthorized","message":…} (from the fake), a code equal
// to the status text in another case, a message equal to it with a
// period or padding, a code equal to the message, a FastAPI detail.
func TestErrorTextSaysEachPhraseOnce(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey("wrong-key"))
	err := c.CheckAuth(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	text := err.Error()
	assert.Equal(t, 1, strings.Count(strings.ToLower(text), "unauthorized"), text)
	assert.Contains(t, text, "401 Unauthorized: Invalid or missing API key.")

	for name, tt := range map[string]struct {
		server       Server
		status       int
		ctype, body  string
		once, keeps  string
		wantCategory error
	}{
		"code is the status, upper case": {ComfyUI, 401, "application/json", `{"error":"UNAUTHORIZED","message":"key expired"}`, "unauthorized", "key expired", ErrUnauthorized},
		"message is the status, period":  {Audiobookshelf, 401, "text/plain", "Unauthorized.", "unauthorized", "", ErrUnauthorized},
		"message is the status, padded":  {Audiobookshelf, 404, "text/plain", "  not found \n", "not found", "", ErrNotFound},
		"FastAPI detail, lower case":     {Komga, 403, "application/json", `{"detail":"forbidden"}`, "forbidden", "", ErrForbidden},
		"code is the message, case":      {ComfyUI, 400, "application/json", `{"error":"Bad Thing","message":"bad thing."}`, "bad thing", "", nil},
		"500 says it once":               {Komga, 500, "application/json", `{"message":"Internal Server Error"}`, "internal server error", "", ErrServer},
		"429 error field":                {Audiobookshelf, 429, "application/json", `{"error":"too many requests"}`, "too many requests", "", ErrRateLimited},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			c := newTestClient(t, tt.server, srv.URL, WithMaxRetries(0))
			err := c.Do(t.Context(), "GET", "x", nil, nil)
			require.Error(t, err)
			if tt.wantCategory != nil {
				require.ErrorIs(t, err, tt.wantCategory)
			}
			text := err.Error()
			assert.Equal(t, 1, strings.Count(strings.ToLower(text), tt.once), text)
			assert.Contains(t, text, tt.keeps)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.NotEmpty(t, e.Message, "the fields keep what the server said")
		})
	}
}

// A server's HTML error page with bytes that are not UTF-8, in any case of
// its tags, is a typed error with its text cleaned, never a panic: the
// class of offsets found in a transformed copy of the body.
func TestHTMLErrorPagesWithInvalidUTF8(t *testing.T) {
	t.Parallel()
	for _, page := range []string{
		"<pre>\x8b\x8b\x8b\x8b0</pre",
		"<PRE>\xff</PRE>",
		"<html><TITLE>\xc3\x28 broken</title></html>",
		"<h1>\xe2\x82 half a euro</H1>",
		"<Pre>\x80\x80\x80\x80\x80\x80\x80\x80</pRe>",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, page)
		}))
		c := newTestClient(t, Komga, srv.URL, WithMaxRetries(0))
		err := c.Do(t.Context(), "GET", "x", nil, nil)
		srv.Close()
		require.ErrorIs(t, err, ErrServer, "%q", page)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.True(t, utf8.ValidString(e.Message), "%q", page)
	}
}

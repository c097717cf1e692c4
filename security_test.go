package authclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// planted is the secret this test hides in every place a secret could leak
// from: userinfo, query strings, headers, credentials, sessions, server
// answers. None of the package's errors, fmt verbs or slog output may show
// it.
const planted = "PLANTED-s3cr3t-7f1c9e0b"

func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	// A server that echoes every credential it gets back in its error body
	// and headers, as a careless proxy might.
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		echo := r.Header.Get("Authorization") + " " + r.Header.Get("X-API-Key") + " " + r.Header.Get("Cookie") + " " + r.URL.RawQuery
		w.Header().Set("X-Echo", echo)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(w, `{"message":%q,"error":%q}`, "rejected "+echo, planted)
	})

	var leaks []any
	record := func(what string, v any) { leaks = append(leaks, what, v) }

	// Construction errors that involve the secret.
	for _, u := range []string{"http://user:" + planted + "@h/", "http://h/?token=" + planted, "gopher://" + planted + "/"} {
		_, err := New(Komga, u)
		require.Error(t, err)
		record("New("+u[:6]+")", err)
	}
	_, err := New(Komga, srv.URL, WithHeader("X-Proxy", planted+"\r\nX: y"))
	require.Error(t, err)
	record("WithHeader CRLF", err)
	_, err = New(Komga, srv.URL, WithAPIKey(planted+"\n"))
	require.Error(t, err)
	record("WithAPIKey LF", err)
	_, err = newFromEnv(Komga, fakeEnv(map[string]string{"KOMGA_URL": "http://h", "KOMGA_TIMEOUT": planted}), fakeFiles(nil))
	require.Error(t, err)
	// The timeout value is not a secret and is quoted to help; but a
	// password or key must never be.
	_, err = newFromEnv(Komga, fakeEnv(map[string]string{"KOMGA_URL": "http://h", "KOMGA_PASSWORD": planted}), fakeFiles(nil))
	require.Error(t, err)
	record("env password without user", err)

	// Every authenticator, and clients holding them.
	auths := map[string]Authenticator{
		"APIKey":        APIKey(Komga, planted),
		"APIKeyIn":      APIKeyIn(InQuery("api_key"), planted),
		"BearerToken":   BearerToken(planted),
		"BasicAuth":     BasicAuth("admin@example.org", planted),
		"SessionCookie": SessionCookie(Komga, planted),
	}
	for name, a := range auths {
		record(name, a)
		c := newTestClient(t, Komga, srv.URL, WithAuthenticator(a), WithMaxRetries(0))
		record(name+" client", c)
		err := c.Do(t.Context(), "GET", "api/x?api_key="+planted+"&token="+planted, nil, nil)
		require.ErrorIs(t, err, ErrUnauthorized, name)
		record(name+" error", err)
		record(name+" wrapped error", fmt.Errorf("wrapped: %w", err))
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Contains(t, string(e.Body), planted, "the raw body is kept for deliberate inspection")
		record(name+" error by value, Body included", *e)
	}

	// Login with a password: the failing sign-in's error and the session.
	c := newTestClient(t, Komga, srv.URL, WithLogin("admin@example.org", planted), WithMaxRetries(0))
	record("login client", c)
	record("login authenticator", c.authenticator())
	_, err = c.CurrentUser(t.Context())
	require.Error(t, err)
	record("login error", err)
	_, err = c.Login(t.Context(), "admin@example.org", planted)
	require.Error(t, err)
	record("Login error", err)

	s := Session{Server: Audiobookshelf, Username: "root", Token: planted, RefreshToken: planted, RememberMe: planted, Expiry: time.Now()}
	record("Session", s)
	record("*Session", &s)
	k := CreatedAPIKey{APIKeyInfo: APIKeyInfo{ID: "id", Name: "n"}, Secret: planted}
	record("CreatedAPIKey", k)
	record("*CreatedAPIKey", &k)

	// A transport failure with the secret in the URL.
	dead := newTestClient(t, Komga, "http://127.0.0.1:1/", WithMaxRetries(0))
	err = dead.Do(t.Context(), "GET", "x?access_token="+planted, nil, nil)
	require.Error(t, err)
	record("TransportError", err)

	// An authenticator of the user's that fails with the secret in its text:
	// the client masks the credentials it knows.
	bad := AuthenticatorFunc(func(*http.Request) error { return fmt.Errorf("vault said no to %s", planted) })
	c = newTestClient(t, Komga, srv.URL, WithAuthenticator(bad), WithHeader("X-Trace", "t"))
	c.secrets.add(planted)
	err = c.Do(t.Context(), "GET", "x", nil, nil)
	require.Error(t, err)
	record("authenticator failure", err)

	var logs bytes.Buffer
	text := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	js := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for i := 0; i < len(leaks); i += 2 {
		what, v := leaks[i].(string), leaks[i+1]
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, planted, "%s leaks under %s", what, verb)
			assert.NotContains(t, strings.ToLower(out), strings.ToLower(fmt.Sprintf("%x", planted)), "%s leaks hex-encoded under %s", what, verb)
		}
		if e, ok := v.(error); ok {
			assert.NotContains(t, e.Error(), planted, what)
		}
		text.Info("value", "v", v)
		js.Info("value", "v", v)
		// Errors must not leak through encoding/json either (a JSON log of
		// an error value); a Session or a CreatedAPIKey is meant to be
		// saved that way, secrets included.
		if _, isErr := v.(error); isErr || strings.Contains(what, "error") {
			b, err := json.Marshal(v)
			require.NoError(t, err, what)
			assert.NotContains(t, string(b), planted, "%s leaks through encoding/json", what)
		}
	}
	assert.NotContains(t, logs.String(), planted, "slog output leaks")

	// A logger on the client itself.
	logs.Reset()
	c = newTestClient(t, Komga, srv.URL, WithLogger(js), WithAPIKey(planted), WithMaxRetries(1))
	_ = c.Do(t.Context(), "GET", "x?token="+planted, nil, nil)
	assert.NotEmpty(t, logs.String())
	assert.NotContains(t, logs.String(), planted)
}

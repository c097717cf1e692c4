package authclient

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nonAuthoritative answers every request with 203 and an empty JSON
// object, except the paths in notFound, which answer 404: a 2xx answer
// whose body is not what the client asked for. 203 rather than 200, so an
// error that invents a 200 is told apart from one that reports the status.
func nonAuthoritative(t *testing.T, notFound ...string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for _, p := range notFound {
			if r.URL.Path == p {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{}`))
				return
			}
		}
		w.WriteHeader(http.StatusNonAuthoritativeInfo)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAnswerErrorsReportTheStatusSent covers the class "an error found in
// a 2xx answer after it was decoded" (a Probe that finds another server, a
// created key missing from the answer, a history without the prompt, a
// ping that is not a success): the *Error reports the status the server
// sent and the request that got it, never an invented 200.
func TestAnswerErrorsReportTheStatusSent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		server   Server
		notFound []string
		opts     []Option
		call     func(ctx context.Context, c *Client) error
		kind     error
		method   string
		path     string
	}{
		{"komga probe", Komga, nil, nil,
			func(ctx context.Context, c *Client) error { _, err := c.Probe(ctx); return err },
			ErrUnexpectedServer, http.MethodGet, "/api/v1/claim"},
		{"audiobookshelf probe", Audiobookshelf, nil, nil,
			func(ctx context.Context, c *Client) error { _, err := c.Probe(ctx); return err },
			ErrUnexpectedServer, http.MethodGet, "/status"},
		{"audiobookshelf health", Audiobookshelf, nil, nil,
			func(ctx context.Context, c *Client) error { _, err := c.Health(ctx); return err },
			ErrUnavailable, http.MethodGet, "/ping"},
		{"audiobookshelf created key", Audiobookshelf, nil, []Option{WithAPIKey("abs-key")},
			func(ctx context.Context, c *Client) error {
				_, err := c.CreateAPIKey(ctx, CreateAPIKeyRequest{Name: "n", UserID: "u"})
				return err
			},
			ErrUnexpectedServer, http.MethodPost, "/api/api-keys"},
		{"comfyui probe by health", ComfyUI, nil, nil,
			func(ctx context.Context, c *Client) error { _, err := c.Probe(ctx); return err },
			ErrUnexpectedServer, http.MethodGet, "/health"},
		{"comfyui probe by system stats", ComfyUI, []string{"/health"}, nil,
			func(ctx context.Context, c *Client) error { _, err := c.Probe(ctx); return err },
			ErrUnexpectedServer, http.MethodGet, "/system_stats"},
		{"comfyui health", ComfyUI, nil, nil,
			func(ctx context.Context, c *Client) error { _, err := c.Health(ctx); return err },
			ErrUnexpectedServer, http.MethodGet, "/health"},
		{"comfyui health, key in a query parameter", ComfyUI, nil, []Option{WithAuthenticator(APIKeyIn(InQuery("k"), "comfy-query-key"))},
			func(ctx context.Context, c *Client) error { _, err := c.Health(ctx); return err },
			ErrUnexpectedServer, http.MethodGet, "/health?k=REDACTED"},
		{"khoj created key", Khoj, nil, []Option{WithAPIKey("khoj-key")},
			func(ctx context.Context, c *Client) error {
				_, err := c.CreateAPIKey(ctx, CreateAPIKeyRequest{})
				return err
			},
			ErrUnexpectedServer, http.MethodPost, "/auth/token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := nonAuthoritative(t, tc.notFound...)
			c := newTestClient(t, tc.server, srv.URL, tc.opts...)
			err := tc.call(t.Context(), c)
			require.ErrorIs(t, err, tc.kind)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, http.StatusNonAuthoritativeInfo, e.StatusCode, "the status the server sent")
			assert.Equal(t, tc.method, e.Method)
			assert.Equal(t, srv.URL+tc.path, e.URL, "the request that got the answer")
			assert.Contains(t, e.Error(), "203 Non-Authoritative Information")
			assertNoSecret(t, err, "abs-key", "khoj-key", "comfy-query-key")
		})
	}
}

// TestLocalErrorsReportNoStatus covers the class "the client decided
// without an answer from the server" (logged out, a rejected session with
// no password to sign in again, a key id not in the list, an identity
// provider's refusal in the callback URL, a session token that cannot be
// sent back): StatusCode is 0, Error() prints no status, and the errors.Is
// category is what it always was.
func TestLocalErrorsReportNoStatus(t *testing.T) {
	t.Parallel()
	type result struct {
		c   *Client
		err error
	}
	cases := []struct {
		name string
		run  func(t *testing.T) result
		kind error
		msg  string
	}{
		{"komga logged out", func(t *testing.T) result {
			k := setupKomga(t)
			c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
			_, err := c.CurrentUser(t.Context())
			require.NoError(t, err)
			require.NoError(t, c.Logout(t.Context()))
			_, err = c.CurrentUser(t.Context())
			return result{c, err}
		}, ErrUnauthorized, "logged out"},
		{"audiobookshelf logged out", func(t *testing.T) result {
			a, clock := setupABS(t)
			c := newABSClient(t, a, clock, WithLogin("root", "root"))
			_, err := c.CurrentUser(t.Context())
			require.NoError(t, err)
			require.NoError(t, c.Logout(t.Context()))
			err = c.Do(t.Context(), http.MethodGet, "api/libraries", nil, nil)
			return result{c, err}
		}, ErrUnauthorized, "logged out"},
		{"komga rejected session, no password", func(t *testing.T) result {
			k := setupKomga(t)
			c := newTestClient(t, Komga, k.URL, WithSession(&Session{Server: Komga, Token: "stale-session-token"}))
			_, err := c.CurrentUser(t.Context())
			return result{c, err}
		}, ErrUnauthorized, "no password"},
		{"komga rotate unknown key id", func(t *testing.T) result {
			k := setupKomga(t)
			key := k.AddAPIKey(komgaAdmin, "script")
			c := newTestClient(t, Komga, k.URL, WithAPIKey(key))
			_, err := c.RotateAPIKey(t.Context(), "no-such-id", CreateAPIKeyRequest{})
			return result{c, err}
		}, ErrNotFound, "no API key with that id"},
		{"khoj rotate unknown key id", func(t *testing.T) result {
			k, clock := setupKhoj(t)
			tok := k.AddToken(khojAlice, "mine")
			c := newTestClient(t, Khoj, k.URL, WithAPIKey(tok), withClock(clock.Now))
			_, err := c.RotateAPIKey(t.Context(), "no-such-id", CreateAPIKeyRequest{})
			return result{c, err}
		}, ErrNotFound, "no API key with that id"},
		{"khoj delete unknown key id", func(t *testing.T) result {
			k, clock := setupKhoj(t)
			tok := k.AddToken(khojAlice, "mine")
			c := newTestClient(t, Khoj, k.URL, WithAPIKey(tok), withClock(clock.Now))
			return result{c, c.DeleteAPIKey(t.Context(), "no-such-id")}
		}, ErrNotFound, "no API token with that id"},
		{"audiobookshelf sign-in answer without an access token", func(t *testing.T) result {
			a, clock := setupABS(t)
			c := newABSClient(t, a, clock)
			_, err := c.ParseSession([]byte(`{"user": {"username": "root"}}`))
			return result{c, err}
		}, ErrUnexpectedServer, "no access token"},
		{"audiobookshelf unusable session token", func(t *testing.T) result {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"user":{"username":"root","accessToken":"tok\r\nX-Injected: 1","refreshToken":"r"}}`))
			}))
			t.Cleanup(srv.Close)
			c := newTestClient(t, Audiobookshelf, srv.URL)
			_, err := c.Login(t.Context(), "root", "root-password")
			return result{c, err}
		}, ErrUnexpectedServer, "not using it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.run(t)
			require.ErrorIs(t, r.err, tc.kind)
			for _, other := range []error{ErrUnauthorized, ErrForbidden, ErrNotFound, ErrRateLimited, ErrUnavailable, ErrServer, ErrRedirect, ErrUnexpectedServer} {
				if other != tc.kind {
					assert.NotErrorIs(t, r.err, other)
				}
			}
			var e *Error
			require.ErrorAs(t, r.err, &e)
			assert.Zero(t, e.StatusCode, "no status the server did not send")
			assert.Contains(t, e.Message, tc.msg)
			s := e.Error()
			assert.True(t, strings.HasPrefix(s, "authclient: "+string(r.c.Server())+": "), s)
			assert.Contains(t, s, e.URL+": ", "the message follows the URL, with no status between")
			for _, status := range []string{": 0", "200 OK", "401 Unauthorized", "404 Not Found"} {
				assert.NotContains(t, s, status)
			}
			assert.NotContains(t, s, "root-password")
			assert.NotContains(t, s, "\r")
			if !strings.HasPrefix(e.URL, "audiobookshelf://") { // the callback URL the error is about
				assert.True(t, strings.HasPrefix(e.URL, strings.TrimSuffix(r.c.BaseURL(), "/")), "the URL is the server's: %s", e.URL)
			}
			assert.False(t, errors.Is(r.err, context.Canceled))
		})
	}
}

// TestErrorHasTwoConstructors keeps the class closed: outside newError
// (answers) and localError (the client's own decisions) no code of the
// package builds an Error literal, so no later error can invent a status.
func TestErrorHasTwoConstructors(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	builders := map[string]int{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ast.Inspect(fd, func(n ast.Node) bool {
				if cl, ok := n.(*ast.CompositeLit); ok {
					if id, ok := cl.Type.(*ast.Ident); ok && id.Name == "Error" {
						builders[fd.Name.Name]++
					}
				}
				return true
			})
		}
	}
	assert.Equal(t, map[string]int{"newError": 1, "localError": 1}, builders)
}

package authclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/require"
)

// TestCredentialInUseIsNotEvictedFromMaskSet covers the class "a credential
// the client is still sending drops out of the bounded set of collected
// credentials": the set keeps the most recently used maxSecrets, and a
// session token (Komga's X-Auth-Token, an Audiobookshelf access token, a
// Khoj session cookie) was only counted as used when it was made, so more
// than maxSecrets one-off values from other calls (a request ID passed with
// Header on each call) pushed it out, and the next echo of it leaked. Every
// credential an authenticator puts on a request is now counted as used.
func TestCredentialInUseIsNotEvictedFromMaskSet(t *testing.T) {
	t.Parallel()
	type setup func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client)
	cases := map[string]setup{
		"Komga session token": func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client) {
			k := authtest.NewKomga()
			t.Cleanup(k.Close)
			k.AddUser("admin@example.org", "pw-long-123", "ADMIN")
			p := authtest.NewEchoProxy(k.Server)
			t.Cleanup(p.Close)
			return p, newTestClient(t, Komga, p.URL, WithLogin("admin@example.org", "pw-long-123"), WithLogger(l), WithMaxRetries(0))
		},
		"Audiobookshelf access token": func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client) {
			a := authtest.NewAudiobookshelf()
			t.Cleanup(a.Close)
			a.AddUser("alice", "pw-long-123", "user")
			p := authtest.NewEchoProxy(a.Server)
			t.Cleanup(p.Close)
			return p, newTestClient(t, Audiobookshelf, p.URL, WithLogin("alice", "pw-long-123"), WithLogger(l), WithMaxRetries(0))
		},
		"Khoj session cookie": func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client) {
			k := authtest.NewKhoj()
			t.Cleanup(k.Close)
			p := authtest.NewEchoProxy(k.Server)
			t.Cleanup(p.Close)
			c := newTestClient(t, Khoj, p.URL, WithLogger(l), WithMaxRetries(0))
			khojMagicSignIn(t, c, k, "me@example.org")
			return p, c
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			l := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			p, c := setup(t, l)
			ctx := context.Background()
			// Sign in (lazily) and then make many calls, each with a
			// fresh one-off header value.
			p.EchoOn("/health-check", http.StatusNotFound, authtest.EchoJSONMessage, authtest.EchoRaw)
			for i := range 2*maxSecrets + 3 {
				_ = c.Do(ctx, http.MethodGet, "health-check", nil, nil, Header("X-Request-Id", fmt.Sprintf("request-%03d-id", i)))
			}
			p.Echoed()
			p.EchoOn("/echo", 0, authtest.EchoJSONMessage, authtest.EchoRaw)
			logs.Reset()
			err := c.Do(ctx, http.MethodPost, "echo", nil, nil)
			require.Error(t, err)
			echoed := p.Echoed()
			require.NotEmpty(t, echoed)
			assertMasked(t, name, err, logs.String(), sentSecrets(echoed))
		})
	}
}

// TestConfigErrorsNeverQuoteAValueThatMayBeACredential covers the class "a
// credential passed where another value was expected is quoted by the
// error that rejects it": a key set as the base URL (KOMGA_URL=<key>, a
// JWT, "key://…"), a token in a base URL path rejected for another reason
// (plain http with WithRequireTLS, no host), a token passed as a header
// name (WithHeader's arguments swapped, a Base64 value with "/", "=" or a
// line break). The errors quote at most the scheme and host of a URL, and
// of a header name only what comes before a colon.
func TestConfigErrorsNeverQuoteAValueThatMayBeACredential(t *testing.T) {
	t.Parallel()
	const sec = "Zm9vYmFyS2V5c2VjcmV0"
	cases := map[string]func() error{
		"base URL is a key":            func() error { _, err := New(Komga, sec); return err },
		"base URL is a JWT":            func() error { _, err := New(Komga, "eyJhbGciOiJIUzI1NiJ9."+sec+".c2ln"); return err },
		"base URL is host-less key":    func() error { _, err := New(Komga, sec+"/"+sec); return err },
		"base URL scheme is a key":     func() error { _, err := New(Komga, sec+"://host/"); return err },
		"base URL path token, no TLS":  func() error { _, err := New(Komga, "http://nas.example/"+sec+"/", WithRequireTLS()); return err },
		"base URL path token, no host": func() error { _, err := New(Komga, "http:///"+sec); return err },
		"KOMGA_URL holds the key": func() error {
			_, err := newFromEnv(Komga, envOf("KOMGA_URL", sec, "KOMGA_API_KEY", sec), nil)
			return err
		},
		"KOMGA_URL holds a JWT":         func() error { _, err := newFromEnv(Komga, envOf("KOMGA_URL", "a."+sec+".b"), nil); return err },
		"header name is the token":      func() error { _, err := New(Komga, "http://h/", WithHeader(sec+"/x=", "X-Token")); return err },
		"header name token, line break": func() error { _, err := New(Komga, "http://h/", WithHeader(sec+"\n", "X-Token")); return err },
		"header name token, space":      func() error { _, err := New(Komga, "http://h/", WithHeader(sec+" more", "X-Token")); return err },
		"Header option name is the token": func() error {
			return mustClient(t).Do(context.Background(), "GET", "x", nil, nil, Header(sec+"=", "v"))
		},
		"API key header name": func() error {
			_, err := New(ComfyUI, "http://h/", WithAuthenticator(APIKeyIn(InHeader(sec+"/"), "k")))
			return err
		},
	}
	for name, f := range cases {
		err := f()
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, name)
		for _, out := range []string{err.Error(), fmt.Sprintf("%#v", err), fmt.Sprintf("%+v", ce), ce.Problem} {
			for i := 0; i+6 <= len(sec); i++ {
				require.NotContains(t, strings.ToLower(out), strings.ToLower(sec[i:i+6]), "%s: %s", name, out)
			}
		}
	}
	// A name written as "Name: value" still says which name.
	_, err := New(Komga, "http://h/", WithHeader("X-Token: "+sec, "v"))
	require.ErrorContains(t, err, `"X-Token"`)
	require.NotContains(t, err.Error(), sec)
}

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func mustClient(t *testing.T) *Client {
	c, err := New(Komga, "http://127.0.0.1:1/")
	require.NoError(t, err)
	return c
}

// TestSessionTokensFromServerThatCannotBeHeadersAreRefused covers the class
// "a credential received from a server is put into a header as it is": an
// access or refresh token with CR LF (header injection), another control
// character, or surrounding white space, from a sign-in (lazy or Login),
// a refresh, was stored as the session; every later call then failed with
// net/http's transport error, and the saved session could not be restored
// with WithSession. Every session now passes one check as it is stored,
// and a bad one is refused with ErrUnexpectedServer, never sent or kept.
func TestSessionTokensFromServerThatCannotBeHeadersAreRefused(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"CR LF":            "tok-abcdef\r\nX-Injected: 1",
		"LF":               "tok-abcdef\nX-Injected: 1",
		"NUL":              "tok-abcdef\x00zz",
		"DEL":              "tok-abcdef\x7f",
		"leading space":    " tok-abcdef",
		"trailing newline": "tok-abcdef\n",
	}
	const good = "good-token-0123456789"
	for name, tok := range bad {
		for _, field := range []string{"accessToken", "refreshToken"} {
			t.Run(name+" "+field, func(t *testing.T) {
				t.Parallel()
				var hooked atomic.Int64
				var injected atomic.Bool
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("X-Injected") != "" {
						injected.Store(true)
					}
					if r.URL.Path != "/login" {
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
					user := map[string]any{"id": "u1", "username": "alice", "type": "user", "isActive": true,
						"accessToken": good, "refreshToken": good + "-refresh"}
					user[field] = tok
					w.Header().Set("Content-Type", "application/json")
					_ = json.NewEncoder(w).Encode(map[string]any{"user": user})
				}))
				t.Cleanup(srv.Close)
				hook := WithSessionHook(func(Session) { hooked.Add(1) })

				c := newTestClient(t, Audiobookshelf, srv.URL, WithLogin("alice", "pw-123456"), hook, WithMaxRetries(0))
				_, err := c.CurrentUser(context.Background())
				require.ErrorIs(t, err, ErrUnexpectedServer, "lazy sign-in")
				require.NotContains(t, err.Error(), "tok-abcdef")
				require.Nil(t, c.Session())

				c = newTestClient(t, Audiobookshelf, srv.URL, hook, WithMaxRetries(0))
				s, err := c.Login(context.Background(), "alice", "pw-123456")
				require.ErrorIs(t, err, ErrUnexpectedServer, "Login")
				require.Nil(t, s)
				require.Nil(t, c.Session())
				require.Zero(t, hooked.Load(), "a refused session is never handed to the hook")
				require.False(t, injected.Load())
			})
		}
	}
	// A refresh that answers with a bad token: refused too, and the bad
	// token never goes out.
	t.Run("refresh", func(t *testing.T) {
		t.Parallel()
		var injected atomic.Bool
		var refreshes atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Injected") != "" || strings.Contains(r.Header.Get("Authorization"), "\n") {
				injected.Store(true)
			}
			w.Header().Set("Content-Type", "application/json")
			switch r.URL.Path {
			case "/auth/refresh":
				refreshes.Add(1)
				_ = json.NewEncoder(w).Encode(map[string]any{"user": map[string]any{"id": "u1", "username": "alice", "type": "user",
					"isActive": true, "accessToken": "tok-abcdef\r\nX-Injected: 1", "refreshToken": "next-refresh-123"}})
			default:
				w.WriteHeader(http.StatusUnauthorized)
			}
		}))
		t.Cleanup(srv.Close)
		c := newTestClient(t, Audiobookshelf, srv.URL, WithMaxRetries(0),
			WithSession(&Session{Server: Audiobookshelf, Token: "old-access-123", RefreshToken: "old-refresh-123"}))
		_, err := c.CurrentUser(context.Background())
		require.ErrorIs(t, err, ErrUnexpectedServer)
		require.NotContains(t, err.Error(), "tok-abcdef")
		require.Equal(t, int64(1), refreshes.Load())
		require.False(t, injected.Load())
		require.Equal(t, "old-refresh-123", c.Session().RefreshToken, "the session is kept as it was")
	})
}

// TestCaselessCredentialsAreMaskedInEitherCase covers the class "an echo
// changes a credential's case": a credential written in an alphabet
// without case (a Komga API key, 32 hex digits; a Komga session id, a
// UUID) is the same credential upper-cased, and a server or proxy that
// upper-cases its header dump, or writes hex in capitals, printed it.
// Such credentials are masked in either case, in every form.
func TestCaselessCredentialsAreMaskedInEitherCase(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga()
	t.Cleanup(k.Close)
	k.AddUser("admin@example.org", "pw-123456", "ADMIN")
	key := k.AddAPIKey("admin@example.org", "k")
	echoes := map[string]func(string) string{
		"upper":          strings.ToUpper,
		"upper, escaped": func(s string) string { return url.QueryEscape(strings.ToUpper(s)) },
		"half upper":     func(s string) string { return strings.ToUpper(s[:len(s)/2]) + s[len(s)/2:] },
	}
	var echo atomic.Value
	upstream, _ := url.Parse(k.URL)
	rp := httputil.NewSingleHostReverseProxy(upstream)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/echo") {
			rp.ServeHTTP(w, r)
			return
		}
		f := echo.Load().(func(string) string)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "bad credential " +
			f(r.Header.Get("X-Api-Key")+r.Header.Get("X-Auth-Token"))})
	}))
	t.Cleanup(proxy.Close)
	base := proxy.URL + upstream.Path
	for name, f := range echoes {
		for cred, opt := range map[string]Option{"API key": WithAPIKey(key), "session id": WithLogin("admin@example.org", "pw-123456")} {
			echo.Store(f)
			c := newTestClient(t, Komga, base, opt, WithMaxRetries(0))
			_, err := c.CurrentUser(context.Background())
			require.NoError(t, err)
			sent := key
			if s := c.Session(); s != nil {
				sent = s.Token
			}
			require.Equal(t, strings.Trim(strings.ToLower(sent), "0123456789abcdef-"), "", "a hex or UUID credential: %s", sent)
			err = c.Do(context.Background(), http.MethodPost, "echo", nil, nil)
			require.Error(t, err)
			for _, out := range []string{err.Error(), fmt.Sprintf("%#v", err), fmt.Sprintf("%+v", err)} {
				for i := 0; i+8 <= len(sent); i += 4 {
					require.NotContains(t, strings.ToLower(out), strings.ToLower(sent[i:i+8]), "%s echoed %s: %s", cred, name, out)
				}
			}
		}
	}
}

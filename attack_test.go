package authclient

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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
			require.NoError(t, c.SendMagicLink(context.Background(), "me@example.org"))
			require.NoError(t, c.VerifyMagicLink(context.Background(), "me@example.org", k.MagicCode("me@example.org")))
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

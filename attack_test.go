package authclient

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
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

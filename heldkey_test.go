package authclient_test

import (
	"errors"
	"testing"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHeldAPIKey covers the class "which listed key does the client hold":
// found where the server lets the client tell (Audiobookshelf's keyId
// claim, Khoj's fingerprint, among other keys of the same user), refused
// where it cannot (Komga, ComfyUI), and not found for a session client.
func TestHeldAPIKey(t *testing.T) {
	t.Parallel()
	t.Run("audiobookshelf", func(t *testing.T) {
		t.Parallel()
		a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
		t.Cleanup(a.Close)
		a.AddAPIKey("root", "other", 0, true)
		key := a.AddAPIKey("root", "ci", 0, true)
		a.AddAPIKey("root", "third", 0, true)
		c, err := authclient.New(authclient.Audiobookshelf, a.BasePathURL(), authclient.WithAPIKey(key))
		require.NoError(t, err)
		k, err := c.HeldAPIKey(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "ci", k.Name)
	})
	t.Run("audiobookshelf non-admin", func(t *testing.T) {
		t.Parallel()
		a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
		t.Cleanup(a.Close)
		a.AddUser("bob", "pw", "user")
		key := a.AddAPIKey("bob", "ci", 0, true)
		c, err := authclient.New(authclient.Audiobookshelf, a.BasePathURL(), authclient.WithAPIKey(key))
		require.NoError(t, err)
		_, err = c.HeldAPIKey(t.Context())
		assert.ErrorIs(t, err, authclient.ErrForbidden)
	})
	t.Run("khoj", func(t *testing.T) {
		t.Parallel()
		k := authtest.NewKhoj(authtest.WithPrefix("/khoj"))
		t.Cleanup(k.Close)
		k.AddUser("a@example.org")
		k.AddToken("a@example.org", "one")
		tok := k.AddToken("a@example.org", "ci")
		c, err := authclient.New(authclient.Khoj, k.URL, authclient.WithAPIKey(tok))
		require.NoError(t, err)
		info, err := c.HeldAPIKey(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "ci", info.Name)
		assert.NotContains(t, info.ID, tok)
	})
	t.Run("komga cannot tell", func(t *testing.T) {
		t.Parallel()
		k := authtest.NewKomga(authtest.WithPrefix("/komga"))
		t.Cleanup(k.Close)
		k.AddUser("a@example.org", "pw", "ADMIN")
		key := k.AddAPIKey("a@example.org", "ci")
		c, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key))
		require.NoError(t, err)
		_, err = c.HeldAPIKey(t.Context())
		var ue *authclient.UnsupportedError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, authclient.Operation("HeldAPIKey"), ue.Op)
		assert.Equal(t, 0, k.TotalRequests(), "nothing sent")
	})
	t.Run("comfyui", func(t *testing.T) {
		t.Parallel()
		s := authtest.NewComfyUI("key-0123456789", authtest.WithPrefix("/comfy"))
		t.Cleanup(s.Close)
		c, err := authclient.New(authclient.ComfyUI, s.URL, authclient.WithAPIKey("key-0123456789"))
		require.NoError(t, err)
		_, err = c.HeldAPIKey(t.Context())
		assert.ErrorIs(t, err, errors.ErrUnsupported)
	})
	t.Run("khoj anonymous", func(t *testing.T) {
		t.Parallel()
		k := authtest.NewKhojAnonymous(authtest.WithPrefix("/khoj"))
		t.Cleanup(k.Close)
		c, err := authclient.New(authclient.Khoj, k.URL)
		require.NoError(t, err)
		_, err = c.HeldAPIKey(t.Context())
		var ue *authclient.UnsupportedError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, authclient.OpListAPIKeys, ue.Op)
	})
	t.Run("khoj revoked", func(t *testing.T) {
		t.Parallel()
		k := authtest.NewKhoj(authtest.WithPrefix("/khoj"))
		t.Cleanup(k.Close)
		k.AddUser("a@example.org")
		k.AddToken("a@example.org", "other")
		c, err := authclient.New(authclient.Khoj, k.URL, authclient.WithAPIKey("kk-not-listed-0123456789"))
		require.NoError(t, err)
		_, err = c.HeldAPIKey(t.Context())
		assert.ErrorIs(t, err, authclient.ErrUnauthorized, "a token not listed is not accepted either")
	})
	t.Run("session, no key", func(t *testing.T) {
		t.Parallel()
		a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
		t.Cleanup(a.Close)
		c, err := authclient.New(authclient.Audiobookshelf, a.BasePathURL(), authclient.WithLogin("root", "root"))
		require.NoError(t, err)
		_, err = c.HeldAPIKey(t.Context())
		assert.ErrorIs(t, err, authclient.ErrNotFound)
	})
}

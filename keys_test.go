package authclient

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRotateAPIKeySwitchesOnlyForTheHeldKey covers, on the servers whose
// keys all belong to the signed-in user, the class "which key does the
// client hold": Khoj's key ids are fingerprints of the tokens, so a client
// rotating another of its user's tokens keeps its own; Komga lists its keys
// masked, so the client checks its own key once the old one is deleted and
// switches only if it stopped working; a session client never switches.
func TestRotateAPIKeySwitchesOnlyForTheHeldKey(t *testing.T) {
	t.Parallel()
	t.Run("khoj other token", func(t *testing.T) {
		t.Parallel()
		k, clock := setupKhoj(t)
		mine := k.AddToken(khojAlice, "mine")
		other := k.AddToken(khojAlice, "other")
		c := newTestClient(t, Khoj, k.URL, WithAPIKey(mine), withClock(clock.Now))
		nk, err := c.RotateAPIKey(t.Context(), khojFingerprint(other), CreateAPIKeyRequest{})
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{mine, nk.Secret}, k.Tokens(khojAlice), "the other token is replaced, mine kept")
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "Bearer "+mine, k.LastHeader("GET", "/api/v1/user").Get("Authorization"), "the client kept its token")
	})
	t.Run("khoj own token", func(t *testing.T) {
		t.Parallel()
		k, clock := setupKhoj(t)
		mine := k.AddToken(khojAlice, "mine")
		c := newTestClient(t, Khoj, k.URL, WithAPIKey(mine), withClock(clock.Now))
		nk, err := c.RotateAPIKey(t.Context(), khojFingerprint(mine), CreateAPIKeyRequest{})
		require.NoError(t, err)
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "Bearer "+nk.Secret, k.LastHeader("GET", "/api/v1/user").Get("Authorization"), "the client switched")
	})
	t.Run("komga other key of the same user", func(t *testing.T) {
		t.Parallel()
		k := setupKomga(t)
		mine := k.AddAPIKey(komgaAdmin, "mine")
		k.AddAPIKey(komgaAdmin, "other")
		c := newTestClient(t, Komga, k.URL, WithAPIKey(mine))
		other := komgaKeyID(t, c, "other")
		nk, err := c.RotateAPIKey(t.Context(), other, CreateAPIKeyRequest{})
		require.NoError(t, err)
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
		assert.Equal(t, mine, k.LastHeader("GET", "/api/v2/users/me").Get("X-API-Key"), "the client kept its key")
		keys, err := c.ListAPIKeys(t.Context())
		require.NoError(t, err)
		var ids []string
		for _, key := range keys {
			ids = append(ids, key.ID)
		}
		assert.ElementsMatch(t, []string{komgaKeyID(t, c, "mine"), nk.ID}, ids, "the other key is replaced, mine kept")
	})
	t.Run("komga own key", func(t *testing.T) {
		t.Parallel()
		k := setupKomga(t)
		mine := k.AddAPIKey(komgaAdmin, "mine")
		k.AddAPIKey(komgaAdmin, "other")
		c := newTestClient(t, Komga, k.URL, WithAPIKey(mine))
		nk, err := c.RotateAPIKey(t.Context(), komgaKeyID(t, c, "mine"), CreateAPIKeyRequest{})
		require.NoError(t, err)
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
		assert.Equal(t, nk.Secret, k.LastHeader("GET", "/api/v2/users/me").Get("X-API-Key"), "the client switched")
	})
	t.Run("komga session never switches", func(t *testing.T) {
		t.Parallel()
		k := setupKomga(t)
		k.AddAPIKey(komgaAdmin, "ci")
		c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
		keys, err := c.ListAPIKeys(t.Context())
		require.NoError(t, err)
		_, err = c.RotateAPIKey(t.Context(), keys[0].ID, CreateAPIKeyRequest{})
		require.NoError(t, err)
		assert.NotNil(t, c.Session(), "the client still uses its session")
		_, err = c.CurrentUser(t.Context())
		require.NoError(t, err)
	})
}

// komgaKeyID returns the id of the client's Komga key with that name.
func komgaKeyID(t *testing.T, c *Client, name string) string {
	t.Helper()
	keys, err := c.ListAPIKeys(t.Context())
	require.NoError(t, err)
	for _, k := range keys {
		if k.Name == name {
			return k.ID
		}
	}
	t.Fatalf("no key named %q", name)
	return ""
}

package authclient

import "context"

// HeldAPIKey returns the listed API key the client authenticates with, so
// that a program (a CI job) can rotate its own key with
// [Client.RotateAPIKey] without being told its id. Which key the client
// holds is read as RotateAPIKey reads it: Audiobookshelf from the keyId
// claim of the client's key, Khoj from the token's fingerprint.
//
// Errors: a server that cannot tell which key the client holds (Komga,
// which lists its keys masked) gives an [*UnsupportedError]
// (errors.ErrUnsupported) whose Op is [OpHeldAPIKey]: match the key by its
// name there. A server without API keys (ComfyUI; Khoj in anonymous mode)
// gives the *UnsupportedError of [OpListAPIKeys]. A client that does not authenticate with an API key, or whose key
// is not in the list, an [*Error] matching [ErrNotFound]; otherwise the
// errors of [Client.ListAPIKeys] (Audiobookshelf lists keys to admins only:
// [ErrForbidden]).
func (c *Client) HeldAPIKey(ctx context.Context) (*APIKeyInfo, error) {
	if err := c.spec.require(OpListAPIKeys); err != nil {
		return nil, err
	}
	if err := c.spec.require(OpHeldAPIKey); err != nil {
		return nil, err
	}
	ka, _ := c.authenticator().(*keyAuth)
	keys, err := c.ListAPIKeys(ctx) // first: a server without keys now (Khoj's anonymous mode) says so
	if err == nil && ka == nil {
		return nil, c.localError(ErrNotFound, "-", nil, "the client does not authenticate with an API key")
	}
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if c.spec.holdsKey(ka.key, keys[i]) {
			return &keys[i], nil
		}
	}
	return nil, c.localError(ErrNotFound, "-", nil, "the client's API key is not among the server's listed keys (revoked, or another user's)")
}

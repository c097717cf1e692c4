package audiobookshelf

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/selfhost-sdk/authclient"
)

// SetAPIKeyActive activates or deactivates an Audiobookshelf API key (PATCH
// /api/api-keys/:id, admins only; retried like a GET: setting a flag is
// idempotent) and returns its new state. Audiobookshelf creates keys
// inactive unless asked otherwise; the core's CreateAPIKey creates them
// active unless CreateAPIKeyRequest.Inactive is set.
//
// Errors: an empty id is a [*authclient.ConfigError] and an id that would
// leave /api/api-keys/ ("..", "../x") matches authclient.ErrInvalidPath;
// nothing is sent for either. An unknown id matches
// authclient.ErrNotFound; a caller who is not an admin matches
// authclient.ErrForbidden (with a hint saying so).
func (c *Client) SetAPIKeyActive(ctx context.Context, id string, active bool) (*authclient.APIKeyInfo, error) {
	core, err := c.client()
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(id) == "" {
		return nil, &authclient.ConfigError{Setting: "audiobookshelf.SetAPIKeyActive", Problem: "the key id is empty"}
	}
	var out struct {
		APIKey keyDTO `json:"apiKey"`
	}
	var status int // ErrorCode sees the status first; ErrorHint reads it
	err = core.Do(ctx, http.MethodPatch, "api/api-keys/"+url.PathEscape(id), map[string]bool{"isActive": active}, &out,
		authclient.Idempotent(),
		authclient.ErrorCode(func(st int, _ []byte) string { status = st; return "" }),
		authclient.ErrorHint(func([]byte) string {
			if status == http.StatusForbidden {
				return "API keys are managed by admins only (a key acts with its user's rights)"
			}
			return ""
		}))
	if err != nil {
		return nil, err
	}
	k := out.APIKey.info()
	return &k, nil
}

// keyDTO is an API key as Audiobookshelf sends it (without its secret:
// only creation returns that, through the core's CreateAPIKey).
type keyDTO struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expiresAt"`
	UserID    string     `json:"userId"`
	IsActive  bool       `json:"isActive"`
	CreatedAt time.Time  `json:"createdAt"`
	User      *struct {
		Username string `json:"username"`
	} `json:"user"`
}

func (d *keyDTO) info() authclient.APIKeyInfo {
	k := authclient.APIKeyInfo{ID: d.ID, Name: d.Name, UserID: d.UserID, CreatedAt: d.CreatedAt, Active: d.IsActive}
	if d.ExpiresAt != nil {
		k.ExpiresAt = *d.ExpiresAt
	}
	if d.User != nil {
		k.Username = d.User.Username
	}
	return k
}

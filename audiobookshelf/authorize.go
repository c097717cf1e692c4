package audiobookshelf

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/selfhost-sdk/authclient"
)

// Authorization is Audiobookshelf's answer to POST /api/authorize: the
// account behind the client's credential and its server context.
type Authorization struct {
	// User is the account, with its Audiobookshelf part in
	// User.Audiobookshelf.
	User *authclient.User
	// DefaultLibraryID is the user's default library, if any.
	DefaultLibraryID string
	// ServerVersion is the server's version ("2.36.0").
	ServerVersion string
	// Source says how the server was installed (docker, debian, …).
	Source string
}

// Authorize validates the client's credential the way the Audiobookshelf
// apps do (POST /api/authorize, retried like a GET: it changes nothing) and
// returns the account and server context. It works with an API key, a
// password session and an OpenID session alike.
//
// Errors are the core's: a rejected credential matches
// authclient.ErrUnauthorized, with the core's diagnosis of the token in
// Error.Credential and Error.Hint (after one renewal of a session); an
// answer without a user object matches authclient.ErrUnexpectedServer.
func (c *Client) Authorize(ctx context.Context) (*Authorization, error) {
	core, err := c.client()
	if err != nil {
		return nil, err
	}
	var body struct {
		User                 json.RawMessage `json:"user"`
		UserDefaultLibraryID *string         `json:"userDefaultLibraryId"`
		ServerSettings       struct {
			Version string `json:"version"`
		} `json:"serverSettings"`
		Source string `json:"Source"`
	}
	if err := core.Do(ctx, http.MethodPost, "api/authorize", nil, &body, authclient.Idempotent()); err != nil {
		return nil, err
	}
	u, err := core.ParseUser(body.User)
	if err != nil {
		return nil, err
	}
	a := &Authorization{User: u, ServerVersion: body.ServerSettings.Version, Source: body.Source}
	if body.UserDefaultLibraryID != nil {
		a.DefaultLibraryID = *body.UserDefaultLibraryID
	}
	return a, nil
}

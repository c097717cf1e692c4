package authclient

import "context"

// OAuthProvider is a sign-in provider a server offers for browser logins
// (OAuth2 / OpenID Connect). A program without a browser cannot complete
// these flows; it can show LoginURL to a user.
type OAuthProvider struct {
	// ID is the provider's registration id (Komga "google", Khoj "google").
	ID string
	// Name is the provider's display name.
	Name string
	// LoginURL is where a browser starts the sign-in.
	LoginURL string
	// ClientID is the OAuth client id, when the server publishes it (Khoj).
	ClientID string
	// RedirectURI is where the provider sends the browser back, when the
	// server publishes it (Khoj: "/auth/redirect", a path on the server).
	RedirectURI string
}

// ListOAuthProviders lists the OAuth2/OpenID sign-in providers the server
// offers, without needing credentials: Komga's configured OAuth2 clients,
// Audiobookshelf's OpenID method, Khoj's Google sign-in. An empty list means
// none is configured. ComfyUI returns an error matching errors.ErrUnsupported.
func (c *Client) ListOAuthProviders(ctx context.Context) ([]OAuthProvider, error) {
	if err := c.spec.require(OpListOAuthProviders); err != nil {
		return nil, err
	}
	return c.spec.oauthProviders(ctx, c)
}

// ServerInfo is what [Client.Probe] learned about the server.
type ServerInfo struct {
	// Server is the server the answer came from.
	Server Server
	// Version is the server's version, when it publishes it without
	// credentials; empty otherwise.
	Version string
	// Initialized reports whether the server has its first admin account
	// (Komga: claimed; Audiobookshelf: initialised).
	Initialized bool
	// AuthMethods lists the sign-in methods the server offers, when it says
	// (Audiobookshelf: "local", "openid").
	AuthMethods []string
	// Anonymous reports a server that runs without accounts (Khoj's
	// anonymous mode): every request acts as one default user, and token
	// management does not exist.
	Anonymous bool
}

// Probe checks that the server at the base URL is the configured server and
// says what it can about it. It needs no credentials (ComfyUI's sends the
// client's, for a reverse proxy in front of it). An HTML page in its place
// (the sign-in page of a proxy in front of it) gives an error matching
// [ErrUnauthorized]; any other server answering gives one matching
// [ErrUnexpectedServer].
func (c *Client) Probe(ctx context.Context) (*ServerInfo, error) {
	if err := c.spec.require(OpProbe); err != nil {
		return nil, err
	}
	return c.spec.probe(ctx, c)
}

// User is the signed-in account, in the fields the servers share;
// server-specific details are in the server's field (nil for the others).
type User struct {
	// ID is the account's id.
	ID string
	// Username is the sign-in name: Komga's e-mail address,
	// Audiobookshelf's username, Khoj's username.
	Username string
	// Email is the e-mail address, if the account has one.
	Email string
	// Roles are the account's roles: Komga's roles (USER, ADMIN,
	// FILE_DOWNLOAD, …); Audiobookshelf's user type (root, admin, user,
	// guest).
	Roles []string
	// Admin reports whether the account has administrator rights.
	Admin bool
	// Komga holds Komga's library-sharing restrictions.
	Komga *KomgaUser
	// Audiobookshelf holds Audiobookshelf's account type, permissions and
	// whether a deprecated legacy token was used.
	Audiobookshelf *AudiobookshelfUser
	// Khoj holds Khoj's account details (photo, premium, version) and
	// whether it is the anonymous default user.
	Khoj *KhojUser
}

// CheckAuth verifies, as cheaply as the server allows, that the server
// accepts the client's credentials: nil if it does, an error matching
// [ErrUnauthorized] if it does not. It is the key check for ComfyUI, whose
// /health answers 200 whatever key is sent, and for Khoj it reads
// /api/health, which answers 200 either way. Elsewhere it asks for the
// current user.
func (c *Client) CheckAuth(ctx context.Context) error {
	if err := c.spec.require(OpCheckAuth); err != nil {
		return err
	}
	if c.spec.checkAuth != nil {
		return c.spec.checkAuth(ctx, c)
	}
	_, err := c.CurrentUser(ctx)
	return err
}

// CurrentUser returns the account the client is signed in as. ComfyUI has
// no accounts and returns an error matching errors.ErrUnsupported.
func (c *Client) CurrentUser(ctx context.Context) (*User, error) {
	if err := c.spec.require(OpCurrentUser); err != nil {
		return nil, err
	}
	return c.spec.currentUser(ctx, c)
}

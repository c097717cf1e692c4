package audiobookshelf

import "github.com/selfhost-sdk/authclient"

// Client is a client for one Audiobookshelf server. It is safe for concurrent use.
// Make one with [New], [NewFromEnv] or [Wrap].
type Client struct {
	core *authclient.Client
}

// New returns a client for the Audiobookshelf server at baseURL, as
// authclient.New(authclient.Audiobookshelf, baseURL, opts...) does, with the same
// errors ([*authclient.ConfigError] for a bad URL or option).
func New(baseURL string, opts ...authclient.Option) (*Client, error) {
	c, err := authclient.New(authclient.Audiobookshelf, baseURL, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{core: c}, nil
}

// NewFromEnv returns a client configured from the AUDIOBOOKSHELF_* environment
// variables (AUDIOBOOKSHELF_URL, AUDIOBOOKSHELF_API_KEY or AUDIOBOOKSHELF_API_KEY_FILE, AUDIOBOOKSHELF_USERNAME and AUDIOBOOKSHELF_PASSWORD, …), as
// authclient.NewFromEnv(authclient.Audiobookshelf, opts...) does; opts apply on
// top.
func NewFromEnv(opts ...authclient.Option) (*Client, error) {
	c, err := authclient.NewFromEnv(authclient.Audiobookshelf, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{core: c}, nil
}

// Wrap returns the Audiobookshelf client over c, sharing its credentials,
// connections and settings. It is a [*authclient.ConfigError] if c is nil
// or not a client for [authclient.Audiobookshelf].
func Wrap(c *authclient.Client) (*Client, error) {
	if c == nil {
		return nil, &authclient.ConfigError{Setting: "audiobookshelf.Wrap", Problem: "the *authclient.Client is nil"}
	}
	if s := c.Server(); s != authclient.Audiobookshelf {
		return nil, &authclient.ConfigError{Setting: "audiobookshelf.Wrap",
			Problem: "the client is for " + string(s) + ", not " + string(authclient.Audiobookshelf) + " (make it with authclient.New(authclient.Audiobookshelf, …))"}
	}
	return &Client{core: c}, nil
}

// client is the core, or a ConfigError on a Client not made by New,
// NewFromEnv or Wrap (a nil *Client, or a zero Client).
func (c *Client) client() (*authclient.Client, error) {
	if c == nil || c.core == nil {
		return nil, &authclient.ConfigError{Setting: "audiobookshelf.Client", Problem: "not made with audiobookshelf.New, NewFromEnv or Wrap"}
	}
	return c.core, nil
}

// Core returns the shared client underneath: for the operations every
// server has (Login, Logout, Session, CurrentUser, API keys: list, create,
// delete, rotate; OAuth providers, Probe, Health), for Do, Stream and
// Paginate on endpoints this package has no method for, and for its
// authenticated transport. It is nil for a Client not made by New, NewFromEnv or Wrap.
func (c *Client) Core() *authclient.Client {
	if c == nil {
		return nil
	}
	return c.core
}

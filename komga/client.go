package komga

import "github.com/selfhost-sdk/authclient"

// Client is a client for one Komga server. It is safe for concurrent use.
// Make one with [New], [NewFromEnv] or [Wrap].
type Client struct {
	core *authclient.Client
}

// New returns a client for the Komga server at baseURL, as
// authclient.New(authclient.Komga, baseURL, opts...) does, with the same
// errors ([*authclient.ConfigError] for a bad URL or option).
func New(baseURL string, opts ...authclient.Option) (*Client, error) {
	c, err := authclient.New(authclient.Komga, baseURL, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{core: c}, nil
}

// NewFromEnv returns a client configured from the KOMGA_* environment
// variables (KOMGA_URL, KOMGA_API_KEY or KOMGA_API_KEY_FILE, or
// KOMGA_USERNAME with KOMGA_PASSWORD or KOMGA_PASSWORD_FILE, …), as
// authclient.NewFromEnv(authclient.Komga, opts...) does; opts apply on
// top.
func NewFromEnv(opts ...authclient.Option) (*Client, error) {
	c, err := authclient.NewFromEnv(authclient.Komga, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{core: c}, nil
}

// Wrap returns the Komga client over c, sharing its credentials, session,
// connections and settings. It is a [*authclient.ConfigError] if c is nil
// or not a client for [authclient.Komga].
func Wrap(c *authclient.Client) (*Client, error) {
	if c == nil {
		return nil, &authclient.ConfigError{Setting: "komga.Wrap", Problem: "the *authclient.Client is nil"}
	}
	if s := c.Server(); s != authclient.Komga {
		return nil, &authclient.ConfigError{Setting: "komga.Wrap",
			Problem: "the client is for " + string(s) + ", not " + string(authclient.Komga) + " (make it with authclient.New(authclient.Komga, …))"}
	}
	return &Client{core: c}, nil
}

// client is the core, or a ConfigError on a Client not made by New,
// NewFromEnv or Wrap (a nil *Client, or a zero Client).
func (c *Client) client() (*authclient.Client, error) {
	if c == nil || c.core == nil {
		return nil, &authclient.ConfigError{Setting: "komga.Client", Problem: "not made with komga.New, NewFromEnv or Wrap"}
	}
	return c.core, nil
}

// Core returns the shared client underneath: for the operations every
// server has (CurrentUser, API keys, OAuth2 providers, Login, Logout,
// Session, Probe, Health), for Do, Paginate and Stream on endpoints this
// package has no method for, and for its authenticated transport. It is
// nil for a Client not made by New, NewFromEnv or Wrap.
func (c *Client) Core() *authclient.Client {
	if c == nil {
		return nil
	}
	return c.core
}

package khoj

import "github.com/selfhost-sdk/authclient"

// Client is a client for one Khoj server. It is safe for concurrent use.
// Make one with [New], [NewFromEnv] or [Wrap].
type Client struct {
	core *authclient.Client
}

// New returns a client for the Khoj server at baseURL, as
// authclient.New(authclient.Khoj, baseURL, opts...) does, with the same
// errors ([*authclient.ConfigError] for a bad URL or option).
func New(baseURL string, opts ...authclient.Option) (*Client, error) {
	c, err := authclient.New(authclient.Khoj, baseURL, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{core: c}, nil
}

// NewFromEnv returns a client configured from the KHOJ_* environment
// variables (KHOJ_URL, KHOJ_API_KEY or KHOJ_API_KEY_FILE, …), as
// authclient.NewFromEnv(authclient.Khoj, opts...) does; opts apply on
// top.
func NewFromEnv(opts ...authclient.Option) (*Client, error) {
	c, err := authclient.NewFromEnv(authclient.Khoj, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{core: c}, nil
}

// Wrap returns the Khoj client over c, sharing its credentials,
// connections and settings. It is a [*authclient.ConfigError] if c is nil
// or not a client for [authclient.Khoj].
func Wrap(c *authclient.Client) (*Client, error) {
	if c == nil {
		return nil, &authclient.ConfigError{Setting: "khoj.Wrap", Problem: "the *authclient.Client is nil"}
	}
	if s := c.Server(); s != authclient.Khoj {
		return nil, &authclient.ConfigError{Setting: "khoj.Wrap",
			Problem: "the client is for " + string(s) + ", not " + string(authclient.Khoj) + " (make it with authclient.New(authclient.Khoj, …))"}
	}
	return &Client{core: c}, nil
}

// client is the core, or a ConfigError on a Client not made by New,
// NewFromEnv or Wrap (a nil *Client, or a zero Client).
func (c *Client) client() (*authclient.Client, error) {
	if c == nil || c.core == nil {
		return nil, &authclient.ConfigError{Setting: "khoj.Client", Problem: "not made with khoj.New, NewFromEnv or Wrap"}
	}
	return c.core, nil
}

// Core returns the shared client underneath: for the operations every
// server has (CurrentUser, CheckAuth, API tokens, OAuth metadata, Logout,
// Probe, Health), for Do and Stream on endpoints this package has no
// method for, and for its authenticated transport. It is
// nil for a Client not made by New, NewFromEnv or Wrap.
func (c *Client) Core() *authclient.Client {
	if c == nil {
		return nil
	}
	return c.core
}

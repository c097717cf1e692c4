package comfyui

import (
	"context"

	"github.com/selfhost-sdk/authclient"
)

// Client is a client for one ComfyUI server. It is safe for concurrent
// use. Make one with [New], [NewFromEnv] or [Wrap].
type Client struct {
	core *authclient.Client
}

// New returns a client for the ComfyUI server at baseURL, as
// authclient.New(authclient.ComfyUI, baseURL, opts...) does, with the same
// errors ([*authclient.ConfigError] for a bad URL or option).
func New(baseURL string, opts ...authclient.Option) (*Client, error) {
	c, err := authclient.New(authclient.ComfyUI, baseURL, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{core: c}, nil
}

// NewFromEnv returns a client configured from the COMFYUI_* environment
// variables (COMFYUI_URL, COMFYUI_API_KEY or COMFYUI_API_KEY_FILE,
// COMFYUI_USERNAME and COMFYUI_PASSWORD for a proxy, …), as
// authclient.NewFromEnv(authclient.ComfyUI, opts...) does; opts apply on
// top.
func NewFromEnv(opts ...authclient.Option) (*Client, error) {
	c, err := authclient.NewFromEnv(authclient.ComfyUI, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{core: c}, nil
}

// Wrap returns the ComfyUI client over c, sharing its credentials,
// connections and settings. It is a [*authclient.ConfigError] if c is nil
// or not a client for [authclient.ComfyUI].
func Wrap(c *authclient.Client) (*Client, error) {
	if c == nil {
		return nil, &authclient.ConfigError{Setting: "comfyui.Wrap", Problem: "the *authclient.Client is nil"}
	}
	if s := c.Server(); s != authclient.ComfyUI {
		return nil, &authclient.ConfigError{Setting: "comfyui.Wrap",
			Problem: "the client is for " + string(s) + ", not " + string(authclient.ComfyUI) + " (make it with authclient.New(authclient.ComfyUI, …))"}
	}
	return &Client{core: c}, nil
}

// do is the core's Do, or a ConfigError on a Client not made by New,
// NewFromEnv or Wrap (a nil *Client, or a zero Client).
func (c *Client) do(ctx context.Context, method, path string, in, out any, opts ...authclient.CallOption) error {
	if c == nil || c.core == nil {
		return &authclient.ConfigError{Setting: "comfyui.Client", Problem: "not made with comfyui.New, NewFromEnv or Wrap"}
	}
	return c.core.Do(ctx, method, path, in, out, opts...)
}

// Core returns the shared client underneath: for the operations every
// server has (Health, CheckAuth, Probe), for Do and Stream on endpoints
// this package has no method for, and for its authenticated transport.
// It is nil for a Client not made by New, NewFromEnv or Wrap.
func (c *Client) Core() *authclient.Client {
	if c == nil {
		return nil
	}
	return c.core
}

package authclient

import (
	"net/url"
	"strings"
)

// origin is a scheme, host and port, compared without allocating.
type origin struct{ scheme, host, port string }

func originOf(u *url.URL) origin {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return origin{scheme: u.Scheme, host: u.Hostname(), port: port}
}

// same reports whether u has this origin (host names compare
// case-insensitively).
func (o origin) same(u *url.URL) bool {
	p := originOf(u)
	return p.scheme == o.scheme && p.port == o.port && strings.EqualFold(p.host, o.host)
}

// sameOrigin reports whether u has the base URL's scheme, host and port.
func (c *Client) sameOrigin(u *url.URL) bool {
	return c.tr != nil && c.tr.origin.same(u)
}

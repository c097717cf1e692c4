package authclient

import (
	"net/url"
	"strings"
)

// origin is a scheme, host and port, compared without allocating. raw is
// the URL's Host as it was given, for the quick comparison of a request
// the client built itself.
type origin struct{ scheme, host, port, raw string }

func originOf(u *url.URL) origin {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return origin{scheme: u.Scheme, host: u.Hostname(), port: port, raw: u.Host}
}

// same reports whether u has this origin (host names compare
// case-insensitively). A URL with the very scheme and Host of the
// origin's has it without parsing its host again: originOf depends on
// nothing else.
func (o origin) same(u *url.URL) bool {
	if u.Scheme == o.scheme && u.Host == o.raw {
		return true
	}
	p := originOf(u)
	return p.scheme == o.scheme && p.port == o.port && strings.EqualFold(p.host, o.host)
}

// sameOrigin reports whether u has the base URL's scheme, host and port.
func (c *Client) sameOrigin(u *url.URL) bool {
	return c.tr != nil && c.tr.origin.same(u)
}

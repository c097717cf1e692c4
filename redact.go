package authclient

import (
	"net/url"
	"strings"
)

// redactedURL is u as the client prints it: redacted (userinfo, credential
// parameters), and with any credential the client knows masked wherever it
// is (a key placed in a query parameter of the caller's naming, a token
// inside a URL nested in a query value).
func (c *Client) redactedURL(u *url.URL) string {
	return c.secrets.scrub(redactURL(u))
}

// credentialParams are the query parameters whose values are redacted from
// every URL the client prints or logs.
var credentialParams = map[string]bool{
	"api_key": true, "apikey": true, "key": true, "token": true,
	"access_token": true, "refresh_token": true, "password": true,
	"secret": true, "code": true, "code_verifier": true, "signature": true,
	"client_secret": true, "state": true, "id_token": true, "api-key": true,
	"auth_token": true, "session": true, "jwt": true,
}

// redactURL renders u for error messages and logs: userinfo removed, the
// values of credential-like query parameters replaced by REDACTED, and the
// fragment dropped.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	// url.URL.String escapes what needs it (a host with "%" in an IPv6
	// zone, say); userinfo, an opaque part and the fragment are left out.
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: redactQuery(u.RawQuery)}
	return v.String()
}

// redactQuery redacts credential values in a raw query string, keeping the
// order and the other values as they were. A value that is itself a URL
// with a query (a sign-in page's next=, a redirect_uri) has that nested
// query redacted too: Khoj's 303 to /login?next=<the original URL> carries
// the token of an unauthenticated DELETE /auth/token?token=… that way.
func redactQuery(raw string) string {
	return redactQueryDepth(raw, 0)
}

// maxNestedURLs bounds how deep redactQuery looks into URLs inside query
// values.
const maxNestedURLs = 3

func redactQueryDepth(raw string, depth int) string {
	if !queryHasCredential(raw, depth) {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, v, hasValue := strings.Cut(p, "=")
		if !hasValue {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if credentialParams[strings.ToLower(name)] {
			parts[i] = k + "=REDACTED"
		} else if nv, ok := redactNestedURL(v, depth); ok {
			parts[i] = k + "=" + nv
		}
	}
	return strings.Join(parts, "&")
}

// redactNestedURL redacts the query of a query value that is itself a URL
// with a query, and returns it re-encoded; ok is false when nothing needed
// redacting. A value that cannot be decoded but might hide a nested query
// is replaced by REDACTED rather than risk printing a secret.
func redactNestedURL(v string, depth int) (string, bool) {
	if depth >= maxNestedURLs || !mayNestQuery(v) {
		return v, false
	}
	dec, err := url.QueryUnescape(v)
	if err != nil {
		return "REDACTED", true
	}
	before, q, ok := strings.Cut(dec, "?")
	if !ok {
		return v, false
	}
	red := redactQueryDepth(q, depth+1)
	if red == q {
		return v, false
	}
	return url.QueryEscape(before + "?" + red), true
}

// mayNestQuery reports whether a raw query value may hold a URL with a
// query: a "?", escaped or not.
func mayNestQuery(v string) bool {
	return strings.Contains(v, "?") || strings.Contains(v, "%3F") || strings.Contains(v, "%3f")
}

// queryHasCredential reports whether a raw query string has a credential
// parameter, or (above the depth limit) a value that may nest one.
func queryHasCredential(raw string, depth int) bool {
	for raw != "" {
		var p string
		p, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(p, "=")
		if name, err := url.QueryUnescape(k); err == nil {
			k = name
		}
		if credentialParams[strings.ToLower(k)] || depth < maxNestedURLs && mayNestQuery(v) {
			return true
		}
	}
	return false
}

// redactString parses s as a URL and redacts it; text that is not a URL is
// returned as a fixed placeholder rather than risk printing a secret.
func redactString(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return redactURL(u)
}

package authclient

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// authorize puts auth's credential (none if auth is nil) on req, a request
// the client built and owns, and runs the server's check of the request
// that is about to be sent. What auth added to req (beyond what cl and the
// client set) is noted as a credential to mask. Do's calls and
// [Client.Transport] share it.
func (c *Client) authorize(req *http.Request, auth Authenticator, cl *call) error {
	if auth != nil {
		query, path := req.URL.RawQuery, req.URL.Path
		if err := auth.Authenticate(req); err != nil {
			return c.authError(err)
		}
		// Every authenticator's, not only a custom one's: noting a
		// session token on each use keeps it among the most recently
		// used credentials, however many one-off values (Header
		// options, minted signatures) other calls add. Only the
		// client's own static credential is known in all its forms.
		if !c.keptAuth(auth) {
			c.noteAuthCredentials(req, cl, query, path)
		}
	}
	if c.spec.checkRequest != nil {
		return c.spec.checkRequest(c, req)
	}
	return nil
}

// keptAuth reports whether auth is the client's own authenticator and of a
// kind that sends only what was kept in the secret set when it was set
// ([Client.setAuthenticator]): an API key, Basic credentials, a cookie.
// Noting what it put on a request would find nothing new; a per-call
// authenticator of the same kind is noted, its credential is not kept.
func (c *Client) keptAuth(auth Authenticator) bool {
	switch auth.(type) {
	case *keyAuth, *basicAuth, *cookieAuth:
		return auth == c.authenticator()
	}
	return false
}

// reauthenticate asks auth, if it is a [Reauthenticator], to renew the
// credential that rejected, the request the server turned away, carried.
// It reports whether a renewed credential is there to replay with; the
// error is the renewal's own failure, made safe to return.
func (c *Client) reauthenticate(ctx context.Context, auth Authenticator, rejected *http.Request) (bool, error) {
	ra, ok := auth.(Reauthenticator)
	if !ok {
		return false, nil
	}
	if err := ra.Reauthenticate(ctx, rejected); err != nil {
		return false, c.authError(err)
	}
	return true, nil
}

// authError makes an authenticator's failure safe to return: errors the
// client built are returned as they are; anything else is wrapped with the
// server name and scrubbed of the client's secrets.
func (c *Client) authError(err error) error {
	var e *Error
	var te *TransportError
	var ce *ConfigError
	if errors.As(err, &e) || errors.As(err, &te) || errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &authFailure{server: c.spec.server, msg: c.secrets.scrub(err.Error()), err: err}
}

// authFailure wraps an error from a user-supplied Authenticator.
type authFailure struct {
	server Server
	msg    string
	err    error
}

func (e *authFailure) Error() string {
	return "authclient: " + string(e.server) + ": authenticating request: " + e.msg
}
func (e *authFailure) Unwrap() error { return e.err }

// diagnose says, on an ErrUnauthorized error, which credential was
// rejected and what to check, from the request that carried it. The
// server's table may know more (Audiobookshelf decodes its tokens).
func (c *Client) diagnose(err error, auth Authenticator, req *http.Request) {
	if err == nil {
		return
	}
	e := errorOf(err)
	if e == nil || !errors.Is(e, ErrUnauthorized) {
		return
	}
	if e.Credential == "" {
		e.Credential = credentialKind(auth)
	}
	if c.spec.diagnose != nil {
		if cred, hint := c.spec.diagnose(c, auth, req); cred != "" {
			e.Credential = cred
			if hint != "" && e.Hint == "" {
				e.Hint = hint
			}
		}
	}
	if e.Hint == "" {
		e.Hint = describeCredential(auth)
	}
}

// noteAuthCredentials adds to the secret set, or marks as just used, every
// header value, query value and path segment the Authenticator put on req:
// the client built the request, so whatever differs from what it set
// itself is the authenticator's credential (a custom one's token, a
// session's current token). query and path are the request's before
// Authenticate. A value already in the set and recently used costs a map
// look-up.
func (c *Client) noteAuthCredentials(req *http.Request, cl *call, query, path string) {
	for k, vs := range req.Header {
		if c.builtHeader(cl, k, vs) {
			continue
		}
		for _, v := range vs {
			if c.secrets.note(v) {
				c.secrets.add(headerSecrets(k, v)...)
			}
		}
	}
	if req.URL.RawQuery != query {
		for p := range strings.SplitSeq(req.URL.RawQuery, "&") {
			if p == "" || hasPair(query, p) {
				continue
			}
			_, v, _ := strings.Cut(p, "=")
			if c.secrets.note(v) {
				dec, _ := url.QueryUnescape(v)
				c.secrets.add(v, dec)
			}
		}
	}
	if req.URL.Path != path {
		for seg := range strings.SplitSeq(req.URL.Path, "/") {
			if seg != "" && !hasSegment(path, seg) && c.secrets.note(seg) {
				c.secrets.add(seg)
			}
		}
	}
}

// builtHeader reports whether vs is what the client itself set for header
// k: the call's header, else its content type, else the client's headers.
func (c *Client) builtHeader(cl *call, k string, vs []string) bool {
	if want, ok := cl.header[k]; ok {
		return slices.Equal(want, vs)
	}
	if k == "Content-Type" && cl.ctype != "" {
		return len(vs) == 1 && vs[0] == cl.ctype
	}
	want, ok := c.headers[k]
	return ok && slices.Equal(want, vs)
}

// hasPair reports whether the raw query has the key=value pair p.
func hasPair(query, p string) bool {
	for q := range strings.SplitSeq(query, "&") {
		if q == p {
			return true
		}
	}
	return false
}

// hasSegment reports whether path has the segment seg.
func hasSegment(path, seg string) bool {
	for s := range strings.SplitSeq(path, "/") {
		if s == seg {
			return true
		}
	}
	return false
}

package authclient

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Transport returns an [http.RoundTripper] that sends requests as the
// client's own calls go: for other libraries that take a RoundTripper or
// an *http.Client (a websocket dialer, an SSE reader, a generated OpenAPI
// client). Most code wants [Client.HTTPClient], which also applies the
// client's redirect policy.
//
// For each request it:
//
//   - refuses, before any credential is added and with nothing sent, a
//     request for another origin (scheme, host and port of the base URL; a
//     Host field naming another host counts) or for a path outside the
//     base URL's path, in any encoding a proxy may decode (see [Client.Do]);
//     the error is a [*TransportError] that wraps [ErrInvalidPath] for a
//     path;
//   - adds the client's headers ([WithHeader], User-Agent, Accept) where
//     the request has none of that name, and the client's credential,
//     renewing a session first if it has expired;
//   - on an answer that rejects the credential (ErrUnauthorized's statuses
//     for the server, such as Khoj's 403, or a redirect to its sign-in
//     page), renews it once through a [Reauthenticator] and replays the
//     request, if the request has no body or can replay it (GetBody set,
//     as [http.NewRequest] does for bytes and strings); otherwise, or if
//     the renewal fails, the answer is returned as it is.
//
// Any answer is returned as a response, never turned into an error: a
// RoundTripper reports only requests that got no answer, as a
// [*TransportError] whose URL is redacted and whose text masks the
// client's credentials. The per-attempt timeout ([WithTimeout]) bounds the
// wait for the response headers only, so a long download, an event stream
// or a websocket (a 101 answer, whose Body is an io.ReadWriteCloser) is
// never cut. The layers of [WithMiddleware] see every request. There are
// no retries: those are [Client.Do]'s. Requests are cloned, never
// modified; the response's Request is the caller's request, without the
// credential. Close every response body, as with any RoundTripper.
func (c *Client) Transport() http.RoundTripper { return &authTransport{c: c} }

// HTTPClient returns a new [http.Client] that sends every request through
// [Client.Transport] and follows redirects by the client's policy: only
// for a GET or HEAD, only on the base URL's origin and under its path,
// never to the server's sign-in or error page, and never to a URL that
// holds one of the client's credentials; an unfollowed redirect is
// returned as the response. It has no cookie jar and no Timeout (which
// would cut long-lived bodies and websockets: bound a request with its
// context). Changing the returned client does not change c.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{Transport: c.Transport(), CheckRedirect: c.checkTransportRedirect}
}

// authTransport is the RoundTripper of [Client.Transport].
type authTransport struct{ c *Client }

var (
	errOtherHost   = errors.New("authclient: refusing to send a request whose Host is not the base URL's host")
	errOpaqueURL   = errors.New("authclient: refusing to send a request with an opaque URL")
	errOutsideBase = fmt.Errorf("%w: the request is outside the base URL's path, or has dot segments (in some encoding) or encoded control characters", ErrInvalidPath)
	errNilRequest  = errors.New("authclient: request or its URL is nil")
)

// RoundTrip sends req with the client's credentials; see [Client.Transport].
func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := t.c
	if req == nil || req.URL == nil {
		if req != nil && req.Body != nil {
			req.Body.Close()
		}
		return nil, errNilRequest
	}
	if err := c.guardRequest(req); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, c.transportError(req.Method, req.URL, err)
	}
	auth := c.authenticator()
	resp, sent, err := t.attempt(req, req.Body, auth)
	if err != nil || !c.rejectsCredential(resp, sent) || !replayable(req) {
		return resp, err
	}
	renewed, rerr := c.reauthenticate(req.Context(), auth, sent)
	if rerr != nil || !renewed {
		return resp, nil // the server's answer says more to the caller than the renewal's failure
	}
	body := req.Body
	if req.GetBody != nil && body != nil && body != http.NoBody {
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	drainClose(resp.Body)
	resp, _, err = t.attempt(req, body, auth)
	return resp, err
}

// attempt sends a clone of req with body and auth's credential through the
// client's transport, and returns the answer and the request that carried
// it.
func (t *authTransport) attempt(req *http.Request, body io.ReadCloser, auth Authenticator) (*http.Response, *http.Request, error) {
	c := t.c
	r := req.Clone(req.Context())
	r.Body = body
	if r.Header == nil {
		r.Header = make(http.Header, len(c.headers)+1)
	}
	for k, v := range c.headers {
		if _, ok := r.Header[k]; !ok {
			r.Header[k] = v[:len(v):len(v)] // shared, but an append can never write into it
		}
	}
	var cl call
	if auth != nil {
		cl.header = r.Header.Clone() // the caller's and the client's: not the authenticator's
	}
	if err := c.authorize(r, auth, &cl); err != nil {
		if body != nil {
			body.Close()
		}
		return nil, nil, err
	}
	resp, err := c.tr.RoundTrip(r)
	if err != nil {
		return nil, nil, c.transportError(req.Method, req.URL, err)
	}
	resp.Request = req
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// net/http's error for a Location it cannot parse quotes it;
		// mask any credential a careless server echoed there.
		if loc := resp.Header.Get("Location"); loc != "" {
			if _, perr := url.Parse(loc); perr != nil {
				resp.Header.Set("Location", c.secrets.scrub(loc))
			}
		}
	}
	return resp, r, nil
}

// guardRequest refuses a request the client's credentials must not go
// with: another origin (in its URL or its Host field), an opaque URL, or a
// path outside the base URL's path in any reading (see [underBase]).
func (c *Client) guardRequest(req *http.Request) error {
	if !c.sameOrigin(req.URL) {
		return errOtherOrigin
	}
	if req.Host != "" && !strings.EqualFold(req.Host, req.URL.Host) &&
		!c.tr.origin.same(&url.URL{Scheme: req.URL.Scheme, Host: req.Host}) {
		return errOtherHost
	}
	if req.URL.Opaque != "" {
		return errOpaqueURL
	}
	if _, ok := c.relativePath(req.URL); !ok {
		return errOutsideBase
	}
	return nil
}

// rejectsCredential reports whether resp, the answer to req, rejects the
// credential: a status in [ErrUnauthorized]'s category for the server, or
// a redirect to its sign-in page.
func (c *Client) rejectsCredential(resp *http.Response, req *http.Request) bool {
	if errors.Is(c.spec.kind(resp.StatusCode), ErrUnauthorized) {
		return true
	}
	if resp.StatusCode < 300 || resp.StatusCode >= 400 {
		return false
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return false
	}
	target, err := req.URL.Parse(loc)
	return err == nil && c.isLoginURL(target)
}

// replayable reports whether req can be sent again: it has no body, or
// GetBody to get a fresh copy of it.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// checkTransportRedirect is [Client.HTTPClient]'s redirect policy: the
// client's, and never to a URL that holds one of its credentials (net/http
// would quote that URL in the error of a later hop).
func (c *Client) checkTransportRedirect(req *http.Request, via []*http.Request) error {
	if u := req.URL.String(); c.secrets.scrub(u) != u {
		return http.ErrUseLastResponse
	}
	return c.checkRedirect(req, via)
}

package authclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"

	"github.com/hashicorp/go-retryablehttp"
)

// A call that makes one attempt (a POST or PATCH that is not
// [Idempotent], or any call of a client WithMaxRetries(0)) with no body or
// a body in memory is sent without the retry layer: its request is an
// http.Request like one built by hand, wrapped in the call's own
// retryablehttp.Request (no allocation), and [Client.sendOnce] does what
// retryablehttp.Client.Do does for a single attempt. That spares the
// layer's request, its two body closures and the no-retry marker on the
// context, less the GetBody closure http.NewRequest makes (net/http needs
// it to resend the body on a 307 or 308): 3 allocations. A streamed body
// keeps the layer, which calls its reader for each attempt.
//
// Of those, a call that no redirect can follow ([Client.checkRedirect]
// follows one only for a GET or HEAD, and never for a call that takes
// redirects as answers) is handed to the client's transport directly
// rather than through http.Client.Do, whose work for it would all be in
// view of a redirect: a copy of the request's headers, the closures that
// copy them, the list of hops (see [Client.roundTrip]).

// newOnceRequest builds the request of a one-attempt call for u.
func (c *Client) newOnceRequest(ctx context.Context, cl *call, u string) (*retryablehttp.Request, error) {
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return nil, err
	}
	cl.rreq = retryablehttp.Request{Request: hreq}
	return &cl.rreq, nil
}

// unfollowed reports whether no redirect of the call can be followed, so
// that http.Client.Do would send it once and return the answer as it
// came: checkRedirect answers ErrUseLastResponse to every redirect of a
// method other than GET and HEAD, and of a call that takes redirects as
// answers.
func (cl *call) unfollowed() bool {
	return cl.noRedirect || (cl.method != http.MethodGet && cl.method != http.MethodHead)
}

// sendOnce is retryablehttp.Client.Do for one attempt: the request hook,
// the attempt, the response hook for an answer, and the answer or error
// Do returns when CheckRetry says no (the context's error once it is done,
// as [Client.checkRetry] answers then).
func (c *Client) sendOnce(req *http.Request, cl *call) (*http.Response, error) {
	if c.rc.RequestLogHook != nil {
		c.rc.RequestLogHook(nil, req, 0)
	}
	var resp *http.Response
	var err error
	if cl.unfollowed() && !c.viaClientDo {
		resp, err = c.roundTrip(req)
	} else {
		resp, err = c.hc.Do(req)
	}
	if err == nil && c.rc.ResponseLogHook != nil {
		c.rc.ResponseLogHook(nil, resp)
	}
	if cerr := req.Context().Err(); cerr != nil {
		return resp, cerr
	}
	return resp, err
}

// roundTrip is http.Client.Do for a request none of whose redirects is
// followed, with the client's http.Client (no Jar, no Timeout): the
// transport's answer as it came, except that a transport error saying
// the server answered in plain HTTP is http.ErrSchemeMismatch, and an
// answer Do would have tried to follow is the error Do returns when its
// Location does not parse. Do's *url.Error around an error is left out:
// [newTransportError] would take it off again.
func (c *Client) roundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		if tlsErr, ok := err.(tls.RecordHeaderError); ok && string(tlsErr.RecordHeader[:]) == "HTTP/" {
			err = http.ErrSchemeMismatch
		}
		return nil, err
	}
	if loc, ok := redirectTarget(req, resp); ok {
		if _, perr := req.URL.Parse(loc); perr != nil {
			resp.Body.Close()
			return nil, errBadLocation
		}
	}
	return resp, nil
}

// redirectTarget returns the Location of an answer to req that
// http.Client.Do would try to follow (its redirectBehavior), and whether
// there is one.
func redirectTarget(req *http.Request, resp *http.Response) (string, bool) {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther:
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		if req.GetBody == nil && req.Body != nil && req.Body != http.NoBody {
			return "", false // Do cannot send the body again: the answer is final
		}
	default:
		return "", false
	}
	loc := resp.Header.Get("Location")
	return loc, loc != ""
}

package authclient

import (
	"bytes"
	"context"
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
// it to resend the body on a 307 or 308): 3 allocations. A streamed body keeps the layer, which calls its
// reader for each attempt.

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

// sendOnce is retryablehttp.Client.Do for one attempt: the request hook,
// the attempt, the response hook for an answer, and the answer or error
// Do returns when CheckRetry says no (the context's error once it is done,
// as [Client.checkRetry] answers then).
func (c *Client) sendOnce(req *http.Request) (*http.Response, error) {
	if c.rc.RequestLogHook != nil {
		c.rc.RequestLogHook(nil, req, 0)
	}
	resp, err := c.hc.Do(req)
	if err == nil && c.rc.ResponseLogHook != nil {
		c.rc.ResponseLogHook(nil, resp)
	}
	if cerr := req.Context().Err(); cerr != nil {
		return resp, cerr
	}
	return resp, err
}

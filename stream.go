package authclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Stream calls an endpoint like [Client.Do] and hands over the live
// response, for server-sent events, large downloads read at the caller's
// pace, and any body that is not one JSON value. in is a request body as
// for Do.
//
// Only a 2xx answer is returned (or, with [NoRedirect], a 3xx): its status,
// headers and Body, an [io.ReadCloser] the caller must close. Read the body
// to its end before closing it to return the connection to the pool;
// closing it early ends the connection and, for a call with a per-attempt
// timeout, releases that timeout's resources. The per-attempt timeout
// ([WithTimeout]) bounds only the wait for the response headers, never the
// reading of the body; ctx bounds both.
//
// Everything else is as for Do: the same authentication, retries before a
// response is handed over, redirect policy and origin guard, and the same
// errors: a non-2xx answer is an [*Error] (its body read up to a bound,
// credentials masked), no answer a [*TransportError].
//
// The response's Request describes the request without its credentials:
// its method, its URL redacted as the client prints URLs, and no headers.
func (c *Client) Stream(ctx context.Context, method, path string, in any, opts ...CallOption) (*http.Response, error) {
	cl, err := c.prepare(method, path, in, opts)
	if err != nil {
		return nil, err
	}
	cl.keep = true
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	if cl.resp == nil {
		return nil, c.transportError(cl.method, c.base, errNoResponse)
	}
	cl.resp.Request = c.uncredentialed(cl.resp.Request)
	return cl.resp, nil
}

// uncredentialed returns what a caller may see of a request the client
// sent: its method and redacted URL, its context, and no headers (they
// carry the credential). A URL that cannot be reparsed is left out.
func (c *Client) uncredentialed(req *http.Request) *http.Request {
	if req == nil {
		return nil
	}
	r := &http.Request{Method: req.Method, Header: http.Header{}, Host: req.Host}
	if u, err := url.Parse(c.redactedURL(req.URL)); err == nil {
		r.URL = u
	}
	return r.WithContext(req.Context())
}

// closeUnlessKept closes an answer's body after reading what is left of
// it, unless the call hands the answer over (Stream).
func closeUnlessKept(cl *call, resp *http.Response) {
	if cl.keep && cl.resp == resp {
		return
	}
	drainClose(resp.Body)
}

// copyBody streams a 2xx body into w. A failure while reading is a
// *TransportError (the answer broke off); a failure of w is returned
// wrapped, in an error that unwraps to it and names the request.
func (c *Client) copyBody(w io.Writer, resp *http.Response, req *http.Request) error {
	src := &readErrReader{r: resp.Body}
	if _, err := io.Copy(w, src); err != nil {
		if src.err != nil {
			return c.transportError(req.Method, req.URL, fmt.Errorf("reading the response body: %w", src.err))
		}
		return &WriteError{Server: c.spec.server, Method: req.Method, URL: c.redactedURL(req.URL), Err: maskErr(c, err)}
	}
	return nil
}

// maskErr returns err, or an error with the same chain whose text has the
// client's credentials masked.
func maskErr(c *Client, err error) error {
	if msg := err.Error(); c.secrets.scrub(msg) != msg {
		return &maskedError{msg: c.secrets.scrub(msg), err: err}
	}
	return err
}

// WriteError is returned by [Client.Do] when the io.Writer given as out
// failed while the answer was copied into it. It unwraps to the writer's
// error.
type WriteError struct {
	// Server is the server the client talks to.
	Server Server
	// Method is the HTTP method of the request.
	Method string
	// URL is the redacted request URL.
	URL string
	// Err is the writer's error.
	Err error
}

// Error returns "authclient: <server>: METHOD URL: writing the response
// body: cause".
func (e *WriteError) Error() string {
	return "authclient: " + string(e.Server) + ": " + e.Method + " " + e.URL + ": writing the response body: " + e.Err.Error()
}

// Unwrap returns the writer's error.
func (e *WriteError) Unwrap() error { return e.Err }

// readErrReader remembers its reader's error other than io.EOF.
type readErrReader struct {
	r   io.Reader
	err error
}

func (r *readErrReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return n, err
}

// Meta is the status and headers of an answer, filled by [ResponseMeta].
type Meta struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Header is the answer's header, as the server sent it (Set-Cookie and
	// Location included). Printing it may reveal a session cookie.
	Header http.Header
}

// Format prints the status and the header names only: header values may
// be credentials (Set-Cookie).
func (m Meta) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "authclient.Meta{StatusCode: %d, Header: [%s]}", m.StatusCode, strings.Join(m.headerNames(), " "))
}

// LogValue logs the status and header names, never header values.
func (m Meta) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("status", m.StatusCode), slog.String("headers", strings.Join(m.headerNames(), ",")))
}

func (m Meta) headerNames() []string {
	names := make([]string, 0, len(m.Header))
	for k := range m.Header {
		names = append(names, strconv.Quote(k))
	}
	slices.Sort(names)
	return names
}

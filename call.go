package authclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-retryablehttp"
)

// Context markers, set only on the calls that need them so ordinary calls
// allocate nothing for them.
type ctxKey int

const (
	keyNoRetry ctxKey = iota
	keyNoRedirect
	keyBody // the call's *reqBody, for a streamed body
)

// call describes one API call.
type call struct {
	method string
	path   string // relative to the base URL, escaped, no leading slash
	query  url.Values
	// queryShared: query is the caller's url.Values (Query), read only;
	// ownQuery copies it before the call adds to it.
	queryShared bool
	body        []byte
	bodyAny     any      // body as the retry layer is handed it: the caller's own []byte, not boxed again
	rbody       *reqBody // a streamed body (io.Reader, BodyFunc, *Form); body is then nil
	ctype       string
	header      http.Header // extra headers for this call
	out         any
	w           io.Writer // receives the raw 2xx body instead of out (see stream.go)
	meta        *Meta     // filled from every answer (ResponseMeta)
	keep        bool      // Stream: hand the live response over in resp
	resp        *http.Response
	answer      *http.Response // the last answer, for an error found in it after send returns (see newError)

	auth       Authenticator // overrides the client's; with noAuth unused
	noAuth     bool
	retry      bool // safe to repeat (set from the method, or by the operation)
	noRedirect bool // follow no redirect at all; a 3xx is then the answer
	noReauth   bool
	once       bool // one attempt, sent without the retry layer (sendonce.go)
	rreq       retryablehttp.Request

	// onResponse sees a successful answer before its body is decoded.
	onResponse func(resp *http.Response) error
	// onError may adjust the error built for a failed answer.
	onError func(e *Error)
	// errorHint explains a failed answer from its body (ErrorHint).
	errorHint func(body []byte) string
	// errorCode names a failed answer's error from its status and body
	// (ErrorCode).
	errorCode func(status int, body []byte) string

	limit io.LimitedReader // bounds the decoded answer

	secrets []string // credentials this call carries (Header values)

	page pageOptions // PageSize; only Paginate reads it
}

// jsonType is the Content-Type of the JSON bodies the client encodes.
const jsonType = "application/json"

func newCall(method, path string) *call {
	return &call{method: method, path: path, retry: idempotent(method)}
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

// jsonBody sets v, marshalled once, as the call's JSON body; the bytes are
// replayed as they are on every attempt.
func (cl *call) jsonBody(v any) error {
	switch b := v.(type) {
	case nil:
		return nil
	case BodyFunc, func() (io.ReadCloser, error), *Form, io.Reader:
		return cl.streamBody(v)
	case json.RawMessage:
		cl.body = b
	case []byte:
		cl.body, cl.bodyAny = b, v
	default:
		data, err := json.Marshal(v)
		if err != nil {
			return &ConfigError{Setting: "request body", Problem: "cannot be encoded as JSON: " + err.Error(), Err: err}
		}
		cl.body = data
	}
	cl.ctype = jsonType
	return nil
}

// ownQuery makes cl.query the call's own, to add to: made if there is
// none (room for n more keys), copied if it is the caller's.
func (cl *call) ownQuery(n int) {
	switch {
	case cl.query == nil:
		cl.query = make(url.Values, n)
	case cl.queryShared:
		q := make(url.Values, len(cl.query)+n)
		for k, vs := range cl.query {
			q[k] = slices.Clone(vs)
		}
		cl.query, cl.queryShared = q, false
	}
}

func (cl *call) setHeader(name, value string) {
	if cl.header == nil {
		cl.header = http.Header{}
	}
	cl.header[http.CanonicalHeaderKey(name)] = []string{value}
}

// send runs a call: builds the request, authenticates it, runs it through
// the retry layer and turns the answer into a result or an error. After an
// ErrUnauthorized answer it asks a Reauthenticator to renew the credential
// and replays the call once.
func (c *Client) send(ctx context.Context, cl *call) error {
	if ctx == nil {
		return configErr("context", "is nil (use context.Background())")
	}
	auth := cl.auth
	if auth == nil {
		auth = c.authenticator()
	}
	if cl.noAuth {
		auth = nil
	}
	if cl.auth != nil {
		c.secrets.add(secretsOf(cl.auth)...) // a sign-in's Basic, a key being verified
	}
	if len(cl.secrets) > 0 {
		c.secrets.add(cl.secrets...)
	}
	for replayed := false; ; replayed = true {
		req, err := c.newRequest(ctx, cl)
		if err != nil {
			return err
		}
		if err := c.authorize(req.Request, auth, cl); err != nil {
			return err
		}
		err = c.do(req, cl)
		if err == nil || replayed || cl.noReauth || !errors.Is(err, ErrUnauthorized) || !cl.rbody.canReplay() {
			// A body that cannot be sent again is not replayed: the
			// rejection is the answer.
			c.diagnose(err, auth, req.Request)
			return err
		}
		renewed, rerr := c.reauthenticate(ctx, auth, req.Request)
		if rerr != nil {
			// The renewal's own failure (wrong password, rate limit, no
			// network) says more than the rejection that triggered it.
			return rerr
		}
		if !renewed {
			c.diagnose(err, auth, req.Request)
			return err
		}
	}
}

// newRequest builds a call's request: for the retry layer, or for
// sendOnce (sendonce.go) when the call makes one attempt.
func (c *Client) newRequest(ctx context.Context, cl *call) (*retryablehttp.Request, error) {
	if cl.noRedirect {
		ctx = context.WithValue(ctx, keyNoRedirect, true)
	}
	u := requestURL(c.baseURL, cl.path, cl.query)
	var req *retryablehttp.Request
	var err error
	if cl.once = cl.rbody == nil && (!cl.retry || c.rc.RetryMax == 0); cl.once {
		req, err = c.newOnceRequest(ctx, cl, u)
	} else {
		req, err = c.newRetryableRequest(ctx, cl, u)
	}
	if err != nil {
		return nil, &ConfigError{Setting: "request", Problem: "cannot build " + cl.method + " " + redactString(u), Err: err}
	}
	h := req.Header
	for k, v := range c.headers {
		h[k] = v[:len(v):len(v)] // shared, but an append can never write into it
	}
	switch cl.ctype {
	case "":
	case jsonType:
		h["Content-Type"] = c.jsonContentType // shared, as c.headers' values are
	default:
		h["Content-Type"] = []string{cl.ctype}
	}
	for k, v := range cl.header {
		h[k] = v
	}
	return req, nil
}

// newRetryableRequest builds the request of a call the retry layer sends.
func (c *Client) newRetryableRequest(ctx context.Context, cl *call, u string) (*retryablehttp.Request, error) {
	if !cl.retry {
		ctx = context.WithValue(ctx, keyNoRetry, true)
	}
	var body any
	if cl.bodyAny != nil {
		body = cl.bodyAny
	} else if cl.body != nil {
		body = cl.body
	} else if cl.rbody != nil {
		ctx = context.WithValue(ctx, keyBody, cl.rbody)
		cl.rbody.building = true
		body = cl.rbody.readerFunc()
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return nil, err
	}
	if cl.rbody != nil && cl.rbody.building {
		cl.rbody.building = false           // from now on each call of the ReaderFunc is an attempt
		req.ContentLength = cl.rbody.length // -1, unknown: sent chunked, without net/http's probe read
		if req.ContentLength == 0 {
			req.ContentLength = -1 // 0 with a body would make net/http probe it by reading
		}
	}
	return req, nil
}

// do runs one request through the retry layer and checks the answer.
func (c *Client) do(req *retryablehttp.Request, cl *call) error {
	var resp *http.Response
	var err error
	if cl.once {
		resp, err = c.sendOnce(req.Request, cl)
	} else {
		resp, err = c.rc.Do(req)
	}
	if err != nil {
		if resp != nil {
			drainClose(resp.Body)
		}
		if berr := cl.rbody.failure(); berr != nil {
			err = fmt.Errorf("reading the request body: %w", berr)
		} else if ctxErr := req.Context().Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = ctxErr
		}
		return c.transportError(req.Method, req.URL, err)
	}
	cl.answer = resp
	// A cookie the server sets is a credential (a session), whoever reads
	// it (a [ResponseMeta], a [Client.Stream] caller): masked from the
	// moment it arrives.
	if len(resp.Header["Set-Cookie"]) > 0 {
		for _, ck := range resp.Cookies() {
			c.secrets.add(ck.Value)
		}
	}
	if cl.meta != nil {
		cl.meta.StatusCode, cl.meta.Header = resp.StatusCode, resp.Header
	}
	defer closeUnlessKept(cl, resp)
	if cl.noRedirect && resp.StatusCode >= 300 && resp.StatusCode < 400 && !c.redirectsToErrorPage(resp, req.Request) {
		// The caller asked for the redirect itself (a sign-in that answers
		// with a cookie and a Location); onResponse reads it.
		if cl.onResponse != nil {
			return cl.onResponse(resp)
		}
		cl.resp = resp
		return nil
	}
	if e := c.checkResponse(resp, req.Request); e != nil {
		if cl.onError != nil {
			cl.onError(e)
		}
		if cl.errorCode != nil {
			if code := c.secrets.serverText(cl.errorCode(e.StatusCode, e.Body)); code != "" {
				e.Code = truncate(code, maxMessage)
			}
		}
		if cl.errorHint != nil {
			// Masked before it is cleaned, as the server's own text is.
			if h := c.secrets.serverText(cl.errorHint(e.Body)); h != "" {
				e.Hint = truncate(h, maxMessage)
			}
		}
		return e
	}
	if cl.onResponse != nil {
		if err := cl.onResponse(resp); err != nil {
			return err
		}
	}
	if cl.keep {
		cl.resp = resp
		return nil
	}
	if cl.w != nil {
		return c.copyBody(cl.w, resp, req.Request)
	}
	// net/http sets Request.Response on a request it made to follow a
	// redirect.
	redirected := resp.Request != nil && resp.Request.Response != nil
	if cl.out == nil && !redirected {
		return nil
	}
	// An HTML page where JSON was expected, or at the end of a redirect
	// (an API answers its own URL), is a sign-in page served in its place.
	if err := expectJSON(resp); err != nil {
		return c.newError(resp, req.Request, ErrUnauthorized, err.Error())
	}
	if cl.out == nil {
		return nil
	}
	cl.limit = io.LimitedReader{R: resp.Body, N: maxJSONResponseLength} // in the call: no allocation
	if err := decodeJSON(&cl.limit, resp.ContentLength, cl.out); err != nil {
		msg := "decoding the JSON answer: " + err.Error()
		if errors.Is(err, io.EOF) {
			msg = "the answer has an empty body where JSON was expected"
		}
		return c.newError(resp, req.Request, ErrUnexpectedServer, msg)
	}
	return nil
}

// Do calls any endpoint of the server with the client's authentication,
// retries and error handling, for endpoints the SDK has no method for.
//
// path is resolved relative to the base URL (a leading "/" is ignored, so
// "/api/v1/libraries" on a client for "https://host/komga/" goes to
// "https://host/komga/api/v1/libraries"); it may not contain "." or ".."
// segments, in any encoding a server or proxy may decode ("%2e%2e",
// "..%2f", "%252e%252e", "..%5c", "..;"), nor encoded control characters,
// nor be an absolute URL.
//
// in is the request body:
//   - nil: none;
//   - a []byte or json.RawMessage: sent as it is, as JSON, and replayed on
//     retries without copying;
//   - an [io.Reader]: sent as it is, streamed, never buffered or closed, as
//     application/octet-stream unless [ContentType] says otherwise. It is
//     replayed on a retry or after a renewed sign-in only if it is an
//     [io.Seeker] (each attempt seeks back to where it was when the call
//     started); any other reader is sent once: once it was read from, the
//     call is not retried, and an ErrUnauthorized answer is returned rather
//     than replayed;
//   - a [BodyFunc]: called for each attempt, like [http.Request.GetBody];
//   - a [*Form]: a multipart upload, streamed;
//   - anything else: encoded as JSON.
//
// A read error of the body fails the call with a [*TransportError] that
// unwraps to it, and the call is not retried.
//
// out receives the answer: nil discards it; an [io.Writer] receives the raw
// 2xx body, streamed with io.Copy and not checked for JSON (for downloads);
// anything else is a pointer the JSON answer is decoded into. For the live
// response (server-sent events, a body to read at the caller's pace) use
// [Client.Stream]; for the status and headers, [ResponseMeta].
//
// GET, HEAD, PUT and DELETE calls are retried; POST and PATCH only with
// [Idempotent].
//
// Errors: [*Error] for an HTTP failure, [*TransportError] when no answer
// came (or the answer's body broke off while it was copied to out),
// [ErrInvalidPath] for a bad path, [*ConfigError] for a bad argument.
func (c *Client) Do(ctx context.Context, method, path string, in, out any, opts ...CallOption) error {
	cl, err := c.prepare(method, path, in, opts)
	if err != nil {
		return err
	}
	if w, ok := out.(io.Writer); ok {
		cl.w = w
	} else {
		cl.out = out
	}
	err = c.send(ctx, cl)
	releaseCall(cl)
	return err
}

// callPool recycles the calls of [Client.Do], which nothing keeps once
// it returns: the answer's body is closed and the error holds none of it.
var callPool = sync.Pool{New: func() any { return new(call) }}

// pooledCall is newCall for a call that is given back with releaseCall.
func pooledCall(method, path string) *call {
	cl := callPool.Get().(*call)
	cl.method, cl.path, cl.retry = method, path, idempotent(method)
	return cl
}

// releaseCall clears cl and gives it back to the pool.
func releaseCall(cl *call) {
	*cl = call{}
	callPool.Put(cl)
}

// prepare builds the call of [Client.Do] and [Client.Stream].
func (c *Client) prepare(method, path string, in any, opts []CallOption) (*call, error) {
	if method == "" || strings.ContainsAny(method, " \t\r\n") {
		return nil, configErr("Do", "invalid method")
	}
	p, rawQuery, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	cl := pooledCall(strings.ToUpper(method), p)
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, fmt.Errorf("%w: malformed query string", ErrInvalidPath)
		}
		cl.query = q
	}
	if err := cl.jsonBody(in); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(cl); err != nil {
			return nil, err
		}
	}
	return cl, nil
}

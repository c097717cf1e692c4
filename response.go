package authclient

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
)

// expectJSON rejects an HTML page where JSON was expected: on these servers
// that is a sign-in page served in place of the API.
func expectJSON(resp *http.Response) error {
	mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	mt = strings.TrimSpace(mt)
	if strings.EqualFold(mt, "text/html") || strings.EqualFold(mt, "application/xhtml+xml") {
		return errors.New("the server answered with an HTML page where JSON was expected (a sign-in page?)")
	}
	return nil
}

// checkResponse turns an answer that is not a success into an *Error: any
// non-2xx status, and any redirect the client did not follow. It reads at
// most 64 KiB of the body. The category comes from the server's status table;
// a redirect to the server's sign-in page is ErrUnauthorized, one to its
// error page ErrUnavailable, any other unfollowed redirect ErrRedirect.
func (c *Client) checkResponse(resp *http.Response, req *http.Request) *Error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := c.newError(resp, req, c.spec.kind(resp.StatusCode), "")
	body := readErrorBody(resp.Body)
	e.Body = body
	msg, code := rawErrorBody(resp.Header.Get("Content-Type"), body)
	e.Message, e.Code = c.secrets.serverText(msg), c.secrets.serverText(code)
	if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		e.RetryAfter = ra
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		c.classifyRedirect(e, resp, req)
	}
	return e
}

// readErrorBody reads an error answer's body, up to maxErrorBody bytes,
// into a pooled buffer and returns a copy of exactly its size: one
// allocation, where io.ReadAll of an io.LimitReader makes two or more. A
// read error ends the body where it broke off.
func readErrorBody(r io.Reader) []byte {
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	buf, _ := readUpTo(r, (*bp)[:0], maxErrorBody, nil)
	*bp = buf[:cap(buf)] // drainClose reads into the whole slice
	if len(buf) == 0 {
		return []byte{}
	}
	return bytes.Clone(buf)
}

// drainClose reads what is left of a body, up to a limit, so the
// connection can be reused (a chunked answer's last chunk is often still
// unread after decoding), then closes it. Past the limit, closing the
// connection is cheaper than reading on.
func drainClose(body io.ReadCloser) {
	bp := bodyBufs.Get().(*[]byte)
	for n, reads := 0, 0; n < maxDrain && reads < 1024; reads++ {
		k, err := body.Read(*bp)
		n += k
		if err != nil {
			break
		}
	}
	bodyBufs.Put(bp)
	_ = body.Close()
}

// bodyBufs are the buffers bodies are read into: drained (the whole
// slice), error bodies and JSON answers (from the start, growing). A
// buffer is put back at its full length.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

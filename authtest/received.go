package authtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	// ReceivedMax is how many requests a fake keeps for [Server.Received]:
	// the last ReceivedMax, older ones are dropped.
	ReceivedMax = 256
	// ReceivedBodyMax is how many bytes of each request body a fake keeps
	// for [Server.Received]; [Request.BodyTruncated] reports a longer body.
	ReceivedBodyMax = 64 << 10
)

// Masked replaces the value of a credential header, cookie or query
// parameter in a [Request].
const Masked = "[MASKED]"

// Request is one request a fake received, as recorded for
// [Server.Received]. Credentials are masked: the values of Authorization,
// Proxy-Authorization, Cookie, X-API-Key, X-Auth-Token and the fakes'
// proxy-auth headers become [Masked] (for Cookie, each cookie's value, so
// the names stay visible; any other header whose name mentions auth, token,
// key or secret too), as do the query parameters token, api_key, apikey,
// access_token, refresh_token, code, code_verifier and password. In a JSON
// or form-encoded body that parses, the values of fields named like a
// credential (password, newPassword, token, refreshToken, api_key, code,
// secret, …, at any depth) are masked too and the body is re-encoded;
// a body that does not parse (or was cut) is kept as sent. A Request
// prints (%v, %+v, %#v, %s) without its body.
type Request struct {
	// Method is the request method.
	Method string
	// Path is the path relative to the fake's prefix, starting with "/".
	Path string
	// Query is the query, with credential parameters masked.
	Query url.Values
	// Header is the request header, with credential headers masked.
	Header http.Header
	// Body is the first [ReceivedBodyMax] bytes of the body.
	Body []byte
	// BodyTruncated reports that the body was longer than Body.
	BodyTruncated bool
	// Time is when the fake received the request, by the fake's [Clock].
	Time time.Time
}

// Format prints the request without its body: the method, the path, the
// masked query and header, and the body's length.
func (q Request) Format(f fmt.State, verb rune) {
	cut := ""
	if q.BodyTruncated {
		cut = ", cut"
	}
	fmt.Fprintf(f, "%s %s?%s %v (body %d bytes%s)", q.Method, q.Path, q.Query.Encode(), q.Header, len(q.Body), cut)
}

// recorder keeps the last requests of a fake.
type recorder struct {
	mu   sync.Mutex
	reqs []Request // a ring of up to ReceivedMax entries
	next int
}

func newRecorder() *recorder { return &recorder{} }

var maskedHeaders = []string{"Authorization", "Proxy-Authorization", "X-Api-Key", "X-Auth-Token", "X-Komga-Password"}

var maskedParams = map[string]bool{"token": true, "api_key": true, "apikey": true, "access_token": true,
	"refresh_token": true, "code": true, "password": true, "code_verifier": true}

// record stores r, replacing its body with a reader that replays what was
// read, so the handlers still see all of it.
func (rc *recorder) record(r *http.Request, now time.Time) {
	q := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Time: now}
	if q.Header == nil {
		q.Header = http.Header{}
	}
	for _, name := range maskedHeaders {
		if vs, ok := q.Header[name]; ok {
			for i := range vs {
				vs[i] = Masked
			}
		}
	}
	for name, vs := range q.Header {
		if strings.Contains(strings.ToLower(name), "auth") || strings.Contains(strings.ToLower(name), "token") ||
			strings.Contains(strings.ToLower(name), "secret") || strings.Contains(strings.ToLower(name), "key") {
			for i := range vs {
				vs[i] = Masked
			}
		}
	}
	if cs := r.Cookies(); len(cs) > 0 {
		parts := make([]string, 0, len(cs))
		for _, c := range cs {
			parts = append(parts, c.Name+"="+Masked)
		}
		q.Header["Cookie"] = []string{strings.Join(parts, "; ")}
	} else if _, ok := q.Header["Cookie"]; ok {
		q.Header["Cookie"] = []string{Masked}
	}
	q.Query, _ = url.ParseQuery(r.URL.RawQuery)
	if q.Query == nil {
		q.Query = url.Values{}
	}
	for name, vs := range q.Query {
		if maskedParams[strings.ToLower(name)] {
			for i := range vs {
				vs[i] = Masked
			}
		}
	}
	if r.Body != nil && r.Body != http.NoBody {
		head, err := io.ReadAll(io.LimitReader(r.Body, ReceivedBodyMax+1))
		if len(head) > ReceivedBodyMax {
			q.Body, q.BodyTruncated = bytes.Clone(head[:ReceivedBodyMax]), true
		} else {
			q.Body = maskBody(r.Header.Get("Content-Type"), bytes.Clone(head))
		}
		r.Body = replayBody{Reader: io.MultiReader(bytes.NewReader(head), errReader{err}, r.Body), Closer: r.Body}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) < ReceivedMax {
		rc.reqs = append(rc.reqs, q)
		return
	}
	rc.reqs[rc.next] = q
	rc.next = (rc.next + 1) % ReceivedMax
}

type replayBody struct {
	io.Reader
	io.Closer
}

// errReader returns err (nil: nothing, io.EOF) once the recorded head of a
// body is replayed, so a read error is not hidden from the handler.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}

func (rc *recorder) list() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]Request, 0, len(rc.reqs))
	for i := range rc.reqs {
		q := rc.reqs[(rc.next+i)%len(rc.reqs)]
		q.Header, q.Query, q.Body = q.Header.Clone(), cloneValues(q.Query), bytes.Clone(q.Body)
		out = append(out, q)
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Received returns a copy of the last [ReceivedMax] requests the fake
// received, oldest first, with credentials masked (see [Request]). Requests
// that failed through [Faults] are included. To record a body, the fake
// reads its first [ReceivedBodyMax] bytes before handling the request (and
// replays them to the handler, which still sees the whole body). It is safe
// for concurrent use; the copy is the caller's.
func (s *Server) Received() []Request { return s.rec.list() }

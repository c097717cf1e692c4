// Package authtest provides in-process fake servers for testing code that uses
// [github.com/selfhost-sdk/authclient]: Komga, Audiobookshelf, ComfyUI (with the
// API-key patch) and Khoj. Each fake is an [httptest.Server] that follows the
// wire behaviour of the real server closely enough for an SDK to be tested
// against it: the same paths, status codes, headers and error bodies,
// including the quirks (Khoj's 403 for a bad token, Audiobookshelf's
// plain-text 401 without a content type, and so on).
//
// Every fake can be mounted under a path prefix (as if behind a reverse proxy),
// can run on an injectable [Clock], and has fault knobs ([Faults]) to fail the
// next requests with a status, a Retry-After header, added latency or a
// connection reset.
//
// A fake is safe for concurrent use. Close it when done:
//
//	srv := authtest.NewKomga(authtest.WithPrefix("/komga"))
//	defer srv.Close()
//	srv.AddUser("admin@example.org", "secret", "ADMIN")
//	c, err := authclient.New(authclient.Komga, srv.URL, authclient.WithLogin("admin@example.org", "secret"))
//
// The fakes are for tests and demos only: they keep everything in memory and
// make no attempt to be secure.
package authtest

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a running fake server. Its embedded fields are shared by every
// fake in this package.
type Server struct {
	// URL is the base URL of the fake, including the path prefix, and always
	// ends in "/" (for example "http://127.0.0.1:41234/komga/").
	URL string

	// HTTP is the underlying test server.
	HTTP *httptest.Server

	// Faults injects failures into the next requests.
	Faults *Faults

	// Clock is the time source of the fake (token expiry, rate-limit windows,
	// code expiry). Advance it to simulate time passing.
	Clock *Clock

	prefix string

	mu     sync.Mutex
	counts map[string]int
	last   map[string]http.Header
}

// Close shuts the fake down and closes its connections.
func (s *Server) Close() { s.HTTP.Close() }

// Requests reports how many requests the fake has received for method and
// path, where path is relative to the prefix and starts with "/" (for example
// Requests("GET", "/api/v2/users/me")). Requests that failed through [Faults]
// are counted too.
func (s *Server) Requests(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method+" "+path]
}

// LastHeader returns a copy of the headers of the last request the fake
// received for method and path (relative to the prefix), or nil if there was
// none. Tests use it to check what a client sent.
func (s *Server) LastHeader(method, path string) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[method+" "+path].Clone()
}

// TotalRequests reports how many requests the fake has received in all.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.counts {
		n += v
	}
	return n
}

// Option configures a fake server.
type Option func(*config)

type config struct {
	prefix string
	clock  *Clock
	tls    bool
}

// WithPrefix mounts the fake under a path prefix such as "/komga", as a
// reverse proxy would. Requests outside the prefix get a 500 that says so,
// which catches clients that build absolute paths instead of joining them to
// the base URL. (The Audiobookshelf fake instead rewrites such paths, as the
// real server does with its router base path.)
func WithPrefix(prefix string) Option {
	return func(c *config) { c.prefix = "/" + strings.Trim(prefix, "/") }
}

// WithClock makes the fake read time from clock instead of the wall clock.
func WithClock(clock *Clock) Option {
	return func(c *config) { c.clock = clock }
}

// WithTLS serves the fake over HTTPS with a self-signed certificate. Use
// srv.HTTP.Client() (or its Transport) to trust it.
func WithTLS() Option {
	return func(c *config) { c.tls = true }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.prefix == "/" {
		c.prefix = ""
	}
	if c.clock == nil {
		c.clock = NewClock(time.Time{})
	}
	return c
}

// prefixMode says what happens to a request outside the prefix.
type prefixMode int

const (
	prefixStrict  prefixMode = iota // 500: the client forgot the base path
	prefixRewrite                   // treat it as if it were under the prefix
)

// start wraps h with prefix handling, request counting and fault injection
// and starts it on a loopback port.
func start(h http.Handler, cfg config, mode prefixMode) *Server {
	s := &Server{
		Faults: &Faults{},
		Clock:  cfg.clock,
		prefix: cfg.prefix,
		counts: map[string]int{},
		last:   map[string]http.Header{},
	}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if s.prefix != "" {
			// Outside the prefix, prefixRewrite uses the path as is, like
			// Audiobookshelf's router base path rewrite.
			var under bool
			if path, under = stripPrefix(path, s.prefix); !under && mode != prefixRewrite {
				http.Error(w, "authtest: request to "+path+" escaped the base path "+s.prefix+
					"/; join endpoint paths to the base URL instead of using absolute paths", http.StatusInternalServerError)
				return
			}
			if path == "" {
				path = "/"
			}
			r2 := r.Clone(r.Context())
			r2.URL.Path = path
			r2.URL.RawPath = ""
			r = r2
		}
		s.mu.Lock()
		s.counts[r.Method+" "+path]++
		s.last[r.Method+" "+path] = r.Header.Clone()
		s.mu.Unlock()
		if s.Faults.apply(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
	if cfg.tls {
		s.HTTP = httptest.NewTLSServer(wrapped)
	} else {
		s.HTTP = httptest.NewServer(wrapped)
	}
	s.URL = s.HTTP.URL + s.prefix + "/"
	return s
}

// Faults injects failures into the requests a fake receives. The zero value
// injects nothing. Its methods are safe for concurrent use.
type Faults struct {
	mu         sync.Mutex
	failN      int
	failStatus int
	retryAfter string
	failPath   string
	resetN     int
	latency    time.Duration
}

// FailNext makes the next n requests fail with status and a short plain-text
// body, without reaching the fake's handlers. A non-negative retryAfter
// adds a Retry-After header with that many whole seconds; pass -1 to send none.
func (f *Faults) FailNext(n, status int, retryAfter time.Duration) {
	f.FailNextOn("", n, status, retryAfter)
}

// FailNextOn is like [Faults.FailNext] but only counts and fails requests
// whose path (relative to the prefix) equals path. An empty path matches all.
func (f *Faults) FailNextOn(path string, n, status int, retryAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failN, f.failStatus, f.failPath = n, status, path
	f.retryAfter = ""
	if retryAfter >= 0 {
		f.retryAfter = strconv.FormatInt(int64(retryAfter/time.Second), 10)
	}
}

// ResetNext makes the next n requests fail by closing the connection without
// an answer, as a crashed server or a flaky proxy would.
func (f *Faults) ResetNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetN = n
}

// SetLatency delays every request by d before it is handled (0 turns it off).
func (f *Faults) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// apply injects the configured fault, if any, and reports whether the request
// was answered (or dropped) by it.
func (f *Faults) apply(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	latency := f.latency
	reset := false
	if f.resetN > 0 {
		f.resetN--
		reset = true
	}
	status, retryAfter := 0, ""
	if !reset && f.failN > 0 && (f.failPath == "" || f.failPath == r.URL.Path) {
		f.failN--
		status, retryAfter = f.failStatus, f.retryAfter
	}
	f.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	if reset {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // send RST, not FIN
				}
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	}
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(http.StatusText(status)))
		return true
	}
	return false
}

// Clock is a time source for the fakes. A Clock made with a zero start time
// follows the wall clock, shifted by whatever [Clock.Advance] added; one made
// with a non-zero start time is frozen at that time until advanced. Its
// methods are safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	frozen bool
	t      time.Time
	offset time.Duration
}

// NewClock returns a clock frozen at start, or following the wall clock when
// start is the zero time.
func NewClock(start time.Time) *Clock {
	return &Clock{frozen: !start.IsZero(), t: start}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return c.t
	}
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.t = c.t.Add(d)
	} else {
		c.offset += d
	}
}

// marshalCompact encodes v as the fakes' servers do (Node's JSON.stringify,
// Python's json.dumps with compact separators, FastAPI): no HTML escaping
// and no trailing newline.
func marshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

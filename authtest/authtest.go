// Package authtest provides in-process fake servers for testing code that uses
// [github.com/selfhost-sdk/authclient]: Komga, Audiobookshelf, ComfyUI (with the
// API-key patch) and Khoj. Each fake is an [httptest.Server] that follows the
// wire behaviour of the real server closely enough for an SDK to be tested
// against it: the same paths, status codes, headers and error bodies,
// including the quirks (Khoj's 403 for a bad token, Audiobookshelf's
// plain-text 401 without a content type, and so on).
//
// Every fake can be mounted under a path prefix (as if behind a reverse proxy),
// can run on an injectable [Clock] (share it with the client through
// authclient.WithClock(clock.Now)), and has fault knobs ([Faults]) to fail
// the next requests, or the next ones matching a method and path prefix,
// with a status, a Retry-After header, added latency or a connection reset.
//
// A fake can be extended with routes it does not model ([Server.Handle]),
// served behind its own authentication ([UserFrom] tells the handler who is
// signed in), and records what it received, with credentials masked
// ([Server.Received]).
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
	"net/http"
	"net/http/httptest"
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
	ext    *extRoutes
	rec    *recorder

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
	ext    *extRoutes
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
	c.ext = &extRoutes{
		owns: func(string, string) bool { return false },
		auth: func(http.ResponseWriter, *http.Request) (User, bool, bool) { return User{}, false, true },
	}
	return c
}

// prefixMode says what happens to a request outside the prefix.
type prefixMode int

const (
	prefixStrict  prefixMode = iota // 500: the client forgot the base path
	prefixRewrite                   // treat it as if it were under the prefix
)

// start wraps h with prefix handling, request counting and recording, fault
// injection and the user routes, and starts it on a loopback port. The fake
// must have set cfg.ext.owns and cfg.ext.auth.
func start(h http.Handler, cfg config, mode prefixMode) *Server {
	s := &Server{
		Faults: &Faults{},
		Clock:  cfg.clock,
		prefix: cfg.prefix,
		ext:    cfg.ext,
		rec:    newRecorder(),
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
		s.rec.record(r, s.Clock.Now())
		if s.Faults.apply(w, r) {
			return
		}
		if s.ext.serve(w, r, path) {
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

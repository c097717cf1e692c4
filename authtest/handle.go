package authtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// This file holds the routes a user adds to a fake ([Server.Handle] and
// [Server.HandlePublic]): one mechanism for the four fakes. Each fake gives
// it two things: owns, whether one of its own routes answers a method and
// path, and auth, its authentication, which answers an unauthenticated
// request exactly as the real server does.

// User is the account a request to a route added with [Server.Handle] was
// authenticated as. See [UserFrom].
type User struct {
	// ID is the account's id on the server (Komga's TSID, Audiobookshelf's
	// UUID, Khoj's numeric id as a string). Empty for ComfyUI.
	ID string
	// Name is the account's user name (Komga's email, Audiobookshelf's
	// username, Khoj's email). Empty for ComfyUI, which has no accounts.
	Name string
}

type userKey struct{}

// UserFrom returns the account the request was authenticated as, for a
// handler added with [Server.Handle]. ok is false in a handler added with
// [Server.HandlePublic] and on ComfyUI, which has one API key and no
// accounts (there a request that reaches the handler carried the key, or
// needed none).
func UserFrom(ctx context.Context) (u User, ok bool) {
	u, ok = ctx.Value(userKey{}).(User)
	return u, ok
}

// ErrRouteTaken is returned by [Server.Handle] and [Server.HandlePublic]
// when the fake already serves the method and pattern itself.
var ErrRouteTaken = errors.New("authtest: the fake already serves this route")

// userRoute is a route added by the user.
type userRoute struct {
	public bool
	h      http.Handler
	names  []string // the parameter names, in order
}

// extRoutes is the user routes of one fake.
type extRoutes struct {
	mu sync.RWMutex
	rt router[userRoute]

	// trimSlash also matches a path with one trailing slash (Express).
	trimSlash bool
	// alias is a path prefix under which every route answers too
	// (ComfyUI's "/api" copies of its routes); "" for none.
	alias string

	// owns reports whether the fake's own routes answer method and path
	// (relative to the prefix). Set by the fake before it starts.
	owns func(method, path string) bool
	// auth authenticates r as the fake does. When the request is not
	// authenticated it writes the real server's answer and returns ok
	// false. Set by the fake before it starts.
	auth func(w http.ResponseWriter, r *http.Request) (u User, hasUser, ok bool)
}

// Handle adds a route to the fake for its own tests, for an endpoint the
// fake does not model. pattern is a path relative to the prefix, starting
// with "/", whose segments are literal or a parameter (":name", read in h
// with r.PathValue("name")); method is an HTTP method ("GET" also answers
// HEAD). The fake matches the pattern as its server does: Audiobookshelf's
// Express case-insensitively and with or without a trailing slash;
// ComfyUI both at the pattern and under "/api" (as ComfyUI serves the
// routes of custom nodes); Komga and Khoj exactly.
//
// The route is served under the fake's prefix, after [Faults] and after the
// fake's own authentication, so a request without a valid credential gets
// exactly the answer the real server gives an unauthenticated request:
//
//   - Komga: session (cookie or X-Auth-Token), Basic or X-API-Key; otherwise
//     401 with WWW-Authenticate and Spring Boot's error JSON. A new session
//     created by a Basic login is returned as Komga does.
//   - Audiobookshelf: a JWT or API key (Bearer, or ?token=); otherwise a
//     bare 401 "Unauthorized" with no content type.
//   - ComfyUI: the simulated proxy's checks, then the API-key patch (the
//     first key source present wins: Bearer, X-API-Key, ?api_key=) with its
//     exempt paths; otherwise 401 with the patch's JSON.
//   - Khoj: session cookie or Bearer token; otherwise 403
//     {"detail":"Forbidden"} under /api/ and a 303 to the login page
//     elsewhere, as Khoj's requires() does.
//
// In h, [UserFrom] tells who is signed in. h runs without the fake's lock,
// so it may call the fake's methods.
//
// Precedence: the fake's own routes always win. Handle refuses, with
// [ErrRouteTaken], a method and pattern the fake already serves (its sign-in,
// refresh and logout endpoints included), and a route with a parameter
// never answers a path one of the fake's own routes answers. Among user
// routes, the first added wins. Handle also returns an error for a malformed
// method or pattern or a nil handler. It is safe for concurrent use.
func (s *Server) Handle(method, pattern string, h http.Handler) error {
	return s.ext.add(method, pattern, h, false)
}

// HandlePublic is like [Server.Handle] but the route needs no
// authentication: the fake's credential checks do not run, and [UserFrom]
// reports no user. [Faults] still apply.
func (s *Server) HandlePublic(method, pattern string, h http.Handler) error {
	return s.ext.add(method, pattern, h, true)
}

func (e *extRoutes) add(method, pattern string, h http.Handler, public bool) error {
	if h == nil {
		return errors.New("authtest: Handle: nil handler")
	}
	if method == "" || strings.ContainsFunc(method, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) }) {
		return fmt.Errorf("authtest: Handle: bad method %q", method)
	}
	if !strings.HasPrefix(pattern, "/") || strings.ContainsAny(pattern, "?#") {
		return fmt.Errorf("authtest: Handle: pattern %q must be a path starting with \"/\"", pattern)
	}
	var names []string
	for _, seg := range strings.Split(pattern, "/") {
		if name, ok := strings.CutPrefix(seg, ":"); ok {
			if name == "" {
				return fmt.Errorf("authtest: Handle: pattern %q has a parameter without a name", pattern)
			}
			names = append(names, name)
		}
	}
	if e.owns(method, pattern) {
		return fmt.Errorf("%w: %s %s", ErrRouteTaken, method, pattern)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rt.handle(method, pattern, userRoute{public: public, h: h, names: names})
	return nil
}

// serve answers r from a user route and reports whether one matched. path
// is relative to the prefix.
func (e *extRoutes) serve(w http.ResponseWriter, r *http.Request, path string) bool {
	if e.owns(r.Method, path) {
		return false
	}
	p := path
	if e.trimSlash && len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	e.mu.RLock()
	m := e.rt.lookup(r.Method, p)
	if rest, ok := strings.CutPrefix(p, e.alias+"/"); !m.found && e.alias != "" && ok {
		m = e.rt.lookup(r.Method, "/"+rest)
	}
	e.mu.RUnlock()
	if !m.found {
		return false
	}
	ctx := r.Context()
	if !m.h.public {
		u, hasUser, ok := e.auth(w, r)
		if !ok {
			return true
		}
		if hasUser {
			ctx = context.WithValue(ctx, userKey{}, u)
		}
	}
	r2 := r.WithContext(ctx)
	for i, name := range m.h.names {
		r2.SetPathValue(name, m.params[i])
	}
	m.h.h.ServeHTTP(w, r2)
	return true
}

package authtest

// The Audiobookshelf fake's request handling: Express's routing (with the
// auth middleware and the auth rate limiter in front) and the public pages.

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

type absReq struct {
	r      *http.Request
	query  url.Values
	body   map[string]any
	now    time.Time
	params []string
	user   *absUser
}

// absRoute is a handler and whether the auth rate limiter guards it.
type absRoute struct {
	limited bool
	h       func(*absReq) *absResp
}

// buildRoutes is the routing table. Express matches paths case-insensitively.
func (st *absState) buildRoutes() *router[absRoute] {
	rs := &router[absRoute]{fold: true}
	add := func(method, path string, limited bool, h func(*absReq) *absResp) {
		rs.handle(method, path, absRoute{limited: limited, h: h})
	}
	add("GET", "/", false, st.hIndex)
	add("GET", "/login", false, st.hIndex)
	add("GET", "/status", false, st.hStatus)
	add("GET", "/ping", false, st.hPing)
	add("GET", "/healthcheck", false, st.hHealth)
	add("POST", "/init", false, st.hInit)
	add("POST", "/login", true, st.hLogin)
	add("POST", "/auth/refresh", true, st.hRefresh)
	add("POST", "/logout", false, st.hLogout)
	add("GET", "/auth/openid", true, st.hOpenID)
	add("GET", "/auth/openid/mobile-redirect", true, st.hMobileRedirect)
	add("GET", "/auth/openid/callback", true, st.hOpenIDCallback)
	add("GET", "/fake-idp/authorize", false, st.hIDPAuthorize)
	add("GET", "/fake-idp/logout", false, st.hIDPLogout)
	add("GET", "/fake-idp/.well-known/openid-configuration", false, st.hIDPConfig)
	add("GET", "/api/me", false, st.hMe)
	add("GET", "/api/me/sessions", false, st.hMeSessions)
	add("DELETE", "/api/me/sessions/:id", false, st.hDeleteMeSession)
	add("PATCH", "/api/me/password", true, st.hMePassword)
	add("POST", "/api/authorize", false, st.hAuthorize)
	add("GET", "/api/libraries", false, st.hLibraries)
	add("GET", "/api/libraries/:id", false, st.hLibrary)
	add("GET", "/api/libraries/:id/items", false, st.hLibraryItems)
	add("GET", "/api/items/:id/cover", false, st.hNotFound)
	add("GET", "/api/authors/:id/image", false, st.hNotFound)
	add("GET", "/api/api-keys", false, st.hListKeys)
	add("POST", "/api/api-keys", false, st.hCreateKey)
	add("PATCH", "/api/api-keys/:id", false, st.hUpdateKey)
	add("DELETE", "/api/api-keys/:id", false, st.hDeleteKey)
	return rs
}

// ServeHTTP answers one request. Everything but reading the body happens
// under the lock; the response is written after it is released.
func (st *absState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st.handle(r).write(w)
}

func (st *absState) handle(r *http.Request) *absResp {
	body, errResp := absParseBody(r)
	if errResp != nil {
		return errResp
	}
	q := &absReq{r: r, query: r.URL.Query(), body: body}

	st.mu.Lock()
	defer st.mu.Unlock()
	q.now = st.clock.Now()

	path := r.URL.Path
	if len(path) > 1 && strings.HasSuffix(path, "/") {
		path = path[:len(path)-1] // Express routing is not strict about it
	}
	if (path == "/api" || strings.HasPrefix(path, "/api/")) && !st.authNotNeeded(r.Method, path) {
		if q.user = st.authenticate(q); q.user == nil {
			return absBare(http.StatusUnauthorized)
		}
	}

	m := st.routes.lookup(r.Method, path)
	if !m.found {
		if r.Method == http.MethodOptions && len(m.allowed) > 0 {
			var allowed []string
			for _, method := range m.allowed {
				allowed = append(allowed, method)
				if method == http.MethodGet {
					allowed = append(allowed, http.MethodHead)
				}
			}
			resp := absSendText(http.StatusOK, strings.Join(allowed, ","))
			return resp.setHeader("Allow", strings.Join(allowed, ","))
		}
		return absExpressError(http.StatusNotFound, "Cannot "+r.Method+" "+absOriginalPath(r))
	}
	q.params = m.params
	route := m.h
	if !route.limited {
		return route.h(q)
	}
	hdr, blocked := st.rateLimit(q)
	var resp *absResp
	if blocked {
		resp = absJSON(http.StatusTooManyRequests, map[string]string{"error": "Too many authentication requests"})
	} else {
		resp = route.h(q)
	}
	for k, v := range hdr {
		resp.setHeader(k, v[0])
	}
	return resp
}

// authNotNeeded mirrors Auth.ignorePatterns (public cover and image routes).
func (st *absState) authNotNeeded(method, path string) bool {
	if method != "GET" && method != "HEAD" {
		return false
	}
	s := strings.Split(path, "/")
	return len(s) == 5 && (strings.EqualFold(s[2], "items") && strings.EqualFold(s[4], "cover") ||
		strings.EqualFold(s[2], "authors") && strings.EqualFold(s[4], "image"))
}

func (st *absState) hIndex(q *absReq) *absResp {
	return &absResp{status: http.StatusOK, contentType: "text/html; charset=UTF-8",
		body: []byte("<!doctype html>\n<html><head><title>Audiobookshelf</title></head><body><div id=\"__nuxt\"></div></body></html>\n")}
}

func (st *absState) hStatus(q *absReq) *absResp {
	s := absStatusJSON{App: "audiobookshelf", ServerVersion: absVersion, IsInit: st.hasRoot(), Language: "en-us",
		AuthMethods: st.authMethods()}
	if st.openID {
		text, auto := st.openIDButton, false
		s.AuthFormData.AuthOpenIDButtonText, s.AuthFormData.AuthOpenIDAutoLaunch = &text, &auto
	}
	if !s.IsInit {
		s.ConfigPath, s.MetadataPath = "/data/config", "/data/metadata"
	}
	return absJSON(http.StatusOK, s)
}

func (st *absState) hPing(q *absReq) *absResp {
	return absJSON(http.StatusOK, map[string]bool{"success": true})
}

func (st *absState) hHealth(q *absReq) *absResp { return absStatus(http.StatusOK) }

func (st *absState) hNotFound(q *absReq) *absResp { return absStatus(http.StatusNotFound) }

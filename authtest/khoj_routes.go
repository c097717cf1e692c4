package authtest

// The Khoj fake's request handling: Starlette's routing, request parsing,
// the web pages and FastAPI's response shapes. Handlers run with st.mu held.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// khojRoute is one FastAPI route: a method and its handler.
type khojRoute struct {
	method string
	handle func(*khojCtx) khojResp
}

// khojRouter is the routing table: Starlette matches paths exactly.
type khojRouter = router[func(*khojCtx) khojResp]

// khojCtx is one request being handled.
type khojCtx struct {
	r          *http.Request
	body       []byte
	query      []khojPair
	now        time.Time
	session    map[string]any
	hadSession bool // the request carried a valid session cookie
	user       *khojUser
}

// khojPair is one query or form parameter.
type khojPair struct{ key, value string }

// khojResp is a response built while the state is locked.
type khojResp struct {
	status    int
	ctype     string // "" sends no Content-Type
	body      []byte
	header    http.Header
	noSession bool // an unhandled exception: Starlette's SessionMiddleware never sees it
}

func (st *khojState) buildRoutes() *khojRouter {
	page := func(c *khojCtx) khojResp { return khojHTML("Khoj") }
	protected := func(c *khojCtx) khojResp {
		if c.user == nil {
			return st.loginRedirect(c)
		}
		return khojHTML("Khoj")
	}
	rt := map[string][]khojRoute{
		"/api/health":              {{"GET", st.health}},
		"/api/v1/user":             {{"GET", st.userInfo}},
		"/":                        {{"GET", st.index}, {"POST", protected}},
		"/home":                    {{"GET", st.home}},
		"/login":                   {{"GET", st.loginPage}},
		"/chat":                    {{"GET", protected}},
		"/search":                  {{"GET", protected}},
		"/settings":                {{"GET", protected}},
		"/settings/content/github": {{"GET", protected}},
		"/agents":                  {{"GET", page}},
		"/automations":             {{"GET", page}},
		khojErrorPage:              {{"GET", func(c *khojCtx) khojResp { return khojHTML("Server Error") }}},
	}
	if !st.anonymous {
		rt["/auth/login"] = []khojRoute{{"GET", st.googleLogin}, {"POST", st.googleLogin}}
		rt["/auth/magic"] = []khojRoute{{"POST", st.magicPost}, {"GET", st.magicGet}}
		rt["/auth/token"] = []khojRoute{{"POST", st.tokenPost}, {"GET", st.tokenGet}, {"DELETE", st.tokenDelete}}
		rt["/auth/redirect"] = []khojRoute{{"POST", st.googleRedirectPost}, {"GET", st.googleRedirectGet}}
		rt["/auth/logout"] = []khojRoute{{"GET", st.logout}}
		rt["/auth/oauth/metadata"] = []khojRoute{{"GET", st.oauthMetadata}}
	}
	paths := make([]string, 0, len(rt))
	for p := range rt {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	r := &khojRouter{}
	for _, p := range paths {
		for _, route := range rt[p] {
			r.handle(route.method, p, route.handle)
		}
	}
	return r
}

func (st *khojState) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeText(w, http.StatusBadRequest, "text/plain; charset=utf-8", "Bad Request")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	c := &khojCtx{r: r, body: body, query: khojParseQuery(r.URL.RawQuery), now: st.clock.Now()}

	st.mu.Lock()
	c.session, c.hadSession = st.loadSession(r, c.now)
	var resp khojResp
	if st.dbDown && c.r.URL.Path != khojErrorPage && (st.needsDatabase(c) || c.r.URL.Path == "/auth/magic" && !st.anonymous) {
		resp = st.databaseDown(c)
	} else if user, crash := st.authenticate(c); crash {
		resp = khojServerError()
	} else {
		c.user = user
		resp = st.route(c)
	}
	var cookie string
	if !resp.noSession {
		cookie = st.sessionCookie(c)
	}
	st.mu.Unlock()

	for name, vals := range resp.header {
		w.Header()[name] = vals
	}
	if cookie != "" {
		w.Header().Add("Set-Cookie", cookie)
	}
	writeText(w, resp.status, resp.ctype, string(resp.body))
}

// sessionCookie is the Set-Cookie value Starlette's SessionMiddleware sends
// for c's session ("" for none). st.mu must be held.
func (st *khojState) sessionCookie(c *khojCtx) string {
	if len(c.session) > 0 {
		return "session=" + st.signSession(c.session, c.now) +
			"; path=/; Max-Age=" + strconv.Itoa(int(khojSessionAge/time.Second)) + "; httponly; samesite=lax"
	}
	if c.hadSession {
		return "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax"
	}
	return ""
}

// route dispatches like Starlette's router: the first route whose path
// matches and whose method fits; otherwise 405 from the first route on the
// path, a trailing-slash redirect, or 404.
func (st *khojState) route(c *khojCtx) khojResp {
	path := c.r.URL.Path
	m := st.routes.lookup(c.r.Method, path)
	if m.found {
		return m.h(c)
	}
	if len(m.allowed) == 0 {
		if path != "/" {
			alt := path + "/"
			if strings.HasSuffix(path, "/") {
				alt = strings.TrimSuffix(path, "/")
			}
			if st.routes.has(alt) {
				loc := c.origin() + st.prefix + alt
				if c.r.URL.RawQuery != "" {
					loc += "?" + c.r.URL.RawQuery
				}
				return khojRedirect(http.StatusTemporaryRedirect, khojQuoteURL(loc))
			}
		}
		return khojDetail(http.StatusNotFound, "Not Found")
	}
	allow := m.allowed[0]
	if allow == http.MethodGet {
		allow = "GET, HEAD"
	}
	resp := khojDetail(http.StatusMethodNotAllowed, "Method Not Allowed")
	resp.header = http.Header{"Allow": {allow}}
	return resp
}

// needsDatabase reports whether authenticating c reads the database: a
// session naming a user, a Bearer value that splits into two parts, a
// client application, or the anonymous default user.
func (st *khojState) needsDatabase(c *khojCtx) bool {
	if su, ok := c.session["user"].(map[string]any); ok {
		if email, ok := su["email"].(string); ok && email != "" {
			return true
		}
	}
	if len(strings.Split(c.r.Header.Get("Authorization"), "Bearer ")) == 2 {
		return true
	}
	if id, _ := c.q("client_id"); id != "" {
		return true
	}
	return st.anonymous
}

// databaseDown is the answer to a request that needs the database while it
// is down: a 500 on /api paths and /auth/magic, else a 302 to the error
// page.
func (st *khojState) databaseDown(c *khojCtx) khojResp {
	if strings.HasPrefix(c.r.URL.Path, "/api/") || c.r.URL.Path == "/auth/magic" {
		return khojServerError()
	}
	resp := khojRedirect(http.StatusFound, st.prefix+khojErrorPage)
	resp.noSession = true
	return resp
}

func (st *khojState) health(c *khojCtx) khojResp {
	if c.user == nil {
		return khojDetail(http.StatusOK, "OK") // HTTPException(status_code=200)
	}
	return khojJSONResp(http.StatusOK, struct {
		Email string `json:"email"`
	}{c.user.email})
}

func (st *khojState) index(c *khojCtx) khojResp {
	if !st.anonymous && c.user == nil {
		if _, ok := c.q("v"); !ok {
			return khojRedirect(http.StatusTemporaryRedirect, st.prefix+"/home")
		}
	}
	return khojHTML("Khoj")
}

func (st *khojState) home(c *khojCtx) khojResp {
	if c.user != nil {
		return khojRedirect(http.StatusTemporaryRedirect, st.prefix+"/")
	}
	return khojHTML("Khoj: Your AI second brain")
}

func (st *khojState) loginPage(c *khojCtx) khojResp {
	next := st.nextURL(c)
	if c.user != nil {
		return khojRedirect(http.StatusTemporaryRedirect, khojQuoteURL(next))
	}
	// Khoj compares the absolute next URL with "/", which never matches, so
	// next is always there.
	return khojRedirect(http.StatusTemporaryRedirect, khojQuoteURL(st.prefix+"/?v=app&next="+next))
}

// nextURL is Khoj's get_next_url: the path of the next query parameter if
// it is relative or same-origin (else "/"), made absolute on this origin.
// Without a next parameter it is the app's root (under the prefix).
func (st *khojState) nextURL(c *khojCtx) string {
	base := c.origin() + st.prefix
	raw, ok := c.q("next")
	if !ok {
		return base + "/"
	}
	path := "/"
	if u, err := url.Parse(raw); err == nil && (u.Scheme == "" || u.Host == c.r.Host) {
		path = u.Path
	}
	b, err := url.Parse(base)
	if err != nil {
		return base + "/"
	}
	return b.ResolveReference(&url.URL{Path: path}).String()
}

// loginRedirect is Starlette's requires(..., redirect="login_page") for an
// unauthenticated request.
func (st *khojState) loginRedirect(c *khojCtx) khojResp {
	full := c.origin() + st.prefix + c.r.URL.Path
	if c.r.URL.RawQuery != "" {
		full += "?" + c.r.URL.RawQuery
	}
	loc := c.origin() + st.prefix + "/login?" + url.Values{"next": {full}}.Encode()
	return khojRedirect(http.StatusSeeOther, loc)
}

// q returns the last value of a query parameter, as Starlette's
// QueryParams.get does, and whether it was present.
func (c *khojCtx) q(name string) (string, bool) {
	val, ok := "", false
	for _, p := range c.query {
		if p.key == name {
			val, ok = p.value, true
		}
	}
	return val, ok
}

// origin is the request's scheme://host, as Starlette builds request.url.
func (c *khojCtx) origin() string {
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(strings.TrimSpace(c.r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + c.r.Host
}

// khojParseQuery parses a query string like Python's parse_qsl with
// keep_blank_values: "&"-separated, order kept, bad escapes left alone.
func khojParseQuery(raw string) []khojPair {
	var out []khojPair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		out = append(out, khojPair{khojUnquotePlus(k), khojUnquotePlus(v)})
	}
	return out
}

func khojUnquotePlus(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}

// khojParseForm reads a urlencoded or multipart form body (first values).
func khojParseForm(r *http.Request, body []byte) map[string]string {
	out := map[string]string{}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		for _, p := range khojParseQuery(string(body)) {
			if _, ok := out[p.key]; !ok {
				out[p.key] = p.value
			}
		}
	case "multipart/form-data":
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(bytes.NewReader(body))
		if r2.ParseMultipartForm(1<<20) == nil && r2.MultipartForm != nil {
			for k, v := range r2.MultipartForm.Value {
				if len(v) > 0 {
					out[k] = v[0]
				}
			}
		}
	}
	return out
}

// khojParseJSONBody reads a FastAPI body: nothing is None; JSON when the
// content type is absent or application/json (or +json); the raw text
// otherwise. bad is FastAPI's answer to a body it cannot decode.
func khojParseJSONBody(r *http.Request, body []byte) (value any, present bool, bad *khojResp) {
	if len(body) == 0 {
		return nil, false, nil
	}
	isJSON := true
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			mt = "text/plain"
		}
		main, sub, _ := strings.Cut(mt, "/")
		isJSON = main == "application" && (sub == "json" || strings.HasSuffix(sub, "+json"))
	}
	if !isJSON {
		return string(body), true, nil
	}
	if !utf8.Valid(body) {
		resp := khojDetail(http.StatusBadRequest, "There was an error parsing the body")
		return nil, false, &resp
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := dec.Decode(&value)
	msg, pos := "Expecting value", len(body)
	if err == nil {
		rest := body[dec.InputOffset():]
		if len(bytes.TrimLeft(rest, " \t\r\n")) == 0 {
			return value, value != nil, nil // JSON null is a missing body
		}
		msg, pos = "Extra data", len(body)-len(bytes.TrimLeft(rest, " \t\r\n"))
	} else {
		var se *json.SyntaxError
		if errors.As(err, &se) && se.Offset > 0 {
			pos = int(se.Offset) - 1
		}
	}
	pos = utf8.RuneCount(body[:pos]) // Python counts characters
	resp := khojValidation(khojValErr{
		Type: "json_invalid", Loc: []any{"body", pos}, Msg: "JSON decode error",
		Input: map[string]any{}, Ctx: map[string]any{"error": msg},
	})
	return nil, false, &resp
}

// khojQuoteURL is Starlette's RedirectResponse quoting of a Location.
func khojQuoteURL(s string) string {
	const safe = ":/%#?=@[]!$&'()*+,;_.-~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(safe, c) >= 0) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// khojValErr is one pydantic v2 error as FastAPI reports it.
type khojValErr struct {
	Type  string         `json:"type"`
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
}

func khojMissing(loc ...any) khojValErr {
	return khojValErr{Type: "missing", Loc: loc, Msg: "Field required"}
}

func khojValidation(errs ...khojValErr) khojResp {
	return khojJSONResp(http.StatusUnprocessableEntity, struct {
		Detail []khojValErr `json:"detail"`
	}{errs})
}

// khojJSONResp encodes v like FastAPI's JSONResponse: compact, no HTML
// escaping.
func khojJSONResp(status int, v any) khojResp {
	b, err := marshalCompact(v)
	if err != nil {
		return khojServerError()
	}
	return khojResp{status: status, ctype: "application/json", body: b}
}

func khojDetail(status int, detail string) khojResp {
	return khojJSONResp(status, struct {
		Detail string `json:"detail"`
	}{detail})
}

func khojText(status int, ctype, body string) khojResp {
	return khojResp{status: status, ctype: ctype, body: []byte(body)}
}

func khojHTML(title string) khojResp {
	return khojText(http.StatusOK, "text/html; charset=utf-8",
		"<!DOCTYPE html><html><head><title>"+title+"</title></head><body><div id=\"root\"></div></body></html>")
}

func khojRedirect(status int, location string) khojResp {
	return khojResp{status: status, header: http.Header{"Location": {location}}}
}

// khojServerError is Starlette's answer to an unhandled exception.
func khojServerError() khojResp {
	return khojResp{status: http.StatusInternalServerError, ctype: "text/plain; charset=utf-8",
		body: []byte("Internal Server Error"), noSession: true}
}

package authtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Khoj is a fake Khoj server: the HTTP authentication surface of Khoj
// 2.0.0-beta.28 (FastAPI on Starlette) with billing off, as a self-hosted
// server runs it. It is started in multi-user mode by [NewKhoj] and in
// --anonymous-mode by [NewKhojAnonymous].
//
// # Authentication
//
// Every request is authenticated the way Khoj's UserAuthenticationBackend
// does it; the first check that succeeds wins:
//
//  1. The signed session cookie "session", if it names an existing user.
//     The fake signs its own cookies (with a random per-fake key); a
//     tampered, foreign or more than 14 days old cookie is ignored, as
//     Starlette's SessionMiddleware ignores a bad signature. Like Starlette,
//     every response to a request with a non-empty session re-sends the
//     re-signed cookie ("session=…; path=/; Max-Age=1209600; httponly;
//     samesite=lax"), and a session that became empty is cleared with
//     "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; …".
//  2. A Bearer token: the Authorization value is split on the exact text
//     "Bearer "; if that gives exactly two parts, the second is looked up
//     as a token. Case-sensitive: "bearer kk-…" does not match, nor do a
//     doubled space after "Bearer" or a second "Bearer " (three parts).
//     White space around the whole header value is stripped by the HTTP
//     layer (Go's, here, as uvicorn's for Khoj) before the check, so it
//     does not matter. The kk- prefix is not checked. An unknown token is
//     not an error: the request just stays unauthenticated.
//  3. The WhatsApp client-app check: with a non-empty client_id query
//     parameter the real backend crashes (500 text/plain "Internal Server
//     Error") when the Authorization header is missing, has no "Bearer ",
//     or an empty secret; otherwise the (unknown) client app leaves the
//     request unauthenticated, even in anonymous mode.
//  4. In anonymous mode, the built-in user default@example.com (username
//     "default"). The default user exists in both modes, as in Khoj.
//
// A valid session cookie beats a Bearer header, and a valid token selects
// its own user in anonymous mode too.
//
// # Unauthenticated requests
//
// Khoj never answers 401 for a bad token. Endpoints decorated
// requires(["authenticated"]) answer 403 {"detail":"Forbidden"}; those
// with redirect="login_page" answer 303 See Other with Location
// "<scheme>://<host><prefix>/login?next=<quote_plus(full original URL,
// query included)>"; GET /api/health answers 200 {"detail":"OK"}.
// Parameter validation runs before the auth check, so a missing required
// parameter gives FastAPI's 422 {"detail":[{"type","loc","msg","input"}]}
// even without credentials. The scheme honours X-Forwarded-Proto, as
// uvicorn does for a proxy on the loopback address.
//
// # Routes
//
// Paths are relative to the prefix ([WithPrefix]); a request outside it gets
// a 500 that says so. JSON is compact, as FastAPI writes it.
//
//   - GET /api/health: 200 {"email": "…"} or, unauthenticated, 200
//     {"detail":"OK"}.
//   - GET /api/v1/user: 200 {"email","username","photo":null,
//     "is_active":true,"has_documents":false,"khoj_version":"2.0.0-beta.28"}
//     or 403 {"detail":"Forbidden"}.
//   - POST /auth/token?token_name=…: 200 {"token":"kk-…","name":"…"}; an
//     empty or missing name becomes two random title-cased words such as
//     "Brave Falcon"; a name over 50 characters fails in the database (500
//     text/plain "Internal Server Error").
//   - GET /auth/token: the caller's tokens, oldest first, as
//     [{"_state":{"adding":false,"db":"default"},"id":1,"user_id":2,
//     "token":"kk-…","name":"…","accessed_at":null}].
//   - DELETE /auth/token?token=…: deletes the token only if it is the
//     caller's, and always answers 200 null. A missing token parameter is
//     a 422. All three token routes redirect (303) when unauthenticated.
//   - GET /auth/oauth/metadata: {"google":{"client_id":<string or null>,
//     "redirect_uri":"/auth/redirect"}} (see [Khoj.SetGoogleClientID]).
//   - GET|POST /auth/login: 302 to https://accounts.google.com/o/oauth2/v2/auth
//     with response_type, client_id (when set), redirect_uri, scope, state
//     and nonce; the state is kept in the session. The fake never talks to
//     Google: GET /auth/redirect answers 500 text/plain (the code exchange
//     fails), and POST /auth/redirect does the CSRF checks (307 to the next
//     URL without the g_csrf_token cookie or form field, 400 "Invalid CSRF
//     token" on a mismatch) and then fails to verify the credential (500).
//   - GET /auth/logout: removes the user from the session and answers 307
//     to "/" (under the prefix). Bearer tokens stay valid.
//   - POST /auth/magic and GET /auth/magic: the e-mail code login, below.
//   - Web pages (text/html): GET / (307 to /home when unauthenticated
//     without a "v" query parameter, except in anonymous mode), GET /home
//     (307 to / when authenticated), GET /login (307 to the next URL when
//     authenticated, else to /?v=app&next=<absolute URL>), GET /agents and
//     GET /automations (public), and POST /, GET /chat, /search, /settings
//     and /settings/content/github (303 to the login page when
//     unauthenticated). Redirects to the app's own pages stay under the
//     prefix.
//
// An unknown path answers 404 {"detail":"Not Found"}; a known path with the
// wrong method answers 405 {"detail":"Method Not Allowed"} with the Allow
// header of the first route on that path (Starlette's rule); a path that
// is only missing or has an extra trailing slash is redirected (307) to
// the other form. HEAD is served wherever GET is. In anonymous mode there
// are no /auth routes at all: every /auth path is a 404.
//
// # Magic links
//
// POST /auth/magic takes the JSON body {"email": "…"}, validated as a
// pydantic EmailStr (a subset of email-validator's syntax checks; a missing
// body, non-object body, missing, non-string or malformed email is a 422,
// listed twice because the rate-limit dependency validates the body too;
// broken JSON is a single json_invalid 422). Then:
//
//   - at most 20 requests per 24 hours per submitted address (429 "Too
//     many requests for your email address. Please wait before trying
//     again."), counted before the user lookup;
//   - a user already signed in through the session is signed out;
//   - the user is looked up or created (lower-cased); a new address whose
//     domain is invalid.test stands for an address Khoj's deliverability
//     check rejects: 404 "Invalid email address. Please fix before trying
//     again." (Khoj runs that check only with billing on; a self-hosted
//     server without billing never answers this 404, and its EmailStr
//     validation refuses special-use domains such as .test with a 422
//     instead, which the fake does not model, so that the 404 can be
//     tested);
//   - a fresh 6-digit code valid for 5 minutes is stored (replacing the
//     previous one) before the per-user limit of 10 per 24 hours is checked
//     (429 "Ran out of login attempts. Please wait before trying again.");
//     so a request refused by that limit still invalidates the earlier code
//     without "sending" the new one;
//   - 200 with an empty body. [Khoj.MagicCode] reads the code "e-mailed".
//
// GET /auth/magic?code=…&email=… first runs its rate limiter, which looks
// the email up exactly as given (not lower-cased): no such user is 404
// {"detail":"User not found."} (also when email is missing), and more than
// 10 attempts per user per 24 hours, successful or not, is the 429 "Ran out
// of login attempts…". Then a missing code is a 422; a wrong code is 401
// with an empty body; an expired code is 403 with an empty body (and the
// session's user is set to {}); a valid code is consumed, sets the session
// cookie and answers 307 to "/" (under the prefix). [Khoj.SetDebug] turns
// all these limits off (KHOJ_DEBUG), and with them the limiter's 404: an
// unknown user then gets 401, missing parameters a 422. Windows and expiry
// follow the fake's [Clock].
//
// # Database outage
//
// [Khoj.SetDatabaseDown] makes the fake answer as Khoj does while its
// database is unreachable (observed on a running server): the
// authentication backend fails for every request whose credential must be
// looked up (a session cookie naming a user, an Authorization value with
// exactly one "Bearer ", a client_id, and in anonymous mode every request,
// whose default user is a database row). Such a request to an /api path
// answers 500 text/plain "Internal Server Error"; to any other path (the
// /auth/token routes, /auth/oauth/metadata, the web pages) 302 with
// Location "<prefix>/server/error", the server's error page (GET answers
// 200 text/html). POST and GET /auth/magic answer the 500 whatever the
// request carries (their handlers need the database). Requests without a
// credential that need no database answer as usual: /api/health's 200
// {"detail":"OK"}, /auth/oauth/metadata, the 403 and 303 of unauthenticated
// requests. Khoj recovers by itself when the database returns, and so does
// the fake when the knob is turned off.
//
// Other server failures are [Faults.FailNext] with status 500: its
// plain-text "Internal Server Error" is what Khoj (Starlette's
// ServerErrorMiddleware) answers for an unhandled exception.
type Khoj struct {
	*Server
	st *khojState
}

const (
	khojVersion      = "2.0.0-beta.28"
	khojDefaultEmail = "default@example.com"
	khojSessionAge   = 14 * 24 * time.Hour
	khojCodeLifetime = 5 * time.Minute
	khojLimitWindow  = 24 * time.Hour
	khojGoogleAuth   = "https://accounts.google.com/o/oauth2/v2/auth"
	khojRedirectPath = "/auth/redirect"
	khojErrorPage    = "/server/error"
)

// khojState is everything the fake remembers, guarded by mu.
type khojState struct {
	clock     *Clock
	prefix    string
	anonymous bool
	key       []byte
	routes    *khojRouter

	mu          sync.Mutex
	users       map[string]*khojUser // by email
	defaultUser *khojUser
	nextUserID  int
	tokens      []*khojToken // in creation order
	nextTokenID int
	clientID    string
	debug       bool
	dbDown      bool
	attempts    map[string][]time.Time // rate-limit records by slug and identifier
}

// khojUser is a KhojUser row.
type khojUser struct {
	id       int
	email    string
	username string
	code     string // email_verification_code; "" is NULL
	expiry   time.Time
	mailed   string // the code last "sent" by e-mail
}

// khojToken is a KhojApiUser row.
type khojToken struct {
	id     int
	userID int
	token  string
	name   string
}

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

// NewKhoj starts a fake Khoj in multi-user mode (authentication required,
// /auth routes mounted). Add users with [Khoj.AddUser] and tokens with
// [Khoj.AddToken], or sign in through the magic-link flow. The fake is
// mounted under [WithPrefix]'s prefix, if any, and answers requests outside
// it with a 500. Close it when done.
func NewKhoj(opts ...Option) *Khoj {
	return khojNew(false, opts)
}

// NewKhojAnonymous starts a fake Khoj in --anonymous-mode: there are no
// /auth routes (404), and every request without a valid session or token
// is served as the default user default@example.com (username "default").
// A valid token still selects its own user.
func NewKhojAnonymous(opts ...Option) *Khoj {
	return khojNew(true, opts)
}

func khojNew(anonymous bool, opts []Option) *Khoj {
	cfg := newConfig(opts)
	st := &khojState{
		clock:     cfg.clock,
		prefix:    cfg.prefix,
		anonymous: anonymous,
		key:       randBytes(32),
		users:     map[string]*khojUser{},
		attempts:  map[string][]time.Time{},
	}
	st.defaultUser = st.addUser(khojDefaultEmail)
	st.defaultUser.username = "default"
	st.routes = st.buildRoutes()
	k := &Khoj{st: st}
	k.Server = start(http.HandlerFunc(st.serveHTTP), cfg, prefixStrict)
	return k
}

// AddUser creates a user with the given e-mail address (lower-cased), as a
// Google or magic-link sign-in would. Adding an existing user does nothing.
func (k *Khoj) AddUser(email string) {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	k.st.userFor(email)
}

// AddToken creates an API token for the user with the given e-mail address
// (creating the user if needed) and returns it: "kk-" followed by 43
// URL-safe base64 characters. An empty name gets a random one, as the
// server gives.
func (k *Khoj) AddToken(email, name string) (token string) {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	u := k.st.userFor(email)
	if name == "" {
		name = khojRandomName()
	}
	return k.st.addToken(u, name).token
}

// Tokens returns the current tokens of the user with the given e-mail
// address, oldest first (nil for an unknown user).
func (k *Khoj) Tokens(email string) []string {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	u := k.st.users[strings.ToLower(email)]
	if u == nil {
		return nil
	}
	var out []string
	for _, t := range k.st.tokens {
		if t.userID == u.id {
			out = append(out, t.token)
		}
	}
	return out
}

// MagicCode returns the 6-digit login code most recently "e-mailed" to the
// address by POST /auth/magic, or "" if none was. The code may since have
// been used, expired or replaced.
func (k *Khoj) MagicCode(email string) string {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	if u := k.st.users[strings.ToLower(email)]; u != nil {
		return u.mailed
	}
	return ""
}

// SetGoogleClientID sets GOOGLE_CLIENT_ID, which GET /auth/oauth/metadata
// publishes and GET /auth/login sends to Google. "" unsets it (JSON null).
func (k *Khoj) SetGoogleClientID(id string) {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	k.st.clientID = id
}

// SetDebug sets KHOJ_DEBUG. In debug mode the magic-link rate limits are
// off, and so is the verification limiter's "User not found." 404.
func (k *Khoj) SetDebug(on bool) {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	k.st.debug = on
}

// SetDatabaseDown simulates an outage of Khoj's database (on) and its
// recovery (off); see "Database outage" above for the answers.
func (k *Khoj) SetDatabaseDown(on bool) {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	k.st.dbDown = on
}

// SessionCookie returns a valid session cookie for the user with the given
// e-mail address (creating the user if needed), as a completed browser
// sign-in would leave. It expires 14 days after the fake's current time.
func (k *Khoj) SessionCookie(email string) *http.Cookie {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	u := k.st.userFor(email)
	v := k.st.signSession(map[string]any{"user": map[string]any{"email": u.email}}, k.st.clock.Now())
	return &http.Cookie{Name: "session", Value: v, Path: "/"}
}

// userFor returns the user with the lower-cased email, creating it if needed.
func (st *khojState) userFor(email string) *khojUser {
	email = strings.ToLower(email)
	if u := st.users[email]; u != nil {
		return u
	}
	return st.addUser(email)
}

func (st *khojState) addUser(email string) *khojUser {
	st.nextUserID++
	u := &khojUser{id: st.nextUserID, email: email, username: email}
	st.users[email] = u
	return u
}

func (st *khojState) addToken(u *khojUser, name string) *khojToken {
	st.nextTokenID++
	t := &khojToken{
		id:     st.nextTokenID,
		userID: u.id,
		token:  "kk-" + randBase64URL(32),
		name:   name,
	}
	st.tokens = append(st.tokens, t)
	return t
}

func (st *khojState) userByID(id int) *khojUser {
	for _, u := range st.users {
		if u.id == id {
			return u
		}
	}
	return nil
}

// allow records an attempt for a rate limit unless limit attempts were
// already recorded in the window, as Khoj's limiters do.
func (st *khojState) allow(slug, id string, limit int, now time.Time) bool {
	key := slug + "\x00" + id
	cutoff := now.Add(-khojLimitWindow)
	var kept []time.Time
	for _, t := range st.attempts[key] {
		if !t.Before(cutoff) {
			kept = append(kept, t)
		}
	}
	if len(kept) >= limit {
		st.attempts[key] = kept
		return false
	}
	st.attempts[key] = append(kept, now)
	return true
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
		if len(c.session) > 0 {
			cookie = "session=" + st.signSession(c.session, c.now) +
				"; path=/; Max-Age=" + strconv.Itoa(int(khojSessionAge/time.Second)) + "; httponly; samesite=lax"
		} else if c.hadSession {
			cookie = "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax"
		}
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

// authenticate is UserAuthenticationBackend.authenticate. crash reports the
// client-app branch raising an exception (a 500 outside FastAPI).
func (st *khojState) authenticate(c *khojCtx) (user *khojUser, crash bool) {
	if su, ok := c.session["user"].(map[string]any); ok {
		if email, ok := su["email"].(string); ok && email != "" {
			if u := st.users[email]; u != nil {
				return u, false
			}
		}
	}
	if parts := strings.Split(c.r.Header.Get("Authorization"), "Bearer "); len(parts) == 2 {
		for _, t := range st.tokens {
			if t.token == parts[1] {
				if u := st.userByID(t.userID); u != nil {
					return u, false
				}
			}
		}
	}
	if id, _ := c.q("client_id"); id != "" {
		vals, ok := c.r.Header["Authorization"]
		if !ok || len(vals) == 0 {
			return nil, true // KeyError: 'Authorization'
		}
		parts := strings.Split(vals[0], "Bearer ")
		if len(parts) < 2 || parts[1] == "" {
			return nil, true // IndexError, or a Response returned instead of credentials
		}
		return nil, false // no such client application
	}
	if st.anonymous {
		return st.defaultUser, false
	}
	return nil, false
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

// Session cookies: base64(JSON) "." base64(timestamp) "." base64(HMAC), like
// itsdangerous' TimestampSigner, but with the fake's own random key.

func (st *khojState) signSession(session map[string]any, now time.Time) string {
	data, _ := json.Marshal(session)
	ts := make([]byte, 8)
	binary.BigEndian.PutUint64(ts, uint64(now.Unix()))
	value := base64.StdEncoding.EncodeToString(data) + "." + base64.RawURLEncoding.EncodeToString(bytes.TrimLeft(ts, "\x00"))
	return value + "." + base64.RawURLEncoding.EncodeToString(st.mac(value))
}

func (st *khojState) mac(value string) []byte {
	m := hmac.New(sha256.New, st.key)
	m.Write([]byte(value))
	return m.Sum(nil)
}

// loadSession returns the session of a valid cookie (valid reports one was
// present), or an empty session.
func (st *khojState) loadSession(r *http.Request, now time.Time) (session map[string]any, valid bool) {
	session = map[string]any{}
	ck, err := r.Cookie("session")
	if err != nil {
		return session, false
	}
	i := strings.LastIndexByte(ck.Value, '.')
	if i < 0 {
		return session, false
	}
	value := ck.Value[:i]
	sig, err := base64.RawURLEncoding.DecodeString(ck.Value[i+1:])
	if err != nil || !hmac.Equal(sig, st.mac(value)) {
		return session, false
	}
	j := strings.LastIndexByte(value, '.')
	if j < 0 {
		return session, false
	}
	tsb, err := base64.RawURLEncoding.DecodeString(value[j+1:])
	if err != nil || len(tsb) > 8 {
		return session, false
	}
	var ts uint64
	for _, b := range tsb {
		ts = ts<<8 | uint64(b)
	}
	age := now.Sub(time.Unix(int64(ts), 0))
	if age < 0 || age > khojSessionAge {
		return session, false
	}
	data, err := base64.StdEncoding.DecodeString(value[:j])
	if err != nil || json.Unmarshal(data, &session) != nil || session == nil {
		return map[string]any{}, false
	}
	return session, true
}

// Handlers. Each runs with st.mu held.

func (st *khojState) health(c *khojCtx) khojResp {
	if c.user == nil {
		return khojDetail(http.StatusOK, "OK") // HTTPException(status_code=200)
	}
	return khojJSONResp(http.StatusOK, struct {
		Email string `json:"email"`
	}{c.user.email})
}

func (st *khojState) userInfo(c *khojCtx) khojResp {
	if c.user == nil {
		return khojDetail(http.StatusForbidden, "Forbidden")
	}
	return khojJSONResp(http.StatusOK, struct {
		Email        string  `json:"email"`
		Username     string  `json:"username"`
		Photo        *string `json:"photo"`
		IsActive     bool    `json:"is_active"`
		HasDocuments bool    `json:"has_documents"`
		KhojVersion  string  `json:"khoj_version"`
	}{c.user.email, c.user.username, nil, true, false, khojVersion})
}

func (st *khojState) tokenPost(c *khojCtx) khojResp {
	if c.user == nil {
		return st.loginRedirect(c)
	}
	name, _ := c.q("token_name")
	if name == "" {
		name = khojRandomName()
	}
	if utf8.RuneCountInString(name) > 50 {
		return khojServerError() // value too long for type character varying(50)
	}
	t := st.addToken(c.user, name)
	return khojJSONResp(http.StatusOK, struct {
		Token string `json:"token"`
		Name  string `json:"name"`
	}{t.token, t.name})
}

func (st *khojState) tokenGet(c *khojCtx) khojResp {
	if c.user == nil {
		return st.loginRedirect(c)
	}
	type state struct {
		Adding bool   `json:"adding"`
		DB     string `json:"db"`
	}
	type row struct {
		State      state   `json:"_state"`
		ID         int     `json:"id"`
		UserID     int     `json:"user_id"`
		Token      string  `json:"token"`
		Name       string  `json:"name"`
		AccessedAt *string `json:"accessed_at"`
	}
	rows := []row{}
	for _, t := range st.tokens {
		if t.userID == c.user.id {
			rows = append(rows, row{state{false, "default"}, t.id, t.userID, t.token, t.name, nil})
		}
	}
	return khojJSONResp(http.StatusOK, rows)
}

func (st *khojState) tokenDelete(c *khojCtx) khojResp {
	token, ok := c.q("token")
	if !ok {
		return khojValidation(khojMissing("query", "token"))
	}
	if c.user == nil {
		return st.loginRedirect(c)
	}
	kept := st.tokens[:0:0]
	for _, t := range st.tokens {
		if t.userID != c.user.id || t.token != token {
			kept = append(kept, t)
		}
	}
	st.tokens = kept
	return khojJSONResp(http.StatusOK, nil)
}

func (st *khojState) oauthMetadata(c *khojCtx) khojResp {
	var id *string
	if st.clientID != "" {
		id = &st.clientID
	}
	type google struct {
		ClientID    *string `json:"client_id"`
		RedirectURI string  `json:"redirect_uri"`
	}
	return khojJSONResp(http.StatusOK, struct {
		Google google `json:"google"`
	}{google{id, khojRedirectPath}})
}

func (st *khojState) googleLogin(c *khojCtx) khojResp {
	state := randBase64URL(22)
	nonce := randBase64URL(15)
	params := []khojPair{{"response_type", "code"}}
	if st.clientID != "" {
		params = append(params, khojPair{"client_id", st.clientID})
	}
	params = append(params,
		khojPair{"redirect_uri", khojRedirectPath},
		khojPair{"scope", "openid email profile"},
		khojPair{"state", state},
		khojPair{"nonce", nonce})
	var q []string
	for _, p := range params {
		q = append(q, url.QueryEscape(p.key)+"="+url.QueryEscape(p.value))
	}
	loc := khojGoogleAuth + "?" + strings.Join(q, "&")
	c.session["_state_google_"+state] = map[string]any{
		"data": map[string]any{"redirect_uri": khojRedirectPath, "nonce": nonce, "url": loc},
		"exp":  c.now.Unix() + 3600,
	}
	return khojRedirect(http.StatusFound, loc)
}

func (st *khojState) googleRedirectGet(c *khojCtx) khojResp {
	// The code exchange with Google fails (raise_for_status), unhandled.
	return khojServerError()
}

func (st *khojState) googleRedirectPost(c *khojCtx) khojResp {
	form := khojParseForm(c.r, c.body)
	next := st.nextURL(c)
	seen := map[string]bool{}
	for _, p := range c.query {
		if p.key != "next" && !seen[p.key] {
			seen[p.key] = true
			v, _ := c.q(p.key)
			next += "&" + p.key + "=" + v
		}
	}
	cookie, err := c.r.Cookie("g_csrf_token")
	if err != nil || cookie.Value == "" || form["g_csrf_token"] == "" {
		return khojRedirect(http.StatusTemporaryRedirect, khojQuoteURL(next))
	}
	if cookie.Value != form["g_csrf_token"] {
		return khojText(http.StatusBadRequest, "", "Invalid CSRF token")
	}
	// id_token.verify_oauth2_token raises on anything the fake can offer.
	return khojServerError()
}

func (st *khojState) logout(c *khojCtx) khojResp {
	delete(c.session, "user")
	return khojRedirect(http.StatusTemporaryRedirect, st.prefix+"/")
}

func (st *khojState) magicPost(c *khojCtx) khojResp {
	value, present, bad := khojParseJSONBody(c.r, c.body)
	if bad != nil {
		return *bad
	}
	email, errs := khojValidateMagicForm(value, present)
	if errs != nil {
		// The EmailAttemptRateLimiter dependency validates the same body, so
		// FastAPI reports every error twice.
		return khojValidation(append(errs, errs...)...)
	}
	if !st.debug && !st.allow("magic_link_login_by_email", email, 20, c.now) {
		return khojDetail(http.StatusTooManyRequests, "Too many requests for your email address. Please wait before trying again.")
	}
	if c.user != nil {
		delete(c.session, "user")
	}
	email = strings.ToLower(email)
	u := st.users[email]
	if u == nil {
		if khojUndeliverable(email) {
			return khojDetail(http.StatusNotFound, "Invalid email address. Please fix before trying again.")
		}
		u = st.addUser(email)
	}
	u.code = khojRandomCode()
	u.expiry = c.now.Add(khojCodeLifetime)
	if !st.debug && !st.allow("magic_link_login_by_user", u.email, 10, c.now) {
		return khojDetail(http.StatusTooManyRequests, "Ran out of login attempts. Please wait before trying again.")
	}
	u.mailed = u.code
	return khojText(http.StatusOK, "", "")
}

func (st *khojState) magicGet(c *khojCtx) khojResp {
	email, hasEmail := c.q("email")
	if !st.debug {
		// EmailVerificationApiRateLimiter runs before the endpoint's own
		// parameters are validated, and looks the email up as given.
		var u *khojUser
		if hasEmail {
			u = st.users[email]
		}
		if u == nil {
			return khojDetail(http.StatusNotFound, "User not found.")
		}
		if !st.allow("magic_link_verification", u.email, 10, c.now) {
			return khojDetail(http.StatusTooManyRequests, "Ran out of login attempts. Please wait before trying again.")
		}
	}
	code, hasCode := c.q("code")
	var errs []khojValErr
	if !hasCode {
		errs = append(errs, khojMissing("query", "code"))
	}
	if !hasEmail {
		errs = append(errs, khojMissing("query", "email"))
	}
	if errs != nil {
		return khojValidation(errs...)
	}
	u := st.users[strings.ToLower(strings.TrimSpace(email))]
	if u == nil || u.code == "" || u.code != code {
		return khojText(http.StatusUnauthorized, "", "")
	}
	if u.expiry.Before(c.now) {
		c.session["user"] = map[string]any{}
		return khojText(http.StatusForbidden, "", "")
	}
	u.code = ""
	c.session["user"] = map[string]any{"email": u.email}
	return khojRedirect(http.StatusTemporaryRedirect, st.prefix+"/")
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

// Request helpers.

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

// khojValidateMagicForm validates MagicLinkForm{email: EmailStr} and
// returns the normalised address.
func khojValidateMagicForm(value any, present bool) (string, []khojValErr) {
	if !present {
		return "", []khojValErr{khojMissing("body")}
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return "", []khojValErr{{Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from", Input: value}}
	}
	raw, ok := obj["email"]
	if !ok {
		e := khojMissing("body", "email")
		e.Input = obj
		return "", []khojValErr{e}
	}
	s, ok := raw.(string)
	if !ok {
		return "", []khojValErr{{Type: "string_type", Loc: []any{"body", "email"},
			Msg: "Input should be a valid string", Input: raw}}
	}
	email, reason := khojCheckEmail(s)
	if reason != "" {
		return "", []khojValErr{{Type: "value_error", Loc: []any{"body", "email"},
			Msg: "value is not a valid email address: " + reason, Input: s,
			Ctx: map[string]any{"reason": reason}}}
	}
	return email, nil
}

var khojPrettyEmail = regexp.MustCompile(`^ *([\pL\pN_ ]*?) *<(.+?)> *$`)

// khojCheckEmail is pydantic's validate_email with the syntax checks of
// email-validator that matter in practice. It returns the normalised
// address (domain lower-cased) or the reason it is invalid. Special-use
// domains are not rejected: the fake uses invalid.test for Khoj's own 404.
func khojCheckEmail(s string) (email, reason string) {
	if utf8.RuneCountInString(s) > 2048 {
		return "", "Length must not exceed 2048 characters"
	}
	if m := khojPrettyEmail.FindStringSubmatch(s); m != nil {
		s = m[2]
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", "An email address must have an @-sign."
	}
	local, domain := s[:at], s[at+1:]
	if local == "" {
		return "", "There must be something before the @-sign."
	}
	if domain == "" {
		return "", "There must be something after the @-sign."
	}
	if n := utf8.RuneCountInString(local); n > 64 {
		return "", fmt.Sprintf("The email address is too long before the @-sign (%d %s too many).", n-64, khojPlural(n-64))
	}
	if bad := khojBadChars(local, func(r rune) bool {
		return r >= 0x80 && unicode.IsPrint(r) || r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r))
	}); bad != "" {
		return "", "The email address contains invalid characters before the @-sign: " + bad + "."
	}
	switch {
	case strings.HasPrefix(local, "."):
		return "", "An email address cannot start with a period."
	case strings.HasSuffix(local, "."):
		return "", "An email address cannot have a period immediately before the @-sign."
	case strings.Contains(local, ".."):
		return "", "An email address cannot have two periods in a row."
	}
	if bad := khojBadChars(domain, func(r rune) bool {
		return r >= 0x80 && unicode.IsPrint(r) || r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			r >= '0' && r <= '9' || r == '-' || r == '.')
	}); bad != "" {
		return "", "The part after the @-sign contains invalid characters: " + bad + "."
	}
	switch {
	case strings.HasPrefix(domain, "."):
		return "", "An email address cannot have a period immediately after the @-sign."
	case strings.HasPrefix(domain, "-"):
		return "", "An email address cannot have a hyphen immediately after the @-sign."
	case strings.HasSuffix(domain, "."):
		return "", "An email address cannot end with a period."
	case strings.HasSuffix(domain, "-"):
		return "", "An email address cannot end with a hyphen."
	case strings.Contains(domain, ".."):
		return "", "An email address cannot have two periods in a row."
	case strings.Contains(domain, ".-") || strings.Contains(domain, "-."):
		return "", "An email address cannot have a period and a hyphen next to each other."
	case !strings.Contains(domain, "."):
		return "", "The part after the @-sign is not valid. It should have a period."
	case len(domain) > 253:
		return "", "The email address is too long after the @-sign."
	}
	return local + "@" + strings.ToLower(domain), ""
}

// khojBadChars lists the characters of s that ok rejects, sorted and
// displayed like email-validator does ('x', SPACE, U+0009).
func khojBadChars(s string, ok func(rune) bool) string {
	seen := map[rune]bool{}
	var bad []rune
	for _, r := range s {
		if !ok(r) && !seen[r] {
			seen[r] = true
			bad = append(bad, r)
		}
	}
	if bad == nil {
		return ""
	}
	for i := 1; i < len(bad); i++ {
		for j := i; j > 0 && bad[j] < bad[j-1]; j-- {
			bad[j], bad[j-1] = bad[j-1], bad[j]
		}
	}
	out := make([]string, len(bad))
	for i, r := range bad {
		switch {
		case r == ' ':
			out[i] = "SPACE"
		case unicode.IsPrint(r):
			out[i] = "'" + string(r) + "'"
		default:
			out[i] = fmt.Sprintf("U+%04X", r)
		}
	}
	return strings.Join(out, ", ")
}

func khojPlural(n int) string {
	if n == 1 {
		return "character"
	}
	return "characters"
}

// khojUndeliverable reports whether Khoj would refuse to create a user with
// this address; the fake refuses the domain invalid.test (and subdomains).
func khojUndeliverable(email string) bool {
	domain := email[strings.LastIndexByte(email, '@')+1:]
	return domain == "invalid.test" || strings.HasSuffix(domain, ".invalid.test")
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

// Responses.

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

// Randomness.

// khojRandomCode is f"{secrets.randbelow(int(1e6)):06}".
func khojRandomCode() string {
	return fmt.Sprintf("%06d", randIntn(1_000_000))
}

var (
	khojAdjectives = []string{"Happy", "Serendipitous", "Exuberant", "Calm", "Brave", "Scared", "Energetic", "Chivalrous", "Kind", "Suave"}
	khojNouns      = []string{"Dog", "Cat", "Falcon", "Whale", "Turtle", "Rabbit", "Hamster", "Snake", "Spider", "Elephant"}
)

// khojRandomName is Khoj's default token name: two title-cased words.
func khojRandomName() string {
	return khojAdjectives[randIntn(len(khojAdjectives))] + " " + khojNouns[randIntn(len(khojNouns))]
}

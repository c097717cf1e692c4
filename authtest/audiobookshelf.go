package authtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Audiobookshelf is a fake Audiobookshelf 2.36 server.
//
// Its router base path is "/audiobookshelf" (or the [WithPrefix] value) and,
// as on the real server, a path outside the base path is treated as if it
// were under it: srv.URL is the server root ("http://127.0.0.1:port/") and
// both srv.URL+"login" and srv.URL+"audiobookshelf/login" reach the same
// route. [Audiobookshelf.BasePathURL] gives the URL with the base path.
//
// The fake starts initialised with a root user "root" / password "root"
// ([NewAudiobookshelfUninitialised] starts without users, so POST /init is
// needed). Every response carries "Content-Security-Policy: frame-ancestors
// 'self'" and "Referrer-Policy: no-referrer"; bodies sent the way Express's
// res.send does carry a weak ETag like the real server's.
//
// Tokens are HS256 JWTs signed with a random per-fake secret; times come
// from the fake's [Clock]:
//   - access token {userId, username, jti, type:"access", iat, exp}, 1 h by default;
//   - refresh token, same claims with type "refresh", 30 days by default,
//     stored in a server-side session row;
//   - API key {keyId, name, type:"api", iat[, exp]};
//   - legacy user token {userId, username, iat} without exp ([Audiobookshelf.LegacyToken]).
//
// Routes and behaviours modelled (paths relative to the base path):
//   - GET /status (isInit, authMethods, authFormData; ConfigPath and
//     MetadataPath before init), GET /ping, GET /healthcheck ("OK"),
//     POST /init {"newRoot": {"username", "password"}} (500 text/plain
//     "Internal Server Error" once a root exists or when newRoot is missing).
//   - POST /login (JSON or form; username matched case-insensitively): 400
//     "Bad Request" without Content-Type for a missing field, 401
//     "Unauthorized" without Content-Type for bad credentials or an inactive
//     user, else the login payload {user (with accessToken and refreshToken),
//     userDefaultLibraryId, serverSettings, ereaderDevices, Source}. The
//     refresh token is in the body only with "x-return-tokens: true";
//     otherwise it is set as the refresh_token cookie. A connect.sid cookie
//     is always set.
//   - POST /auth/refresh: refresh token from the x-refresh-token header
//     (wins) or the refresh_token cookie; rotates it, the previous token stays
//     usable for the grace period (default 10 min) and then yields a new
//     access token plus the already-rotated refresh token. Errors are 401
//     JSON {"error": "No refresh token provided" | "Invalid refresh token" |
//     "Invalid token type" | "Refresh token expired" | "User not found or
//     inactive"}.
//   - POST /logout (refresh token from the cookie first, then the header;
//     ?allDevices=1 ends every session of the token's user): always 200
//     {"redirect_url": null} (the fake IdP's logout URL after an OpenID
//     login). Access tokens stay valid until they expire.
//   - Every /api route checks the token first (Authorization: Bearer, scheme
//     case-insensitive, or ?token=): refresh tokens are refused, API keys must
//     exist, be active and unexpired (an expired key is deactivated when
//     used), the user must exist and be active, legacy tokens mark the user
//     "isOldToken": true until an access token is used. Every failure is 401
//     "Unauthorized" without Content-Type, and an unknown /api path is 401
//     before it is 404 (Express's "Cannot GET /api/…" HTML page).
//   - GET /api/me, POST /api/authorize (GET is 404), GET /api/libraries,
//     GET /api/libraries/:id (404 "Library not found"),
//     GET /api/libraries/:id/items (see [Audiobookshelf.AddLibraryItems]), GET /api/me/sessions,
//     DELETE /api/me/sessions/:id, PATCH /api/me/password.
//   - /api/api-keys (GET, POST) and /api/api-keys/:id (PATCH, DELETE), admin
//     or root only (403 text/plain "Forbidden"); keys are created inactive
//     unless "isActive": true; validation errors are 400 text/plain
//     "Bad Request".
//   - One shared rate limiter per client IP for POST /login, POST
//     /auth/refresh, GET /auth/openid* and PATCH /api/me/password (default 40
//     requests per 10 minutes, every request counts) with the RateLimit-*
//     headers, and 429 {"error": "Too many authentication requests"} plus
//     Retry-After once exceeded. The client IP honours X-Client-IP,
//     X-Forwarded-For, X-Real-IP and similar headers like the real server.
//   - OpenID Connect after [Audiobookshelf.EnableOpenID] (before it,
//     GET /auth/openid is Express's 500 page). The fake serves its own
//     identity provider: GET /fake-idp/authorize logs in as the user chosen
//     with [Audiobookshelf.SetOpenIDUser] and redirects straight back with a
//     code; GET /fake-idp/.well-known/openid-configuration and
//     GET /fake-idp/logout exist too. Mobile flow:
//     GET /auth/openid?response_type=code&redirect_uri=…&code_challenge=…&code_challenge_method=S256&state=…
//     → 302 to the IdP → 302 to /auth/openid/mobile-redirect → 302 to
//     <redirect_uri>?code=…&state=…; then GET /auth/openid/callback?code&state&code_verifier,
//     sent with the cookies set by /auth/openid (connect.sid and
//     auth_method=openid-mobile), answers the login payload with both tokens.
//     Web flow: GET /auth/openid?callback=<same-origin URL under the base path>
//     → IdP → /auth/openid/callback → 302 to <callback>?setToken=…&accessToken=….
//
// Not modelled: the rest of the API (items but the library's list, users, settings, sockets),
// GET /auth/openid/config, CORS, 304 answers to If-None-Match.
type Audiobookshelf struct {
	*Server
	st *absState
}

// NewAudiobookshelf starts the fake, initialised with a root user "root" with
// password "root". See [Audiobookshelf] for the modelled behaviour.
func NewAudiobookshelf(opts ...Option) *Audiobookshelf {
	return absNew(opts, true)
}

// NewAudiobookshelfUninitialised starts the fake without any user, as a fresh
// server: GET /status says "isInit": false and POST /init creates the root.
func NewAudiobookshelfUninitialised(opts ...Option) *Audiobookshelf {
	return absNew(opts, false)
}

const (
	absVersion         = "2.36.0"
	absDefaultBasePath = "/audiobookshelf"
	absDefaultButton   = "Login with OpenId"
	absMobileStateTTL  = 10 * time.Minute
	absIDPCodeTTL      = 5 * time.Minute
	absCookieTenYears  = 10 * 365 * 24 * time.Hour
)

func absNew(opts []Option, initialised bool) *Audiobookshelf {
	cfg := newConfig(opts)
	if cfg.prefix == "" {
		cfg.prefix = absDefaultBasePath
	}
	st := &absState{
		clock:        cfg.clock,
		basePath:     cfg.prefix,
		secret:       randBytes(64),
		sidSecret:    randBytes(32),
		accessTTL:    time.Hour,
		refreshTTL:   30 * 24 * time.Hour,
		grace:        10 * time.Minute,
		rateMax:      40,
		rateWindow:   10 * time.Minute,
		openIDButton: absDefaultButton,
		redirectURIs: []string{"audiobookshelf://oauth"},
		openIDUser:   "root",
		webSessions:  map[string]*absWebSession{},
		mobileStates: map[string]*absMobileState{},
		idpCodes:     map[string]*absIDPCode{},
		limiter:      map[string]*absRateEntry{},
	}
	st.routes = st.buildRoutes()
	if initialised {
		st.mu.Lock()
		st.addUserLocked("root", "root", "root")
		st.mu.Unlock()
	}
	srv := start(st, cfg, prefixRewrite)
	srv.URL = srv.HTTP.URL + "/"
	return &Audiobookshelf{Server: srv, st: st}
}

// BasePathURL returns the fake's URL including the router base path, for
// example "http://127.0.0.1:41234/audiobookshelf/". It reaches the same
// routes as URL.
func (a *Audiobookshelf) BasePathURL() string {
	return a.HTTP.URL + a.st.basePath + "/"
}

// AddUser adds an active user and returns its id. userType is "root",
// "admin", "user" or "guest"; an empty password makes a user that cannot log
// in with a password (except a root, which then logs in with ""). It panics
// on an invalid type or a username that is already taken.
func (a *Audiobookshelf) AddUser(username, password, userType string) (id string) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	switch userType {
	case "root", "admin", "user", "guest":
	default:
		panic(fmt.Sprintf("authtest: Audiobookshelf user type %q is not root, admin, user or guest", userType))
	}
	if username == "" || a.st.userByName(username) != nil {
		panic(fmt.Sprintf("authtest: Audiobookshelf username %q is empty or taken", username))
	}
	return a.st.addUserLocked(username, password, userType).id
}

// SetUserActive activates or deactivates a user. An inactive user cannot log
// in, refresh or use any token or API key. It panics if there is no such user.
func (a *Audiobookshelf) SetUserActive(username string, active bool) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	a.st.mustUser(username).active = active
}

// UserID returns the id of a user, or "" if there is none.
func (a *Audiobookshelf) UserID(username string) string {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	if u := a.st.userByName(username); u != nil {
		return u.id
	}
	return ""
}

// AddAPIKey creates an API key owned (and created) by username and returns
// the key (a JWT). expiresIn 0 means it never expires; active false creates
// it inactive, as POST /api/api-keys does without "isActive": true. It panics
// if there is no such user.
func (a *Audiobookshelf) AddAPIKey(username, name string, expiresIn time.Duration, active bool) (key string) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	u := a.st.mustUser(username)
	key, _ = a.st.createAPIKey(u, u, name, expiresIn.Seconds(), active, a.st.clock.Now())
	return key
}

// LegacyToken returns the user's legacy, non-expiring token (user.token:
// {userId, username, iat}, no exp and no type), or "" if there is no such
// user. The real server still accepts it as a Bearer token and then reports
// "isOldToken": true in the user object.
func (a *Audiobookshelf) LegacyToken(username string) string {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	if u := a.st.userByName(username); u != nil {
		return u.token
	}
	return ""
}

// AddLibrary adds a book library and returns its id. The first library is
// every user's userDefaultLibraryId.
func (a *Audiobookshelf) AddLibrary(name string) (id string) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	lib := &absLibrary{id: uuid4(), folderID: uuid4(), name: name, createdAt: a.st.clock.Now(),
		order: len(a.st.libraries) + 1}
	a.st.libraries = append(a.st.libraries, lib)
	return lib.id
}

// SetTokenExpiry sets the lifetime of new access and refresh tokens
// (ACCESS_TOKEN_EXPIRY and REFRESH_TOKEN_EXPIRY; defaults 1 h and 30 days),
// in whole seconds.
func (a *Audiobookshelf) SetTokenExpiry(access, refresh time.Duration) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	a.st.accessTTL, a.st.refreshTTL = access, refresh
}

// SetRefreshGracePeriod sets how long a rotated refresh token stays usable
// (REFRESH_TOKEN_GRACE_PERIOD; default 10 minutes, 0 disables the grace).
func (a *Audiobookshelf) SetRefreshGracePeriod(d time.Duration) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	a.st.grace = d
}

// SetRateLimit sets the shared auth rate limiter to max requests per window
// and per client IP (RATE_LIMIT_AUTH_MAX and RATE_LIMIT_AUTH_WINDOW; default
// 40 per 10 minutes). max 0 disables it: no RateLimit headers and no 429.
// It also forgets the requests counted so far.
func (a *Audiobookshelf) SetRateLimit(max int, window time.Duration) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	a.st.rateMax, a.st.rateWindow = max, window
	a.st.limiter = map[string]*absRateEntry{}
}

// EnableOpenID turns the "openid" auth method on, with buttonText as
// authOpenIDButtonText ("" keeps "Login with OpenId"), and enables the
// /auth/openid routes against the fake's own identity provider.
func (a *Audiobookshelf) EnableOpenID(buttonText string) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	a.st.openID = true
	if buttonText != "" {
		a.st.openIDButton = buttonText
	}
}

// SetOpenIDRedirectURIs sets the mobile redirect_uri whitelist
// (authOpenIDMobileRedirectURIs, default ["audiobookshelf://oauth"]); an
// entry "*" allows any URI.
func (a *Audiobookshelf) SetOpenIDRedirectURIs(uris []string) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	a.st.redirectURIs = append([]string(nil), uris...)
}

// SetOpenIDUser chooses the user the fake identity provider logs in as
// (default "root"). The callback answers 401 if that user does not exist or
// is inactive when the code is redeemed.
func (a *Audiobookshelf) SetOpenIDUser(username string) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	a.st.openIDUser = username
}

// Logins reports how many POST /login requests succeeded.
func (a *Audiobookshelf) Logins() int {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	return a.st.logins
}

// Refreshes reports how many POST /auth/refresh requests succeeded.
func (a *Audiobookshelf) Refreshes() int {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	return a.st.refreshes
}

// SessionCount reports how many server-side sessions (refresh token rows)
// the user has, expired ones included.
func (a *Audiobookshelf) SessionCount(username string) int {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	u := a.st.userByName(username)
	if u == nil {
		return 0
	}
	n := 0
	for _, s := range a.st.sessions {
		if s.userID == u.id {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// State

type absState struct {
	mu sync.Mutex

	clock     *Clock
	basePath  string
	secret    []byte
	sidSecret []byte
	routes    *router[absRoute]

	users       []*absUser
	keys        []*absAPIKey
	sessions    []*absSession
	libraries   []*absLibrary
	webSessions map[string]*absWebSession // express-session store, by id

	accessTTL, refreshTTL, grace time.Duration
	rateMax                      int
	rateWindow                   time.Duration
	limiter                      map[string]*absRateEntry

	openID       bool
	openIDButton string
	redirectURIs []string
	openIDUser   string
	mobileStates map[string]*absMobileState
	idpCodes     map[string]*absIDPCode

	logins, refreshes int
}

type absUser struct {
	id, username, password, typ, token string
	active, isOldToken, openIDLinked   bool
	createdAt                          time.Time
}

type absAPIKey struct {
	id, name, userID, createdByUserID string
	expiresAt                         *time.Time
	active                            bool
	createdAt, updatedAt              time.Time
}

type absSession struct {
	id, userID, ip, userAgent      string
	refreshToken, lastRefreshToken string
	lastRefreshExpiresAt           time.Time
	expiresAt, createdAt           time.Time
	updatedAt                      time.Time
}

type absLibrary struct {
	id, folderID, name string
	order              int
	createdAt          time.Time
	items              []*absLibraryItem // see audiobookshelf_items.go
}

type absWebSession struct {
	oidc *absOIDCSession
}

type absOIDCSession struct {
	state, nonce, codeVerifier, ssoRedirectURI string
	isMobile                                   bool
}

type absMobileState struct {
	mobileRedirectURI, ssoRedirectURI, nonce string
	createdAt                                time.Time
}

type absIDPCode struct {
	username, codeChallenge, redirectURI, nonce string
	expiresAt                                   time.Time
}

type absRateEntry struct {
	hits  int
	reset time.Time
}

func (st *absState) addUserLocked(username, password, typ string) *absUser {
	now := st.clock.Now()
	u := &absUser{id: uuid4(), username: username, password: password, typ: typ, active: true, createdAt: now}
	u.token = absSign(st.secret, absClaims{UserID: u.id, Username: u.username, Iat: now.Unix()})
	st.users = append(st.users, u)
	return u
}

// userByName looks a user up like getUserByUsername (case-insensitive).
func (st *absState) userByName(name string) *absUser {
	for _, u := range st.users {
		if strings.EqualFold(u.username, name) {
			return u
		}
	}
	return nil
}

func (st *absState) mustUser(name string) *absUser {
	u := st.userByName(name)
	if u == nil {
		panic(fmt.Sprintf("authtest: Audiobookshelf has no user %q", name))
	}
	return u
}

func (st *absState) userByID(id string) *absUser {
	for _, u := range st.users {
		if u.id == id {
			return u
		}
	}
	return nil
}

func (st *absState) hasRoot() bool {
	for _, u := range st.users {
		if u.typ == "root" {
			return true
		}
	}
	return false
}

func (st *absState) keyByID(id string) *absAPIKey {
	for _, k := range st.keys {
		if k.id == id {
			return k
		}
	}
	return nil
}

func (st *absState) authMethods() []string {
	if st.openID {
		return []string{"local", "openid"}
	}
	return []string{"local"}
}

// createAPIKey stores a key and returns its JWT. expiresIn is in seconds
// (0: never).
func (st *absState) createAPIKey(owner, creator *absUser, name string, expiresIn float64, active bool, now time.Time) (string, *absAPIKey) {
	k := &absAPIKey{id: uuid4(), name: name, userID: owner.id, active: active, createdAt: now, updatedAt: now}
	if creator != nil {
		k.createdByUserID = creator.id
	}
	claims := absClaims{KeyID: k.id, Name: name, Type: "api", Iat: now.Unix()}
	if expiresIn > 0 {
		exp := float64(now.Unix()) + expiresIn
		claims.Exp = &exp
		t := now.Add(time.Duration(expiresIn * float64(time.Second)))
		k.expiresAt = &t
	}
	st.keys = append(st.keys, k)
	return absSign(st.secret, claims), k
}

// absTokens is an access/refresh token pair.
type absTokens struct{ access, refresh string }

func (st *absState) accessToken(u *absUser, now time.Time) string {
	exp := float64(now.Unix() + int64(st.accessTTL/time.Second))
	return absSign(st.secret, absClaims{UserID: u.id, Username: u.username, JTI: uuid4(), Type: "access", Iat: now.Unix(), Exp: &exp})
}

func (st *absState) refreshToken(u *absUser, now time.Time) string {
	exp := float64(now.Unix() + int64(st.refreshTTL/time.Second))
	return absSign(st.secret, absClaims{UserID: u.id, Username: u.username, JTI: uuid4(), Type: "refresh", Iat: now.Unix(), Exp: &exp})
}

func (st *absState) createTokensAndSession(u *absUser, q *absReq) absTokens {
	t := absTokens{access: st.accessToken(u, q.now), refresh: st.refreshToken(u, q.now)}
	st.sessions = append(st.sessions, &absSession{
		id: uuid4(), userID: u.id, ip: absClientIP(q.r), userAgent: q.r.UserAgent(),
		refreshToken: t.refresh, expiresAt: q.now.Add(st.refreshTTL), createdAt: q.now, updatedAt: q.now,
	})
	return t
}

func (st *absState) deleteSessions(keep func(*absSession) bool) {
	out := st.sessions[:0]
	for _, s := range st.sessions {
		if keep(s) {
			out = append(out, s)
		}
	}
	for i := len(out); i < len(st.sessions); i++ {
		st.sessions[i] = nil
	}
	st.sessions = out
}

func (st *absState) refreshCookie(q *absReq, token string) string {
	return absSetCookie("refresh_token", token, absCookieOpts{maxAge: st.refreshTTL, httpOnly: true,
		secure: absIsSecure(q.r), sameSite: "Lax"}, q.now)
}

// newWebSession creates an express-session and returns it with its
// connect.sid Set-Cookie value.
func (st *absState) newWebSession(q *absReq) (*absWebSession, string) {
	id := randBase64URL(24)
	ws := &absWebSession{}
	st.webSessions[id] = ws
	mac := hmac.New(sha256.New, st.sidSecret)
	mac.Write([]byte(id))
	val := "s:" + id + "." + base64.RawStdEncoding.EncodeToString(mac.Sum(nil))
	return ws, absSetCookie("connect.sid", val, absCookieOpts{httpOnly: true}, q.now)
}

// webSession finds the express-session of the connect.sid cookie.
func (st *absState) webSession(q *absReq) *absWebSession {
	v := absCookieValue(q.r, "connect.sid")
	if !strings.HasPrefix(v, "s:") {
		return nil
	}
	i := strings.LastIndexByte(v, '.')
	if i < 2 {
		return nil
	}
	id, sig := v[2:i], v[i+1:]
	mac := hmac.New(sha256.New, st.sidSecret)
	mac.Write([]byte(id))
	if !hmac.Equal([]byte(sig), []byte(base64.RawStdEncoding.EncodeToString(mac.Sum(nil)))) {
		return nil
	}
	return st.webSessions[id]
}

// ---------------------------------------------------------------------------
// Routing

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

// authenticate is passport-jwt plus TokenManager.jwtAuthCheck.
func (st *absState) authenticate(q *absReq) *absUser {
	token := ""
	if f := strings.Fields(q.r.Header.Get("Authorization")); len(f) >= 2 && strings.EqualFold(f[0], "bearer") {
		token = f[1]
	} else {
		token = q.query.Get("token")
	}
	if token == "" {
		return nil
	}
	claims, ok := absVerify(st.secret, token)
	if !ok {
		return nil
	}
	nowSec := float64(q.now.UnixMilli()) / 1000
	exp, hasExp := absClaimExp(claims)
	switch absClaimString(claims, "type") {
	case "api":
		k := st.keyByID(absClaimString(claims, "keyId"))
		if k == nil || !k.active {
			return nil
		}
		if hasExp && exp < nowSec {
			k.active = false
			k.updatedAt = q.now
			return nil
		}
		u := st.userByID(k.userID)
		if u == nil || !u.active {
			return nil
		}
		return u
	case "refresh":
		return nil
	default: // "access" or a legacy token without type
		if hasExp && exp < nowSec {
			return nil
		}
		u := st.userByID(absClaimString(claims, "userId"))
		if u == nil || !u.active {
			return nil
		}
		u.isOldToken = !hasExp
		return u
	}
}

// rateLimit counts the request in the shared auth limiter and returns the
// draft-6 headers and whether the request is over the limit.
func (st *absState) rateLimit(q *absReq) (http.Header, bool) {
	if st.rateMax <= 0 {
		return nil, false
	}
	ip := absClientIP(q.r)
	e := st.limiter[ip]
	if e == nil || !e.reset.After(q.now) {
		e = &absRateEntry{reset: q.now.Add(st.rateWindow)}
		st.limiter[ip] = e
	}
	e.hits++
	remaining := st.rateMax - e.hits
	if remaining < 0 {
		remaining = 0
	}
	reset := int64(math.Ceil(e.reset.Sub(q.now).Seconds()))
	if reset < 0 {
		reset = 0
	}
	h := http.Header{}
	h.Set("RateLimit-Policy", strconv.Itoa(st.rateMax)+";w="+strconv.FormatInt(int64(math.Ceil(st.rateWindow.Seconds())), 10))
	h.Set("RateLimit-Limit", strconv.Itoa(st.rateMax))
	h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset, 10))
	blocked := e.hits > st.rateMax
	if blocked {
		h.Set("Retry-After", strconv.FormatInt(reset, 10))
	}
	return h, blocked
}

// ---------------------------------------------------------------------------
// JSON shapes

type absPermissions struct {
	Download                  bool `json:"download"`
	Update                    bool `json:"update"`
	Delete                    bool `json:"delete"`
	Upload                    bool `json:"upload"`
	CreateEreader             bool `json:"createEreader"`
	AccessAllLibraries        bool `json:"accessAllLibraries"`
	AccessAllTags             bool `json:"accessAllTags"`
	AccessExplicitContent     bool `json:"accessExplicitContent"`
	SelectedTagsNotAccessible bool `json:"selectedTagsNotAccessible"`
}

func absPermissionsFor(typ string) absPermissions {
	admin := typ == "root" || typ == "admin"
	return absPermissions{Download: true, Update: admin, Delete: typ == "root", Upload: admin, CreateEreader: admin,
		AccessAllLibraries: true, AccessAllTags: true, AccessExplicitContent: admin}
}

// absUserJSON is User.toOldJSONForBrowser.
type absUserJSON struct {
	ID                  string         `json:"id"`
	Username            string         `json:"username"`
	Email               *string        `json:"email"`
	Type                string         `json:"type"`
	Token               string         `json:"token"`
	IsOldToken          bool           `json:"isOldToken,omitempty"`
	MediaProgress       []any          `json:"mediaProgress"`
	SeriesHide          []any          `json:"seriesHideFromContinueListening"`
	Bookmarks           []any          `json:"bookmarks"`
	IsActive            bool           `json:"isActive"`
	IsLocked            bool           `json:"isLocked"`
	LastSeen            *int64         `json:"lastSeen"`
	CreatedAt           int64          `json:"createdAt"`
	Permissions         absPermissions `json:"permissions"`
	LibrariesAccessible []string       `json:"librariesAccessible"`
	ItemTagsSelected    []string       `json:"itemTagsSelected"`
	HasOpenIDLink       bool           `json:"hasOpenIDLink"`
}

type absUserWithTokens struct {
	absUserJSON
	RefreshToken *string `json:"refreshToken"`
	AccessToken  string  `json:"accessToken"`
}

func absUserToJSON(u *absUser) absUserJSON {
	return absUserJSON{ID: u.id, Username: u.username, Type: u.typ, Token: u.token, IsOldToken: u.isOldToken,
		MediaProgress: []any{}, SeriesHide: []any{}, Bookmarks: []any{}, IsActive: u.active,
		CreatedAt: u.createdAt.UnixMilli(), Permissions: absPermissionsFor(u.typ),
		LibrariesAccessible: []string{}, ItemTagsSelected: []string{}, HasOpenIDLink: u.openIDLinked}
}

type absUserBrief struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Type     string `json:"type"`
}

func absBrief(u *absUser) *absUserBrief {
	if u == nil {
		return nil
	}
	return &absUserBrief{ID: u.id, Username: u.username, Type: u.typ}
}

// absUserRow is the raw user row the PATCH /api/api-keys/:id quirk returns.
type absUserRow struct {
	ID          string  `json:"id"`
	Username    string  `json:"username"`
	Email       *string `json:"email"`
	Pash        string  `json:"pash"`
	Type        string  `json:"type"`
	Token       string  `json:"token"`
	IsActive    bool    `json:"isActive"`
	IsLocked    bool    `json:"isLocked"`
	LastSeen    *int64  `json:"lastSeen"`
	Permissions struct {
		absPermissions
		LibrariesAccessible []string `json:"librariesAccessible"`
		ItemTagsSelected    []string `json:"itemTagsSelected"`
	} `json:"permissions"`
	Bookmarks []any `json:"bookmarks"`
	ExtraData struct {
		SeriesHide []any `json:"seriesHideFromContinueListening"`
	} `json:"extraData"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

func absUserToRow(u *absUser) absUserRow {
	row := absUserRow{ID: u.id, Username: u.username, Type: u.typ, Token: u.token, IsActive: u.active,
		Bookmarks: []any{}, CreatedAt: absISO(u.createdAt), UpdatedAt: absISO(u.createdAt)}
	if u.password != "" {
		sum := sha256.Sum256([]byte(u.id + u.password)) // a bcrypt-shaped stand-in
		row.Pash = "$2a$08$" + hex.EncodeToString(sum[:])[:53]
	}
	row.Permissions.absPermissions = absPermissionsFor(u.typ)
	row.Permissions.LibrariesAccessible = []string{}
	row.Permissions.ItemTagsSelected = []string{}
	row.ExtraData.SeriesHide = []any{}
	return row
}

type absAuthFormData struct {
	AuthLoginCustomMessage string  `json:"authLoginCustomMessage"`
	AuthOpenIDButtonText   *string `json:"authOpenIDButtonText,omitempty"`
	AuthOpenIDAutoLaunch   *bool   `json:"authOpenIDAutoLaunch,omitempty"`
}

type absStatusJSON struct {
	App           string          `json:"app"`
	ServerVersion string          `json:"serverVersion"`
	IsInit        bool            `json:"isInit"`
	Language      string          `json:"language"`
	AuthMethods   []string        `json:"authMethods"`
	AuthFormData  absAuthFormData `json:"authFormData"`
	ConfigPath    string          `json:"ConfigPath,omitempty"`
	MetadataPath  string          `json:"MetadataPath,omitempty"`
}

// absServerSettings is ServerSettings.toJSONForBrowser (plus timeZone).
type absServerSettings struct {
	ID                              string   `json:"id"`
	ScannerFindCovers               bool     `json:"scannerFindCovers"`
	ScannerCoverProvider            string   `json:"scannerCoverProvider"`
	ScannerParseSubtitle            bool     `json:"scannerParseSubtitle"`
	ScannerPreferMatchedMetadata    bool     `json:"scannerPreferMatchedMetadata"`
	ScannerDisableWatcher           bool     `json:"scannerDisableWatcher"`
	StoreCoverWithItem              bool     `json:"storeCoverWithItem"`
	StoreMetadataWithItem           bool     `json:"storeMetadataWithItem"`
	MetadataFileFormat              string   `json:"metadataFileFormat"`
	RateLimitLoginRequests          int      `json:"rateLimitLoginRequests"`
	RateLimitLoginWindow            int      `json:"rateLimitLoginWindow"`
	AllowIframe                     bool     `json:"allowIframe"`
	BackupPath                      string   `json:"backupPath"`
	BackupSchedule                  any      `json:"backupSchedule"`
	BackupsToKeep                   int      `json:"backupsToKeep"`
	MaxBackupSize                   int      `json:"maxBackupSize"`
	LoggerDailyLogsToKeep           int      `json:"loggerDailyLogsToKeep"`
	LoggerScannerLogsToKeep         int      `json:"loggerScannerLogsToKeep"`
	HomeBookshelfView               int      `json:"homeBookshelfView"`
	BookshelfView                   int      `json:"bookshelfView"`
	PodcastEpisodeSchedule          string   `json:"podcastEpisodeSchedule"`
	SortingIgnorePrefix             bool     `json:"sortingIgnorePrefix"`
	SortingPrefixes                 []string `json:"sortingPrefixes"`
	ChromecastEnabled               bool     `json:"chromecastEnabled"`
	DateFormat                      string   `json:"dateFormat"`
	TimeFormat                      string   `json:"timeFormat"`
	Language                        string   `json:"language"`
	AllowedOrigins                  []string `json:"allowedOrigins"`
	LogLevel                        int      `json:"logLevel"`
	Version                         string   `json:"version"`
	BuildNumber                     int      `json:"buildNumber"`
	AuthLoginCustomMessage          *string  `json:"authLoginCustomMessage"`
	AuthActiveAuthMethods           []string `json:"authActiveAuthMethods"`
	AuthOpenIDIssuerURL             *string  `json:"authOpenIDIssuerURL"`
	AuthOpenIDAuthorizationURL      *string  `json:"authOpenIDAuthorizationURL"`
	AuthOpenIDTokenURL              *string  `json:"authOpenIDTokenURL"`
	AuthOpenIDUserInfoURL           *string  `json:"authOpenIDUserInfoURL"`
	AuthOpenIDJwksURL               *string  `json:"authOpenIDJwksURL"`
	AuthOpenIDLogoutURL             *string  `json:"authOpenIDLogoutURL"`
	AuthOpenIDTokenSigningAlgorithm string   `json:"authOpenIDTokenSigningAlgorithm"`
	AuthOpenIDButtonText            string   `json:"authOpenIDButtonText"`
	AuthOpenIDAutoLaunch            bool     `json:"authOpenIDAutoLaunch"`
	AuthOpenIDAutoRegister          bool     `json:"authOpenIDAutoRegister"`
	AuthOpenIDMatchExistingBy       *string  `json:"authOpenIDMatchExistingBy"`
	TimeZone                        string   `json:"timeZone"`
}

func (st *absState) serverSettings(q *absReq) absServerSettings {
	s := absServerSettings{
		ID: "server-settings", ScannerCoverProvider: "google", MetadataFileFormat: "json",
		RateLimitLoginRequests: 10, RateLimitLoginWindow: 600000, BackupPath: "/data/metadata/backups",
		BackupSchedule: false, BackupsToKeep: 2, MaxBackupSize: 1, LoggerDailyLogsToKeep: 7,
		LoggerScannerLogsToKeep: 2, HomeBookshelfView: 1, BookshelfView: 1, PodcastEpisodeSchedule: "0 * * * *",
		SortingPrefixes: []string{"the", "a"}, DateFormat: "MM/dd/yyyy", TimeFormat: "HH:mm",
		Language: "en-us", AllowedOrigins: []string{}, LogLevel: 2, Version: absVersion, BuildNumber: 1,
		AuthActiveAuthMethods: st.authMethods(), AuthOpenIDTokenSigningAlgorithm: "RS256",
		AuthOpenIDButtonText: st.openIDButton, TimeZone: "UTC",
	}
	if st.openID {
		idp := absOrigin(q.r) + "/fake-idp"
		str := func(s string) *string { return &s }
		s.AuthOpenIDIssuerURL = str(idp)
		s.AuthOpenIDAuthorizationURL = str(idp + "/authorize")
		s.AuthOpenIDTokenURL = str(idp + "/token")
		s.AuthOpenIDUserInfoURL = str(idp + "/userinfo")
		s.AuthOpenIDJwksURL = str(idp + "/jwks")
		s.AuthOpenIDLogoutURL = str(idp + "/logout")
		s.AuthOpenIDMatchExistingBy = str("username")
	}
	return s
}

type absLoginPayload struct {
	User                 any               `json:"user"`
	UserDefaultLibraryID *string           `json:"userDefaultLibraryId"`
	ServerSettings       absServerSettings `json:"serverSettings"`
	EreaderDevices       []any             `json:"ereaderDevices"`
	Source               string            `json:"Source"`
}

// loginPayload is Auth.getUserLoginResponsePayload; with tokens it adds
// user.accessToken and user.refreshToken (null unless returnRefresh).
func (st *absState) loginPayload(q *absReq, u *absUser, tokens *absTokens, returnRefresh bool) absLoginPayload {
	p := absLoginPayload{ServerSettings: st.serverSettings(q), EreaderDevices: []any{}, Source: "debian"}
	if len(st.libraries) > 0 {
		id := st.libraries[0].id
		p.UserDefaultLibraryID = &id
	}
	if tokens == nil {
		p.User = absUserToJSON(u)
	} else {
		uj := absUserWithTokens{absUserJSON: absUserToJSON(u), AccessToken: tokens.access}
		if returnRefresh {
			rt := tokens.refresh
			uj.RefreshToken = &rt
		}
		p.User = uj
	}
	return p
}

type absFolderJSON struct {
	ID        string `json:"id"`
	FullPath  string `json:"fullPath"`
	LibraryID string `json:"libraryId"`
	AddedAt   int64  `json:"addedAt"`
}

type absLibrarySettings struct {
	CoverAspectRatio                  int      `json:"coverAspectRatio"`
	DisableWatcher                    bool     `json:"disableWatcher"`
	AutoScanCronExpression            *string  `json:"autoScanCronExpression"`
	SkipMatchingMediaWithAsin         bool     `json:"skipMatchingMediaWithAsin"`
	SkipMatchingMediaWithIsbn         bool     `json:"skipMatchingMediaWithIsbn"`
	AudiobooksOnly                    bool     `json:"audiobooksOnly"`
	EpubsAllowScriptedContent         bool     `json:"epubsAllowScriptedContent"`
	HideSingleBookSeries              bool     `json:"hideSingleBookSeries"`
	OnlyShowLaterBooksInContinueSerie bool     `json:"onlyShowLaterBooksInContinueSeries"`
	MetadataPrecedence                []string `json:"metadataPrecedence"`
	MarkAsFinishedPercentComplete     *int     `json:"markAsFinishedPercentComplete"`
	MarkAsFinishedTimeRemaining       int      `json:"markAsFinishedTimeRemaining"`
}

type absLibraryJSON struct {
	ID              string             `json:"id"`
	Name            string             `json:"name"`
	Folders         []absFolderJSON    `json:"folders"`
	DisplayOrder    int                `json:"displayOrder"`
	Icon            string             `json:"icon"`
	MediaType       string             `json:"mediaType"`
	Provider        string             `json:"provider"`
	Settings        absLibrarySettings `json:"settings"`
	LastScan        *int64             `json:"lastScan"`
	LastScanVersion *string            `json:"lastScanVersion"`
	CreatedAt       int64              `json:"createdAt"`
	LastUpdate      int64              `json:"lastUpdate"`
}

func absLibraryToJSON(l *absLibrary) absLibraryJSON {
	ms := l.createdAt.UnixMilli()
	return absLibraryJSON{
		ID: l.id, Name: l.name,
		Folders:      []absFolderJSON{{ID: l.folderID, FullPath: "/data/" + strings.ToLower(strings.ReplaceAll(l.name, " ", "-")), LibraryID: l.id, AddedAt: ms}},
		DisplayOrder: l.order, Icon: "database", MediaType: "book", Provider: "google",
		Settings: absLibrarySettings{CoverAspectRatio: 1,
			MetadataPrecedence:          []string{"folderStructure", "audioMetatags", "nfoFile", "txtFiles", "opfFile", "absMetadata"},
			MarkAsFinishedTimeRemaining: 10},
		CreatedAt: ms, LastUpdate: ms,
	}
}

type absKeyCreatedJSON struct {
	APIKey          string        `json:"apiKey"`
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	ExpiresAt       *string       `json:"expiresAt"`
	UserID          string        `json:"userId"`
	IsActive        bool          `json:"isActive"`
	CreatedByUserID *string       `json:"createdByUserId"`
	UpdatedAt       string        `json:"updatedAt"`
	CreatedAt       string        `json:"createdAt"`
	User            *absUserBrief `json:"user"`
}

type absKeyRowJSON struct {
	ID              string  `json:"id"`
	Name            string  `json:"name"`
	Description     *string `json:"description"`
	ExpiresAt       *string `json:"expiresAt"`
	LastUsedAt      *string `json:"lastUsedAt"`
	IsActive        bool    `json:"isActive"`
	Permissions     any     `json:"permissions"`
	CreatedAt       string  `json:"createdAt"`
	UpdatedAt       string  `json:"updatedAt"`
	UserID          string  `json:"userId"`
	CreatedByUserID *string `json:"createdByUserId"`
	User            any     `json:"user"`
}

type absKeyListJSON struct {
	absKeyRowJSON
	CreatedByUser *absUserBrief `json:"createdByUser"`
}

func (st *absState) keyRow(k *absAPIKey) absKeyRowJSON {
	row := absKeyRowJSON{ID: k.id, Name: k.name, IsActive: k.active, CreatedAt: absISO(k.createdAt),
		UpdatedAt: absISO(k.updatedAt), UserID: k.userID}
	if k.expiresAt != nil {
		s := absISO(*k.expiresAt)
		row.ExpiresAt = &s
	}
	if st.userByID(k.createdByUserID) != nil {
		id := k.createdByUserID
		row.CreatedByUserID = &id
	}
	if u := st.userByID(k.userID); u != nil {
		row.User = absBrief(u)
	}
	return row
}

// ---------------------------------------------------------------------------
// Unauthenticated routes

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

func (st *absState) hInit(q *absReq) *absResp {
	if st.hasRoot() {
		return absStatus(http.StatusInternalServerError)
	}
	newRoot, ok := q.body["newRoot"]
	if !ok || newRoot == nil {
		// The real server crashes here (TypeError); answer 500 instead.
		return absStatus(http.StatusInternalServerError)
	}
	username, password := "root", ""
	if m, ok := newRoot.(map[string]any); ok {
		switch v := m["username"].(type) {
		case string:
			if v != "" {
				username = v
			}
		default:
			if absTruthy(v) {
				return absStatus(http.StatusInternalServerError)
			}
		}
		switch v := m["password"].(type) {
		case string:
			password = v
		default:
			if absTruthy(v) {
				return absStatus(http.StatusInternalServerError)
			}
		}
	}
	st.addUserLocked(username, password, "root")
	return absStatus(http.StatusOK)
}

// loginField is passport-local's lookup: body first, then query string.
func (q *absReq) loginField(name string) (any, bool) {
	if v, ok := q.body[name]; ok && v != nil {
		return v, true
	}
	if vs, ok := q.query[name]; ok && len(vs) > 0 {
		return vs[0], true
	}
	return nil, false
}

// checkPassword is LocalAuthStrategy's password check.
func absCheckPassword(u *absUser, password string) bool {
	if u.password == "" {
		return u.typ == "root" && password == ""
	}
	return hmac.Equal([]byte(u.password), []byte(password))
}

func (st *absState) hLogin(q *absReq) *absResp {
	uv, okU := q.loginField("username")
	pv, okP := q.loginField("password")
	if !okU || !okP {
		return absBare(http.StatusBadRequest)
	}
	username, ok1 := uv.(string)
	password, ok2 := pv.(string)
	if !ok1 || !ok2 {
		return absBare(http.StatusUnauthorized)
	}
	u := st.userByName(strings.ToLower(username))
	if u == nil || !u.active || !absCheckPassword(u, password) {
		return absBare(http.StatusUnauthorized)
	}
	st.logins++
	returnTokens := q.r.Header.Get("X-Return-Tokens") == "true"
	tokens := st.createTokensAndSession(u, q)
	resp := absJSON(http.StatusOK, st.loginPayload(q, u, &tokens, returnTokens))
	if !returnTokens {
		resp.addCookie(st.refreshCookie(q, tokens.refresh))
	}
	_, sid := st.newWebSession(q)
	return resp.addCookie(sid)
}

func absRefreshError(msg string) *absResp {
	return absJSON(http.StatusUnauthorized, map[string]string{"error": msg})
}

func (st *absState) hRefresh(q *absReq) *absResp {
	token := absCookieValue(q.r, "refresh_token")
	fromHeader := false
	if h := q.r.Header.Get("X-Refresh-Token"); h != "" {
		token, fromHeader = h, true
	}
	if token == "" {
		return absRefreshError("No refresh token provided")
	}
	claims, ok := absVerify(st.secret, token)
	if !ok {
		return absRefreshError("Invalid refresh token")
	}
	if exp, has := absClaimExp(claims); has && float64(q.now.Unix()) >= exp {
		st.deleteSessions(func(s *absSession) bool { return s.refreshToken != token })
		return absRefreshError("Refresh token expired")
	}
	if absClaimString(claims, "type") != "refresh" {
		return absRefreshError("Invalid token type")
	}
	var sess *absSession
	for _, s := range st.sessions {
		if s.refreshToken == token || s.lastRefreshToken == token {
			sess = s
			break
		}
	}
	if sess == nil {
		return absRefreshError("Invalid refresh token")
	}
	grace := false
	if sess.refreshToken != token {
		if !sess.lastRefreshExpiresAt.After(q.now) {
			return absRefreshError("Invalid refresh token")
		}
		grace = true
	} else if sess.expiresAt.Before(q.now) {
		st.deleteSessions(func(s *absSession) bool { return s != sess })
		return absRefreshError("Refresh token expired")
	}
	u := st.userByID(absClaimString(claims, "userId"))
	if u == nil || !u.active {
		return absRefreshError("User not found or inactive")
	}
	tokens := absTokens{access: st.accessToken(u, q.now), refresh: sess.refreshToken}
	if !grace {
		tokens.refresh = st.refreshToken(u, q.now)
		sess.lastRefreshToken, sess.lastRefreshExpiresAt = sess.refreshToken, q.now.Add(st.grace)
		sess.refreshToken, sess.expiresAt, sess.updatedAt = tokens.refresh, q.now.Add(st.refreshTTL), q.now
	}
	st.refreshes++
	resp := absJSON(http.StatusOK, st.loginPayload(q, u, &tokens, fromHeader))
	return resp.addCookie(st.refreshCookie(q, tokens.refresh))
}

func (st *absState) hLogout(q *absReq) *absResp {
	token := absCookieValue(q.r, "refresh_token")
	if token == "" {
		token = q.r.Header.Get("X-Refresh-Token")
	}
	if token != "" {
		all := q.query.Get("allDevices")
		if all == "1" || all == "true" {
			if claims, ok := absVerify(st.secret, token); ok {
				if uid := absClaimString(claims, "userId"); uid != "" {
					st.deleteSessions(func(s *absSession) bool { return s.userID != uid })
				}
			}
		} else {
			st.deleteSessions(func(s *absSession) bool { return s.refreshToken != token })
		}
	}
	authMethod := absCookieValue(q.r, "auth_method")
	var redirect *string
	if st.openID && (authMethod == "openid" || authMethod == "openid-mobile") {
		v := url.Values{}
		if idt := absCookieValue(q.r, "openid_id_token"); idt != "" {
			v.Set("id_token_hint", idt)
		}
		if authMethod == "openid" {
			v.Set("post_logout_redirect_uri", absOrigin(q.r)+st.basePath+"/login")
		}
		s := absOrigin(q.r) + "/fake-idp/logout"
		if len(v) > 0 {
			s += "?" + v.Encode()
		}
		redirect = &s
	}
	resp := absJSON(http.StatusOK, map[string]*string{"redirect_url": redirect})
	resp.addCookie(absClearCookie("refresh_token")).addCookie(absClearCookie("auth_method"))
	if authMethod == "openid" || authMethod == "openid-mobile" {
		resp.addCookie(absClearCookie("openid_id_token"))
	}
	_, sid := st.newWebSession(q)
	return resp.addCookie(sid)
}

// ---------------------------------------------------------------------------
// OpenID Connect

func (st *absState) validMobileRedirect(uri string) bool {
	for _, u := range st.redirectURIs {
		if u == "*" || u == uri {
			return true
		}
	}
	return false
}

// validWebCallback is OidcAuthStrategy.isValidWebCallbackUrl.
func (st *absState) validWebCallback(q *absReq, cb string) bool {
	if strings.HasPrefix(cb, "/") {
		return strings.HasPrefix(cb, st.basePath+"/")
	}
	u, err := url.Parse(cb)
	if err != nil || u.Scheme == "" {
		return false
	}
	proto := "http"
	if absIsSecure(q.r) {
		proto = "https"
	}
	return u.Scheme == proto && u.Host == q.r.Host && strings.HasPrefix(u.Path, st.basePath+"/")
}

func (st *absState) hOpenID(q *absReq) *absResp {
	if !st.openID {
		// getClient() throws outside the handler's try: Express's 500 page.
		return absExpressError(http.StatusInternalServerError, "Internal Server Error")
	}
	qs := q.query
	isMobile := qs.Get("response_type") != "" || qs.Get("redirect_uri") != "" || qs.Get("code_challenge") != ""
	if rt := qs.Get("response_type"); rt != "" && rt != "code" {
		return absSendText(http.StatusBadRequest, "Invalid response_type, only code supported")
	}
	state := randBase64URL(24)
	if isMobile && qs.Get("state") != "" {
		state = qs.Get("state")
	}
	origin := absOrigin(q.r)
	var ssoRedirect string
	if isMobile {
		if ru := qs.Get("redirect_uri"); ru == "" || !st.validMobileRedirect(ru) {
			return absSendText(http.StatusBadRequest, "Invalid redirect_uri")
		}
		ssoRedirect = origin + st.basePath + "/auth/openid/mobile-redirect"
	} else {
		ssoRedirect = origin + st.basePath + "/auth/openid/callback"
		if qs.Get("state") != "" {
			return absSendText(http.StatusBadRequest, "Invalid state, not allowed on web flow")
		}
	}
	var challenge, verifier string
	if isMobile {
		challenge = qs.Get("code_challenge")
		if challenge == "" {
			return absSendText(http.StatusBadRequest, "code_challenge required for mobile flow (PKCE)")
		}
		if m := qs.Get("code_challenge_method"); m != "" && m != "S256" {
			return absSendText(http.StatusBadRequest, "Only S256 code_challenge_method method supported")
		}
	} else {
		verifier = randBase64URL(32)
		challenge = absS256(verifier)
	}
	nonce := randBase64URL(16)
	if isMobile {
		for s, e := range st.mobileStates {
			if q.now.Sub(e.createdAt) > absMobileStateTTL {
				delete(st.mobileStates, s)
			}
		}
		st.mobileStates[state] = &absMobileState{mobileRedirectURI: qs.Get("redirect_uri"),
			ssoRedirectURI: ssoRedirect, nonce: nonce, createdAt: q.now}
	}
	ws, sidCookie := st.webSession(q), ""
	if ws == nil {
		ws, sidCookie = st.newWebSession(q)
	}
	ws.oidc = &absOIDCSession{state: state, nonce: nonce, codeVerifier: verifier, ssoRedirectURI: ssoRedirect, isMobile: isMobile}
	withSession := func(resp *absResp) *absResp {
		if sidCookie != "" {
			resp.addCookie(sidCookie)
		}
		return resp
	}

	var cookies []string
	method := "openid-mobile"
	if !isMobile {
		method = "openid"
		cb := qs.Get("callback")
		if cb == "" {
			return withSession(absJSON(http.StatusBadRequest, map[string]string{"message": "No callback parameter"}))
		}
		if !st.validWebCallback(q, cb) {
			return withSession(absJSON(http.StatusBadRequest, map[string]string{"message": "Invalid callback URL - must be same-origin"}))
		}
		cookies = append(cookies, absSetCookie("auth_cb", cb, absCookieOpts{maxAge: 2 * time.Minute, httpOnly: true}, q.now))
	}
	cookies = append(cookies, absSetCookie("auth_method", method, absCookieOpts{maxAge: absCookieTenYears, httpOnly: true}, q.now))

	v := url.Values{}
	v.Set("client_id", "audiobookshelf")
	v.Set("scope", "openid profile email")
	v.Set("response_type", "code")
	v.Set("redirect_uri", ssoRedirect)
	v.Set("state", state)
	v.Set("nonce", nonce)
	v.Set("code_challenge", challenge)
	v.Set("code_challenge_method", "S256")
	resp := absRedirect(q.r, origin+"/fake-idp/authorize?"+v.Encode())
	for _, c := range cookies {
		resp.addCookie(c)
	}
	return withSession(resp)
}

func (st *absState) hMobileRedirect(q *absReq) *absResp {
	state := q.query.Get("state")
	e := st.mobileStates[state]
	if state == "" || e == nil {
		return absSendText(http.StatusBadRequest, "State parameter mismatch")
	}
	if e.mobileRedirectURI == "" {
		return absSendText(http.StatusBadRequest, "No redirect URI")
	}
	delete(st.mobileStates, state)
	loc := e.mobileRedirectURI + "?code=" + absEncodeURIComponent(q.query.Get("code")) + "&state=" + absEncodeURIComponent(state)
	if q.query.Get("code") == "" && q.query.Get("error") != "" {
		loc = e.mobileRedirectURI + "?error=" + absEncodeURIComponent(q.query.Get("error")) + "&state=" + absEncodeURIComponent(state)
	}
	return absRedirect(q.r, loc)
}

func (st *absState) hOpenIDCallback(q *absReq) *absResp {
	if !st.openID {
		return absExpressError(http.StatusInternalServerError, "Internal Server Error")
	}
	ws := st.webSession(q)
	if ws == nil || ws.oidc == nil {
		return absSendText(http.StatusBadRequest, "No session")
	}
	o := ws.oidc
	ws.oidc = nil // the openid-client strategy consumes the session data
	fail := func(status int, msg string) *absResp {
		if o.isMobile {
			return absSendText(status, msg)
		}
		return absRedirect(q.r, "/login?error="+absEncodeURIComponent(msg)+"&autoLaunch=0")
	}
	if q.query.Get("error") != "" || q.query.Get("state") != o.state {
		return fail(http.StatusInternalServerError, "Error in callback")
	}
	code := st.idpCodes[q.query.Get("code")]
	delete(st.idpCodes, q.query.Get("code"))
	if code == nil || !code.expiresAt.After(q.now) || code.redirectURI != o.ssoRedirectURI {
		return fail(http.StatusInternalServerError, "Error in callback") // invalid_grant
	}
	verifier := q.query.Get("code_verifier")
	if verifier == "" {
		verifier = o.codeVerifier
	}
	if code.codeChallenge != "" && (verifier == "" || absS256(verifier) != code.codeChallenge) {
		return fail(http.StatusInternalServerError, "Error in callback") // invalid_grant
	}
	u := st.userByName(code.username)
	if u == nil || !u.active {
		return fail(http.StatusUnauthorized, "Unauthorized")
	}
	u.openIDLinked = true

	_, sid := st.newWebSession(q) // req.logIn regenerates the session
	idToken := absSign(st.secret, map[string]any{"iss": absOrigin(q.r) + "/fake-idp", "sub": u.id,
		"aud": "audiobookshelf", "nonce": code.nonce, "preferred_username": u.username,
		"iat": q.now.Unix(), "exp": q.now.Add(time.Hour).Unix()})
	cookies := []string{
		absSetCookie("openid_id_token", idToken, absCookieOpts{maxAge: absCookieTenYears, httpOnly: true, secure: true, sameSite: "Strict"}, q.now),
	}
	authMethod := absCookieValue(q.r, "auth_method")
	tokens := st.createTokensAndSession(u, q)
	var resp *absResp
	if authMethod == "openid-mobile" || authMethod == "api" {
		resp = absJSON(http.StatusOK, st.loginPayload(q, u, &tokens, true))
	} else {
		cookies = append(cookies, st.refreshCookie(q, tokens.refresh))
		if cb := absCookieValue(q.r, "auth_cb"); cb != "" {
			resp = absRedirect(q.r, cb+"?setToken="+u.token+"&accessToken="+tokens.access)
		} else {
			resp = absSendText(http.StatusBadRequest, "No callback or already expired")
		}
	}
	for _, c := range cookies {
		resp.addCookie(c)
	}
	return resp.addCookie(sid)
}

// hIDPAuthorize is the fake identity provider's authorization endpoint: it
// logs in at once as the SetOpenIDUser user and redirects back with a code.
func (st *absState) hIDPAuthorize(q *absReq) *absResp {
	ru := q.query.Get("redirect_uri")
	u, err := url.Parse(ru)
	if q.query.Get("response_type") != "code" || ru == "" || err != nil || !u.IsAbs() {
		return &absResp{status: http.StatusBadRequest, contentType: absCTPlain, body: []byte("invalid_request")}
	}
	if m := q.query.Get("code_challenge_method"); q.query.Get("code_challenge") != "" && m != "" && m != "S256" {
		return &absResp{status: http.StatusBadRequest, contentType: absCTPlain, body: []byte("invalid_request")}
	}
	code := randBase64URL(24)
	st.idpCodes[code] = &absIDPCode{username: st.openIDUser, codeChallenge: q.query.Get("code_challenge"),
		redirectURI: ru, nonce: q.query.Get("nonce"), expiresAt: q.now.Add(absIDPCodeTTL)}
	v := u.Query()
	v.Set("code", code)
	if s := q.query.Get("state"); s != "" {
		v.Set("state", s)
	}
	u.RawQuery = v.Encode()
	return absRedirect(q.r, u.String())
}

func (st *absState) hIDPLogout(q *absReq) *absResp {
	return &absResp{status: http.StatusOK, contentType: absCTPlain, body: []byte("Logged out")}
}

func (st *absState) hIDPConfig(q *absReq) *absResp {
	idp := absOrigin(q.r) + "/fake-idp"
	return absJSON(http.StatusOK, map[string]any{
		"issuer": idp, "authorization_endpoint": idp + "/authorize", "token_endpoint": idp + "/token",
		"userinfo_endpoint": idp + "/userinfo", "end_session_endpoint": idp + "/logout", "jwks_uri": idp + "/jwks",
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

// ---------------------------------------------------------------------------
// /api routes (q.user is set)

func (st *absState) hMe(q *absReq) *absResp {
	return absJSON(http.StatusOK, absUserToJSON(q.user))
}

func (st *absState) hAuthorize(q *absReq) *absResp {
	return absJSON(http.StatusOK, st.loginPayload(q, q.user, nil, false))
}

func (st *absState) hLibraries(q *absReq) *absResp {
	libs := make([]absLibraryJSON, 0, len(st.libraries))
	for _, l := range st.libraries {
		libs = append(libs, absLibraryToJSON(l))
	}
	return absJSON(http.StatusOK, map[string]any{"libraries": libs})
}

func (st *absState) hLibrary(q *absReq) *absResp {
	for _, l := range st.libraries {
		if l.id == q.params[0] {
			return absJSON(http.StatusOK, absLibraryToJSON(l))
		}
	}
	return absSendText(http.StatusNotFound, "Library not found")
}

// absToNumber is the server's toNumber helper (default when not a number).
func absToNumber(s string, def int) int {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return def
	}
	return int(f)
}

type absSessionJSON struct {
	ID         string  `json:"id"`
	IPAddress  string  `json:"ipAddress"`
	UserAgent  *string `json:"userAgent"`
	DeviceInfo any     `json:"deviceInfo"`
	CreatedAt  int64   `json:"createdAt"`
	UpdatedAt  int64   `json:"updatedAt"`
	Current    bool    `json:"current"`
}

func (st *absState) hMeSessions(q *absReq) *absResp {
	page := max(0, absToNumber(q.query.Get("page"), 0))
	perPage := max(1, absToNumber(q.query.Get("itemsPerPage"), 10))
	out := map[string]any{"total": 0, "numPages": 0, "page": page, "itemsPerPage": perPage, "sessions": []absSessionJSON{}}
	if q.user.typ == "guest" {
		return absJSON(http.StatusOK, out)
	}
	current := absCookieValue(q.r, "refresh_token")
	if current == "" {
		current = q.r.Header.Get("X-Refresh-Token")
	}
	var rows []*absSession
	for _, s := range st.sessions {
		if s.userID == q.user.id && s.expiresAt.After(q.now) {
			rows = append(rows, s)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].updatedAt.After(rows[j].updatedAt) })
	list := []absSessionJSON{}
	for i := page * perPage; i < len(rows) && i < (page+1)*perPage; i++ {
		s := rows[i]
		sj := absSessionJSON{ID: s.id, IPAddress: s.ip, CreatedAt: s.createdAt.UnixMilli(), UpdatedAt: s.updatedAt.UnixMilli(),
			Current: current != "" && (s.refreshToken == current || s.lastRefreshToken == current)}
		if s.userAgent != "" {
			ua := s.userAgent
			sj.UserAgent = &ua
		}
		list = append(list, sj)
	}
	out["total"], out["numPages"], out["sessions"] = len(rows), (len(rows)+perPage-1)/perPage, list
	return absJSON(http.StatusOK, out)
}

func (st *absState) hDeleteMeSession(q *absReq) *absResp {
	if q.user.typ == "guest" {
		return absStatus(http.StatusForbidden)
	}
	id := q.params[0]
	if !absUUIDRe.MatchString(id) {
		return absStatus(http.StatusBadRequest)
	}
	found := false
	st.deleteSessions(func(s *absSession) bool {
		if s.id == id && s.userID == q.user.id {
			found = true
			return false
		}
		return true
	})
	if !found {
		return absStatus(http.StatusNotFound)
	}
	return absStatus(http.StatusOK)
}

func (st *absState) hMePassword(q *absReq) *absResp {
	if q.user.typ == "guest" {
		return absStatus(http.StatusForbidden)
	}
	pv, pok := q.body["password"]
	nv, nok := q.body["newPassword"]
	password, ps := pv.(string)
	newPassword, ns := nv.(string)
	if !pok || !nok || (!ps && pv != nil) || (!ns && nv != nil) {
		return absSendText(http.StatusBadRequest, "Missing or invalid password or new password")
	}
	u := q.user
	if u.typ != "root" && newPassword == "" {
		return absSendText(http.StatusBadRequest, "Invalid new password - Only root can have an empty password")
	}
	if !absCheckPassword(u, password) {
		return absSendText(http.StatusBadRequest, "Invalid password")
	}
	u.password = newPassword

	// Invalidate the other sessions; rotate the caller's own one.
	current := absCookieValue(q.r, "refresh_token")
	if current == "" {
		current = q.r.Header.Get("X-Refresh-Token")
	}
	var sess *absSession
	for _, s := range st.sessions {
		if current != "" && s.userID == u.id && s.refreshToken == current {
			sess = s
		}
	}
	if sess == nil {
		st.deleteSessions(func(s *absSession) bool { return s.userID != u.id })
		return absStatus(http.StatusOK)
	}
	st.deleteSessions(func(s *absSession) bool { return s.userID != u.id || s == sess })
	tokens := absTokens{access: st.accessToken(u, q.now), refresh: st.refreshToken(u, q.now)}
	sess.refreshToken, sess.lastRefreshToken, sess.lastRefreshExpiresAt = tokens.refresh, "", time.Time{}
	sess.expiresAt, sess.updatedAt = q.now.Add(st.refreshTTL), q.now
	var resp *absResp
	if q.r.Header.Get("X-Refresh-Token") != "" {
		resp = absJSON(http.StatusOK, map[string]any{"success": true,
			"user": map[string]string{"accessToken": tokens.access, "refreshToken": tokens.refresh}})
	} else {
		resp = absStatus(http.StatusOK)
	}
	return resp.addCookie(st.refreshCookie(q, tokens.refresh))
}

func absAdminOrUp(u *absUser) bool { return u.typ == "root" || u.typ == "admin" }

func (st *absState) hListKeys(q *absReq) *absResp {
	if !absAdminOrUp(q.user) {
		return absStatus(http.StatusForbidden)
	}
	list := make([]absKeyListJSON, 0, len(st.keys))
	for _, k := range st.keys {
		list = append(list, absKeyListJSON{absKeyRowJSON: st.keyRow(k), CreatedByUser: absBrief(st.userByID(k.createdByUserID))})
	}
	return absJSON(http.StatusOK, map[string]any{"apiKeys": list})
}

func (st *absState) hCreateKey(q *absReq) *absResp {
	if !absAdminOrUp(q.user) {
		return absStatus(http.StatusForbidden)
	}
	name, ok := q.body["name"].(string)
	if !ok || name == "" {
		return absStatus(http.StatusBadRequest)
	}
	userID, ok := q.body["userId"].(string)
	if !ok || userID == "" {
		return absStatus(http.StatusBadRequest)
	}
	var expiresIn float64
	if v := q.body["expiresIn"]; absTruthy(v) {
		f, isNum := v.(float64)
		if !isNum || f <= 0 {
			return absStatus(http.StatusBadRequest)
		}
		expiresIn = f
	}
	owner := st.userByID(userID)
	if owner == nil {
		return absStatus(http.StatusBadRequest)
	}
	if owner.typ == "root" && q.user.typ != "root" {
		return absStatus(http.StatusForbidden)
	}
	jwt, k := st.createAPIKey(owner, q.user, name, expiresIn, absTruthy(q.body["isActive"]), q.now)
	row := st.keyRow(k)
	return absJSON(http.StatusOK, map[string]any{"apiKey": absKeyCreatedJSON{
		APIKey: jwt, ID: k.id, Name: k.name, ExpiresAt: row.ExpiresAt, UserID: k.userID, IsActive: k.active,
		CreatedByUserID: row.CreatedByUserID, UpdatedAt: row.UpdatedAt, CreatedAt: row.CreatedAt, User: absBrief(owner),
	}})
}

func (st *absState) hUpdateKey(q *absReq) *absResp {
	if !absAdminOrUp(q.user) {
		return absStatus(http.StatusForbidden)
	}
	k := st.keyByID(q.params[0])
	if k == nil {
		return absStatus(http.StatusNotFound)
	}
	owner := st.userByID(k.userID)
	if owner != nil && owner.typ == "root" && q.user.typ != "root" {
		return absStatus(http.StatusForbidden)
	}
	active, newOwner := k.active, owner
	if v, ok := q.body["isActive"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return absStatus(http.StatusBadRequest)
		}
		active = b
	}
	if v, ok := q.body["userId"]; ok {
		id, isStr := v.(string)
		if !isStr {
			return absStatus(http.StatusBadRequest)
		}
		if newOwner = st.userByID(id); newOwner == nil {
			return absStatus(http.StatusBadRequest)
		}
		if newOwner.typ == "root" && q.user.typ != "root" {
			return absStatus(http.StatusForbidden)
		}
	}
	changed := active != k.active || newOwner != owner
	if changed {
		k.active, k.updatedAt = active, q.now
		if newOwner != nil {
			k.userID = newOwner.id
		}
	}
	row := st.keyRow(k)
	if !changed && owner != nil {
		row.User = absUserToRow(owner) // quirk: the full user row when nothing changed
	}
	return absJSON(http.StatusOK, map[string]any{"apiKey": row})
}

func (st *absState) hDeleteKey(q *absReq) *absResp {
	if !absAdminOrUp(q.user) {
		return absStatus(http.StatusForbidden)
	}
	for i, k := range st.keys {
		if k.id == q.params[0] {
			st.keys = append(st.keys[:i], st.keys[i+1:]...)
			return absStatus(http.StatusOK)
		}
	}
	return absStatus(http.StatusNotFound)
}

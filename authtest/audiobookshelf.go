package authtest

import (
	"fmt"
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
	cfg.ext.rt.fold, cfg.ext.trimSlash = true, true // Express
	cfg.ext.owns, cfg.ext.auth = st.owns, st.userAuth
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

func (st *absState) authMethods() []string {
	if st.openID {
		return []string{"local", "openid"}
	}
	return []string{"local"}
}

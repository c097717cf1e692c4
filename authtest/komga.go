package authtest

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Komga is a fake Komga server with the wire behaviour of Komga 1.26.x
// (Spring Boot 3.5, Spring Security 6.5, Spring Session). Create it with
// [NewKomga], add users with [Komga.AddUser] and point a client at its URL.
//
// # Authentication
//
// Requests under /api/ and the actuator endpoints go through the security
// chain; the credentials are checked in the order Spring runs its filters:
//
//   - Session. If the request has an X-Auth-Token header at all (an empty
//     value counts), the session comes from that header (the raw session id);
//     otherwise from the KOMGA-SESSION cookie, whose value is the standard
//     Base64 of the session id. Sessions live in memory and expire after 7
//     days without a request ([Server.Clock]); [Komga.ExpireSessions] drops
//     them all, like a server restart. A session id that is sent but unknown
//     or expired is answered (unless a new session is created) with an empty
//     "X-Auth-Token:" response header in header mode, or with a clearing
//     KOMGA-SESSION cookie (Max-Age=0) in cookie mode.
//   - HTTP Basic, with the user's email (matched case-insensitively) and a
//     UTF-8 password. A wrong password or a malformed Basic header gives 401
//     at once, even next to a valid API key. When the session already
//     belongs to the same email, the credentials are not checked again.
//     A successful check counts in [Komga.Logins] and creates a session
//     (unless the request also carries X-API-Key, or a session already
//     exists, which is then reused): with an X-Auth-Token request header the
//     new id comes back in the X-Auth-Token response header and no cookie is
//     set; otherwise as "Set-Cookie: KOMGA-SESSION=<base64 id>;
//     Path=<prefix>/; HttpOnly; SameSite=Lax" (plus "; Secure" over HTTPS or
//     with X-Forwarded-Proto: https). The session id is written only when the
//     session is new. With the request parameter remember-me (true, on, yes
//     or 1) the response also sets "komga-remember-me=<signed value>;
//     Max-Age=31536000; Path=<prefix>/; HttpOnly". A failed Basic login
//     cancels the remember-me cookie.
//   - X-API-Key (runs after Basic and wins). The key authenticates as its
//     owner on every request; it never creates a session or sets a cookie.
//     An invalid key (an empty value included) gives 401 even when Basic or
//     the session is valid; on the public endpoints the normal body is still
//     written, with status 401, as in Komga.
//   - Remember-me: when nothing above authenticated the request, a valid
//     komga-remember-me cookie does, and creates a new session that is
//     returned the same way as for Basic (header or cookie). An invalid or
//     expired remember-me cookie is cancelled ("komga-remember-me=;
//     Max-Age=0; Path=<prefix>/"). Remember-me cookies survive
//     [Komga.ExpireSessions] and are signed with the user's password, so
//     [Komga.AddUser] with a new password invalidates them.
//
// Authorization: Bearer is ignored (the request is anonymous). Anonymous
// requests to protected paths get 401 with "WWW-Authenticate: Basic
// realm="Realm"" and the Spring Boot error JSON
// {"timestamp","status":401,"error":"Unauthorized","message":"Unauthorized","path"}
// (path is the full request path, prefix included); with
// "X-Requested-With: XMLHttpRequest" the 401 has no WWW-Authenticate header
// and an empty body.
//
// # Routes
//
// All paths are relative to the prefix. JSON bodies use Content-Type
// application/json.
//
//   - GET /api/v2/users/me — the UserDto ({"id","email","roles",
//     "sharedAllLibraries":true,"sharedLibrariesIds":[],"labelsAllow":[],
//     "labelsExclude":[]}; roles always include USER).
//   - GET /api/v2/users — admin only: an array of UserDto; others get 403
//     with Boot error JSON ("error":"Forbidden","message":"Forbidden").
//   - GET /api/v2/users/me/api-keys — the caller's keys, with key "******".
//   - POST /api/v2/users/me/api-keys {"comment": "..."} — 200 with the new
//     ApiKeyDto ({"id","userId","key","comment","createdDate",
//     "lastModifiedDate"}), the plain key shown only here. The comment is
//     trimmed. A blank comment gives 400
//     {"violations":[{"fieldName":"comment","message":"must not be blank"}]};
//     a body that cannot be read (malformed JSON, missing or null comment,
//     empty body) gives 400 Boot error JSON "Failed to read request"; a
//     non-JSON Content-Type gives 415; a comment already used by the same user
//     (ASCII case-insensitively) gives 400 Boot error JSON "ERR_1034".
//   - DELETE /api/v2/users/me/api-keys/{id} — 204; an unknown id or another
//     user's key gives 404 Boot error JSON "404 NOT_FOUND".
//   - GET /api/v1/oauth2/providers — public: [{"name","registrationId"}].
//   - GET /api/v1/login/set-cookie — 204 with the KOMGA-SESSION cookie of the
//     request's session. For an API-key request a fresh session without
//     authentication is created, so the cookie is useless (as in Komga).
//   - GET, POST, PUT or DELETE /api/logout — public: 204 with an empty body;
//     invalidates the session and answers "Set-Cookie: KOMGA-SESSION=;
//     Max-Age=0; Path=<prefix>/" and "Set-Cookie: komga-remember-me=;
//     Max-Age=0; Path=<prefix>/", plus an empty X-Auth-Token header when the
//     request had an X-Auth-Token header. A browser-style request (Accept
//     with text/html, or only types such as text/plain, and no XHR header)
//     gets 302 to <prefix>/login?logout instead. API keys are not affected.
//   - GET /api/v1/claim — public: {"isClaimed": true once a user exists}.
//     POST /api/v1/claim with the X-Komga-Email and X-Komga-Password headers
//     creates the first user (all roles) and returns its UserDto; once claimed
//     it gives 400 "This server has already been claimed".
//   - GET /actuator/health — public: {"status":"UP"} (Content-Type
//     application/vnd.spring-boot.actuator.v3+json unless the request
//     accepts application/json explicitly). GET /actuator/info — admin only:
//     the build info with version 1.26.3.
//   - GET /api/v1/series?page=&size=&search=&unpaged= — the series added
//     with [Komga.AddSeries], as a Spring Data page; see [Komga.AddSeries].
//
// An unknown path under /api/ gives 401 to anonymous requests and 404 Boot
// error JSON "No endpoint GET <path>." to authenticated ones; a known path
// with another method gives 405 Boot error JSON "Method 'PUT' is not
// supported." with an Allow header; OPTIONS gives 200 with Allow. Paths
// outside /api/ and the two actuator endpoints get 404. HEAD is served like
// GET.
//
// IDs are 13-character TSIDs (Crockford base32); API keys are 32 lowercase
// hex characters, stored only as SHA-512 hashes; dates come from
// [Server.Clock] in UTC RFC 3339 with fractional seconds (trailing zeros
// dropped, as Java prints them). Boot error JSON timestamps look like
// 2025-03-01T10:00:00.000+00:00.
//
// [Komga.SetLegacyCookieBug] switches on the behaviour of Komga before
// 1.23.5 (issue #2099) to test that a client sends no cookies in API-key
// mode.
//
// Not modelled: libraries, books and everything else outside
// authentication but the series list; OAuth2 login flows (only the provider list); OPDS, SSE,
// Kobo and KOReader; CORS; the demo profile.
type Komga struct {
	*Server

	lock        sync.Mutex
	legacyBug   bool
	users       []*komgaUser
	keys        []*komgaAPIKey
	sessions    map[string]*komgaSession
	providers   []komgaProvider
	logins      int
	lastID      uint64
	rememberKey string
	series      []*komgaSeries
	libraryID   string // the one library AddSeries puts series in
	routes      *router[komgaRoute]
}

type komgaUser struct {
	id           string
	email        string
	passwordHash string // hex SHA-256 of the password
	roles        map[string]bool
}

type komgaAPIKey struct {
	id      string
	userID  string
	hash    string // hex SHA-512 of the plain key
	comment string
	created time.Time
}

type komgaSession struct {
	userID     string // empty: a session without authentication
	lastAccess time.Time
}

type komgaProvider struct {
	Name           string `json:"name"`
	RegistrationID string `json:"registrationId"`
}

// komgaRoles lists the roles a Komga user can have, in the order the fake
// reports them (USER is added after them).
var komgaRoles = []string{"ADMIN", "FILE_DOWNLOAD", "PAGE_STREAMING", "KOBO_SYNC", "KOREADER_SYNC"}

const (
	komgaSessionCookie  = "KOMGA-SESSION"
	komgaRememberCookie = "komga-remember-me"
	komgaSessionTimeout = 7 * 24 * time.Hour
	komgaRememberMaxAge = 365 * 24 * 60 * 60 // seconds
	komgaVersion        = "1.26.3"
	komgaActuatorJSON   = "application/vnd.spring-boot.actuator.v3+json"
)

// NewKomga starts a fake Komga server with no users. Close it when done.
func NewKomga(opts ...Option) *Komga {
	k := &Komga{
		sessions:    map[string]*komgaSession{},
		rememberKey: randHex(16),
	}
	k.routes = k.buildRoutes()
	cfg := newConfig(opts)
	cfg.ext.owns, cfg.ext.auth = k.komgaOwns, k.komgaAuth
	k.Server = start(http.HandlerFunc(k.serveHTTP), cfg, prefixStrict)
	return k
}

// AddUser creates a user who logs in with email and password and returns its
// id. roles are taken from ADMIN, FILE_DOWNLOAD, PAGE_STREAMING, KOBO_SYNC
// and KOREADER_SYNC (case-insensitively); unknown roles are dropped, and the
// UserDto always adds USER. If a user with that email (ASCII
// case-insensitively) exists already, its password and roles are replaced
// instead, and, as in Komga, all its sessions are expired and its
// remember-me cookies stop working when the password changed; its id is
// returned.
func (k *Komga) AddUser(email, password string, roles ...string) (id string) {
	k.lock.Lock()
	defer k.lock.Unlock()
	set := map[string]bool{}
	for _, r := range roles {
		r = strings.ToUpper(strings.TrimSpace(r))
		for _, known := range komgaRoles {
			if r == known {
				set[r] = true
			}
		}
	}
	if u := k.userByEmail(email); u != nil {
		u.passwordHash = komgaHashPassword(password)
		u.roles = set
		for sid, s := range k.sessions {
			if s.userID == u.id {
				delete(k.sessions, sid)
			}
		}
		return u.id
	}
	u := &komgaUser{id: k.newID(), email: email, passwordHash: komgaHashPassword(password), roles: set}
	k.users = append(k.users, u)
	return u.id
}

// AddAPIKey creates an API key for the user with that email (matched ASCII
// case-insensitively) and returns the plain key: 32 lowercase hex
// characters, which the fake, like Komga, stores only as a hash and never
// shows again. The comment is trimmed; unlike the REST endpoint, AddAPIKey
// does not check that it is unique. AddAPIKey panics if there is no such
// user.
func (k *Komga) AddAPIKey(email, comment string) (key string) {
	k.lock.Lock()
	defer k.lock.Unlock()
	u := k.userByEmail(email)
	if u == nil {
		panic("authtest: Komga.AddAPIKey: no user with email " + strconv.Quote(email))
	}
	plain, _ := k.createKey(u, strings.TrimSpace(comment))
	return plain
}

// AddOAuthProvider adds an OAuth2 provider to the list that
// GET /api/v1/oauth2/providers returns, for example ("Google", "google").
func (k *Komga) AddOAuthProvider(name, registrationID string) {
	k.lock.Lock()
	defer k.lock.Unlock()
	k.providers = append(k.providers, komgaProvider{Name: name, RegistrationID: registrationID})
}

// ExpireSessions drops every session, as a restart of Komga does (sessions
// live only in memory). Remember-me cookies and API keys stay valid.
func (k *Komga) ExpireSessions() {
	k.lock.Lock()
	defer k.lock.Unlock()
	k.sessions = map[string]*komgaSession{}
}

// Logins reports how many successful password (HTTP Basic) authentications
// the fake has seen. Requests authenticated by a session, a remember-me
// cookie or an API key do not count, nor do Basic credentials that were not
// checked because the session already belongs to that user.
func (k *Komga) Logins() int {
	k.lock.Lock()
	defer k.lock.Unlock()
	return k.logins
}

// Sessions reports how many sessions are live (not expired by inactivity),
// including sessions without authentication.
func (k *Komga) Sessions() int {
	k.lock.Lock()
	defer k.lock.Unlock()
	now := k.Clock.Now()
	n := 0
	for _, s := range k.sessions {
		if now.Sub(s.lastAccess) < komgaSessionTimeout {
			n++
		}
	}
	return n
}

// SetLegacyCookieBug, when on, mimics Komga before 1.23.5 (issue #2099):
// every API-key request that has no session gets one, returned as a
// KOMGA-SESSION cookie (or in X-Auth-Token when the request had that header),
// and any request under /api/ or the actuator that carries both an X-API-Key
// header and a KOMGA-SESSION cookie gets 200 with an empty body. A client
// with a cookie jar in API-key mode thus breaks on its second request, which
// is what tests use it to prove. It is off by default and may be switched at
// any time.
func (k *Komga) SetLegacyCookieBug(on bool) {
	k.lock.Lock()
	defer k.lock.Unlock()
	k.legacyBug = on
}

type komgaViolation struct {
	FieldName string `json:"fieldName"`
	Message   string `json:"message"`
}

type komgaViolations struct {
	Violations []komgaViolation `json:"violations"`
}

type komgaAgeRestriction struct {
	Age         int    `json:"age"`
	Restriction string `json:"restriction"`
}

type komgaUserDto struct {
	ID                 string               `json:"id"`
	Email              string               `json:"email"`
	Roles              []string             `json:"roles"`
	SharedAllLibraries bool                 `json:"sharedAllLibraries"`
	SharedLibrariesIDs []string             `json:"sharedLibrariesIds"`
	LabelsAllow        []string             `json:"labelsAllow"`
	LabelsExclude      []string             `json:"labelsExclude"`
	AgeRestriction     *komgaAgeRestriction `json:"ageRestriction,omitempty"`
}

func (k *Komga) userDto(u *komgaUser) komgaUserDto {
	roles := []string{}
	for _, r := range komgaRoles {
		if u.roles[r] {
			roles = append(roles, r)
		}
	}
	return komgaUserDto{
		ID:                 u.id,
		Email:              u.email,
		Roles:              append(roles, "USER"),
		SharedAllLibraries: true,
		SharedLibrariesIDs: []string{},
		LabelsAllow:        []string{},
		LabelsExclude:      []string{},
	}
}

// newID returns a new TSID (Komga's id format), strictly increasing.
func (k *Komga) newID() string { return tsid(k.Clock.Now().UnixMilli(), &k.lastID) }

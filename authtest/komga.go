package authtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
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
	k.Server = start(http.HandlerFunc(k.serveHTTP), newConfig(opts), prefixStrict)
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

// komgaRequest is the security state of one request.
type komgaRequest struct {
	user       *komgaUser
	viaKey     bool
	keyFailed  bool // an X-API-Key was sent and rejected: status 401
	headerMode bool // the request has an X-Auth-Token header
	requested  bool // a session id was sent
	session    *komgaSession
	sessionID  string
	newSession bool
}

// komgaWriter runs commit just before the response header is written.
type komgaWriter struct {
	http.ResponseWriter
	commit func()
	done   bool
}

func (w *komgaWriter) WriteHeader(code int) {
	if !w.done {
		w.done = true
		if w.commit != nil {
			w.commit()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *komgaWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (k *Komga) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	k.lock.Lock()
	defer k.lock.Unlock()

	path := r.URL.Path
	if path != "/api" && !strings.HasPrefix(path, "/api/") && path != "/actuator/health" && path != "/actuator/info" {
		k.bootError(rw, r, http.StatusNotFound, "No endpoint "+r.Method+" "+k.requestPath(r)+".")
		return
	}
	h := rw.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-XSS-Protection", "0")
	h.Set("X-Frame-Options", "SAMEORIGIN")

	if path == "/api/logout" {
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete:
			k.logout(rw, r)
			return
		}
	}
	if _, hasKey := r.Header["X-Api-Key"]; k.legacyBug && hasKey && komgaHasCookie(r, komgaSessionCookie) {
		writeText(rw, http.StatusOK, "", "")
		return
	}

	rq := &komgaRequest{}
	w := &komgaWriter{ResponseWriter: rw, commit: func() { k.commitSession(rw, r, rq) }}
	if !k.authenticate(w, r, rq) {
		return
	}
	k.route(w, r, rq)
}

// authenticate runs the security filters. It answers the request itself and
// returns false when Basic authentication fails.
func (k *Komga) authenticate(w http.ResponseWriter, r *http.Request, rq *komgaRequest) bool {
	now := k.Clock.Now()
	_, rq.headerMode = r.Header["X-Auth-Token"]
	if rq.headerMode {
		rq.requested = true
		id := r.Header.Get("X-Auth-Token")
		if s := k.lookupSession(id, now); s != nil {
			rq.session, rq.sessionID = s, id
		}
	} else {
		for _, c := range r.Cookies() {
			if c.Name != komgaSessionCookie {
				continue
			}
			rq.requested = true
			raw, err := base64.StdEncoding.DecodeString(c.Value)
			if err != nil {
				continue
			}
			if s := k.lookupSession(string(raw), now); s != nil {
				rq.session, rq.sessionID = s, string(raw)
				break
			}
		}
	}
	if rq.session != nil {
		rq.user = k.userByID(rq.session.userID)
	}

	_, hasKey := r.Header["X-Api-Key"]
	if email, password, present, ok := komgaBasicAuth(r); present {
		switch {
		case ok && rq.user != nil && rq.user.email == email:
			// Already authenticated as that user: Spring does not check again.
		case ok && k.checkPassword(email, password) != nil:
			u := k.userByEmail(email)
			k.logins++
			rq.user = u
			if !hasKey {
				k.saveInSession(rq, u, now)
				if komgaRememberMeRequested(r) {
					k.setRememberMe(w, r, u, now)
				}
			}
		default:
			k.cancelRememberMe(w, r)
			k.unauthorized(w, r)
			return false
		}
	}
	if hasKey {
		if u := k.userByKey(r.Header.Get("X-Api-Key")); u != nil {
			rq.user, rq.viaKey = u, true
		} else {
			rq.user, rq.keyFailed = nil, true
		}
	}
	if rq.user == nil && !rq.keyFailed {
		if c, err := r.Cookie(komgaRememberCookie); err == nil {
			if u := k.checkRememberMe(c.Value, now); u != nil {
				rq.user = u
				k.saveInSession(rq, u, now)
			} else {
				k.cancelRememberMe(w, r)
			}
		}
	}
	if k.legacyBug && rq.viaKey && rq.session == nil {
		k.saveInSession(rq, rq.user, now)
	}
	return true
}

// saveInSession stores an authentication in the request's session, creating
// the session if needed.
func (k *Komga) saveInSession(rq *komgaRequest, u *komgaUser, now time.Time) {
	if rq.session != nil {
		rq.session.userID = u.id
		return
	}
	rq.sessionID, rq.session = k.newSession(u.id, now)
	rq.newSession = true
}

// commitSession writes the session id of a new session, or expires the
// session the client sent when it was invalid, as Spring Session does when
// the response is committed.
func (k *Komga) commitSession(w http.ResponseWriter, r *http.Request, rq *komgaRequest) {
	switch {
	case rq.newSession && rq.headerMode:
		w.Header().Set("X-Auth-Token", rq.sessionID)
	case rq.newSession:
		w.Header().Add("Set-Cookie", k.sessionCookie(r, rq.sessionID))
	case rq.requested && rq.session == nil && rq.headerMode:
		w.Header()["X-Auth-Token"] = []string{""}
	case rq.requested && rq.session == nil:
		w.Header().Add("Set-Cookie", komgaSessionCookie+"=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path="+
			k.cookiePath()+komgaSecure(r)+"; HttpOnly; SameSite=Lax")
	}
}

func (k *Komga) sessionCookie(r *http.Request, id string) string {
	return komgaSessionCookie + "=" + base64.StdEncoding.EncodeToString([]byte(id)) +
		"; Path=" + k.cookiePath() + komgaSecure(r) + "; HttpOnly; SameSite=Lax"
}

func (k *Komga) cookiePath() string { return k.prefix + "/" }

func (k *Komga) logout(w http.ResponseWriter, r *http.Request) {
	_, headerMode := r.Header["X-Auth-Token"]
	if headerMode {
		delete(k.sessions, r.Header.Get("X-Auth-Token"))
		w.Header()["X-Auth-Token"] = []string{""}
	} else {
		for _, c := range r.Cookies() {
			if c.Name == komgaSessionCookie {
				if raw, err := base64.StdEncoding.DecodeString(c.Value); err == nil {
					delete(k.sessions, string(raw))
				}
			}
		}
	}
	w.Header().Add("Set-Cookie", komgaSessionCookie+"=; Max-Age=0; Path="+k.cookiePath()+komgaSecure(r))
	k.cancelRememberMe(w, r)
	if !komgaAPIStyle(r) {
		w.Header().Set("Location", k.prefix+"/login?logout")
		writeText(w, http.StatusFound, "", "")
		return
	}
	writeText(w, http.StatusNoContent, "", "")
}

// komgaAPIStyle reports whether Spring Security's httpBasic matcher treats
// the request as a non-browser one: an XHR, an Accept with a REST media type
// and no HTML, or an Accept of exactly */* (or none).
func komgaAPIStyle(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") == "XMLHttpRequest" {
		return true
	}
	accepted := komgaAccept(r)
	html, rest := false, false
	for _, a := range accepted {
		if a.raw == "*/*" {
			return true
		}
		if komgaMediaCompatible(a.typ, "text/html") {
			html = true
		}
		if a.typ == "*/*" {
			continue
		}
		for _, t := range []string{"application/atom+xml", "application/x-www-form-urlencoded", "application/json",
			"application/octet-stream", "application/xml", "multipart/form-data", "text/xml"} {
			if komgaMediaCompatible(a.typ, t) {
				rest = true
			}
		}
	}
	return rest && !html
}

type komgaMediaType struct {
	typ string // type/subtype, lower case, without parameters
	raw string // as sent, trimmed
}

func komgaAccept(r *http.Request) []komgaMediaType {
	var out []komgaMediaType
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			typ, _, _ := strings.Cut(part, ";")
			out = append(out, komgaMediaType{typ: strings.ToLower(strings.TrimSpace(typ)), raw: part})
		}
	}
	if len(out) == 0 {
		out = []komgaMediaType{{typ: "*/*", raw: "*/*"}}
	}
	return out
}

// komgaMediaCompatible reports whether two media types (type/subtype, maybe
// with wildcards) are compatible.
func komgaMediaCompatible(a, b string) bool {
	at, as, _ := strings.Cut(a, "/")
	bt, bs, _ := strings.Cut(b, "/")
	if at != "*" && bt != "*" && at != bt {
		return false
	}
	return as == "*" || bs == "*" || as == bs
}

// komgaRoute is one endpoint: whether it answers without authentication,
// whether it needs the ADMIN role, and its handler. status is 200, or 401
// when a bad API key fell through to a public endpoint.
type komgaRoute struct {
	public, admin bool
	h             func(w http.ResponseWriter, r *http.Request, rq *komgaRequest, status int, params []string)
}

// buildRoutes is the routing table. Spring matches paths exactly.
func (k *Komga) buildRoutes() *router[komgaRoute] {
	rt := &router[komgaRoute]{}
	add := func(method, path string, public, admin bool, h func(http.ResponseWriter, *http.Request, *komgaRequest, int, []string)) {
		rt.handle(method, path, komgaRoute{public: public, admin: admin, h: h})
	}
	add(http.MethodGet, "/api/v2/users/me", false, false, func(w http.ResponseWriter, _ *http.Request, rq *komgaRequest, status int, _ []string) {
		writeJSON(w, status, k.userDto(rq.user))
	})
	add(http.MethodGet, "/api/v2/users", false, true, func(w http.ResponseWriter, _ *http.Request, _ *komgaRequest, status int, _ []string) {
		list := make([]komgaUserDto, 0, len(k.users))
		for _, u := range k.users {
			list = append(list, k.userDto(u))
		}
		writeJSON(w, status, list)
	})
	add(http.MethodGet, "/api/v2/users/me/api-keys", false, false, func(w http.ResponseWriter, _ *http.Request, rq *komgaRequest, status int, _ []string) {
		list := []komgaAPIKeyDto{}
		for _, key := range k.keys {
			if key.userID == rq.user.id {
				list = append(list, komgaKeyDto(key, "******"))
			}
		}
		writeJSON(w, status, list)
	})
	add(http.MethodPost, "/api/v2/users/me/api-keys", false, false, func(w http.ResponseWriter, r *http.Request, rq *komgaRequest, _ int, _ []string) {
		k.createAPIKey(w, r, rq)
	})
	add(http.MethodDelete, "/api/v2/users/me/api-keys/:id", false, false, func(w http.ResponseWriter, r *http.Request, rq *komgaRequest, _ int, params []string) {
		for i, key := range k.keys {
			if key.id == params[0] && key.userID == rq.user.id {
				k.keys = append(k.keys[:i:i], k.keys[i+1:]...)
				writeText(w, http.StatusNoContent, "", "")
				return
			}
		}
		k.bootError(w, r, http.StatusNotFound, "404 NOT_FOUND")
	})
	add(http.MethodGet, "/api/v1/oauth2/providers", true, false, func(w http.ResponseWriter, _ *http.Request, _ *komgaRequest, status int, _ []string) {
		list := append([]komgaProvider{}, k.providers...)
		writeJSON(w, status, list)
	})
	add(http.MethodGet, "/api/v1/login/set-cookie", false, false, func(w http.ResponseWriter, r *http.Request, rq *komgaRequest, _ int, _ []string) {
		if rq.session == nil {
			// The HttpSession argument creates a session; it holds no authentication.
			rq.sessionID, rq.session = k.newSession("", k.Clock.Now())
			rq.newSession = true
		}
		if !rq.newSession || rq.headerMode {
			w.Header().Add("Set-Cookie", k.sessionCookie(r, rq.sessionID))
		}
		writeText(w, http.StatusNoContent, "", "")
	})
	add(http.MethodGet, "/api/v1/claim", true, false, func(w http.ResponseWriter, _ *http.Request, _ *komgaRequest, status int, _ []string) {
		writeJSON(w, status, map[string]bool{"isClaimed": len(k.users) > 0})
	})
	add(http.MethodPost, "/api/v1/claim", true, false, func(w http.ResponseWriter, r *http.Request, _ *komgaRequest, status int, _ []string) {
		k.claim(w, r, status)
	})
	add(http.MethodGet, "/api/v1/series", false, false, func(w http.ResponseWriter, r *http.Request, rq *komgaRequest, status int, _ []string) {
		k.listSeries(w, r, rq, status)
	})
	add(http.MethodGet, "/actuator/health", true, false, func(w http.ResponseWriter, r *http.Request, _ *komgaRequest, status int, _ []string) {
		writeJSONType(w, status, komgaActuatorType(r), map[string]string{"status": "UP"})
	})
	add(http.MethodGet, "/actuator/info", false, true, func(w http.ResponseWriter, r *http.Request, _ *komgaRequest, status int, _ []string) {
		writeJSONType(w, status, komgaActuatorType(r), map[string]any{
			"build": map[string]string{"artifact": "komga", "name": "komga", "version": komgaVersion, "group": "org.gotson"},
		})
	})
	return rt
}

func (k *Komga) route(w http.ResponseWriter, r *http.Request, rq *komgaRequest) {
	m := k.routes.lookup(r.Method, r.URL.Path)
	rt := m.h
	if !m.found {
		if len(m.allowed) == 0 {
			if rq.user == nil {
				k.unauthorized(w, r)
				return
			}
			k.bootError(w, r, http.StatusNotFound, "No endpoint "+r.Method+" "+k.requestPath(r)+".")
			return
		}
		rt = m.first // the flags are the path's, whatever the method
	}
	if !rt.public && rq.user == nil {
		k.unauthorized(w, r)
		return
	}
	if r.Method == http.MethodOptions {
		var allow []string
		for _, method := range m.allowed {
			allow = append(allow, method)
			if method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		w.Header().Set("Allow", strings.Join(append(allow, http.MethodOptions), ","))
		writeText(w, http.StatusOK, "", "")
		return
	}
	if !m.found {
		w.Header().Set("Allow", strings.Join(m.allowed, ","))
		k.bootError(w, r, http.StatusMethodNotAllowed, "Method '"+r.Method+"' is not supported.")
		return
	}
	if rt.admin && !rq.user.roles["ADMIN"] {
		k.bootError(w, r, http.StatusForbidden, "Forbidden")
		return
	}
	status := http.StatusOK
	if rq.keyFailed {
		status = http.StatusUnauthorized // Komga's API-key filter sets 401 and lets public endpoints answer
	}
	rt.h(w, r, rq, status, m.params)
}

var komgaClaimEmail = regexp.MustCompile(`^.+@.+\..+$`)

func (k *Komga) claim(w http.ResponseWriter, r *http.Request, status int) {
	for _, h := range []string{"X-Komga-Email", "X-Komga-Password"} {
		if _, ok := r.Header[h]; !ok {
			k.bootError(w, r, http.StatusBadRequest, "Required header '"+h+"' is not present.")
			return
		}
	}
	email, password := r.Header.Get("X-Komga-Email"), r.Header.Get("X-Komga-Password")
	var violations []komgaViolation
	if !komgaClaimEmail.MatchString(email) {
		violations = append(violations, komgaViolation{"claimAdmin.email", "must be a well-formed email address"})
	}
	if komgaJavaBlank(password) {
		violations = append(violations, komgaViolation{"claimAdmin.password", "must not be blank"})
	}
	if len(violations) > 0 {
		writeJSON(w, http.StatusBadRequest, komgaViolations{violations})
		return
	}
	if len(k.users) > 0 {
		k.bootError(w, r, http.StatusBadRequest, "This server has already been claimed")
		return
	}
	roles := map[string]bool{}
	for _, role := range komgaRoles {
		roles[role] = true
	}
	u := &komgaUser{id: k.newID(), email: email, passwordHash: komgaHashPassword(password), roles: roles}
	k.users = append(k.users, u)
	writeJSON(w, status, k.userDto(u))
}

func (k *Komga) createAPIKey(w http.ResponseWriter, r *http.Request, rq *komgaRequest) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		k.bootError(w, r, http.StatusBadRequest, "Failed to read request")
		return
	}
	ct := strings.TrimSpace(r.Header.Get("Content-Type"))
	if ct == "" {
		if len(body) > 0 {
			k.bootError(w, r, http.StatusUnsupportedMediaType, "Content-Type 'application/octet-stream' is not supported.")
			return
		}
	} else if mt, _, err := mime.ParseMediaType(ct); err != nil ||
		!(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		k.bootError(w, r, http.StatusUnsupportedMediaType, "Content-Type '"+ct+"' is not supported.")
		return
	}
	comment, ok := komgaReadComment(body)
	if !ok {
		k.bootError(w, r, http.StatusBadRequest, "Failed to read request")
		return
	}
	if komgaJavaBlank(comment) {
		writeJSON(w, http.StatusBadRequest, komgaViolations{[]komgaViolation{{"comment", "must not be blank"}}})
		return
	}
	comment = strings.TrimSpace(comment)
	for _, key := range k.keys {
		if key.userID == rq.user.id && komgaASCIIEqualFold(key.comment, comment) {
			k.bootError(w, r, http.StatusBadRequest, "ERR_1034")
			return
		}
	}
	plain, key := k.createKey(rq.user, comment)
	writeJSON(w, http.StatusOK, komgaKeyDto(key, plain))
}

// komgaReadComment reads {"comment": ...} as Jackson would into a Kotlin
// data class with a non-null String: unknown fields are ignored, scalars are
// coerced to strings, and a missing or null comment cannot be read.
func komgaReadComment(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return "", false
	}
	raw, ok := obj["comment"]
	if !ok {
		return "", false
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return string(raw), true
	}
	return "", false
}

// komgaJavaBlank reports whether s is blank for Hibernate's @NotBlank, which
// uses Java's String.trim (code points up to U+0020).
func komgaJavaBlank(s string) bool {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' }) == ""
}

func komgaASCIIEqualFold(a, b string) bool {
	lower := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, s)
	}
	return lower(a) == lower(b)
}

func (k *Komga) createKey(u *komgaUser, comment string) (string, *komgaAPIKey) {
	plain := strings.ReplaceAll(uuid4(), "-", "") // Komga's ApiKeyGenerator: a UUIDv4 without dashes
	key := &komgaAPIKey{id: k.newID(), userID: u.id, hash: komgaHashKey(plain), comment: comment, created: k.Clock.Now()}
	k.keys = append(k.keys, key)
	return plain, key
}

func (k *Komga) unauthorized(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Requested-With") == "XMLHttpRequest" {
		writeText(w, http.StatusUnauthorized, "", "")
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Realm"`)
	k.bootError(w, r, http.StatusUnauthorized, "Unauthorized")
}

type komgaBootError struct {
	Timestamp string `json:"timestamp"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Message   string `json:"message"`
	Path      string `json:"path"`
}

// bootError answers with Spring Boot's error JSON.
func (k *Komga) bootError(w http.ResponseWriter, r *http.Request, status int, message string) {
	writeJSON(w, status, komgaBootError{
		Timestamp: k.Clock.Now().UTC().Format("2006-01-02T15:04:05.000-07:00"),
		Status:    status,
		Error:     http.StatusText(status),
		Message:   message,
		Path:      k.requestPath(r),
	})
}

// requestPath is the request path as the servlet container sees it: raw and
// with the prefix.
func (k *Komga) requestPath(r *http.Request) string {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	if !strings.HasPrefix(p, "/") {
		return k.prefix + r.URL.EscapedPath()
	}
	return p
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

type komgaAPIKeyDto struct {
	ID               string `json:"id"`
	UserID           string `json:"userId"`
	Key              string `json:"key"`
	Comment          string `json:"comment"`
	CreatedDate      string `json:"createdDate"`
	LastModifiedDate string `json:"lastModifiedDate"`
}

func komgaKeyDto(key *komgaAPIKey, shown string) komgaAPIKeyDto {
	created := key.created.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
	return komgaAPIKeyDto{ID: key.id, UserID: key.userID, Key: shown, Comment: key.comment,
		CreatedDate: created, LastModifiedDate: created}
}

// komgaActuatorType picks the content type Spring Boot's actuator would
// negotiate for the request's Accept header.
func komgaActuatorType(r *http.Request) string {
	ct := komgaActuatorJSON
	for _, a := range komgaAccept(r) {
		if a.typ == komgaActuatorJSON {
			return komgaActuatorJSON
		}
		if a.typ == "application/json" {
			ct = "application/json"
		}
	}
	return ct
}

func (k *Komga) userByEmail(email string) *komgaUser {
	for _, u := range k.users {
		if komgaASCIIEqualFold(u.email, email) {
			return u
		}
	}
	return nil
}

func (k *Komga) userByID(id string) *komgaUser {
	for _, u := range k.users {
		if u.id == id {
			return u
		}
	}
	return nil
}

func (k *Komga) userByKey(plain string) *komgaUser {
	h := komgaHashKey(plain)
	for _, key := range k.keys {
		if hmac.Equal([]byte(key.hash), []byte(h)) {
			return k.userByID(key.userID)
		}
	}
	return nil
}

func (k *Komga) checkPassword(email, password string) *komgaUser {
	u := k.userByEmail(email)
	if u == nil || !hmac.Equal([]byte(u.passwordHash), []byte(komgaHashPassword(password))) {
		return nil
	}
	return u
}

func (k *Komga) lookupSession(id string, now time.Time) *komgaSession {
	s := k.sessions[id]
	if s == nil {
		return nil
	}
	if now.Sub(s.lastAccess) >= komgaSessionTimeout {
		delete(k.sessions, id)
		return nil
	}
	s.lastAccess = now
	return s
}

func (k *Komga) newSession(userID string, now time.Time) (string, *komgaSession) {
	id := uuid4()
	s := &komgaSession{userID: userID, lastAccess: now}
	k.sessions[id] = s
	return id, s
}

// setRememberMe sets the remember-me cookie the way Spring's
// TokenBasedRememberMeServices builds it: Base64 (unpadded) of
// "email:expiryMillis:SHA256:signature".
func (k *Komga) setRememberMe(w http.ResponseWriter, r *http.Request, u *komgaUser, now time.Time) {
	expiry := strconv.FormatInt(now.Add(komgaRememberMaxAge*time.Second).UnixMilli(), 10)
	tokens := url.QueryEscape(u.email) + ":" + expiry + ":SHA256:" + k.rememberSignature(u, expiry)
	value := base64.RawStdEncoding.EncodeToString([]byte(tokens))
	w.Header().Add("Set-Cookie", komgaRememberCookie+"="+value+"; Max-Age="+strconv.Itoa(komgaRememberMaxAge)+
		"; Path="+k.cookiePath()+komgaSecure(r)+"; HttpOnly")
}

func (k *Komga) cancelRememberMe(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Set-Cookie", komgaRememberCookie+"=; Max-Age=0; Path="+k.cookiePath()+komgaSecure(r))
}

func (k *Komga) rememberSignature(u *komgaUser, expiry string) string {
	sum := sha256.Sum256([]byte(u.email + ":" + expiry + ":" + u.passwordHash + ":" + k.rememberKey))
	return hex.EncodeToString(sum[:])
}

func (k *Komga) checkRememberMe(value string, now time.Time) *komgaUser {
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(value, "="))
	if err != nil {
		return nil
	}
	tokens := strings.Split(string(raw), ":")
	if len(tokens) != 4 || tokens[2] != "SHA256" {
		return nil
	}
	email, err := url.QueryUnescape(tokens[0])
	if err != nil {
		return nil
	}
	expiry, err := strconv.ParseInt(tokens[1], 10, 64)
	if err != nil || expiry < now.UnixMilli() {
		return nil
	}
	u := k.userByEmail(email)
	if u == nil || !hmac.Equal([]byte(tokens[3]), []byte(k.rememberSignature(u, tokens[1]))) {
		return nil
	}
	return u
}

// newID returns a new TSID (Komga's id format), strictly increasing.
func (k *Komga) newID() string { return tsid(k.Clock.Now().UnixMilli(), &k.lastID) }

// komgaBasicAuth parses an Authorization: Basic header the way Spring's
// BasicAuthenticationConverter does. present is false when there is no Basic
// header (Bearer and other schemes are ignored); ok is false when it cannot
// be decoded.
func komgaBasicAuth(r *http.Request) (email, password string, present, ok bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(h) < 5 || !strings.EqualFold(h[:5], "Basic") {
		return "", "", false, false
	}
	if len(h) < 6 {
		return "", "", true, false
	}
	tok := strings.TrimSpace(h[6:])
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(tok)
		if err != nil {
			return "", "", true, false
		}
	}
	email, password, found := strings.Cut(string(raw), ":")
	return email, password, true, found
}

func komgaRememberMeRequested(r *http.Request) bool {
	v := r.URL.Query().Get("remember-me")
	if v == "" && r.Method != http.MethodGet && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		_ = r.ParseForm()
		v = r.PostForm.Get("remember-me")
	}
	switch strings.ToLower(v) {
	case "true", "on", "yes", "1":
		return true
	}
	return false
}

func komgaHasCookie(r *http.Request, name string) bool {
	_, err := r.Cookie(name)
	return err == nil
}

func komgaSecure(r *http.Request) string {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return "; Secure"
	}
	return ""
}

func komgaHashPassword(password string) string {
	sum := sha256.Sum256([]byte("komga-password:" + password))
	return hex.EncodeToString(sum[:])
}

func komgaHashKey(key string) string {
	sum := sha512.Sum512([]byte(key))
	return hex.EncodeToString(sum[:])
}

package authtest

import (
	"net/http"
	"strings"
	"sync"
	"time"
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
	cfg.ext.owns, cfg.ext.auth = st.owns, st.userAuth
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

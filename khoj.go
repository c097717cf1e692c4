package authclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Khoj's wire facts (from its source at 2.0.0-beta.28; see
// ../shared/servers/khoj.md):
//
//   - A token is sent as "Authorization: Bearer kk-…" (the exact,
//     case-sensitive prefix "Bearer "); a session is the signed cookie
//     "session". Auth routes are under /auth (not /api/auth).
//   - Khoj never answers 401 to a bad credential. It says "not signed in"
//     three ways: 403 {"detail":"Forbidden"} on API routes (the 403 row of
//     statusKinds), a 303 to <origin>/login?next=<original URL> on
//     /auth/token (loginPaths; the next value holds the original query,
//     token included, which redactURL redacts), and 200 {"detail":"OK"}
//     instead of {"email": …} from /api/health (khojCheckAuth).
//   - DELETE /auth/token?token= answers 200 whether or not anything
//     matched, so khojDeleteKey checks the list before and after.
//   - --anonymous-mode mounts no /auth routes (FastAPI's 404 {"detail":"Not
//     Found"}) and serves every request as default@example.com.
//   - With its database down, Khoj cannot look a credential up: API routes
//     answer a plain-text 500 (ErrServer), /auth/token and the web pages a
//     302 to /server/error, an HTML page (errorPaths: ErrUnavailable, not
//     followed, never read as a rejected token), /auth/magic a 500.
//     Requests without a credential that need no database still work.
var khojSpec = register(&serverSpec{
	server:        Khoj,
	name:          "Khoj",
	envPrefix:     "KHOJ",
	port:          "42110",
	keyPlacement:  AsBearer(),
	sessionCookie: "session",
	passwords:     passwordNone,
	loginPaths:    []string{"login"},
	errorPaths:    []string{"server/error"},
	statusKinds:   map[int]error{http.StatusForbidden: ErrUnauthorized},
	diagnose:      khojDiagnose,

	currentUser:    khojCurrentUser,
	listKeys:       khojListKeys,
	createKey:      khojCreateKey,
	deleteKey:      khojDeleteKey,
	verifyKey:      khojVerifyKey,
	holdsKey:       func(secret string, k APIKeyInfo) bool { return khojFingerprint(secret) == k.ID },
	oauthProviders: khojOAuthProviders,
	probe:          khojProbe,
	health:         khojHealth,
	checkAuth:      khojCheckAuth,
	cookieLogout:   khojCookieLogout,

	unsupported: map[Operation]string{
		OpLogin:            khojNoPassword,
		OpRememberMe:       khojNoPassword,
		OpLogoutAllDevices: "Khoj's session lives only in its signed cookie: a logout ends that copy, and the server keeps no list of sessions to end",
		OpPaginate:         "Khoj has no paged lists",
		OpUseSession:       khojCookieSession,
		OpParseSession:     khojCookieSession,
		OpParseUser:        "Khoj's account is read with CurrentUser",
	},
})

const (
	khojNoPassword = "Khoj has no password sign-in for API clients: use an API token (KHOJ_API_KEY, WithAPIKey) " +
		"or a magic link (package khoj: SendMagicLink, then VerifyMagicLink or BootstrapToken)"
	khojCookieSession   = "Khoj's session is its session cookie: use SessionCookie(Khoj, value) with SetAuthenticator"
	khojAnonymousReason = "the server has no /auth routes: Khoj runs in anonymous mode (--anonymous-mode), which has no " +
		"accounts, sessions or API tokens and serves every request as default@example.com (or the base URL is not Khoj's)"
	khojDefaultEmail = "default@example.com"
	khojTokens       = "auth/token"
	khojMagic        = "auth/magic"
	khojMetadata     = "auth/oauth/metadata"
	khojUserInfo     = "api/v1/user"
	khojHealthPath   = "api/health"
	khojMaxName      = 50 // characters; Khoj's column limit (a longer name is a 500)
)

// khojNoAuthRoutes turns FastAPI's route-not-found 404 on an /auth route
// into an [*UnsupportedError]: Khoj in anonymous mode mounts no /auth
// routes. Other errors, including Khoj's own 404s ("User not found."), are
// returned as they are.
func khojNoAuthRoutes(err error, op Operation) error {
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusNotFound || !khojRouteNotFound(e.Body) {
		return err
	}
	return &UnsupportedError{Server: Khoj, Op: op, Reason: khojAnonymousReason}
}

func khojRouteNotFound(body []byte) bool {
	var b struct {
		Detail string `json:"detail"`
	}
	return json.Unmarshal(body, &b) == nil && b.Detail == "Not Found"
}

// --- Diagnosis ---

// khojDiagnose explains a rejected credential. Khoj's answers say nothing
// beyond "not signed in", so the hint comes from what the request carried.
// It never quotes the credential.
func khojDiagnose(_ *Client, a Authenticator, req *http.Request) (string, string) {
	if strings.HasSuffix(req.URL.Path, "/"+khojMagic) {
		return "", "" // a wrong or expired code: VerifyMagicLink explains it
	}
	hint := khojCredentialHint(a, req)
	if strings.HasSuffix(req.URL.Path, "/"+khojHealthPath) {
		hint = "Khoj answers /api/health with 200 and no e-mail when the credential is missing or invalid; " + hint
	}
	return credentialKind(a), hint
}

func khojCredentialHint(a Authenticator, req *http.Request) string {
	const forms = "Khoj answers a missing or invalid credential with 403 Forbidden or a redirect to /login, never 401"
	authz := req.Header.Get("Authorization")
	if ka, ok := a.(*keyAuth); ok && ka.p.kind != placeBearer &&
		!(ka.p.kind == placeHeader && http.CanonicalHeaderKey(ka.p.name) == "Authorization") {
		return "the API token was sent in the " + ka.p.String() + ", but Khoj reads tokens only from Authorization: Bearer"
	}
	switch {
	case authz != "" && !strings.HasPrefix(authz, "Bearer ") && len(authz) >= 7 && strings.EqualFold(authz[:7], "bearer "):
		return "the Authorization header does not start with exactly \"Bearer \": Khoj's check is case-sensitive, so the token was ignored"
	case strings.HasPrefix(authz, "Bearer "):
		// Khoj splits the header value (stripped of surrounding white
		// space by the HTTP layer, so that is harmless) on the exact text
		// "Bearer " and needs exactly two parts.
		tok := authz[len("Bearer "):]
		switch {
		case strings.HasPrefix(tok, " ") || strings.HasPrefix(tok, "\t"):
			return "the Authorization header has more than one space after \"Bearer\": Khoj splits it on exactly \"Bearer \", " +
				"so the token it looked up began with white space and matched none (white space around the whole value is fine)"
		case strings.Contains(tok, "Bearer "):
			return "the Authorization header holds \"Bearer \" more than once: Khoj then reads no token at all"
		case strings.ContainsAny(strings.TrimSpace(tok), " \t"):
			return "the bearer token has white space inside it: Khoj's tokens (kk-…) never do, so it cannot match"
		}
		if !strings.HasPrefix(tok, "kk-") {
			return "the bearer token does not start with \"kk-\" as Khoj's API tokens do: check that KHOJ_API_KEY holds a token from Khoj's settings page"
		}
		return "the API token was rejected: it may have been deleted or belong to another Khoj server (" + forms + ")"
	}
	switch a.(type) {
	case nil, noAuth:
		return "no credentials were sent: Khoj needs an API token (KHOJ_API_KEY) or a session from a magic link (" + forms + ")"
	case *cookieAuth:
		return "the session cookie was rejected: sessions last 14 days and are signed with the server's secret key (" + forms + ")"
	}
	return forms
}

// --- Users ---

// KhojUser holds the Khoj-specific part of a [User] (GET /api/v1/user).
type KhojUser struct {
	// Photo is the Google profile picture URL; empty for other accounts.
	Photo string
	// Premium reports Khoj's is_active: the account has the premium
	// scope. It is always true on a server without billing (self-hosted)
	// and in anonymous mode.
	Premium bool
	// HasDocuments reports whether the account has indexed content.
	HasDocuments bool
	// Version is the server's version ("2.0.0-beta.28").
	Version string
	// Anonymous reports the built-in default user (default@example.com),
	// which is who every request acts as on a server in anonymous mode.
	Anonymous bool
}

type khojUserDTO struct {
	Email        *string `json:"email"`
	Username     string  `json:"username"`
	Photo        *string `json:"photo"`
	IsActive     bool    `json:"is_active"`
	HasDocuments bool    `json:"has_documents"`
	KhojVersion  string  `json:"khoj_version"`
}

func (d *khojUserDTO) user() *User {
	u := &User{
		Username: d.Username,
		Khoj: &KhojUser{
			Premium:      d.IsActive,
			HasDocuments: d.HasDocuments,
			Version:      d.KhojVersion,
		},
	}
	if d.Email != nil {
		u.Email = *d.Email
	}
	if d.Photo != nil {
		u.Khoj.Photo = *d.Photo
	}
	u.Khoj.Anonymous = u.Email == khojDefaultEmail || u.Email == "" && d.Username == "default"
	return u
}

// khojCurrentUser reads GET /api/v1/user. Khoj returns no user id, so
// User.ID stays empty; Username is the e-mail address ("default" for the
// anonymous user).
func khojCurrentUser(ctx context.Context, c *Client) (*User, error) {
	var d khojUserDTO
	cl := newCall(http.MethodGet, khojUserInfo)
	cl.out = &d
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	return d.user(), nil
}

// khojCheckAuth reads GET /api/health: {"email": …} (the e-mail may be
// null for a phone-only account) means the credential was accepted;
// Khoj's unauthenticated answer is 200 {"detail":"OK"}, made an
// ErrUnauthorized here. In anonymous mode every request is accepted (as
// the default user, whatever token it carries).
func khojCheckAuth(ctx context.Context, c *Client) error {
	cl := newCall(http.MethodGet, khojHealthPath)
	cl.onResponse = func(resp *http.Response) error {
		if err := expectJSON(resp); err != nil {
			return c.newError(resp, resp.Request, ErrUnauthorized, err.Error())
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			return c.newError(resp, resp.Request, ErrUnexpectedServer, "the answer is not Khoj's /api/health status")
		}
		if _, ok := m["email"]; ok {
			return nil
		}
		if _, ok := m["detail"]; !ok {
			return c.newError(resp, resp.Request, ErrUnexpectedServer, "the answer is not Khoj's /api/health status")
		}
		e := c.newError(resp, resp.Request, ErrUnauthorized, "not signed in: the answer has no e-mail")
		e.Body = body
		return e
	}
	return c.send(ctx, cl)
}

// khojHealth reads GET /api/health without credentials; it answers 200
// whenever the server is up.
func khojHealth(ctx context.Context, c *Client) (*Health, error) {
	var body struct {
		Detail string `json:"detail"`
	}
	cl := newCall(http.MethodGet, khojHealthPath)
	cl.noAuth = true
	cl.out = &body
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	if body.Detail == "" {
		body.Detail = "OK" // anonymous mode answers {"email": "default@example.com"}
	}
	return &Health{Status: body.Detail}, nil
}

// --- API tokens ---

// khojTokenList is GET /auth/token's answer: Django model objects encoded
// by FastAPI's generic encoder ({"_state", "id", "user_id", "token",
// "name", "accessed_at"}, inferred). Only token and name are read;
// elements without a string token are skipped.
type khojTokenList []khojTokenDTO

type khojTokenDTO struct {
	Token string
	Name  string
}

// UnmarshalJSON decodes the list leniently: unknown fields and elements
// of other shapes are ignored.
func (l *khojTokenList) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := make(khojTokenList, 0, len(raw))
	for _, r := range raw {
		var d struct {
			Token *string `json:"token"`
			Name  *string `json:"name"`
		}
		_ = json.Unmarshal(r, &d) // a field of the wrong type is left nil
		if d.Token == nil || *d.Token == "" {
			continue
		}
		t := khojTokenDTO{Token: *d.Token}
		if d.Name != nil {
			t.Name = *d.Name
		}
		out = append(out, t)
	}
	*l = out
	return nil
}

func (d khojTokenDTO) info() APIKeyInfo {
	return APIKeyInfo{ID: khojFingerprint(d.Token), Name: d.Name, Active: true}
}

// khojFingerprint is a Khoj token's APIKeyInfo.ID: the first 16 hex digits
// of the SHA-256 of the token. Khoj identifies tokens only by their secret
// value, which must not appear in lists that get printed; the fingerprint
// is stable, not secret and cannot be turned back into the token.
func khojFingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// khojTokenCall prepares a call to /auth/token: a 303 to a sign-in page is
// ErrUnauthorized, and a 302 to the error page ErrUnavailable, even when
// Khoj, behind a proxy that does not pass on the public origin, builds it
// on another origin (neither is followed).
func khojTokenCall(method string) *call {
	cl := newCall(method, khojTokens)
	cl.onError = func(e *Error) {
		if e.StatusCode < 300 || e.StatusCode >= 400 {
			return
		}
		loc, err := url.Parse(e.Location)
		switch {
		case err != nil:
		case loc.Path == "/login" || strings.HasSuffix(loc.Path, "/login"):
			e.kind = ErrUnauthorized
			e.Hint = "" // khojDiagnose says which credential and why
		case errors.Is(e, ErrRedirect) && (loc.Path == "/server/error" || strings.HasSuffix(loc.Path, "/server/error")):
			e.kind = ErrUnavailable
			e.Hint = "Khoj redirected to its error page (on " + loc.Host + "): the server failed, not the credentials (check its logs and its database)"
		}
	}
	return cl
}

func khojListTokens(ctx context.Context, c *Client) (khojTokenList, error) {
	var list khojTokenList
	cl := khojTokenCall(http.MethodGet)
	cl.out = &list
	if err := c.send(ctx, cl); err != nil {
		return nil, khojNoAuthRoutes(err, "ListAPIKeys")
	}
	return list, nil
}

func khojListKeys(ctx context.Context, c *Client) ([]APIKeyInfo, error) {
	list, err := khojListTokens(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make([]APIKeyInfo, len(list))
	for i, t := range list {
		out[i] = t.info()
	}
	return out, nil
}

func khojCreateKey(ctx context.Context, c *Client, r CreateAPIKeyRequest) (*CreatedAPIKey, error) {
	if err := khojCheckTokenRequest(r); err != nil {
		return nil, err
	}
	var d struct {
		Token string `json:"token"`
		Name  string `json:"name"`
	}
	cl := khojTokenCall(http.MethodPost) // never retried: a retry could mint two tokens
	if r.Name != "" {
		cl.query = url.Values{"token_name": {r.Name}}
	}
	cl.out = &d
	if err := c.send(ctx, cl); err != nil {
		return nil, khojNoAuthRoutes(err, "CreateAPIKey")
	}
	if d.Token == "" {
		return nil, c.newError(cl.answer, cl.answer.Request, ErrUnexpectedServer, "the answer has no token")
	}
	c.secrets.add(d.Token)
	return &CreatedAPIKey{APIKeyInfo: APIKeyInfo{ID: khojFingerprint(d.Token), Name: d.Name, Active: true}, Secret: d.Token}, nil
}

// khojCheckTokenRequest rejects what Khoj's tokens cannot have, before
// anything is sent.
func khojCheckTokenRequest(r CreateAPIKeyRequest) error {
	switch {
	case r.ExpiresIn != 0:
		return &UnsupportedError{Server: Khoj, Op: "CreateAPIKey with ExpiresIn", Reason: "Khoj API tokens never expire"}
	case r.Inactive:
		return &UnsupportedError{Server: Khoj, Op: "CreateAPIKey with Inactive", Reason: "Khoj API tokens are always active"}
	case r.UserID != "":
		return &UnsupportedError{Server: Khoj, Op: "CreateAPIKey with UserID", Reason: "a Khoj token always belongs to the signed-in user"}
	case utf8.RuneCountInString(r.Name) > khojMaxName:
		return configErr("CreateAPIKeyRequest.Name", "is longer than Khoj's limit of %d characters", khojMaxName)
	}
	return nil
}

// khojDeleteKey deletes a token given by its fingerprint ID or by its full
// value. DELETE /auth/token answers 200 whether or not anything matched,
// so the token is looked up in the user's list first (ErrNotFound if it is
// not there: unknown, or another user's) and the list is checked again
// afterwards.
func khojDeleteKey(ctx context.Context, c *Client, id string) error {
	list, err := khojListTokens(ctx, c)
	if err != nil {
		return khojRenameOp(err, "DeleteAPIKey")
	}
	token := khojFind(list, id)
	if token == "" {
		return c.localError(ErrNotFound, "-", c.endpoint(khojTokens), "no API token with that id among the user's tokens")
	}
	c.secrets.add(token)
	cl := khojTokenCall(http.MethodDelete) // retried: deleting twice is harmless
	cl.query = url.Values{"token": {token}}
	if err := c.send(ctx, cl); err != nil {
		return khojNoAuthRoutes(err, "DeleteAPIKey")
	}
	list, err = khojListTokens(ctx, c)
	if err != nil {
		return khojRenameOp(err, "DeleteAPIKey")
	}
	if khojFind(list, token) != "" {
		return c.newError(cl.answer, cl.answer.Request, ErrUnexpectedServer, "Khoj accepted the deletion, but the token is still listed")
	}
	return nil
}

// khojFind returns the token whose fingerprint or value is id, or "".
func khojFind(list khojTokenList, id string) string {
	for _, t := range list {
		if t.Token == id || khojFingerprint(t.Token) == id {
			return t.Token
		}
	}
	return ""
}

// khojRenameOp makes an anonymous-mode error name the operation the caller
// asked for.
func khojRenameOp(err error, op Operation) error {
	var ue *UnsupportedError
	if errors.As(err, &ue) && ue.Server == Khoj && ue.Reason == khojAnonymousReason {
		return &UnsupportedError{Server: Khoj, Op: op, Reason: ue.Reason}
	}
	return err
}

// khojVerifyKey checks that a token authenticates.
func khojVerifyKey(ctx context.Context, c *Client, key string) error {
	cl := newCall(http.MethodGet, khojUserInfo)
	cl.auth = APIKey(Khoj, key)
	cl.noReauth = true
	return c.send(ctx, cl)
}

// --- Discovery ---

type khojMetadataDTO struct {
	Google *struct {
		ClientID    *string `json:"client_id"`
		RedirectURI string  `json:"redirect_uri"`
	} `json:"google"`
}

func khojGetMetadata(ctx context.Context, c *Client, op Operation) (*khojMetadataDTO, error) {
	var d khojMetadataDTO
	cl := newCall(http.MethodGet, khojMetadata)
	cl.noAuth = true // public
	cl.out = &d
	if err := c.send(ctx, cl); err != nil {
		return nil, khojNoAuthRoutes(err, op)
	}
	if d.Google == nil {
		return nil, c.newError(cl.answer, cl.answer.Request, ErrUnexpectedServer, "the answer is not Khoj's OAuth metadata")
	}
	return &d, nil
}

// khojOAuthProviders reads GET /auth/oauth/metadata: Google, when the
// server has a client id (GOOGLE_CLIENT_ID).
func khojOAuthProviders(ctx context.Context, c *Client) ([]OAuthProvider, error) {
	d, err := khojGetMetadata(ctx, c, "ListOAuthProviders")
	if err != nil {
		return nil, err
	}
	out := []OAuthProvider{}
	if id := d.Google.ClientID; id != nil && *id != "" {
		out = append(out, OAuthProvider{ID: "google", Name: "Google", LoginURL: c.baseURL + "auth/login",
			ClientID: *id, RedirectURI: d.Google.RedirectURI})
	}
	return out, nil
}

// khojProbe identifies Khoj by its public OAuth metadata; in anonymous mode
// (no /auth routes) by /api/v1/user, which then answers without
// credentials as the default user and also gives the version.
func khojProbe(ctx context.Context, c *Client) (*ServerInfo, error) {
	_, err := khojGetMetadata(ctx, c, "Probe")
	if err == nil {
		return &ServerInfo{Server: Khoj}, nil
	}
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		var e *Error
		if errors.As(err, &e) && errors.Is(e, ErrNotFound) {
			e.kind = ErrUnexpectedServer
			e.Hint = "no Khoj OAuth metadata at this URL: not Khoj, or the base URL is wrong"
		}
		return nil, err
	}
	var d khojUserDTO
	cl := newCall(http.MethodGet, khojUserInfo)
	cl.noAuth = true
	cl.out = &d
	if err := c.send(ctx, cl); err != nil {
		var e *Error
		if errors.As(err, &e) && e.StatusCode < 500 {
			e.kind = ErrUnexpectedServer
			e.Hint = "no /auth routes, and /api/v1/user is not open: not a Khoj server in anonymous mode"
		}
		return nil, err
	}
	if u := d.user(); !u.Khoj.Anonymous {
		return nil, c.newError(cl.answer, cl.answer.Request, ErrUnexpectedServer, "no /auth routes, but /api/v1/user is not the anonymous default user")
	}
	return &ServerInfo{Server: Khoj, Version: d.KhojVersion, Anonymous: true}, nil
}

// --- Sessions ---

// khojCookieLogout ends a cookie session: GET /auth/logout removes the user
// from the session and answers 307 to /. Khoj's sessions are signed
// cookies kept by the client, not server state, so a copy of the cookie
// stays valid until it expires; the client forgets it. A server in
// anonymous mode has no sessions, so there is nothing to end.
func khojCookieLogout(ctx context.Context, c *Client, a *cookieAuth, _ logoutOptions) error {
	cl := newCall(http.MethodGet, "auth/logout")
	cl.auth = a
	cl.noRedirect, cl.noReauth = true, true
	err := c.send(ctx, cl)
	var ue *UnsupportedError
	if errors.As(khojNoAuthRoutes(err, "Logout"), &ue) {
		return nil
	}
	return err
}

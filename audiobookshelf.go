package authclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Audiobookshelf's wire facts (from its source at 2.36.0 and a real server):
// see doc.go and README.md for the summary.
var absSpec = register(&serverSpec{
	server:       Audiobookshelf,
	name:         "Audiobookshelf",
	envPrefix:    "AUDIOBOOKSHELF",
	port:         "13378",
	keyPlacement: AsBearer(),
	passwords:    passwordSession,
	loginPaths:   []string{"login"},
	diagnose:     absDiagnose,
	warn:         absWarn,
	// Library items: page from 0, limit (0 would mean all at once), offset = page*limit, "total".
	pages: &pageScheme{pageParam: "page", sizeParam: "limit", defaultSize: 100, items: "results", index: "page", last: offsetLast},

	currentUser:    absCurrentUser,
	listKeys:       absListKeys,
	createKey:      absCreateKey,
	deleteKey:      absDeleteKey,
	verifyKey:      absVerifyKey,
	holdsKey:       absHoldsKey,
	oauthProviders: absOAuthProviders,
	probe:          absProbe,
	health:         absHealth,
	sessions: &sessionDialect{
		login:      absLogin,
		refresh:    absRefresh,
		logout:     absLogout,
		apply:      func(req *http.Request, s *Session) { req.Header["Authorization"] = []string{"Bearer " + s.Token} },
		token:      bearerOf,
		issuedAt:   absIssuedAt,
		credential: CredentialAccessToken,
		parse:      absParseSession,
	},
	parseUser: absParseUser,

	unsupported: map[Operation]string{
		OpRememberMe:    "Audiobookshelf sessions are renewed with their refresh token, not a remember-me cookie",
		OpLogoutWithGET: "Audiobookshelf's logout is POST /logout only",
	},
})

// absIssuedAt reads an access token's iat claim (zero if it has none).
func absIssuedAt(token string) time.Time {
	claims, _ := decodeJWT(token)
	return claims.issued()
}

func bearerOf(req *http.Request) string {
	v, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	return v
}

// AudiobookshelfUser holds the Audiobookshelf-specific part of a [User].
type AudiobookshelfUser struct {
	// Type is root, admin, user or guest.
	Type string
	// Active is false for deactivated accounts; Locked for locked ones.
	Active, Locked bool
	// Permissions are the account's permission flags (download, update,
	// delete, upload, accessAllLibraries, …).
	Permissions map[string]bool
	// LibrariesAccessible lists the libraries the account may see when
	// accessAllLibraries is false.
	LibrariesAccessible []string
	// CreatedAt is when the account was created.
	CreatedAt time.Time
	// DeprecatedToken is true when the client authenticated with the
	// legacy non-expiring user token, which Audiobookshelf deprecated in
	// 2.26 and will stop accepting: switch to an API key or a password
	// session.
	DeprecatedToken bool
}

type absUserDTO struct {
	ID                  string                     `json:"id"`
	Username            string                     `json:"username"`
	Email               *string                    `json:"email"`
	Type                string                     `json:"type"`
	IsActive            bool                       `json:"isActive"`
	IsLocked            bool                       `json:"isLocked"`
	IsOldToken          bool                       `json:"isOldToken"`
	Permissions         map[string]json.RawMessage `json:"permissions"`
	LibrariesAccessible []string                   `json:"librariesAccessible"`
	CreatedAt           int64                      `json:"createdAt"`
	AccessToken         string                     `json:"accessToken"`
	RefreshToken        *string                    `json:"refreshToken"`
	// The legacy "token" field is deliberately not decoded: the client
	// never keeps it.
}

func (d *absUserDTO) user(c *Client) *User {
	u := &User{
		ID:       d.ID,
		Username: d.Username,
		Roles:    []string{d.Type},
		Admin:    d.Type == "root" || d.Type == "admin",
		Audiobookshelf: &AudiobookshelfUser{
			Type:                d.Type,
			Active:              d.IsActive,
			Locked:              d.IsLocked,
			LibrariesAccessible: d.LibrariesAccessible,
			DeprecatedToken:     d.IsOldToken || absLegacyCredential(c.authenticator()),
			Permissions:         map[string]bool{},
		},
	}
	if d.Email != nil {
		u.Email = *d.Email
	}
	if d.CreatedAt > 0 {
		u.Audiobookshelf.CreatedAt = time.UnixMilli(d.CreatedAt).UTC()
	}
	for k, v := range d.Permissions {
		var b bool
		if json.Unmarshal(v, &b) == nil {
			u.Audiobookshelf.Permissions[k] = b
		}
	}
	return u
}

// absPayload is the answer to /login, /auth/refresh, /api/authorize and
// the OpenID callback.
type absPayload struct {
	User                 absUserDTO `json:"user"`
	UserDefaultLibraryID *string    `json:"userDefaultLibraryId"`
	ServerSettings       struct {
		Version string `json:"version"`
	} `json:"serverSettings"`
	Source string `json:"Source"`
}

// absNoAccessToken explains a sign-in answer without an access token.
const absNoAccessToken = "the answer has no access token: Audiobookshelf 2.26 or later is required"

// session builds a Session from a payload's tokens (nil if it has no
// access token); old supplies the refresh token when the answer did not
// repeat it. The tokens are masked from here on.
func (p *absPayload) session(c *Client, old *Session) *Session {
	c.secrets.add(p.User.AccessToken, derefString(p.User.RefreshToken))
	if p.User.AccessToken == "" {
		return nil
	}
	s := &Session{Username: p.User.Username, Token: p.User.AccessToken}
	if claims, ok := decodeJWT(s.Token); ok {
		s.Expiry, s.IssuedAt = claims.expiry(), claims.issued()
	}
	if s.IssuedAt.IsZero() || !s.IssuedAt.Before(s.Expiry) {
		s.IssuedAt = c.now() // no usable iat: the lifetime runs from now
	}
	switch {
	case p.User.RefreshToken != nil && *p.User.RefreshToken != "":
		s.RefreshToken = *p.User.RefreshToken
	case old != nil:
		s.RefreshToken, s.RefreshExpiry = old.RefreshToken, old.RefreshExpiry
	}
	if s.RefreshToken != "" && s.RefreshExpiry.IsZero() {
		if claims, ok := decodeJWT(s.RefreshToken); ok {
			s.RefreshExpiry = claims.expiry()
		}
	}
	return s
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// absParseSession reads a sign-in answer (the JSON of /login, /auth/refresh
// and the OpenID callback) into a session.
func absParseSession(c *Client, data []byte) (*Session, error) {
	var p absPayload
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, c.localError(ErrUnexpectedServer, "-", nil, "the sign-in answer is not Audiobookshelf's login JSON")
	}
	s := p.session(c, nil)
	if s == nil {
		return nil, c.localError(ErrUnexpectedServer, "-", nil, absNoAccessToken)
	}
	return s, nil
}

// absParseUser reads a user object (/api/me, or the user of /login and
// /api/authorize) into a User.
func absParseUser(c *Client, data []byte) (*User, error) {
	var d absUserDTO
	if err := json.Unmarshal(data, &d); err != nil || d.ID == "" {
		return nil, c.localError(ErrUnexpectedServer, "-", nil, "the user is not Audiobookshelf's user JSON (an object with an id)")
	}
	c.secrets.add(d.AccessToken, derefString(d.RefreshToken))
	return d.user(c), nil
}

// absSessionCall runs a call answered with a login payload and returns the
// session in it.
func absSessionCall(ctx context.Context, c *Client, cl *call, old *Session) (*Session, error) {
	var p absPayload
	var resp *http.Response
	cl.out = &p
	cl.onResponse = func(r *http.Response) error { resp = r; return nil }
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	if s := p.session(c, old); s != nil {
		return s, nil
	}
	return nil, c.newError(resp, resp.Request, ErrUnexpectedServer, absNoAccessToken)
}

func absLogin(ctx context.Context, c *Client, username, password string, _ bool) (*Session, error) {
	cl := newCall(http.MethodPost, "login")
	cl.noAuth, cl.noReauth = true, true
	cl.setHeader("x-return-tokens", "true")
	if err := cl.jsonBody(map[string]string{"username": username, "password": password}); err != nil {
		return nil, err
	}
	cl.onError = func(e *Error) {
		switch e.StatusCode {
		case http.StatusUnauthorized:
			e.Credential = CredentialPassword
			e.Hint = "wrong username or password, or the account is inactive or has no password (OpenID only)"
		case http.StatusTooManyRequests:
			e.Hint = "Audiobookshelf limits sign-ins per client IP (40 per 10 minutes by default)"
		}
	}
	return absSessionCall(ctx, c, cl, nil)
}

// absRefresh renews the access token with the refresh token (which
// rotates). It is safe to retry: the previous refresh token stays valid for
// a grace period, so a 429 within the cap is waited out.
func absRefresh(ctx context.Context, c *Client, s *Session) (*Session, error) {
	cl := newCall(http.MethodPost, "auth/refresh")
	cl.noAuth, cl.noReauth, cl.retry = true, true, true
	cl.setHeader("x-refresh-token", s.RefreshToken)
	cl.onError = func(e *Error) {
		if e.StatusCode == http.StatusUnauthorized {
			e.Credential = CredentialRefreshToken
			e.Hint = "the refresh token was rejected (expired, rotated past its grace period, or logged out)"
		}
	}
	return absSessionCall(ctx, c, cl, s)
}

func absLogout(ctx context.Context, c *Client, s *Session, o logoutOptions) error {
	if s.RefreshToken == "" {
		return nil // nothing the server could end; the access token lapses by itself
	}
	cl := newCall(http.MethodPost, "logout")
	cl.noAuth, cl.noReauth, cl.retry = true, true, true
	cl.setHeader("x-refresh-token", s.RefreshToken)
	if o.allDevices {
		cl.query = url.Values{"allDevices": {"1"}}
	}
	return c.send(ctx, cl)
}

// absLegacyCredential reports whether a is a static bearer credential that
// is Audiobookshelf's legacy user token (a JWT with neither type nor exp).
func absLegacyCredential(a Authenticator) bool {
	ka, ok := a.(*keyAuth)
	if !ok {
		return false
	}
	claims, ok := decodeJWT(ka.key)
	return ok && claims.Type == "" && claims.Exp == nil && claims.UserID != ""
}

func absWarn(a Authenticator) string {
	ka, ok := a.(*keyAuth)
	if !ok {
		return ""
	}
	claims, ok := decodeJWT(ka.key)
	switch {
	case !ok:
		return ""
	case claims.Type == "" && claims.Exp == nil && claims.UserID != "":
		return "the credential is Audiobookshelf's legacy user token: it is deprecated and will stop working; create an API key instead"
	case claims.Type == "refresh":
		return "the credential is a refresh token, which Audiobookshelf 2.36+ rejects as a Bearer token"
	}
	return ""
}

// absDiagnose reads the rejected token's type and expiry (locally, without
// checking its signature) to say what was rejected; Audiobookshelf's own
// answer is an opaque "Unauthorized".
func absDiagnose(c *Client, a Authenticator, req *http.Request) (string, string) {
	token := bearerOf(req)
	if token == "" {
		token = req.URL.Query().Get("token")
	}
	if token == "" {
		if _, ok := a.(*sessionAuth); ok {
			return CredentialSession, "the client has no session: sign in with Login"
		}
		return "", ""
	}
	claims, ok := decodeJWT(token)
	if !ok {
		return credentialKind(a), "the bearer token is not a token Audiobookshelf issues (expected a JWT)"
	}
	exp := claims.expiry()
	expired := !exp.IsZero() && !c.now().Before(exp)
	switch claims.Type {
	case "api":
		if expired {
			return CredentialAPIKey, "the API key expired at " + exp.UTC().Format(time.RFC3339) + " (and the server has deactivated it)"
		}
		return CredentialAPIKey, "the API key was rejected: it may be inactive (Audiobookshelf creates keys inactive unless asked otherwise), deleted, or its user deactivated"
	case "access":
		if expired {
			return CredentialAccessToken, "the access token expired at " + exp.UTC().Format(time.RFC3339)
		}
		return CredentialAccessToken, "the access token was rejected: the user may have been deactivated or the server's token secret changed"
	case "refresh":
		return CredentialRefreshToken, "a refresh token cannot authenticate API calls (Audiobookshelf 2.36+): use the access token"
	case "":
		if claims.UserID != "" && claims.Exp == nil {
			return CredentialLegacyToken, "the legacy user token was rejected: it is deprecated; use an API key or sign in with a password"
		}
	}
	return credentialKind(a), ""
}

func absCurrentUser(ctx context.Context, c *Client) (*User, error) {
	var d absUserDTO
	cl := newCall(http.MethodGet, "api/me")
	cl.out = &d
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	return d.user(c), nil
}

type absKeyDTO struct {
	APIKey    string     `json:"apiKey"`
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expiresAt"`
	UserID    string     `json:"userId"`
	IsActive  bool       `json:"isActive"`
	CreatedAt time.Time  `json:"createdAt"`
	User      *struct {
		Username string `json:"username"`
	} `json:"user"`
}

func (d *absKeyDTO) info() APIKeyInfo {
	k := APIKeyInfo{ID: d.ID, Name: d.Name, UserID: d.UserID, CreatedAt: d.CreatedAt, Active: d.IsActive}
	if d.ExpiresAt != nil {
		k.ExpiresAt = *d.ExpiresAt
	}
	if d.User != nil {
		k.Username = d.User.Username
	}
	return k
}

const absKeys = "api/api-keys"

func absKeysHint(e *Error) {
	if e.StatusCode == http.StatusForbidden {
		e.Hint = "API keys are managed by admins only (a key acts with its user's rights)"
	}
}

func absListKeys(ctx context.Context, c *Client) ([]APIKeyInfo, error) {
	var body struct {
		APIKeys []absKeyDTO `json:"apiKeys"`
	}
	cl := newCall(http.MethodGet, absKeys)
	cl.out = &body
	cl.onError = absKeysHint
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	out := make([]APIKeyInfo, len(body.APIKeys))
	for i := range body.APIKeys {
		out[i] = body.APIKeys[i].info()
	}
	return out, nil
}

func absCreateKey(ctx context.Context, c *Client, r CreateAPIKeyRequest) (*CreatedAPIKey, error) {
	if strings.TrimSpace(r.Name) == "" {
		return nil, configErr("CreateAPIKeyRequest.Name", "Audiobookshelf requires a name")
	}
	if r.ExpiresIn < 0 || r.ExpiresIn > 0 && r.ExpiresIn < time.Second {
		return nil, configErr("CreateAPIKeyRequest.ExpiresIn", "must be 0 (never) or at least one second")
	}
	if r.UserID == "" {
		me, err := c.CurrentUser(ctx)
		if err != nil {
			return nil, err
		}
		r.UserID = me.ID
	}
	body := map[string]any{"name": r.Name, "userId": r.UserID, "isActive": !r.Inactive}
	if r.ExpiresIn > 0 {
		body["expiresIn"] = int64((r.ExpiresIn + time.Second - 1) / time.Second)
	}
	var out struct {
		APIKey absKeyDTO `json:"apiKey"`
	}
	cl := newCall(http.MethodPost, absKeys)
	if err := cl.jsonBody(body); err != nil {
		return nil, err
	}
	cl.out = &out
	cl.onError = func(e *Error) {
		absKeysHint(e)
		if e.StatusCode == http.StatusBadRequest {
			e.Hint = "Audiobookshelf rejected the key: check the name and that the user exists"
		}
	}
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	if out.APIKey.APIKey == "" {
		return nil, c.newError(cl.answer, cl.answer.Request, ErrUnexpectedServer, "the answer has no key")
	}
	return &CreatedAPIKey{APIKeyInfo: out.APIKey.info(), Secret: out.APIKey.APIKey}, nil
}

func absDeleteKey(ctx context.Context, c *Client, id string) error {
	p, err := joinPath(absKeys, id)
	if err != nil {
		return err
	}
	cl := newCall(http.MethodDelete, p)
	cl.onError = absKeysHint
	return c.send(ctx, cl)
}

// absHoldsKey reports whether secret is the key k: an Audiobookshelf API
// key is a JWT whose keyId claim is the key's id (read locally, bounded, no
// signature check). Anything else (a malformed token, an access or legacy
// token) is not k.
func absHoldsKey(secret string, k APIKeyInfo) bool {
	claims, ok := decodeJWT(secret)
	return ok && claims.Type == "api" && claims.KeyID != "" && claims.KeyID == k.ID
}

func absVerifyKey(ctx context.Context, c *Client, key string) error {
	cl := newCall(http.MethodGet, "api/me")
	cl.auth = APIKey(Audiobookshelf, key)
	cl.noReauth = true
	return c.send(ctx, cl)
}

// absStatus is GET /status.
type absStatus struct {
	App           string   `json:"app"`
	ServerVersion string   `json:"serverVersion"`
	IsInit        bool     `json:"isInit"`
	AuthMethods   []string `json:"authMethods"`
	AuthFormData  struct {
		ButtonText string `json:"authOpenIDButtonText"`
	} `json:"authFormData"`
}

func absGetStatus(ctx context.Context, c *Client) (*absStatus, error) {
	var st absStatus
	cl := newCall(http.MethodGet, "status")
	cl.noAuth = true
	cl.out = &st
	cl.onError = func(e *Error) {
		if e.StatusCode == http.StatusNotFound { // every Audiobookshelf has /status
			e.kind = ErrUnexpectedServer
			e.Hint = "no Audiobookshelf /status at this URL: not Audiobookshelf, or the base URL is wrong (a server under a path needs it, e.g. /audiobookshelf/)"
		}
	}
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	if st.App != "audiobookshelf" {
		return nil, c.newError(cl.answer, cl.answer.Request, ErrUnexpectedServer, "the answer is not Audiobookshelf's status")
	}
	return &st, nil
}

func absProbe(ctx context.Context, c *Client) (*ServerInfo, error) {
	st, err := absGetStatus(ctx, c)
	if err != nil {
		return nil, err
	}
	return &ServerInfo{Server: Audiobookshelf, Version: st.ServerVersion, Initialized: st.IsInit, AuthMethods: st.AuthMethods}, nil
}

func absOAuthProviders(ctx context.Context, c *Client) ([]OAuthProvider, error) {
	st, err := absGetStatus(ctx, c)
	if err != nil {
		return nil, err
	}
	out := []OAuthProvider{}
	for _, m := range st.AuthMethods {
		if m == "openid" {
			name := st.AuthFormData.ButtonText
			if name == "" {
				name = "OpenID"
			}
			out = append(out, OAuthProvider{ID: "openid", Name: name, LoginURL: c.baseURL + "auth/openid"})
		}
	}
	return out, nil
}

func absHealth(ctx context.Context, c *Client) (*Health, error) {
	var ping struct {
		Success bool `json:"success"`
	}
	cl := newCall(http.MethodGet, "ping")
	cl.noAuth = true
	cl.out = &ping
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	if !ping.Success {
		return nil, c.newError(cl.answer, cl.answer.Request, ErrUnavailable, "ping did not answer success")
	}
	cl = newCall(http.MethodGet, "healthcheck")
	cl.noAuth = true
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	return &Health{Status: "OK"}, nil
}

package authclient

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// KomgaDuplicateKeyName is the [Error.Code] of Komga's answer to creating
// an API key whose name (comment) the user already has.
const KomgaDuplicateKeyName = "ERR_1034"

// Komga's wire facts (from its source, 1.26.3): see doc.go for the summary.
var komgaSpec = register(&serverSpec{
	server:        Komga,
	name:          "Komga",
	envPrefix:     "KOMGA",
	port:          "25600",
	keyPlacement:  InHeader("X-API-Key"),
	sessionCookie: "KOMGA-SESSION",
	passwords:     passwordSession,
	loginPaths:    []string{"login"},
	// Spring Data pages: page from 0, size up to 2000 (larger is clamped), until "last".
	pages: &pageScheme{pageParam: "page", sizeParam: "size", defaultSize: 100, maxSize: 2000, items: "content", index: "number", last: springLast},

	currentUser:    komgaCurrentUser,
	listKeys:       komgaListKeys,
	createKey:      komgaCreateKey,
	deleteKey:      komgaDeleteKey,
	verifyKey:      komgaVerifyKey,
	oauthProviders: komgaOAuthProviders,
	probe:          komgaProbe,
	health:         func(ctx context.Context, c *Client) (*Health, error) { return statusHealth(ctx, c, "actuator/health") },
	cookieLogout:   komgaCookieLogout,
	sessions: &sessionDialect{
		login:      komgaLogin,
		resume:     komgaResume,
		logout:     komgaLogout,
		apply:      func(req *http.Request, s *Session) { req.Header["X-Auth-Token"] = []string{s.Token} },
		token:      func(req *http.Request) string { return req.Header.Get("X-Auth-Token") },
		credential: "session token",
		basicLogin: true,
	},
	diagnose: func(c *Client, a Authenticator, _ *http.Request) (string, string) {
		if _, ok := a.(*keyAuth); ok {
			return CredentialAPIKey, "the API key was rejected: it may have been deleted, or the server may be older than Komga 1.20 (X-API-Key support)"
		}
		return "", ""
	},
	unsupported: map[Operation]string{
		OpLogoutAllDevices: "Komga's logout ends one session; changing the user's password ends all of them",
		OpParseSession:     "Komga's sign-in answer is its X-Auth-Token header, not JSON: pass a Session with that Token to UseSession",
		OpParseUser:        "Komga's account is read with CurrentUser",
		OpHeldAPIKey:       "Komga lists its API keys masked, so the key the client holds cannot be told apart from the others: find it by its name",
	},
})

// KomgaUser holds the Komga-specific part of a [User]: which libraries and
// content the account may see.
type KomgaUser struct {
	// SharedAllLibraries reports whether every library is shared with the user.
	SharedAllLibraries bool
	// SharedLibraryIDs lists the shared libraries when not all are.
	SharedLibraryIDs []string
	// LabelsAllow and LabelsExclude restrict content by sharing label.
	LabelsAllow, LabelsExclude []string
	// AgeRestriction restricts content by age rating; nil means none.
	AgeRestriction *KomgaAgeRestriction
}

// KomgaAgeRestriction is a Komga age-rating restriction.
type KomgaAgeRestriction struct {
	Age         int
	Restriction string // "ALLOW_ONLY" or "EXCLUDE"
}

type komgaUserDTO struct {
	ID                 string   `json:"id"`
	Email              string   `json:"email"`
	Roles              []string `json:"roles"`
	SharedAllLibraries bool     `json:"sharedAllLibraries"`
	SharedLibrariesIDs []string `json:"sharedLibrariesIds"`
	LabelsAllow        []string `json:"labelsAllow"`
	LabelsExclude      []string `json:"labelsExclude"`
	AgeRestriction     *struct {
		Age         int    `json:"age"`
		Restriction string `json:"restriction"`
	} `json:"ageRestriction"`
}

func (d *komgaUserDTO) user() *User {
	u := &User{
		ID:       d.ID,
		Username: d.Email,
		Email:    d.Email,
		Roles:    d.Roles,
		Komga: &KomgaUser{
			SharedAllLibraries: d.SharedAllLibraries,
			SharedLibraryIDs:   d.SharedLibrariesIDs,
			LabelsAllow:        d.LabelsAllow,
			LabelsExclude:      d.LabelsExclude,
		},
	}
	for _, r := range d.Roles {
		if r == "ADMIN" {
			u.Admin = true
		}
	}
	if d.AgeRestriction != nil {
		u.Komga.AgeRestriction = &KomgaAgeRestriction{Age: d.AgeRestriction.Age, Restriction: d.AgeRestriction.Restriction}
	}
	return u
}

const komgaMe = "api/v2/users/me"

func komgaCurrentUser(ctx context.Context, c *Client) (*User, error) {
	var d komgaUserDTO
	cl := newCall(http.MethodGet, komgaMe)
	cl.out = &d
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	return d.user(), nil
}

// komgaLogin signs in with Basic and an empty X-Auth-Token header, which
// makes Komga answer with the new session id in X-Auth-Token instead of a
// cookie.
func komgaLogin(ctx context.Context, c *Client, username, password string, rememberMe bool) (*Session, error) {
	cl := newCall(http.MethodGet, komgaMe)
	cl.auth = BasicAuth(username, password)
	cl.noReauth = true
	cl.setHeader("X-Auth-Token", "")
	if rememberMe {
		cl.query = url.Values{"remember-me": {"true"}}
	}
	return komgaSessionCall(ctx, c, cl, username)
}

// komgaResume signs in again with the remember-me cookie, after Komga
// dropped the session (a restart, or 7 days idle).
func komgaResume(ctx context.Context, c *Client, s *Session) (*Session, error) {
	cl := newCall(http.MethodGet, komgaMe)
	cl.noAuth = true
	cl.noReauth = true
	cl.setHeader("X-Auth-Token", "")
	cl.setHeader("Cookie", "komga-remember-me="+s.RememberMe)
	ns, err := komgaSessionCall(ctx, c, cl, s.Username)
	if err == nil && ns.RememberMe == "" {
		ns.RememberMe = s.RememberMe
	}
	return ns, err
}

func komgaSessionCall(ctx context.Context, c *Client, cl *call, username string) (*Session, error) {
	var d komgaUserDTO
	s := &Session{Username: username}
	cl.out = &d
	cl.onResponse = func(resp *http.Response) error {
		s.Token = resp.Header.Get("X-Auth-Token")
		for _, ck := range resp.Cookies() {
			if ck.Name == "komga-remember-me" && ck.Value != "" && ck.MaxAge >= 0 {
				s.RememberMe = ck.Value
			}
		}
		c.secrets.add(s.Token, s.RememberMe) // masked from the moment they arrive
		if s.Token == "" {
			return c.newError(resp, resp.Request, ErrUnexpectedServer, "signed in, but the answer has no X-Auth-Token session header (is this Komga 0.132 or later?)")
		}
		return nil
	}
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	if d.Email != "" {
		s.Username = d.Email
	}
	return s, nil
}

func komgaLogout(ctx context.Context, c *Client, s *Session, o logoutOptions) error {
	cl := komgaLogoutCall(o)
	cl.setHeader("X-Auth-Token", s.Token)
	if s.RememberMe != "" {
		cl.setHeader("Cookie", "komga-remember-me="+s.RememberMe)
	}
	return c.send(ctx, cl)
}

func komgaCookieLogout(ctx context.Context, c *Client, a *cookieAuth, o logoutOptions) error {
	cl := komgaLogoutCall(o)
	cl.auth = a
	return c.send(ctx, cl)
}

func komgaLogoutCall(o logoutOptions) *call {
	cl := newCall(o.method, "api/logout")
	cl.noAuth = true
	cl.noReauth = true
	cl.retry = true // logging out twice is harmless
	return cl
}

type komgaKeyDTO struct {
	ID          string    `json:"id"`
	UserID      string    `json:"userId"`
	Key         string    `json:"key"`
	Comment     string    `json:"comment"`
	CreatedDate time.Time `json:"createdDate"`
}

func (d *komgaKeyDTO) info() APIKeyInfo {
	return APIKeyInfo{ID: d.ID, Name: d.Comment, UserID: d.UserID, CreatedAt: d.CreatedDate, Active: true}
}

const komgaKeys = "api/v2/users/me/api-keys"

func komgaListKeys(ctx context.Context, c *Client) ([]APIKeyInfo, error) {
	var list []komgaKeyDTO
	cl := newCall(http.MethodGet, komgaKeys)
	cl.out = &list
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	out := make([]APIKeyInfo, len(list))
	for i := range list {
		out[i] = list[i].info()
	}
	return out, nil
}

func komgaCreateKey(ctx context.Context, c *Client, r CreateAPIKeyRequest) (*CreatedAPIKey, error) {
	switch {
	case r.ExpiresIn != 0:
		return nil, &UnsupportedError{Server: Komga, Op: "CreateAPIKey with ExpiresIn", Reason: "Komga API keys never expire"}
	case r.Inactive:
		return nil, &UnsupportedError{Server: Komga, Op: "CreateAPIKey with Inactive", Reason: "Komga API keys are always active"}
	case strings.TrimSpace(r.Name) == "":
		return nil, configErr("CreateAPIKeyRequest.Name", "Komga requires a name (the key's comment)")
	}
	var d komgaKeyDTO
	cl := newCall(http.MethodPost, komgaKeys)
	if err := cl.jsonBody(map[string]string{"comment": r.Name}); err != nil {
		return nil, err
	}
	cl.out = &d
	cl.onError = func(e *Error) {
		if e.Code == KomgaDuplicateKeyName {
			e.Hint = "an API key with that name already exists"
		}
	}
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	return &CreatedAPIKey{APIKeyInfo: d.info(), Secret: d.Key}, nil
}

func komgaDeleteKey(ctx context.Context, c *Client, id string) error {
	p, err := joinPath(komgaKeys, id)
	if err != nil {
		return err
	}
	return c.send(ctx, newCall(http.MethodDelete, p))
}

// komgaVerifyKey checks that key authenticates.
func komgaVerifyKey(ctx context.Context, c *Client, key string) error {
	cl := newCall(http.MethodGet, komgaMe)
	cl.auth = APIKey(Komga, key)
	cl.noReauth = true
	return c.send(ctx, cl)
}

func komgaOAuthProviders(ctx context.Context, c *Client) ([]OAuthProvider, error) {
	var list []struct {
		Name           string `json:"name"`
		RegistrationID string `json:"registrationId"`
	}
	cl := newCall(http.MethodGet, "api/v1/oauth2/providers")
	cl.noAuth = true // public; an invalid key would turn it into a 401
	cl.out = &list
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	out := make([]OAuthProvider, 0, len(list))
	for _, p := range list {
		login, err := joinPath("oauth2/authorization", p.RegistrationID)
		if err != nil {
			continue // a registration id no browser could use
		}
		out = append(out, OAuthProvider{ID: p.RegistrationID, Name: p.Name, LoginURL: c.baseURL + login})
	}
	return out, nil
}

func komgaProbe(ctx context.Context, c *Client) (*ServerInfo, error) {
	var claim struct {
		IsClaimed *bool `json:"isClaimed"`
	}
	cl := newCall(http.MethodGet, "api/v1/claim")
	cl.noAuth = true
	cl.out = &claim
	cl.onError = func(e *Error) {
		if e.kind == ErrNotFound {
			e.kind = ErrUnexpectedServer
			e.Hint = "no Komga claim endpoint at this URL"
		}
	}
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	if claim.IsClaimed == nil {
		return nil, c.newError(cl.answer, cl.answer.Request, ErrUnexpectedServer, "the answer is not Komga's claim status")
	}
	return &ServerInfo{Server: Komga, Initialized: *claim.IsClaimed}, nil
}

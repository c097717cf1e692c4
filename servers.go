package authclient

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Server names the product a [Client] talks to. It selects the paths, the
// auth headers, the error mapping and the environment-variable prefix.
type Server string

// The supported servers.
const (
	Komga          Server = "komga"          // Komga 1.20 or later (API keys need 1.20)
	Audiobookshelf Server = "audiobookshelf" // Audiobookshelf 2.26 or later
	ComfyUI        Server = "comfyui"        // ComfyUI with the API-key patch, or behind a proxy
	Khoj           Server = "khoj"           // Khoj 2.0 or later
)

// String returns the server's name as used in error messages ("komga").
func (s Server) String() string { return string(s) }

// passwordMode says what a username and password mean for a server.
type passwordMode int

const (
	passwordNone    passwordMode = iota // the server has no password sign-in the SDK can use
	passwordSession                     // log in once and keep a session (Komga, Audiobookshelf)
	passwordBasic                       // HTTP Basic on every request (ComfyUI behind a proxy)
)

// serverSpec is everything the client knows about one server, as data. Each
// server's file fills in one of these; methods look up what they need here
// instead of switching on the server.
type serverSpec struct {
	server    Server
	name      string // display name, "Komga"
	envPrefix string // "KOMGA"
	port      string // the server's default port, for hints

	// keyPlacement is where an API key goes by default.
	keyPlacement Placement
	// sessionCookie is the server's session cookie name, for SessionCookie.
	sessionCookie string
	// passwords says what WithLogin and <PREFIX>_USERNAME/_PASSWORD mean.
	passwords passwordMode
	// loginPaths are paths (relative to the base URL, without a leading
	// slash) that a redirect goes to when the server wants the user to sign
	// in; such a redirect is ErrUnauthorized and is never followed.
	loginPaths []string
	// errorPaths are paths (relative to the base URL, without a leading
	// slash) of the server's own error page, which it redirects to when it
	// fails (Khoj's server/error when its database is down); such a
	// redirect is ErrUnavailable and is never followed.
	errorPaths []string
	// statusKinds overrides the default status → category mapping.
	statusKinds map[int]error
	// diagnose names the credential a rejected request carried and says
	// what to check; it may be nil, and may return "" to leave the generic
	// diagnosis.
	diagnose func(c *Client, a Authenticator, rejected *http.Request) (credential, hint string)

	// Operations; nil means the server lacks it (ErrUnsupported).
	currentUser func(ctx context.Context, c *Client) (*User, error)
	// parseUser reads the server's JSON account object ([Client.ParseUser]).
	parseUser func(c *Client, data []byte) (*User, error)
	listKeys  func(ctx context.Context, c *Client) ([]APIKeyInfo, error)
	createKey func(ctx context.Context, c *Client, r CreateAPIKeyRequest) (*CreatedAPIKey, error)
	deleteKey func(ctx context.Context, c *Client, id string) error
	verifyKey func(ctx context.Context, c *Client, key string) error
	// holdsKey reports whether secret, the API key the client
	// authenticates with, is the key k (RotateAPIKey then switches the
	// client to the new key). nil means the server cannot tell, but every
	// key the client can list belongs to its own user (Komga): RotateAPIKey
	// then checks the client's key once the old one is deleted, and
	// switches if it no longer works.
	holdsKey       func(secret string, k APIKeyInfo) bool
	oauthProviders func(ctx context.Context, c *Client) ([]OAuthProvider, error)
	probe          func(ctx context.Context, c *Client) (*ServerInfo, error)
	health         func(ctx context.Context, c *Client) (*Health, error)
	checkAuth      func(ctx context.Context, c *Client) error
	// warn returns a warning about a credential, logged once by New.
	warn func(a Authenticator) string
	// validate, if set, checks the resolved authenticator (nil for none)
	// against the rest of the configuration (the WithHeader headers in
	// c.headers); New returns its error, a *ConfigError.
	validate func(c *Client, a Authenticator) error
	// checkRequest, if set, checks each request once it carries its
	// credentials, before it is sent: what one call adds (a Header option,
	// a query in the path) is beyond validate. Its error, a *ConfigError,
	// is returned and nothing is sent.
	checkRequest func(c *Client, req *http.Request) error
	// cookieLogout ends a session given as a SessionCookie.
	cookieLogout func(ctx context.Context, c *Client, a *cookieAuth, o logoutOptions) error

	// pages is how the server pages its lists, for Paginate; nil means it
	// has none (ErrUnsupported).
	pages *pageScheme

	// Sessions (passwords == passwordSession).
	sessions *sessionDialect

	// unsupported lists the operations the server lacks, each with why,
	// in the server's terms: the one table [serverSpec.require] and
	// [Server.Supports] read, and the package doc's # Servers table shows.
	// The operation functions above are nil exactly for these (a test
	// checks).
	unsupported map[Operation]string
}

// sessionDialect is how a server's sessions work.
type sessionDialect struct {
	// login signs in with a username and password.
	login func(ctx context.Context, c *Client, username, password string, rememberMe bool) (*Session, error)
	// resume signs in again without a password, from what the session
	// kept (Komga's remember-me cookie); nil if the server has no such thing.
	resume func(ctx context.Context, c *Client, s *Session) (*Session, error)
	// refresh renews a session with its refresh token; nil if the server
	// has no refresh tokens.
	refresh func(ctx context.Context, c *Client, s *Session) (*Session, error)
	// logout ends the session on the server.
	logout func(ctx context.Context, c *Client, s *Session, o logoutOptions) error
	// apply puts the session's credential on a request.
	apply func(req *http.Request, s *Session)
	// token returns the session credential a request carried.
	token func(req *http.Request) string
	// issuedAt reads when a session token was issued from the token
	// itself (a JWT's iat claim), for sessions saved without
	// Session.IssuedAt; nil or a zero answer means unknown.
	issuedAt func(token string) time.Time
	// credential names the credential for error hints ("session token").
	credential string
	// basicLogin: login sends the username and password as HTTP Basic,
	// which cannot carry a username with a colon.
	basicLogin bool
	// parse reads the server's JSON sign-in answer into a session
	// ([Client.ParseSession]); nil if its sign-in answer is not JSON.
	parse func(c *Client, data []byte) (*Session, error)
}

// specs is the table of servers.
var specs = map[Server]*serverSpec{}

func register(s *serverSpec) *serverSpec {
	specs[s.server] = s
	return s
}

func lookupSpec(s Server) (*serverSpec, error) {
	if spec, ok := specs[Server(strings.ToLower(string(s)))]; ok {
		return spec, nil
	}
	names := make([]string, 0, len(specs))
	for _, k := range []Server{Komga, Audiobookshelf, ComfyUI, Khoj} {
		if _, ok := specs[k]; ok {
			names = append(names, string(k))
		}
	}
	return nil, configErr("server", "unknown server %q (want one of %s)", cleanText(truncate(string(s), 40)), strings.Join(names, ", "))
}

// kind maps an HTTP status to its category sentinel for this server.
func (s *serverSpec) kind(status int) error {
	if k, ok := s.statusKinds[status]; ok {
		return k
	}
	switch status {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound, http.StatusGone:
		return ErrNotFound
	case http.StatusTooManyRequests:
		return ErrRateLimited
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return ErrUnavailable
	}
	if status >= 500 && status < 600 {
		return ErrServer
	}
	return nil
}

// isLoginPath reports whether a path, relative to the base URL, is one of the
// server's sign-in pages.
func (s *serverSpec) isLoginPath(rel string) bool {
	return hasPath(s.loginPaths, rel)
}

// isErrorPath reports whether a path, relative to the base URL, is the
// server's error page.
func (s *serverSpec) isErrorPath(rel string) bool {
	return hasPath(s.errorPaths, rel)
}

func hasPath(paths []string, rel string) bool {
	rel = strings.TrimPrefix(rel, "/")
	for _, p := range paths {
		if rel == p {
			return true
		}
	}
	return false
}

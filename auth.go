package authclient

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"
)

// Authenticator adds credentials to an outgoing request. The client calls
// it for every request to the configured server (never for another origin),
// on a request the client built and owns, before each call; use
// req.Context() for any I/O. Implementations must be safe for concurrent
// use.
type Authenticator interface {
	Authenticate(req *http.Request) error
}

// AuthenticatorFunc adapts a function to [Authenticator].
type AuthenticatorFunc func(req *http.Request) error

// Authenticate calls f(req).
func (f AuthenticatorFunc) Authenticate(req *http.Request) error { return f(req) }

// Reauthenticator is an optional interface for authenticators that can renew
// their credential (sign in again, refresh a token). When a call fails with
// [ErrUnauthorized], the client calls Reauthenticate with the rejected
// request and, if it returns nil, replays the call once.
//
// Many goroutines may see the same credential rejected at once; an
// implementation should renew once and, for the others, see from the
// rejected request that the credential has already changed and return nil.
type Reauthenticator interface {
	Reauthenticate(ctx context.Context, rejected *http.Request) error
}

// placementKind is where an API key goes.
type placementKind int

const (
	placeHeader placementKind = iota + 1
	placeBearer
	placeQuery
)

// Placement says where an API key goes on a request. Make one with
// [InHeader], [AsBearer] or [InQuery]. The zero value means "the server's
// default".
type Placement struct {
	kind placementKind
	name string
}

// InHeader places an API key in the named header (for example "X-API-Key").
func InHeader(name string) Placement { return Placement{kind: placeHeader, name: name} }

// AsBearer places an API key in "Authorization: Bearer <key>".
func AsBearer() Placement { return Placement{kind: placeBearer} }

// InQuery places an API key in the named query parameter (for example
// "api_key" for ComfyUI). Prefer a header: query strings end up in proxy
// logs. The client redacts it from its own errors and logs.
func InQuery(param string) Placement { return Placement{kind: placeQuery, name: param} }

// String describes the placement without any key.
func (p Placement) String() string {
	switch p.kind {
	case placeHeader:
		return "header " + p.name
	case placeBearer:
		return "Authorization: Bearer"
	case placeQuery:
		return "query parameter " + p.name
	}
	return "server default"
}

// APIKey authenticates with an API key placed where server expects it:
// X-API-Key for Komga; Authorization: Bearer for Audiobookshelf, ComfyUI and
// Khoj. A key containing control characters is rejected by [New].
func APIKey(server Server, key string) Authenticator {
	p := AsBearer()
	if spec, err := lookupSpec(server); err == nil {
		p = spec.keyPlacement
	}
	return &keyAuth{p: p, key: key}
}

// APIKeyIn authenticates with an API key at the given placement.
func APIKeyIn(p Placement, key string) Authenticator {
	return &keyAuth{p: p, key: key}
}

type keyAuth struct {
	p   Placement
	key string

	once sync.Once
	hdr  []string // the header value, built once; capped so appends copy
	name string   // the header's canonical name, built once
}

func (a *keyAuth) validate() error {
	if a.key == "" {
		return configErr("APIKey", "key is empty")
	}
	if err := checkHeaderValue(a.key); err != nil {
		return configErr("APIKey", "key %s", err.Error())
	}
	switch a.p.kind {
	case placeHeader:
		return validateHeader("APIKey", a.p.name, "x")
	case placeQuery:
		if a.p.name == "" {
			return configErr("APIKey", "query parameter name is empty")
		}
	case placeBearer:
	default:
		return configErr("APIKey", "placement is not set (use InHeader, AsBearer or InQuery)")
	}
	return nil
}

func (a *keyAuth) Authenticate(req *http.Request) error {
	a.once.Do(func() {
		v := a.key
		if a.p.kind == placeBearer {
			v = "Bearer " + a.key
		}
		a.hdr = []string{v}
		a.hdr = a.hdr[:1:1]
		a.name = http.CanonicalHeaderKey(a.p.name)
	})
	switch a.p.kind {
	case placeHeader:
		req.Header[a.name] = a.hdr
	case placeBearer:
		req.Header["Authorization"] = a.hdr
	case placeQuery:
		q := req.URL.Query()
		q.Set(a.p.name, a.key)
		req.URL.RawQuery = q.Encode()
	}
	return nil
}

// keyOf returns the credential a request carries at this placement.
func (p Placement) keyOf(req *http.Request) string {
	switch p.kind {
	case placeHeader:
		return req.Header.Get(p.name)
	case placeBearer:
		v, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		return v
	case placeQuery:
		return req.URL.Query().Get(p.name)
	}
	return ""
}

func (a *keyAuth) Format(f fmt.State, verb rune) { redactedFormat(f, verb, "APIKey("+a.p.String()+")") }
func (a *keyAuth) LogValue() slog.Value          { return slog.StringValue("APIKey(" + a.p.String() + ")") }

// BasicAuth authenticates every request with HTTP Basic. The username and
// password are UTF-8; the username may not contain ":". Komga's username is
// the account's e-mail address. Prefer [WithLogin] for Komga: a session
// avoids a password check (and an activity record) on every request.
func BasicAuth(username, password string) Authenticator {
	return &basicAuth{username: username, password: password}
}

type basicAuth struct {
	username, password string
}

func (a *basicAuth) validate() error {
	if a.username == "" {
		return configErr("BasicAuth", "username is empty")
	}
	if strings.Contains(a.username, ":") {
		return configErr("BasicAuth", "username must not contain \":\"")
	}
	if !utf8.ValidString(a.username) || !utf8.ValidString(a.password) {
		return configErr("BasicAuth", "username and password must be valid UTF-8")
	}
	if strings.ContainsFunc(a.username+a.password, isControl) {
		return configErr("BasicAuth", "username or password contains control characters")
	}
	return nil
}

func (a *basicAuth) Authenticate(req *http.Request) error {
	req.Header["Authorization"] = []string{basicValue(a.username, a.password)}
	return nil
}

func basicValue(username, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password))
}

func (a *basicAuth) Format(f fmt.State, verb rune) {
	redactedFormat(f, verb, "BasicAuth("+a.username+", password REDACTED)")
}
func (a *basicAuth) LogValue() slog.Value {
	return slog.StringValue("BasicAuth(" + a.username + ", password REDACTED)")
}

// BearerToken authenticates every request with "Authorization: Bearer
// <token>": an Audiobookshelf access token or API key, a Khoj token, a
// ComfyUI key.
func BearerToken(token string) Authenticator {
	return &keyAuth{p: AsBearer(), key: token}
}

// SessionCookie authenticates with an existing session cookie of server,
// taken from a browser or another client: Komga's KOMGA-SESSION (the cookie
// value, which is the Base64 of the session id) or Khoj's session cookie.
// [Client.Logout] ends that session on the server.
func SessionCookie(server Server, value string) Authenticator {
	name := ""
	if spec, err := lookupSpec(server); err == nil {
		name = spec.sessionCookie
	}
	return &cookieAuth{server: server, name: name, value: value}
}

type cookieAuth struct {
	server      Server
	name, value string
}

func (a *cookieAuth) validate() error {
	if a.name == "" {
		return configErr("SessionCookie", "%s has no session cookie", a.server)
	}
	if a.value == "" {
		return configErr("SessionCookie", "cookie value is empty")
	}
	if strings.ContainsFunc(a.value, func(r rune) bool { return isControl(r) || r == ';' || r == ' ' || r == '"' || r == ',' || r == '\\' }) {
		return configErr("SessionCookie", "cookie value contains characters not allowed in a cookie")
	}
	return nil
}

func (a *cookieAuth) Authenticate(req *http.Request) error {
	req.Header["Cookie"] = []string{a.name + "=" + a.value}
	return nil
}

func (a *cookieAuth) Format(f fmt.State, verb rune) {
	redactedFormat(f, verb, "SessionCookie("+a.name+"=REDACTED)")
}
func (a *cookieAuth) LogValue() slog.Value {
	return slog.StringValue("SessionCookie(" + a.name + "=REDACTED)")
}

// NoAuth sends requests without credentials, for public endpoints.
func NoAuth() Authenticator { return noAuth{} }

type noAuth struct{}

func (noAuth) Authenticate(*http.Request) error { return nil }

// redactedFormat prints s for every verb (so %x or %#v cannot reveal the
// fields behind it), quoted for %q.
func redactedFormat(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = fmt.Sprintf("%q", s)
	}
	_, _ = f.Write([]byte(s))
}

// secretsOf lists the secret strings an authenticator holds, and those it
// derives from them for the wire (the Basic header's Base64), so the client
// can mask them if a server echoes them back in a message (a header value
// such as "Bearer <key>" is masked through the key inside it). The forms each takes in an echo are added by the
// secret set. A custom authenticator's are not known in advance: the
// client notes them on each request ([Client.noteAuthCredentials]).
func secretsOf(a Authenticator) []string {
	switch a := a.(type) {
	case *keyAuth:
		return []string{a.key}
	case *basicAuth:
		return basicSecrets(a.username, a.password)
	case *cookieAuth:
		return []string{a.value}
	case *sessionAuth:
		return a.secrets()
	}
	return nil
}

// Kinds of credential, as reported in [Error.Credential].
const (
	CredentialNone          = "none"
	CredentialAPIKey        = "API key"
	CredentialPassword      = "password" // HTTP Basic, or a password sign-in
	CredentialSession       = "session"  // a session the client signed in for
	CredentialSessionCookie = "session cookie"
	CredentialAccessToken   = "access token" // Audiobookshelf JWT access token
	CredentialLegacyToken   = "legacy token" // Audiobookshelf's deprecated non-expiring user token
	CredentialRefreshToken  = "refresh token"
	CredentialCustom        = "custom" // an Authenticator of the caller's
)

// credentialKind names the kind of credential an authenticator sends.
func credentialKind(a Authenticator) string {
	switch a.(type) {
	case nil, noAuth:
		return CredentialNone
	case *keyAuth:
		return CredentialAPIKey
	case *basicAuth:
		return CredentialPassword
	case *cookieAuth:
		return CredentialSessionCookie
	case *sessionAuth:
		return CredentialSession
	}
	return CredentialCustom
}

// describeCredential names the credential an authenticator sends, for
// error hints.
func describeCredential(a Authenticator) string {
	switch a := a.(type) {
	case nil, noAuth:
		return "no credentials were sent"
	case *keyAuth:
		return "the API key (" + a.p.String() + ") was rejected"
	case *basicAuth:
		return "the username or password was rejected"
	case *cookieAuth:
		return "the session cookie was rejected: it may have expired or been logged out"
	case *sessionAuth:
		return "the session was rejected and could not be renewed"
	}
	return ""
}

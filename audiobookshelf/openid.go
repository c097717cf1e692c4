package audiobookshelf

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/selfhost-sdk/authclient"
)

// ErrNotRedirected is returned by [Client.StartOpenIDLogin] when the
// server's answer is not a redirect to an http(s) identity provider URL.
// It matches authclient.ErrUnexpectedServer.
var ErrNotRedirected = fmt.Errorf("audiobookshelf: the answer to /auth/openid is not a redirect to an identity provider: %w", authclient.ErrUnexpectedServer)

// ErrNoFlowCookie is returned by [Client.StartOpenIDLogin] when the
// server's redirect sets no connect.sid cookie, which the code exchange
// needs (something between the client and Audiobookshelf dropped it). It
// matches authclient.ErrUnexpectedServer.
var ErrNoFlowCookie = fmt.Errorf("audiobookshelf: the server set no session cookie (connect.sid) for the OpenID flow: %w", authclient.ErrUnexpectedServer)

// flowCookie is the express session cookie the OpenID flow runs in.
const flowCookie = "connect.sid"

// OpenIDLogin is an OpenID Connect sign-in in progress (Audiobookshelf's
// mobile flow, with PKCE), for programs that can open a browser. Finish it
// with [Client.FinishOpenIDLogin] on the client that started it. fmt (every
// verb) and slog print it without its state, verifier and cookies, and
// show only the scheme, host and path of AuthURL.
type OpenIDLogin struct {
	// AuthURL is the identity provider's sign-in page: open it in a browser.
	AuthURL string
	// RedirectURI is where the browser lands afterwards, with the code.
	RedirectURI string
	// State ties the answer to this sign-in.
	State string
	// CodeVerifier is the PKCE secret sent only with the code exchange.
	CodeVerifier string

	core *authclient.Client // the client that started it
	// cookies are what the server set when the flow started (connect.sid,
	// its session, and auth_method=openid-mobile, which makes the callback
	// answer with tokens), as a Cookie header; values are theirs alone.
	cookies string
	values  []string
}

// Format prints the login without its secrets, for every verb.
func (l OpenIDLogin) Format(f fmt.State, verb rune) {
	s := l.describe()
	if verb == 'q' {
		s = fmt.Sprintf("%q", s)
	}
	_, _ = f.Write([]byte(s))
}

// LogValue logs the login without its secrets.
func (l OpenIDLogin) LogValue() slog.Value { return slog.StringValue(l.describe()) }

func (l OpenIDLogin) describe() string {
	return "OpenIDLogin(" + pageOf(l.AuthURL) + ", state, verifier and cookies REDACTED)"
}

// pageOf is raw's scheme, host and path: the page, without the query (the
// state and challenge) or userinfo.
func pageOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(no URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// StartOpenIDLogin starts an Audiobookshelf OpenID Connect sign-in with PKCE: it makes a
// code verifier and its S256 challenge and a state, asks the server to
// start its mobile flow for redirectURI (GET /auth/openid; it must be in
// the server's allowed mobile redirect URIs, "audiobookshelf://oauth" by
// default), and returns the identity provider's URL to open in a browser.
// The call carries no credentials, follows no redirect and is never
// retried; the state is masked in the client's errors and logs before it
// is sent, and so are the cookies the server sets.
//
// Errors: an empty or malformed redirectURI is a
// [*authclient.ConfigError] and nothing is sent. Audiobookshelf's
// refusals are the core's [*authclient.Error]: a 500 (its error page)
// when OpenID is not configured, with a hint saying so; a 400 for a
// redirect URI it does not allow. An answer that is not a redirect is
// [ErrNotRedirected]; one without the flow's cookie is [ErrNoFlowCookie].
func (c *Client) StartOpenIDLogin(ctx context.Context, redirectURI string) (*OpenIDLogin, error) {
	core, err := c.client()
	if err != nil {
		return nil, err
	}
	if u, err := url.Parse(redirectURI); err != nil || u.Scheme == "" {
		return nil, &authclient.ConfigError{Setting: "audiobookshelf.StartOpenIDLogin", Problem: "the redirect URI is not an absolute URL"}
	}
	l := &OpenIDLogin{RedirectURI: redirectURI, CodeVerifier: randomToken(32), State: randomToken(16), core: core}
	sum := sha256.Sum256([]byte(l.CodeVerifier))
	var m authclient.Meta
	var status int // ErrorCode sees the status first; ErrorHint reads it
	err = core.Do(ctx, http.MethodGet, "auth/openid", nil, nil,
		authclient.Query(url.Values{
			"response_type":         {"code"},
			"redirect_uri":          {redirectURI},
			"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
			"code_challenge_method": {"S256"},
			"state":                 {l.State},
		}),
		authclient.Secret(l.State, l.CodeVerifier),
		authclient.Unauthenticated(), authclient.NoRetry(), authclient.NoRedirect(), authclient.ResponseMeta(&m),
		authclient.ErrorCode(func(st int, _ []byte) string { status = st; return "" }),
		authclient.ErrorHint(func([]byte) string {
			if status == http.StatusInternalServerError {
				return "OpenID is probably not configured on this server (Audiobookshelf answers its error page)"
			}
			return ""
		}))
	if err != nil {
		return nil, err
	}
	loc := m.Header.Get("Location")
	if m.StatusCode < 300 || m.StatusCode >= 400 || loc == "" {
		return nil, ErrNotRedirected
	}
	start, err := url.Parse(core.BaseURL())
	if err != nil {
		return nil, ErrNotRedirected
	}
	idp, err := start.JoinPath("auth", "openid").Parse(loc)
	if err != nil || (idp.Scheme != "https" && idp.Scheme != "http") || idp.Host == "" {
		return nil, ErrNotRedirected
	}
	l.AuthURL = idp.String()
	var pairs []string
	session := false
	for _, ck := range (&http.Response{Header: m.Header}).Cookies() {
		if ck.Value == "" || ck.MaxAge < 0 {
			continue
		}
		pairs = append(pairs, ck.Name+"="+ck.Value)
		l.values = append(l.values, ck.Value)
		session = session || ck.Name == flowCookie
	}
	if !session {
		return nil, ErrNoFlowCookie
	}
	l.cookies = strings.Join(pairs, "; ")
	return l, nil
}

// FinishOpenIDLogin completes an Audiobookshelf sign-in started with
// [Client.StartOpenIDLogin] on this client: callbackURL is the URL the
// browser was sent to (RedirectURI with code and state). It checks the
// state, exchanges the code with the PKCE verifier at
// /auth/openid/callback (with the flow's cookies, no credentials, never
// retried; the code, state, verifier and cookies are masked in the
// client's errors and logs before they are sent), and makes the client use
// the new session, as authclient.Client.UseSession does: it is refreshed
// like a password session, but the client cannot sign in again by itself
// once the refresh token is gone. It returns a copy of the session, which
// may be stored and restored with authclient.WithSession.
//
// Errors: a callback carrying the identity provider's error is an
// [*IdPError] (it matches authclient.ErrUnauthorized) and nothing is sent.
// A login not started with StartOpenIDLogin on this client, a callback URL
// that does not parse, has another state (forged or stale) or no code are
// [*authclient.ConfigError]s and nothing is sent. Audiobookshelf's
// refusals of the exchange are the core's [*authclient.Error] (a wrong
// verifier or code: authclient.ErrUnauthorized); an answer without an
// access token matches authclient.ErrUnexpectedServer.
func (c *Client) FinishOpenIDLogin(ctx context.Context, l *OpenIDLogin, callbackURL string) (*authclient.Session, error) {
	core, err := c.client()
	if err != nil {
		return nil, err
	}
	if l == nil || l.core != core || l.cookies == "" {
		return nil, &authclient.ConfigError{Setting: "audiobookshelf.FinishOpenIDLogin", Problem: "the login was not started with StartOpenIDLogin on this client"}
	}
	u, err := url.Parse(callbackURL)
	if err != nil {
		// Not err's text: it quotes the URL, code and state included.
		return nil, &authclient.ConfigError{Setting: "audiobookshelf.FinishOpenIDLogin", Problem: "the callback URL is not a URL"}
	}
	q := u.Query()
	code := q.Get("code")
	if msg := q.Get("error"); msg != "" {
		return nil, newIdPError(msg, q.Get("error_description"), l.State, l.CodeVerifier, code)
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(l.State)) != 1 {
		return nil, &authclient.ConfigError{Setting: "audiobookshelf.FinishOpenIDLogin", Problem: "the state in the callback does not match this sign-in (a forged or stale callback)"}
	}
	if code == "" {
		return nil, &authclient.ConfigError{Setting: "audiobookshelf.FinishOpenIDLogin", Problem: "the callback URL has no code"}
	}
	var answer json.RawMessage
	err = core.Do(ctx, http.MethodGet, "auth/openid/callback", nil, &answer,
		authclient.Query(url.Values{"code": {code}, "state": {l.State}, "code_verifier": {l.CodeVerifier}}),
		authclient.Secret(code, l.State, l.CodeVerifier), authclient.Secret(l.values...),
		authclient.Header("Cookie", l.cookies),
		authclient.Unauthenticated(), authclient.NoRetry())
	if err != nil {
		return nil, err
	}
	s, err := core.ParseSession(answer)
	if err != nil {
		return nil, err
	}
	if err := core.UseSession(s); err != nil {
		return nil, err
	}
	return s, nil
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

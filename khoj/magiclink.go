package khoj

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/selfhost-sdk/authclient"
)

// Codes set in [authclient.Error.Code] by [Client.SendMagicLink] and
// [Client.VerifyMagicLink], whose answers Khoj sends without one (an empty
// 401 or 403, a 404 with a message). Match them with errors.As on the
// *authclient.Error.
const (
	// WrongCode means the code is not the one last e-mailed (401,
	// authclient.ErrUnauthorized).
	WrongCode = "wrong_code"
	// CodeExpired means the code is older than 5 minutes, or was used
	// already (403, authclient.ErrUnauthorized).
	CodeExpired = "code_expired"
	// UnknownUser means no user has this e-mail address (404,
	// authclient.ErrNotFound).
	UnknownUser = "unknown_user"
	// InvalidEmail means Khoj refused to create a user with this address
	// (404, authclient.ErrNotFound): its deliverability check failed. Khoj
	// runs that check only with billing on (as Khoj's cloud service runs)
	// and not in debug mode, so a self-hosted server without billing never
	// answers it; there a malformed or undeliverable-looking address
	// (a@localhost, a@foo.test) is refused by FastAPI's validation instead,
	// a 422 with no Code.
	InvalidEmail = "invalid_email"
)

// ErrNoSession is returned by [Client.VerifyMagicLink] and
// [Client.BootstrapToken] when Khoj accepted the code but its answer is not
// a redirect setting a usable session cookie. It matches
// authclient.ErrUnexpectedServer.
var ErrNoSession = fmt.Errorf("khoj: the code was accepted, but the answer is not a redirect with a usable session cookie: %w", authclient.ErrUnexpectedServer)

const (
	magicPath = "auth/magic"
	// sessionCookie is the cookie Khoj keeps its session in.
	sessionCookie = "session"
	// maxTokenName is Khoj's column limit in characters (longer is a 500).
	maxTokenName = 50
	// anonymousReason explains a missing /auth route.
	anonymousReason = "the server has no /auth routes: Khoj runs in anonymous mode (--anonymous-mode), which has no " +
		"accounts, sessions or API tokens and serves every request as default@example.com (or the base URL is not Khoj's)"
)

// SendMagicLink asks Khoj to e-mail a sign-in code to email (POST
// /auth/magic), creating the user if there is none. Khoj sends the code
// only if the server has e-mail configured (RESEND_API_KEY); it is valid
// for 5 minutes and for one use. Complete the sign-in with
// [Client.VerifyMagicLink] or [Client.BootstrapToken].
//
// The request carries no credentials (Khoj would end a session it
// carried) and is never retried. Errors: an empty address is a
// [*authclient.ConfigError] and nothing is sent; a malformed address is a
// plain [*authclient.Error] (422, FastAPI's message); an address Khoj's
// deliverability check refuses, which happens only on a server with billing
// on, matches authclient.ErrNotFound with Code [InvalidEmail]; too many
// requests (20 per address and 10 per user in 24 hours, unless the server
// runs with KHOJ_DEBUG) match authclient.ErrRateLimited with Khoj's
// message. On a server in anonymous mode the error is an
// [*authclient.UnsupportedError] (errors.ErrUnsupported).
func (c *Client) SendMagicLink(ctx context.Context, email string) error {
	core, err := c.client()
	if err != nil {
		return err
	}
	email = strings.TrimSpace(email)
	if email == "" {
		return &authclient.ConfigError{Setting: "khoj.SendMagicLink", Problem: "e-mail address is empty"}
	}
	var status int // ErrorCode sees the status first; ErrorHint reads it
	err = core.Do(ctx, http.MethodPost, magicPath, map[string]string{"email": email}, nil,
		authclient.Unauthenticated(), authclient.NoRetry(),
		authclient.ErrorCode(func(st int, body []byte) string {
			status = st
			if st == http.StatusNotFound && !routeNotFound(body) {
				return InvalidEmail
			}
			return ""
		}),
		authclient.ErrorHint(func(body []byte) string {
			switch {
			case status == http.StatusNotFound && !routeNotFound(body):
				return "Khoj refused to create a user with this address"
			case status == http.StatusTooManyRequests:
				return "Khoj allows 20 magic-link requests per address and 10 per user in 24 hours"
			}
			return ""
		}))
	return noAuthRoutes(err, "khoj.SendMagicLink")
}

// VerifyMagicLink completes a Khoj magic-link sign-in: it sends the code
// e-mailed by [Client.SendMagicLink] (GET /auth/magic, redirects not
// followed, no credentials, never retried; the code is masked in the
// client's errors and logs), takes the session cookie from Khoj's answer
// and makes the client use it from then on, replacing its other
// credentials (the core's Logout ends it). The e-mail address is
// lower-cased, as Khoj stored it.
//
// Errors: an empty address or code is a [*authclient.ConfigError] and
// nothing is sent. Khoj's refusals are [*authclient.Error]s with a Code: a
// wrong code matches authclient.ErrUnauthorized ([WrongCode]); an expired
// one too ([CodeExpired]: codes last 5 minutes and are single-use); an
// address without a user matches authclient.ErrNotFound ([UnknownUser]);
// more than 10 attempts per user in 24 hours, successful or not, match
// authclient.ErrRateLimited (never retried). An accepted code without a
// usable session cookie is [ErrNoSession]. On a server in anonymous mode
// the error is an [*authclient.UnsupportedError] (errors.ErrUnsupported).
func (c *Client) VerifyMagicLink(ctx context.Context, email, code string) error {
	core, err := c.client()
	if err != nil {
		return err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	code = strings.TrimSpace(code)
	switch {
	case email == "":
		return &authclient.ConfigError{Setting: "khoj.VerifyMagicLink", Problem: "e-mail address is empty"}
	case code == "":
		return &authclient.ConfigError{Setting: "khoj.VerifyMagicLink", Problem: "code is empty"}
	}
	var m authclient.Meta
	var status int // ErrorCode sees the status first; ErrorHint reads it
	err = core.Do(ctx, http.MethodGet, magicPath, nil, nil,
		authclient.Query(url.Values{"code": {code}, "email": {email}}),
		authclient.Secret(code), // a credential once sent: masked before it is
		authclient.Unauthenticated(), authclient.NoRetry(), authclient.NoRedirect(), authclient.ResponseMeta(&m),
		authclient.ErrorCode(func(st int, body []byte) string {
			status = st
			switch {
			case st == http.StatusUnauthorized:
				return WrongCode
			case st == http.StatusForbidden:
				return CodeExpired
			case st == http.StatusNotFound && !routeNotFound(body):
				return UnknownUser
			}
			return ""
		}),
		authclient.ErrorHint(func(body []byte) string {
			switch {
			case status == http.StatusUnauthorized:
				return "the code is wrong, or a newer one has been sent since"
			case status == http.StatusForbidden:
				return "the code has expired: codes last 5 minutes and are single-use; request a new one with SendMagicLink"
			case status == http.StatusNotFound && !routeNotFound(body):
				return "no Khoj user has this e-mail address; SendMagicLink creates one"
			case status == http.StatusTooManyRequests:
				return "Khoj allows 10 code checks per user in 24 hours, successful or not"
			}
			return ""
		}))
	if err != nil {
		return noAuthRoutes(err, "khoj.VerifyMagicLink")
	}
	if m.StatusCode < 300 || m.StatusCode >= 400 {
		return ErrNoSession
	}
	var session string
	for _, ck := range (&http.Response{Header: m.Header}).Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" && ck.Value != "null" && ck.MaxAge >= 0 {
			session = ck.Value
		}
	}
	if session == "" {
		return ErrNoSession
	}
	if core.SetAuthenticator(authclient.SessionCookie(authclient.Khoj, session)) != nil {
		return ErrNoSession // a value no request could carry (the error would quote it)
	}
	return nil
}

// BootstrapToken is the documented way for a script to set itself up on
// Khoj without a browser: it verifies the magic-link code as
// [Client.VerifyMagicLink] does, mints an API token named tokenName with
// the new session (an empty name gets a random one from Khoj; at most 50
// characters), and switches the client to that token. Store the returned
// Secret (for example as KHOJ_API_KEY): it is shown only this once.
//
//	if err := c.SendMagicLink(ctx, "me@example.org"); err != nil { … }
//	code := readCodeFromUser()
//	tok, err := c.BootstrapToken(ctx, "me@example.org", code, "backup script")
//
// The name is checked before the code is used (a longer one is a
// [*authclient.ConfigError]). If minting fails after the code was
// accepted, the client keeps the session and the error is returned; call
// the core's CreateAPIKey to try again. Errors are those of
// VerifyMagicLink and the core's CreateAPIKey.
func (c *Client) BootstrapToken(ctx context.Context, email, code, tokenName string) (*authclient.CreatedAPIKey, error) {
	core, err := c.client()
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(tokenName) > maxTokenName {
		return nil, &authclient.ConfigError{Setting: "khoj.BootstrapToken", Problem: fmt.Sprintf("the token name is longer than Khoj's limit of %d characters", maxTokenName)}
	}
	if err := c.VerifyMagicLink(ctx, email, code); err != nil {
		return nil, err
	}
	k, err := core.CreateAPIKey(ctx, authclient.CreateAPIKeyRequest{Name: tokenName})
	if err != nil {
		return nil, err
	}
	if err := core.SetAuthenticator(authclient.APIKey(authclient.Khoj, k.Secret)); err != nil {
		return nil, err
	}
	return k, nil
}

// noAuthRoutes turns FastAPI's route-not-found 404 on an /auth route into
// an [*authclient.UnsupportedError]: Khoj in anonymous mode mounts no /auth
// routes. Other errors, Khoj's own 404s ("User not found.") included, are
// returned as they are.
func noAuthRoutes(err error, op authclient.Operation) error {
	var e *authclient.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusNotFound || !routeNotFound(e.Body) {
		return err
	}
	return &authclient.UnsupportedError{Server: authclient.Khoj, Op: op, Reason: anonymousReason}
}

// routeNotFound reports FastAPI's answer for a route that does not exist.
func routeNotFound(body []byte) bool {
	var b struct {
		Detail string `json:"detail"`
	}
	return json.Unmarshal(body, &b) == nil && b.Detail == "Not Found"
}

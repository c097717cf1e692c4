package komga

import (
	"context"
	"fmt"
	"net/http"

	"github.com/selfhost-sdk/authclient"
)

// ErrNoSessionCookie is returned by [Client.SessionCookie] when Komga's
// answer sets no KOMGA-SESSION cookie (not Komga 0.132 or later, or
// something between the client and Komga dropped it). It matches
// authclient.ErrUnexpectedServer.
var ErrNoSessionCookie = fmt.Errorf("komga: the answer sets no KOMGA-SESSION cookie: %w", authclient.ErrUnexpectedServer)

// sessionCookieName is the cookie Komga keeps its session in.
const sessionCookieName = "KOMGA-SESSION"

// SessionCookie turns the client's Komga session into a KOMGA-SESSION
// cookie (GET /api/v1/login/set-cookie), for handing the session to a
// browser or web view; the client keeps using its session. It needs a
// session: a client made with authclient.WithLogin (it signs in first if it
// has not yet) or signed in with Login. For a client with an API key, Basic
// credentials or a cookie, Komga's answer holds a new session without any
// sign-in, useless to a browser: that is a [*authclient.ConfigError], and
// the cookie is dropped. The cookie's value is masked in the client's
// errors and logs like the session itself. An answer without the cookie is
// [ErrNoSessionCookie]; the server's refusals are the core's
// [*authclient.Error] (a client without credentials: ErrUnauthorized).
func (c *Client) SessionCookie(ctx context.Context) (*http.Cookie, error) {
	core, err := c.client()
	if err != nil {
		return nil, err
	}
	var m authclient.Meta
	// A WithLogin client that has not signed in yet does so first: whether
	// the client has a session is known only after the call.
	if err := core.Do(ctx, http.MethodGet, "api/v1/login/set-cookie", nil, nil, authclient.NoRedirect(), authclient.ResponseMeta(&m)); err != nil {
		return nil, err
	}
	if core.Session() == nil {
		return nil, &authclient.ConfigError{Setting: "komga.Client.SessionCookie",
			Problem: "needs a session: sign in with authclient.WithLogin or Login (an API key, Basic credentials or a cookie have no session to convert)"}
	}
	var cookie *http.Cookie
	for _, ck := range (&http.Response{Header: m.Header}).Cookies() {
		if ck.Name == sessionCookieName && ck.Value != "" && ck.MaxAge >= 0 {
			cookie = ck
		}
	}
	if cookie == nil {
		return nil, ErrNoSessionCookie
	}
	return cookie, nil
}

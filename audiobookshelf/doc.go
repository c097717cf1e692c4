// Package audiobookshelf is the typed client for Audiobookshelf (2.26 or
// later): the operations only Audiobookshelf has (POST /api/authorize, the
// libraries and their items, activating and deactivating API keys, and the
// OpenID Connect sign-in with PKCE for programs that can open a browser),
// on top of the shared core in package authclient.
//
// # Signing in
//
// Audiobookshelf takes an API key as Authorization: Bearer, or a password
// session (POST /login, then the JWT access token, refreshed before it
// expires or after a 401, with the rotating refresh token kept):
//
//	c, err := audiobookshelf.New("https://abs.example", authclient.WithAPIKey(key))
//	c, err := audiobookshelf.New("https://abs.example", authclient.WithLogin("me", password))
//
// or, from AUDIOBOOKSHELF_URL and AUDIOBOOKSHELF_API_KEY (or _API_KEY_FILE,
// or _USERNAME and _PASSWORD), [NewFromEnv]. A program with a browser can
// sign in with the server's identity provider instead:
// [Client.StartOpenIDLogin] returns the page to open, and
// [Client.FinishOpenIDLogin] turns the URL the browser lands on into a
// session the client refreshes like a password session. The dialect
// (Bearer placement, the sessions and their renewal, the diagnosis of a
// rejected token, the /status probe, API keys) is the core's:
// authclient.New(authclient.Audiobookshelf, …) signs in the same way
// without this package.
//
// # Why a typed client
//
// [Client] wraps an *authclient.Client for Audiobookshelf only, so the
// compiler rejects ListLibraries on a Khoj client. The shared operations
// (Login, Logout, Session, CurrentUser, API keys, OAuth providers, Probe,
// Health), Do, Stream and Paginate for endpoints this package has no method
// for, and the authenticated transport are on [Client.Core].
//
// # Errors
//
// Answers the server refuses are the core's *authclient.Error (see the
// Errors section of [authclient]), classified once, by the core, and
// matched with errors.Is against authclient.ErrUnauthorized,
// authclient.ErrForbidden, authclient.ErrNotFound, …. Bad arguments are
// the core's *authclient.ConfigError, whose Setting names the method, and
// nothing is sent. The errors this package makes itself start with
// "audiobookshelf: " ([ErrNotRedirected], [ErrNoFlowCookie], and
// [*IdPError], the identity provider's refusal, which matches
// authclient.ErrUnauthorized).
package audiobookshelf

// Package khoj is the typed client for Khoj: the operations only Khoj has
// (signing in without a browser with a magic link, and minting the
// script's own API token with it), on top of the shared core in package
// authclient.
//
// # Signing in
//
// Khoj takes an API token (kk-…) as Authorization: Bearer:
//
//	c, err := khoj.New("https://khoj.example", authclient.WithAPIKey(token))
//
// or, from KHOJ_URL and KHOJ_API_KEY (or KHOJ_API_KEY_FILE), [NewFromEnv].
// A script without a token signs in with a magic link: [Client.SendMagicLink]
// makes Khoj e-mail a code, and [Client.VerifyMagicLink] turns it into a
// session cookie, or [Client.BootstrapToken] into a new API token. A
// session taken from a browser is authclient.SessionCookie(authclient.Khoj,
// value). The dialect (Bearer placement, Khoj's 403 and 303 answers meaning
// "not signed in", its error page, anonymous mode) is the core's:
// authclient.New(authclient.Khoj, …) signs in the same way without this
// package.
//
// # Why a typed client
//
// [Client] wraps an *authclient.Client for Khoj only, so the compiler
// rejects SendMagicLink on a Komga client. The shared operations
// (CurrentUser, CheckAuth, API tokens, OAuth metadata, Logout, Probe,
// Health), Do and Stream for endpoints this package has no method for, and
// the authenticated transport are on [Client.Core].
//
// # Errors
//
// Answers the server refuses are the core's *authclient.Error (see the
// Errors section of [authclient]), classified once, by the core, and
// matched with errors.Is against authclient.ErrUnauthorized,
// authclient.ErrNotFound, authclient.ErrRateLimited, …; the magic-link
// answers Khoj sends without a code carry one in Error.Code ([WrongCode],
// [CodeExpired], [UnknownUser], [InvalidEmail]). Bad arguments are the
// core's *authclient.ConfigError, whose Setting names the method, and
// nothing is sent; a server in anonymous mode gives an
// *authclient.UnsupportedError. The errors this package makes itself start
// with "khoj: " ([ErrNoSession]).
package khoj

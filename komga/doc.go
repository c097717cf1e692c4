// Package komga is the typed client for Komga: the operations only Komga
// has (handing a session to a browser as a KOMGA-SESSION cookie), on top of
// the shared core in package authclient.
//
// # Signing in
//
// Komga takes an API key in X-API-Key (Komga 1.20 or later):
//
//	c, err := komga.New("https://nas.example/komga/", authclient.WithAPIKey(key))
//
// or a session from an e-mail and password, signed in lazily with Basic once
// and then kept as an X-Auth-Token session (renewed by signing in again, or
// with the remember-me cookie with authclient.WithRememberMe):
//
//	c, err := komga.New(url, authclient.WithLogin("me@example.org", password))
//
// or, from KOMGA_URL and KOMGA_API_KEY (or KOMGA_USERNAME and
// KOMGA_PASSWORD), [NewFromEnv]. The dialect (where the key goes, the
// session header, what a 401 means) is the core's:
// authclient.New(authclient.Komga, …) signs in the same way without this
// package.
//
// # Why a typed client
//
// [Client] wraps an *authclient.Client for Komga only, so the compiler
// rejects SessionCookie on an Audiobookshelf client. The shared operations
// (CurrentUser, API keys, OAuth2 providers, Login, Logout, Probe, Health),
// Do, Paginate and Stream for endpoints this package has no method for, and
// the authenticated transport are on [Client.Core].
//
// # Errors
//
// Answers the server refuses are the core's *authclient.Error (see the
// Errors section of [authclient]), classified once, by the core, and
// matched with errors.Is against authclient.ErrUnauthorized,
// authclient.ErrNotFound, …. A misuse (a client without a session asked
// for a session cookie) is the core's *authclient.ConfigError. The errors
// this package makes itself start with "komga: " ([ErrNoSessionCookie]).
package komga

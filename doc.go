// Package authclient signs Go programs in to self-hosted servers (Komga,
// Audiobookshelf, ComfyUI and Khoj) and calls them safely: typed methods for
// the auth-related endpoints, a generic [Client.Do] for everything else, and
// one error model for all four servers.
//
// A [Client] talks to one server as one identity:
//
//	c, err := authclient.New(authclient.Komga, "https://nas.example/komga/",
//		authclient.WithAPIKey(os.Getenv("KOMGA_API_KEY")))
//	if err != nil {
//		log.Fatal(err)
//	}
//	me, err := c.CurrentUser(ctx)
//
// or from the environment with [NewFromEnv] (KOMGA_URL, KOMGA_API_KEY, …).
//
// # Authentication
//
// Each server has its own dialect; the client speaks it:
//
//   - [WithAPIKey]: Komga's X-API-Key, or Authorization: Bearer for
//     Audiobookshelf API keys, ComfyUI's key and Khoj tokens. [APIKeyIn]
//     places a key elsewhere (any header, Bearer, a query parameter).
//   - [WithLogin]: Komga and Audiobookshelf sessions. The client signs in
//     once, lazily, and renews the session once when the server rejects it
//     (Komga: sign in again, or use the remember-me cookie; Audiobookshelf:
//     refresh the JWT), however many goroutines notice at once. Sessions can
//     be saved with [Client.Session] and restored with [WithSession]; a
//     session from a sign-in the client has no method for (an OpenID
//     callback's answer, read with [Client.ParseSession]) is installed with
//     [Client.UseSession] and renewed the same way.
//   - [BasicAuth], [BearerToken], [SessionCookie] (an existing Komga or Khoj
//     session cookie), [NoAuth], or any [Authenticator] of your own; an
//     authenticator that can renew its credential implements
//     [Reauthenticator].
//
// Credentials are only ever sent to the configured origin (scheme, host and
// port). Redirects to another origin, or from https to http, are not
// followed. Credentials with control characters are rejected by [New].
//
// # Environment
//
// [NewFromEnv] reads PREFIX_URL, PREFIX_API_KEY, PREFIX_USERNAME,
// PREFIX_PASSWORD, PREFIX_TIMEOUT and PREFIX_MAX_RETRIES, with _FILE forms for
// the secrets, where PREFIX is KOMGA, AUDIOBOOKSHELF, COMFYUI or KHOJ.
// Explicit options override the environment.
//
// # Errors
//
// Every HTTP failure is an [*Error] carrying the server, method, redacted
// URL, status and the server's own message, whichever of the servers' many
// error shapes it came in. Its category is matched with errors.Is:
//
//	switch {
//	case errors.Is(err, authclient.ErrUnauthorized): // no or bad credentials
//	case errors.Is(err, authclient.ErrForbidden):    // valid, but not allowed
//	case errors.Is(err, authclient.ErrNotFound):
//	case errors.Is(err, authclient.ErrRateLimited):  // see Error.RetryAfter
//	case errors.Is(err, authclient.ErrUnavailable):  // 502/503/504, or its error page
//	case errors.Is(err, authclient.ErrServer):       // a 500: the server failed
//	case errors.Is(err, errors.ErrUnsupported):      // the server lacks the operation
//	}
//
// The categories mean the same on every server: Khoj answers a bad token
// with 403 or with a redirect to its sign-in page, and both are
// ErrUnauthorized; an HTML page where JSON was expected is ErrUnauthorized
// too. A failing server is never reported as a credential problem: Khoj
// with its database down answers 500 (ErrServer) or redirects to its error
// page (ErrUnavailable). Failures without an HTTP answer are [*TransportError]s, which unwrap
// to their cause (context.DeadlineExceeded, a net.Error). Configuration
// mistakes are [*ConfigError]s naming the option or variable. No error
// string, log line or fmt/slog output of the package's types contains a
// password, key, token or cookie.
//
// # Retries
//
// Idempotent calls (GET, HEAD, PUT, DELETE, and the few POSTs known to be
// safe) are retried [DefaultMaxRetries] times after connection errors, 429,
// 502, 503 and 504, with jittered exponential backoff. A Retry-After up to
// [DefaultRetryAfterCap] is honoured; a longer one fails at once, with the
// wait in [Error.RetryAfter]: a 429 as ErrRateLimited, a 503 (maintenance)
// as ErrUnavailable. Each attempt may wait [DefaultTimeout] for the
// response headers ([WithTimeout]); the caller's context bounds the whole
// call. Reading a large body is never cut off by the per-attempt timeout.
//
// # Concurrency
//
// A Client is safe for concurrent use and should be reused; its zero value
// is not usable. Authenticators must be safe for concurrent use.
package authclient

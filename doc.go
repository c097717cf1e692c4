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
// # Servers
//
// A [Client] talks to one server and speaks its dialect. The shared
// operations below are methods of [Client]; which server has which is
// data, the same that [Server.Supports] reads. An operation a server lacks
// fails with an [*UnsupportedError] (errors.Is(err, errors.ErrUnsupported))
// that names it ([Operation]) and says why, and sends nothing; an option
// given to [New] that the server lacks is a [*ConfigError] wrapping one.
//
//	operation           Komga  Audiobookshelf  ComfyUI  Khoj
//	Login               yes    yes             -        -
//	WithRememberMe      yes    -               -        -
//	UseSession          yes    yes             -        -
//	ParseSession        -      yes             -        -
//	Logout              yes    yes             -        yes
//	LogoutWithGET       yes    -               -        yes
//	LogoutAllDevices    -      yes             -        -
//	CurrentUser         yes    yes             -        yes
//	ParseUser           -      yes             -        -
//	CheckAuth           yes    yes             yes      yes
//	Health              yes    yes             yes      yes
//	Probe               yes    yes             yes      yes
//	ListAPIKeys         yes    yes             -        yes
//	HeldAPIKey          -      yes             -        yes
//	CreateAPIKey        yes    yes             -        yes
//	DeleteAPIKey        yes    yes             -        yes
//	RotateAPIKey        yes    yes             -        yes
//	ListOAuthProviders  yes    yes             -        yes
//	Paginate            yes    yes             -        -
//
// [Client.Do], [Client.Stream], [Client.Transport] and [Client.HTTPClient]
// work on every server. Operations of one server only live in its package,
// on a typed client that wraps a Client and cannot be called on the wrong
// server: komga (a session turned into a KOMGA-SESSION cookie),
// audiobookshelf (authorize, libraries and their items, API-key
// activation, OpenID sign-in), comfyui (uploads, prompts, queue, history,
// live /ws events, Wait, /view downloads, cancel) and khoj (magic-link
// sign-in, token bootstrap). Each has New, NewFromEnv,
// Wrap (for a Client you already have) and Core (the Client underneath),
// and is written only against this package's public API.
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
// # Sessions
//
// With [WithLogin], a Komga or Audiobookshelf client signs in lazily, on
// its first call, and keeps the session: Komga's X-Auth-Token (and, with
// [WithRememberMe], its remember-me cookie), Audiobookshelf's JWT access
// token and its refresh token. When the server rejects the session, the
// client renews it once (Komga: the remember-me cookie, else the password
// again; Audiobookshelf: the refresh token, else the password) and
// replays the request; goroutines that notice together share one renewal.
// [Client.Login] signs in explicitly, [Client.Session] returns a copy of
// the current session to save (it marshals to JSON), [WithSession]
// restores one (with or without a password to fall back on),
// [WithSessionHook] is called with each new session, and [Client.Logout]
// ends it on the server. A session a program already has from a browser
// is an authenticator: [SessionCookie] (Komga's KOMGA-SESSION, Khoj's
// session). fmt and slog print a [Session] without its tokens.
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
// # Streaming
//
// [Client.Do] takes any request body: []byte, [encoding/json.RawMessage] or a JSON
// value (replayed on a retry without a copy), an [io.Reader] (sent once,
// replayed only if it is an [io.Seeker]), a [BodyFunc] (opened once per
// attempt) or a [*Form] (multipart, streamed part by part: a file of any
// size in constant memory). Its out may be an [io.Writer], which receives
// the raw 2xx body as it arrives. [Client.Stream] returns the live
// response for server-sent events and other streams: the caller reads and
// closes its Body, and the connection goes back to the pool. Errors,
// masking, redirects and the origin guard are the same on every path; the
// per-attempt timeout bounds the wait for headers only, never a body.
// [ResponseMeta] gives the status and headers of any answer.
//
// # Logging
//
// Nothing is logged unless [WithLogger] is given; then each attempt and
// each answer is one slog line (server, method, redacted URL, and the
// attempt or the status), and New logs a warning for a credential that
// will not work as expected (an Audiobookshelf legacy token). Bodies and
// headers are never logged; URLs are redacted (userinfo, token-like query
// values) and every credential the client holds or derives is masked, in
// every encoding it could be echoed in. [Client], [*Error], [Session] and
// the authenticators print without their secrets through fmt and slog.
//
// # Testing
//
// Package authtest has in-process fakes of the four servers, faithful to
// their wire behaviour (odd status codes included), mountable under a
// path prefix, with fault knobs: test your own code against them with no
// server. A test can add its own routes to a fake, behind the fake's
// authentication, read what the fake received (credentials masked), and
// share one clock between fake and client ([WithClock]), so expiry and
// refresh are tested without sleeping. [WithHTTPClient] takes an httpmock
// transport too.
//
// # Concurrency
//
// A Client is safe for concurrent use and should be reused; its zero value
// is not usable. Authenticators must be safe for concurrent use.
package authclient

package authclient

import "time"

// WithClock makes the client read the current time from now instead of
// [time.Now]. The client uses it only for session decisions: whether a held
// access token is about to expire and must be refreshed first, and whether a
// key or session has expired. Network timeouts, retry back-off and
// Retry-After waits always use the real clock, so a frozen or advanced clock
// never makes a request hang or fail early. A nil now makes [New] fail with
// a [*ConfigError].
//
// It is meant for tests, together with [github.com/selfhost-sdk/authclient/authtest.Clock]:
//
//	clock := authtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
//	srv := authtest.NewAudiobookshelf(authtest.WithClock(clock))
//	c, _ := authclient.New(authclient.Audiobookshelf, srv.URL, authclient.WithClock(clock.Now))
//	clock.Advance(2 * time.Hour) // the client and the fake see the same time
func WithClock(now func() time.Time) Option {
	if now == nil {
		return func(*options) error { return configErr("WithClock", "function is nil") }
	}
	return withClock(now)
}

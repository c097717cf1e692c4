// Package bench holds the side-by-side benchmarks of the authclient SDK
// against plain net/http, go-retryablehttp and peer SDKs (go-github, resty
// v2 and v3, openai-go, x/oauth2's Transport), and the allocation gates
// that keep the SDK's per-call overhead in check. Everything lives in the
// _test.go files; see README.md for how to run and read them.
//
// It is a module of its own so that its contestants never show up in the
// SDK's go.mod.
package bench

package authtest

import "net/http"

// testClient carries the internal tests' own requests to the fakes, on a
// transport of its own: httptest.Server.Close, which every fake's Close
// calls, closes http.DefaultTransport's idle connections, and a parallel
// test's POST that had just picked one of them fails with
// "CloseIdleConnections called" (net/http does not retry a POST).
var (
	testTransport = http.DefaultTransport.(*http.Transport).Clone()
	testClient    = &http.Client{Transport: testTransport}
)

package authclient

import "net/http"

// testTransport carries the requests the internal tests make themselves
// (and their middleware's), on a transport of its own:
// httptest.Server.Close closes http.DefaultTransport's idle connections,
// and a parallel test's POST that had just picked one of them fails with
// "CloseIdleConnections called" (net/http does not retry a POST).
var testTransport = http.DefaultTransport.(*http.Transport).Clone()

package authtest_test

import "net/http"

// testClient carries the external tests' own requests to the fakes, on a
// transport of its own, for the reason testclient_test.go gives.
var (
	testTransport = http.DefaultTransport.(*http.Transport).Clone()
	testClient    = &http.Client{Transport: testTransport}
)

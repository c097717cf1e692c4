package authclient_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
)

// queryClient is a Komga client under /x/ whose transport records the
// raw query of the last request and answers one empty, last page.
func queryClient(t *testing.T) (*authclient.Client, *atomic.Value) {
	t.Helper()
	var seen atomic.Value
	tr := httpmock.NewMockTransport()
	tr.RegisterResponder("GET", `=~^http://komga\.test/x/api/v1/series`, func(r *http.Request) (*http.Response, error) {
		seen.Store(r.URL.RawQuery)
		return httpmock.NewStringResponse(200, `{"content":[],"number":0,"size":100,"last":true,"first":true,"empty":true,"numberOfElements":0,"totalElements":0,"totalPages":0}`), nil
	})
	c, err := authclient.New(authclient.Komga, "http://komga.test/x/", authclient.WithAPIKey("k-0123456789abcdef"),
		authclient.WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	return c, &seen
}

// TestQueryValuesNeverModified: a url.Values given to Query is used as it
// is, without a copy, so the class "the call adds to the query" must copy
// it first: a second Query, a query in the path, Paginate's page
// parameters. The caller's url.Values is the same afterwards, and each
// request carries the combined query.
func TestQueryValuesNeverModified(t *testing.T) {
	t.Parallel()
	c, seen := queryClient(t)
	q := url.Values{"library_id": {"L1"}, "search": {"one piece"}}
	orig := url.Values{"library_id": {"L1"}, "search": {"one piece"}}

	require.NoError(t, c.Do(t.Context(), "GET", "api/v1/series", nil, nil, authclient.Query(q)))
	assert.Equal(t, "library_id=L1&search=one+piece", seen.Load())

	require.NoError(t, c.Do(t.Context(), "GET", "api/v1/series", nil, nil, authclient.Query(q), authclient.Query(url.Values{"library_id": {"L2"}})))
	assert.Equal(t, "library_id=L1&library_id=L2&search=one+piece", seen.Load())

	require.NoError(t, c.Do(t.Context(), "GET", "api/v1/series?sort=name", nil, nil, authclient.Query(q)))
	assert.Equal(t, "library_id=L1&search=one+piece&sort=name", seen.Load())

	for _, err := range authclient.Paginate[map[string]any](t.Context(), c, "api/v1/series", authclient.Query(q)) {
		require.NoError(t, err)
	}
	assert.Equal(t, "library_id=L1&page=0&search=one+piece&size=100", seen.Load())

	assert.Equal(t, orig, q, "the caller's url.Values was modified")
}

// TestQueryValuesCostNothing: Query(url.Values) costs no allocation: the
// values are neither copied nor encoded apart (the query goes into the one
// allocation of the request URL, which a call without a query makes too).
func TestQueryValuesCostNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	// httpmock's cost depends on the query (it matches responders with
	// and without it): an in-memory transport whose cost does not.
	page := []byte(`{"content":[],"number":0,"size":100,"last":true}`)
	c, err := authclient.New(authclient.Komga, "http://komga.test/x/", authclient.WithAPIKey("k-0123456789abcdef"),
		authclient.WithHTTPClient(&http.Client{Transport: cannedTransport(page)}))
	require.NoError(t, err)
	ctx := t.Context()
	q := url.Values{"library_id": {"L1"}, "search": {"one piece"}, "page": {"2"}}
	without := testing.AllocsPerRun(200, func() {
		_ = c.Do(ctx, "GET", "api/v1/series", nil, nil)
	})
	with := testing.AllocsPerRun(200, func() {
		_ = c.Do(ctx, "GET", "api/v1/series", nil, nil, authclient.Query(q))
	})
	t.Logf("Do: %.0f allocations without a query, %.0f with Query(url.Values)", without, with)
	assert.LessOrEqual(t, with-without, 0.0, "Query(url.Values) costs %.0f allocations (%.0f vs %.0f)", with-without, with, without)
}

// cannedTransport answers every request with a 200 JSON body, in memory.
type cannedTransport []byte

func (b cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: r}, nil
}

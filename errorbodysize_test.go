package authclient_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
)

// brokenBody yields its bytes, then fails.
type brokenBody struct{ r io.Reader }

func (b *brokenBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset")
	}
	return n, err
}
func (b *brokenBody) Close() error { return nil }

// TestErrorBodyKeptExactly: the class "error bodies of every size": empty,
// one byte, around the size of the client's read buffer, past it, past the
// 64 KiB bound, and one that breaks off. Error.Body holds exactly what came
// (up to the bound), and each call's body is its own, not a buffer a later
// call reuses.
func TestErrorBodyKeptExactly(t *testing.T) {
	t.Parallel()
	const bound = 64 << 10
	tr := httpmock.NewMockTransport()
	bodies := map[string][]byte{}
	for _, n := range []int{0, 1, 4095, 4096, 4097, 9000, bound - 1, bound, bound + 1, 3 * bound} {
		b := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		p := "/x/api/size" + strconv.Itoa(n)
		bodies[p] = b
		tr.RegisterResponder("GET", "http://komga.test"+p, httpmock.NewBytesResponder(http.StatusNotFound, b))
	}
	tr.RegisterResponder("GET", "http://komga.test/x/api/broken", func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{},
			Body: &brokenBody{r: bytes.NewReader(bytes.Repeat([]byte("b"), 5000))}}, nil
	})
	c, err := authclient.New(authclient.Komga, "http://komga.test/x/", authclient.WithAPIKey("k-0123456789abcdef"),
		authclient.WithHTTPClient(&http.Client{Transport: tr}), authclient.WithMaxRetries(0))
	require.NoError(t, err)

	var kept []*authclient.Error
	for p, b := range bodies {
		err := c.Do(t.Context(), "GET", p[len("/x/"):], nil, nil)
		var e *authclient.Error
		require.ErrorAs(t, err, &e, p)
		want := b[:min(len(b), bound)]
		assert.Equal(t, len(want), len(e.Body), p)
		assert.True(t, bytes.Equal(want, e.Body), p)
		kept = append(kept, e)
	}
	err = c.Do(t.Context(), "GET", "api/broken", nil, nil)
	var e *authclient.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, bytes.Repeat([]byte("b"), 5000), e.Body, "the body up to where it broke off")

	// Later calls did not write into the bodies kept from earlier ones.
	for _, e := range kept {
		for _, ch := range e.Body {
			if ch != e.Body[0] {
				t.Fatalf("%s: body changed after the call", e.URL)
			}
		}
	}
}

package audiobookshelf_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/selfhost-sdk/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLibraryItems(t *testing.T) {
	t.Parallel()
	a := setup(t)
	lib := a.AddLibrary("Shelf")
	ids := a.AddLibraryItems(lib, 7)
	c := newClient(t, a, authclient.WithLogin("root", "root"))

	var got []string
	for it, err := range c.LibraryItems(t.Context(), lib, authclient.PageSize(3)) {
		require.NoError(t, err)
		assert.Equal(t, lib, it.LibraryID)
		assert.Equal(t, "book", it.MediaType)
		assert.NotEmpty(t, it.Title)
		assert.False(t, it.AddedAt.IsZero())
		got = append(got, it.ID)
	}
	assert.Equal(t, ids, got)
	assert.Equal(t, 3, a.Requests("GET", "/api/libraries/"+lib+"/items"), "pages of 3, 3 and 1")

	// Breaking out early fetches nothing more.
	before := a.Requests("GET", "/api/libraries/"+lib+"/items")
	for _, err := range c.LibraryItems(t.Context(), lib, authclient.PageSize(2)) {
		require.NoError(t, err)
		break
	}
	assert.Equal(t, before+1, a.Requests("GET", "/api/libraries/"+lib+"/items"))

	// An empty library ends at once.
	empty := a.AddLibrary("Empty")
	n := 0
	for _, err := range c.LibraryItems(t.Context(), empty) {
		require.NoError(t, err)
		n++
	}
	assert.Zero(t, n)
}

// Errors: the class is every library id that cannot be sent (empty, or one
// that would leave /api/libraries/), an unknown library, a query that sets
// the page parameters, a rejected credential and a cancelled context. Each
// is yielded once, and the sequence ends.
func TestLibraryItemsFail(t *testing.T) {
	t.Parallel()
	a := setup(t)
	lib := a.AddLibrary("Shelf")
	a.AddLibraryItems(lib, 3)
	c := newClient(t, a, authclient.WithLogin("root", "root"))
	errsOf := func(id string, opts ...authclient.CallOption) []error {
		var errs []error
		for _, err := range c.LibraryItems(t.Context(), id, opts...) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		return errs
	}

	before := a.TotalRequests()
	var ce *authclient.ConfigError
	for _, id := range []string{"", " "} {
		errs := errsOf(id)
		require.Len(t, errs, 1, "%q", id)
		require.ErrorAs(t, errs[0], &ce)
	}
	for _, id := range []string{"..", "../../api/me", "%2e%2e"} {
		errs := errsOf(id)
		require.Len(t, errs, 1, id)
		require.ErrorIs(t, errs[0], authclient.ErrInvalidPath, id)
	}
	errs := errsOf(lib, authclient.Query(url.Values{"limit": {"5"}}))
	require.Len(t, errs, 1)
	require.ErrorAs(t, errs[0], &ce, "the page parameters are the pager's")
	assert.Equal(t, before, a.TotalRequests(), "nothing sent")

	errs = errsOf("00000000-0000-4000-8000-000000000000")
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], authclient.ErrNotFound)
	assert.Equal(t, "Library not found", errorOf(t, errs[0]).Message)

	errs = func() []error {
		var out []error
		for _, err := range newClient(t, a, authclient.WithAPIKey("not-a-jwt")).LibraryItems(t.Context(), lib) {
			out = append(out, err)
		}
		return out
	}()
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], authclient.ErrUnauthorized)

	a.Faults.FailNextOn("/api/libraries/"+lib+"/items", 3, http.StatusServiceUnavailable, -1)
	errs = errsOf(lib)
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], authclient.ErrUnavailable)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var got []error
	for _, err := range c.LibraryItems(ctx, lib) {
		got = append(got, err)
	}
	require.Len(t, got, 1)
	require.Error(t, got[0])
}

package authtest

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Library items page with limit and a zero-based page; limit 0 or none is
// everything; bad numbers read as 0; negative or fractional ones are 400.
func TestABSLibraryItemsPages(t *testing.T) {
	t.Parallel()
	srv := NewAudiobookshelf()
	t.Cleanup(srv.Close)
	lib := srv.AddLibrary("Books")
	ids := srv.AddLibraryItems(lib, 25)
	require.Len(t, ids, 25)
	access, _ := absLogin(t, srv, "root", "root")
	auth := absBearer(access)
	path := "api/libraries/" + lib + "/items"
	for _, tc := range []struct {
		query              string
		count, limit, page int
		offset             int
		first              string
	}{
		{"", 25, 0, 0, 0, "Book 00001"},
		{"?limit=0&page=3", 25, 0, 3, 0, "Book 00001"},
		{"?limit=10", 10, 10, 0, 0, "Book 00001"},
		{"?limit=10&page=2", 5, 10, 2, 20, "Book 00021"},
		{"?limit=10&page=3", 0, 10, 3, 30, ""},
		{"?limit=abc&page=xyz", 25, 0, 0, 0, "Book 00001"},
		{"?limit=10&page=1000000", 0, 10, 1000000, 10000000, ""},
	} {
		r := absCall(t, nil, srv, "GET", path+tc.query, "", auth...)
		require.Equal(t, http.StatusOK, r.status, tc.query+": "+r.body)
		m := r.json(t)
		results := m["results"].([]any)
		assert.Len(t, results, tc.count, tc.query)
		assert.EqualValues(t, 25, m["total"], tc.query)
		assert.EqualValues(t, tc.limit, m["limit"], tc.query)
		assert.EqualValues(t, tc.page, m["page"], tc.query)
		assert.EqualValues(t, tc.offset, m["offset"], tc.query)
		assert.Equal(t, "book", m["mediaType"], tc.query)
		if tc.first != "" {
			it := results[0].(map[string]any)
			assert.Equal(t, tc.first, it["media"].(map[string]any)["metadata"].(map[string]any)["title"], tc.query)
			assert.Equal(t, lib, it["libraryId"], tc.query)
		}
	}
	for _, tc := range []struct{ query, msg string }{
		{"?limit=-1", "Invalid request. limit must be a positive integer"},
		{"?limit=2.5", "Invalid request. limit must be a positive integer"},
		{"?limit=5&page=-2", "Invalid request. page must be a positive integer"},
		{"?page=0.5", "Invalid request. page must be a positive integer"},
	} {
		r := absCall(t, nil, srv, "GET", path+tc.query, "", auth...)
		assert.Equal(t, http.StatusBadRequest, r.status, tc.query)
		assert.Equal(t, tc.msg, r.body, tc.query)
	}
	r := absCall(t, nil, srv, "GET", "api/libraries/nope/items", "", auth...)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "Library not found", r.body)
	absAssertBare(t, absCall(t, nil, srv, "GET", path, ""), http.StatusUnauthorized)
}

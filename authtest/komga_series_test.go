package authtest

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The series list follows Spring Data's paging: zero-based page, size
// default 20 and clamped to 2000, bad numbers read as 0, unpaged, and the
// PageImpl shape.
func TestKomgaSeriesPages(t *testing.T) {
	t.Parallel()
	k := komgaNew(t, WithPrefix("/komga"))
	ids := k.AddSeries(2050)
	require.Len(t, ids, 2050)
	admin := []string{"Authorization", komgaBasic("admin@example.org", "secret")}
	for _, tc := range []struct {
		query                      string
		number, size, count, pages int
		first, last                bool
	}{
		{"", 0, 20, 20, 103, true, false},
		{"?page=1&size=1000", 1, 1000, 1000, 3, false, false},
		{"?page=2&size=1000", 2, 1000, 50, 3, false, true},
		{"?page=5&size=1000", 5, 1000, 0, 3, false, true},
		{"?size=5000", 0, 2000, 2000, 2, true, false},
		{"?size=0", 0, 20, 20, 103, true, false},
		{"?size=-3", 0, 20, 20, 103, true, false},
		{"?size=x&page=y", 0, 20, 20, 103, true, false},
		{"?page=-1&size=50", 0, 50, 50, 41, true, false},
		{"?page=99999999999&size=50", 0, 50, 50, 41, true, false},
		{"?unpaged=true", 0, 2050, 2050, 1, true, true},
	} {
		r := komgaDo(t, k, "GET", "/api/v1/series"+tc.query, "", admin...)
		require.Equal(t, http.StatusOK, r.Status, tc.query)
		m := r.json(t)
		assert.EqualValues(t, tc.number, m["number"], tc.query)
		assert.EqualValues(t, tc.size, m["size"], tc.query)
		assert.Len(t, m["content"], tc.count, tc.query)
		assert.EqualValues(t, tc.count, m["numberOfElements"], tc.query)
		assert.EqualValues(t, 2050, m["totalElements"], tc.query)
		assert.EqualValues(t, tc.pages, m["totalPages"], tc.query)
		assert.Equal(t, tc.first, m["first"], tc.query)
		assert.Equal(t, tc.last, m["last"], tc.query)
		assert.Equal(t, tc.count == 0, m["empty"], tc.query)
		p := m["pageable"].(map[string]any)
		assert.Equal(t, true, p["paged"], tc.query)
		assert.EqualValues(t, tc.number, p["pageNumber"], tc.query)
	}
	r := komgaDo(t, k, "GET", "/api/v1/series?page=1&size=2", "", admin...)
	content := r.json(t)["content"].([]any)
	s := content[0].(map[string]any)
	assert.Equal(t, ids[2], s["id"])
	assert.Equal(t, "Series 00003", s["name"])
	assert.Equal(t, "Series 00003", s["metadata"].(map[string]any)["titleSort"])
	assert.NotEmpty(t, s["url"], "admins see the url")

	// search filters, case-insensitively; the url is blanked for others.
	r = komgaDo(t, k, "GET", "/api/v1/series?search=series%200205&size=100", "", "Authorization", komgaBasic("user@example.org", "pässwörd"))
	m := r.json(t)
	assert.EqualValues(t, 1, m["totalElements"])
	s = m["content"].([]any)[0].(map[string]any)
	assert.Equal(t, "Series 02050", s["name"])
	assert.Equal(t, "", s["url"])

	// Authentication first; other methods are 405.
	komgaAssertUnauthorized(t, komgaDo(t, k, "GET", "/api/v1/series", ""), "/komga/api/v1/series")
	assert.Equal(t, http.StatusMethodNotAllowed, komgaDo(t, k, "POST", "/api/v1/series", "", admin...).Status)
}

// An empty list is one empty page that is the last.
func TestKomgaSeriesEmpty(t *testing.T) {
	t.Parallel()
	k := komgaNew(t)
	m := komgaDo(t, k, "GET", "/api/v1/series", "", "Authorization", komgaBasic("admin@example.org", "secret")).json(t)
	assert.Equal(t, []any{}, m["content"])
	assert.EqualValues(t, 0, m["totalPages"])
	assert.Equal(t, true, m["last"])
	assert.Equal(t, true, m["empty"])
}

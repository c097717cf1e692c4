package main_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failDeletes puts a proxy in front of upstream that answers every DELETE
// with a 500, and returns its URL (same path prefix).
func failDeletes(t *testing.T, upstream string) string {
	u, err := url.Parse(upstream)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			http.Error(w, "storage failure", http.StatusInternalServerError)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p.URL + u.Path
}

// TestRotateRollbackFails: when deleting the old key fails and so does
// deleting the new one, the exit code is 10, the message says both keys may
// exist, and they do; the old key still works.
func TestRotateRollbackFails(t *testing.T) {
	t.Parallel()
	a, key := absFake(t)
	direct := newCLI(t, "AUDIOBOOKSHELF_URL="+a.BasePathURL(), "AUDIOBOOKSHELF_API_KEY="+key)
	direct.secret(key)
	c := newCLI(t, "AUDIOBOOKSHELF_URL="+failDeletes(t, a.BasePathURL()), "AUDIOBOOKSHELF_API_KEY="+key)
	c.secret(key)
	r := c.run("keys", "rotate", "--server", "audiobookshelf", "--print-secret", "--max-retries", "0")
	assert.Equal(t, 10, r.code, r.stderr)
	assert.Contains(t, r.stderr, "both keys may exist")
	assert.Empty(t, r.stdout, "no secret printed for a rotation that did not complete")
	keys := listKeys(t, direct, "audiobookshelf")
	assert.Len(t, keys, 2, "the old and the new key both exist")
	assert.Contains(t, keys, "ci")
	assert.Equal(t, 0, direct.run("check", "--server", "audiobookshelf").code, "the old key works")
}

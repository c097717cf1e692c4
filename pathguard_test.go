package authclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient/authtest"
)

// normalise resolves a request path the way the most permissive
// path-normalising reverse proxy would before routing it: percent-decoding
// repeated until nothing changes, backslashes as separators, ";" path
// parameters dropped (Tomcat, Spring), empty segments merged and dot
// segments resolved.
func normalise(p string) string {
	for range 10 {
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			break
		}
		p = d
	}
	p = strings.ReplaceAll(p, `\`, "/")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return path.Clean("/" + strings.Join(segs, "/"))
}

// proxyFixture is a path-normalising reverse proxy with a Komga fake
// mounted at /komga/ and another application, which records every
// credential it is sent, everywhere else. The proxy itself answers
// /komga/api/jump/N with a redirect to jumps[N], set verbatim.
type proxyFixture struct {
	URL string // the proxy's root, no trailing slash
	key string // an API key the Komga fake accepts

	mu        sync.Mutex
	otherHits []string // request URIs other-app received
	otherCred []string // credentials other-app received
	jumps     []string
}

func newProxyFixture(t *testing.T) *proxyFixture {
	t.Helper()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	t.Cleanup(k.Close)
	k.AddUser("admin@example.org", "pw", "ADMIN")
	pf := &proxyFixture{key: k.AddAPIKey("admin@example.org", "proxy-test")}
	target, err := url.Parse(k.HTTP.URL)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, ok := strings.CutPrefix(r.URL.EscapedPath(), "/komga/api/jump/"); ok {
			pf.mu.Lock()
			var loc string
			for i, j := range pf.jumps {
				if n == strconv.Itoa(i) {
					loc = j
				}
			}
			pf.mu.Unlock()
			w.Header().Set("Location", loc) // not http.Redirect: it would clean the path
			w.WriteHeader(http.StatusFound)
			return
		}
		p := normalise(r.URL.EscapedPath())
		if p == "/komga" || strings.HasPrefix(p, "/komga/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = p, ""
			rp.ServeHTTP(w, r2)
			return
		}
		pf.mu.Lock()
		pf.otherHits = append(pf.otherHits, r.RequestURI)
		for _, h := range []string{"X-API-Key", "Authorization", "Cookie"} {
			if v := r.Header.Get(h); v != "" {
				pf.otherCred = append(pf.otherCred, h+": "+v)
			}
		}
		pf.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"app":"other"}`)
	}))
	t.Cleanup(srv.Close)
	pf.URL = srv.URL
	return pf
}

// jump registers a redirect target and returns the Do path that answers
// with it.
func (pf *proxyFixture) jump(loc string) string {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	pf.jumps = append(pf.jumps, loc)
	return "api/jump/" + strconv.Itoa(len(pf.jumps)-1)
}

func (pf *proxyFixture) other() (hits, creds []string) {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	return append([]string(nil), pf.otherHits...), append([]string(nil), pf.otherCred...)
}

// escapesBasePath are same-origin paths that a proxy or server resolves
// out of /komga/ although they start with it (or, decoded, look like they
// do): the class is "any encoding or separator trick that yields a dot
// segment or moves the prefix", not just the example in the issue.
var escapesBasePath = []string{
	"/komga/%2e%2e/other-app/x",            // encoded dots
	"/komga/%2E%2E/other-app/x",            // upper case
	"/komga/%2e%2E/other-app/x",            // mixed case
	"/komga/%2e./other-app/x",              // half encoded
	"/komga/.%2e/other-app/x",              // half encoded, other half
	"/komga/..%2fother-app/x",              // encoded slash
	"/komga/..%2Fother-app/x",              // encoded slash, upper case
	"/komga/%2e%2e%2fother-app/x",          // all encoded
	"/komga/%252e%252e/other-app/x",        // double encoding
	"/komga/%252e%252e%252fother-app/x",    // double encoding with the slash
	"/komga/%25252e%25252e/other-app/x",    // triple encoding
	"/komga/..%5cother-app/x",              // backslash as a separator
	"/komga/..%5Cother-app/x",              // backslash, upper case
	"/komga/..%255cother-app/x",            // backslash, double encoded
	"/komga/..;/other-app/x",               // Tomcat/Spring path parameter
	"/komga/..;jsessionid=1/other-app/x",   // path parameter with a value
	"/komga/%2e%2e;x/other-app/x",          // encoded dots with a parameter
	"/komga/..%3b/other-app/x",             // encoded ";"
	"/komga/api/%2e%2e/%2e%2e/other-app/x", // textually deeper, resolves out
	"/komga/api/v1/../../../other-app/x",   // literal dots (net/http resolves them)
	"/komga//..%2fother-app/x",             // empty segment, merged by the proxy
	"/komga%2f..%2fother-app/x",            // the base's own slash encoded
	"/komga%2F%2e%2e%2Fother-app/x",        // and everything else too
	"/komga/%2e%2e%00/other-app/x",         // NUL, where some servers cut the path
}

// TestRedirectOutOfBasePathByEncodedDotSegments: a same-origin redirect
// whose path a normalising proxy routes out of the base path is not
// followed, whatever the encoding; the other application never sees a
// credential and the call fails with ErrRedirect.
func TestRedirectOutOfBasePathByEncodedDotSegments(t *testing.T) {
	t.Parallel()
	pf := newProxyFixture(t)
	c := newTestClient(t, Komga, pf.URL+"/komga/", WithAPIKey(pf.key))

	// The fixture is real: the proxy does route these to other-app, and a
	// redirect inside the base path is followed with the credential.
	for _, loc := range []string{"/komga/%2e%2e/other-app/probe", "/komga/..;/other-app/probe"} {
		resp, err := (&http.Client{Transport: testTransport}).Get(pf.URL + loc)
		require.NoError(t, err)
		drainClose(resp.Body)
	}
	hits, _ := pf.other()
	require.Len(t, hits, 2, "the proxy routes encoded dot segments out of /komga/")
	var me struct{ Email string }
	require.NoError(t, c.Do(t.Context(), "GET", pf.jump("/komga/api/v2/users/me"), nil, &me))
	assert.Equal(t, "admin@example.org", me.Email, "a redirect inside the base path is followed")

	for _, loc := range escapesBasePath {
		var out map[string]any
		err := c.Do(t.Context(), "GET", pf.jump(loc), nil, &out)
		require.ErrorIs(t, err, ErrRedirect, loc)
		var e *Error
		require.ErrorAs(t, err, &e, loc)
		assert.Equal(t, http.StatusFound, e.StatusCode, loc)
		assert.Contains(t, e.Hint, "not followed", loc)
		assert.Nil(t, out, loc)
	}
	hits, creds := pf.other()
	assert.Len(t, hits, 2, "no redirect reached the other application")
	assert.Empty(t, creds, "the other application never saw a credential")
}

// TestRedirectWithDotSegmentsUnderRootBase: with a base path of "/" every
// path is inside, but a redirect whose path holds dot segments in any
// decoded form is still not followed: the client cannot know how the
// server will resolve it.
func TestRedirectWithDotSegmentsUnderRootBase(t *testing.T) {
	t.Parallel()
	pf := newProxyFixture(t)
	c := newTestClient(t, Komga, pf.URL, WithAPIKey(pf.key))
	for _, loc := range []string{"/%2e%2e/other-app/x", "/komga/..%2f..%2fother-app/x", "/x/..;/other-app/y", "/%252e%252e/x"} {
		err := c.Do(t.Context(), "GET", "komga/"+pf.jump(loc), nil, nil)
		require.ErrorIs(t, err, ErrRedirect, loc)
	}
	_, creds := pf.other()
	assert.Empty(t, creds)
}

// TestDoPathEncodedDotSegmentsRefused: Do refuses a path that any
// decoding (repeated, with backslashes and ";" parameters) turns into one
// with dot segments, with ErrInvalidPath and without sending anything.
func TestDoPathEncodedDotSegmentsRefused(t *testing.T) {
	t.Parallel()
	pf := newProxyFixture(t)
	c := newTestClient(t, Komga, pf.URL+"/komga/", WithAPIKey(pf.key))
	for _, p := range []string{
		"%2e%2e/other-app/x", "%2E%2E/other-app/x", "%2e./other-app/x", ".%2e/other-app/x",
		"..%2fother-app/x", "%252e%252e/other-app/x", "%25252e%25252e/other-app/x",
		"api/%252e%252e/%252e%252e/other-app/x", "..%5cother-app/x", "api/..%5c..%5cother-app/x",
		"api/..%255c..%255cother-app/x", "..;/other-app/x", "api/..;/..;/other-app/x",
		"..;jsessionid=1/other-app/x", "..%3b/other-app/x", "%2e;/x", "api/%c0%ae%c0%ae/x",
		"api/%ef%bc%8e%ef%bc%8e/x", "api/a%00b", "api/a%0d%0aHost:%20evil",
	} {
		err := c.Do(t.Context(), "GET", p, nil, nil)
		assert.ErrorIs(t, err, ErrInvalidPath, p)
	}
	hits, _ := pf.other()
	assert.Empty(t, hits, "nothing reached the other application")

	// Look-alikes that are not dot segments still work.
	for _, p := range []string{"api/v2/users/me", "api/v2/users/me;x", "api//v2/users/me"} {
		require.NoError(t, c.Do(t.Context(), "GET", p, nil, nil), p)
	}
}

// TestPathParameterDotSegmentsRefused covers the class "a path parameter
// (a key id, a prompt id) that a proxy decoding once or more would read as
// a dot segment": typed methods refuse it as Do refuses such paths, and
// nothing is sent.
func TestPathParameterDotSegmentsRefused(t *testing.T) {
	t.Parallel()
	pf := newProxyFixture(t)
	c := newTestClient(t, Komga, pf.URL+"/komga/", WithAPIKey(pf.key))
	for _, id := range []string{".", "..", "%2e%2e", "%2E.", ".%2e", "%252e%252e", "a%2f..%2fb", "..%5c", "..;", "..;x", "\uff0e\uff0e", "a/b", "a\\b", ""} {
		err := c.DeleteAPIKey(t.Context(), id)
		assert.ErrorIs(t, err, ErrInvalidPath, id)
	}
	hits, _ := pf.other()
	assert.Empty(t, hits, "nothing reached the other application")
	// Ids with dots that are not dot segments are fine (and escaped).
	for _, id := range []string{"...", "a..b", ".x", "%41"} {
		err := c.DeleteAPIKey(t.Context(), id)
		assert.NotErrorIs(t, err, ErrInvalidPath, id)
	}
}

// TestBaseURLWithDotSegmentsRefused: a base path that is not itself
// under "/" once resolved is a configuration error, in any encoding.
func TestBaseURLWithDotSegmentsRefused(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"http://h/komga/../x", "http://h/%2e%2e/komga", "http://h/komga/..;/", "http://h/a%252e%252e/../", "http://h/a%00/"} {
		_, err := New(Komga, b)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, b)
		assert.Equal(t, "baseURL", ce.Setting, b)
	}
}

func TestUnderBase(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		base, path, rel string
		ok              bool
	}{
		{"/komga/", "/komga/api/x", "api/x", true},
		{"/komga/", "/komga/", "", true},
		{"/komga/", "/komga/a%20b/100%25", "a b/100%", true},
		{"/komga/", "/komga/..foo/.bar/x..", "..foo/.bar/x..", true},
		{"/komga/", "/komga/a;b/c", "a;b/c", true},
		{"/komga/", "/komga//x", "/x", true},
		{"/komga/", "/komga", "", false},
		{"/komga/", "/other/x", "", false},
		{"/komga/", "/komgax/y", "", false},
		{"/komga/", "/KOMGA/x", "", false},
		{"/komga/", "/komga%2fx", "", false},
		{"/komga/", "/komga/%u002e%u002e/x", "", false},                      // IIS %u encoding
		{"/komga/", "/komga/%c0%ae%c0%ae/x", "", false},                      // overlong UTF-8 dots
		{"/komga/", "/komga/%ef%bc%8e%ef%bc%8e/x", "", false},                // fullwidth dots
		{"/komga/", "/komga/%" + strings.Repeat("25", 12) + "2e", "", false}, // still changing: refused
		{"/my%20app/", "/my%20app/x", "x", true},
		{"/my%20app/", "/my%2520app/x", "", false},
		{"/", "/x/y", "x/y", true},
		{"/", "/%2e%2e/x", "", false},
		{"/", "/a/.", "", false},
	} {
		rel, ok := underBase(tt.base, tt.path)
		assert.Equal(t, tt.ok, ok, "%s under %s", tt.path, tt.base)
		assert.Equal(t, tt.rel, rel, "%s under %s", tt.path, tt.base)
	}
	for _, p := range escapesBasePath {
		u, err := url.Parse("http://h" + p)
		require.NoError(t, err)
		u = u.ResolveReference(&url.URL{}) // what net/http does to a Location
		_, ok := underBase("/komga/", u.EscapedPath())
		assert.False(t, ok, p)
	}
}

// FuzzUnderBase: whatever the path, if underBase (redirect targets) or
// cleanPath (Do's paths) accepts it, every reading a server or proxy may
// apply (decoded zero or more times, backslashes as separators or not,
// ";" parameters dropped or not, empty segments merged or not, then dot
// segments resolved) is still under the base path.
func FuzzUnderBase(f *testing.F) {
	for _, p := range escapesBasePath {
		f.Add(p)
	}
	for _, p := range []string{"/komga/api/v1/books", "/komga/a%20b/100%25", "/komga//x", "/komga/..foo", "/komga/%u002e%u002e/x", "/komga/%c0%ae/x"} {
		f.Add(p)
	}
	const base = "/komga/"
	f.Fuzz(func(t *testing.T, p string) {
		if rel, ok := underBase(base, p); ok {
			checkAllReadingsUnder(t, p, base)
			if strings.ContainsAny(rel, "\x00\r\n") {
				t.Fatalf("%q: relative path %q has control characters", p, rel)
			}
		}
		if cp, _, err := cleanPath(p); err == nil {
			checkAllReadingsUnder(t, base+cp, base)
		}
	})
}

func checkAllReadingsUnder(t *testing.T, p, base string) {
	t.Helper()
	prefix := strings.TrimSuffix(base, "/")
	for round := 0; round <= maxDecodeRounds+1; round++ {
		for _, backslash := range []bool{false, true} {
			for _, params := range []bool{false, true} {
				v := p
				if backslash {
					v = strings.ReplaceAll(v, `\`, "/")
				}
				if params {
					segs := strings.Split(v, "/")
					for i := range segs {
						segs[i], _, _ = strings.Cut(segs[i], ";")
					}
					v = strings.Join(segs, "/")
				}
				for _, r := range []string{path.Clean(v), removeDotSegments(v)} {
					if r != prefix && !strings.HasPrefix(r, prefix+"/") {
						t.Fatalf("%q accepted, but one reading resolves to %q, outside %s", p, r, base)
					}
				}
			}
		}
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			return
		}
		p = d
	}
}

// removeDotSegments is RFC 3986's algorithm: empty segments are kept.
func removeDotSegments(p string) string {
	var out []string
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}

// FuzzPlainPath: a path cleanPath takes as plain, without decoding it, is
// one the full check (url.PathUnescape, then underBase) accepts, with
// every reading of it under the base.
func FuzzPlainPath(f *testing.F) {
	for _, p := range append(escapesBasePath, "api/v1/series", "a/b-c_d~e/F0:9", "a b", "x/.", "..", "a;b", "a%2fb", "é") {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !plainPath(p) {
			return
		}
		if _, err := url.PathUnescape(p); err != nil {
			t.Fatalf("%q is plain, but PathUnescape fails: %v", p, err)
		}
		if _, ok := underBase("", p); !ok {
			t.Fatalf("%q is plain, but underBase refuses it", p)
		}
		checkAllReadingsUnder(t, "/komga/"+p, "/komga/")
	})
}

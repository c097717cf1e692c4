package authtest

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"
)

// TestRouterLookup covers the classes of the shared router: literal and
// parameter segments, case folding, HEAD served by GET, the methods allowed
// on a path whose method does not match, parameter validation, and paths no
// route has.
func TestRouterLookup(t *testing.T) {
	rt := &router[string]{}
	rt.handle("GET", "/", "root")
	rt.handle("GET", "/api/keys", "list")
	rt.handle("POST", "/api/keys", "create")
	rt.handle("DELETE", "/api/keys/:id", "delete")
	rt.handle("GET", "/api/libs/:id/items/:item", "item")

	tests := []struct {
		method, path string
		found        bool
		h            string
		params       []string
		allowed      []string
	}{
		{"GET", "/", true, "root", nil, nil},
		{"HEAD", "/", true, "root", nil, nil},
		{"GET", "/api/keys", true, "list", nil, nil},
		{"HEAD", "/api/keys", true, "list", nil, nil},
		{"POST", "/api/keys", true, "create", nil, nil},
		{"PUT", "/api/keys", false, "", nil, []string{"GET", "POST"}},
		{"OPTIONS", "/api/keys", false, "", nil, []string{"GET", "POST"}},
		{"DELETE", "/api/keys/k1", true, "delete", []string{"k1"}, nil},
		{"GET", "/api/keys/k1", false, "", nil, []string{"DELETE"}},
		{"DELETE", "/api/keys/", false, "", nil, nil},    // empty parameter
		{"DELETE", "/api/keys/a/b", false, "", nil, nil}, // parameter spans no "/"
		{"GET", "/api/libs/L/items/I", true, "item", []string{"L", "I"}, nil},
		{"GET", "/API/keys", false, "", nil, nil},  // case-sensitive by default
		{"GET", "/api/keys/", false, "", nil, nil}, // trailing slash is a different path
		{"GET", "/nope", false, "", nil, nil},
		{"GET", "", false, "", nil, nil},
	}
	for _, tt := range tests {
		m := rt.lookup(tt.method, tt.path)
		if m.found != tt.found || m.found && m.h != tt.h || !slices.Equal(m.params, tt.params) || !slices.Equal(m.allowed, tt.allowed) {
			t.Errorf("lookup(%s %q) = found %v h %q params %q allowed %q; want %v %q %q %q",
				tt.method, tt.path, m.found, m.h, m.params, m.allowed, tt.found, tt.h, tt.params, tt.allowed)
		}
		if got := rt.has(tt.path); got != (tt.found || len(tt.allowed) > 0) {
			t.Errorf("has(%q) = %v", tt.path, got)
		}
	}
	if m := rt.lookup("PATCH", "/api/keys"); m.first != "list" {
		t.Errorf("first = %q, want the first route on the path", m.first)
	}
}

func TestRouterFoldAndParam(t *testing.T) {
	rt := &router[int]{fold: true, param: func(s string) bool { return s != "{x}" }}
	rt.handle("GET", "/api/items/:id/cover", 1)
	for _, p := range []string{"/api/items/a/cover", "/API/Items/a/COVER"} {
		if m := rt.lookup("GET", p); !m.found || m.params[0] != "a" {
			t.Errorf("fold: lookup(%q) = %+v", p, m)
		}
	}
	if m := rt.lookup("GET", "/api/items/{x}/cover"); m.found || rt.has("/api/items/{x}/cover") {
		t.Errorf("param validator ignored: %+v", m)
	}
}

func TestStripPrefix(t *testing.T) {
	tests := []struct {
		path, prefix, want string
		ok                 bool
	}{
		{"/a/b", "", "/a/b", true},
		{"/komga", "/komga", "/", true},
		{"/komga/", "/komga", "/", true},
		{"/komga/api", "/komga", "/api", true},
		{"/komgax/api", "/komga", "/komgax/api", false},
		{"/api", "/komga", "/api", false},
		{"/", "/komga", "/", false},
	}
	for _, tt := range tests {
		if got, ok := stripPrefix(tt.path, tt.prefix); got != tt.want || ok != tt.ok {
			t.Errorf("stripPrefix(%q, %q) = %q, %v; want %q, %v", tt.path, tt.prefix, got, ok, tt.want, tt.ok)
		}
	}
}

func TestWriteHelpers(t *testing.T) {
	w := httptest.NewRecorder()
	writeJSON(w, http.StatusCreated, map[string]string{"a": "<b>"})
	if w.Code != 201 || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Content-Length") != "21" ||
		w.Body.String() != `{"a":"\u003cb\u003e"}` {
		t.Errorf("writeJSON: %d %v %q", w.Code, w.Header(), w.Body)
	}
	w = httptest.NewRecorder()
	writeJSON(w, http.StatusOK, func() {})
	if w.Code != http.StatusInternalServerError {
		t.Errorf("writeJSON of an unencodable value: %d", w.Code)
	}
	w = httptest.NewRecorder()
	writeText(w, http.StatusUnauthorized, "", "Unauthorized")
	if ct, ok := w.Header()["Content-Type"]; !ok || ct != nil || w.Header().Get("Content-Length") != "12" {
		t.Errorf("writeText without a type must suppress sniffing: %v", w.Header())
	}
}

func TestRandomIDs(t *testing.T) {
	uuidRe := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		u := uuid4()
		if !uuidRe.MatchString(u) || seen[u] {
			t.Fatalf("uuid4() = %q", u)
		}
		seen[u] = true
	}
	if h := randHex(16); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(h) {
		t.Errorf("randHex(16) = %q", h)
	}
	if s := randBase64URL(32); !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(s) {
		t.Errorf("randBase64URL(32) = %q", s)
	}
	for range 100 {
		if n := randIntn(3); n < 0 || n >= 3 {
			t.Fatalf("randIntn(3) = %d", n)
		}
	}
	var last uint64
	tsidRe := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{13}$`)
	prev := ""
	for i := range 100 {
		ms := int64(tsidEpoch + 1000) // the same millisecond: still increasing
		if i == 0 {
			ms = 0 // before the epoch: clamped
		}
		id := tsid(ms, &last)
		if !tsidRe.MatchString(id) || id <= prev {
			t.Fatalf("tsid #%d = %q after %q", i, id, prev)
		}
		prev = id
	}
}

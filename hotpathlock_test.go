package authclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// TestHotPathTakesNoLock: a call that succeeds takes none of the client's
// own locks, for every kind of credential that does not need renewing, on
// a transport the caller brings (the attempt watch's path) and on the
// SDK's own: with every sync.Mutex and sync.RWMutex of the client's held
// by the test (found by walking the Client: the secret set's, the attempt
// watch's, any added later), parallel calls still all complete. A lock
// taken on every call is where parallel calls would queue; a read lock,
// which never blocks another reader, would still bounce its cache line
// between the cores on every call.
func TestHotPathTakesNoLock(t *testing.T) {
	const page = `{"content":[],"totalElements":0}`
	answer := func(r *http.Request) *http.Response {
		return &http.Response{
			StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Content-Type": {"application/json"}},
			Body:          io.NopCloser(strings.NewReader(page)),
			ContentLength: int64(len(page)),
			Request:       r,
		}
	}
	inmem := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) { return answer(r), nil })}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, page)
	}))
	defer srv.Close()
	saved := func(s Server) Option { return WithSession(&Session{Server: s, Token: "c2Vzc2lvbi10b2tlbi0x"}) }
	for _, tc := range []struct {
		name   string
		server Server
		own    bool // the SDK's own transport, to srv; else inmem
		opts   []Option
	}{
		{"Komga API key", Komga, false, []Option{WithAPIKey("k-0123456789abcdef")}},
		{"Komga session cookie", Komga, false, []Option{WithAuthenticator(SessionCookie(Komga, "Y29va2llLXZhbHVl"))}},
		{"Komga saved session and login", Komga, false, []Option{saved(Komga), WithLogin("reader@example.org", "pass-word-1")}},
		{"Audiobookshelf saved session", Audiobookshelf, false, []Option{saved(Audiobookshelf), WithLogin("reader", "pass-word-1")}},
		{"ComfyUI key", ComfyUI, false, []Option{WithAPIKey("comfy-0123456789")}},
		{"Khoj token", Khoj, false, []Option{WithAPIKey("kk-0123456789abcdef")}},
		{"Komga API key, SDK transport", Komga, true, []Option{WithAPIKey("k-0123456789abcdef")}},
		{"Komga saved session, SDK transport", Komga, true, []Option{saved(Komga), WithLogin("reader@example.org", "pass-word-1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := "http://media.test/"
			opts := tc.opts
			if tc.own {
				base = srv.URL
			} else {
				opts = append(opts[:len(opts):len(opts)], WithHTTPClient(inmem))
			}
			c, err := New(tc.server, base, opts...)
			if err != nil {
				t.Fatal(err)
			}
			call := func() error {
				var out struct{ Content []any }
				return c.Do(t.Context(), "GET", "api/v1/series", nil, &out)
			}
			// Warm up: the first calls arm the watch's timer and note
			// the session's token.
			for range 2 {
				if err := call(); err != nil {
					t.Fatal(err)
				}
			}
			held := lockAll(c)
			defer held.unlock()
			if !slices.Contains(held, sync.Locker(&c.secrets.mu)) {
				t.Fatal("the walk did not find the secret set's lock")
			}
			if w := c.tr.watch; (w != nil) == tc.own || w != nil && !slices.Contains(held, sync.Locker(&w.mu)) {
				t.Fatalf("the attempt watch (%v) and its lock not found as expected on this transport", w != nil)
			}
			const goroutines, calls = 8, 50
			done := make(chan error, goroutines)
			for range goroutines {
				go func() {
					for range calls {
						if err := call(); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
			}
			// A bound on a deadlock only: the calls take microseconds.
			// On failure the deferred unlocks let them finish.
			stuck := time.NewTimer(time.Minute)
			defer stuck.Stop()
			for range goroutines {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
				case <-stuck.C:
					t.Fatal("calls are blocked on a lock of the client's that the test holds")
				}
			}
		})
	}
}

// heldLocks are the locks lockAll took.
type heldLocks []sync.Locker

func (h heldLocks) unlock() {
	for _, l := range h {
		l.Unlock()
	}
}

// lockAll locks every sync.Mutex and sync.RWMutex (for writing) reachable
// from v through this package's own types: structs, pointers, interfaces,
// arrays and slices of them, and what atomic.Pointers and atomic.Values
// hold. It does not enter other packages' types (net/http's transport has
// locks of its own, which raw net/http takes too).
func lockAll(v any) heldLocks {
	var held heldLocks
	seen := map[unsafe.Pointer]bool{}
	pkg := reflect.TypeFor[Client]().PkgPath()
	mutex, rwmutex := reflect.TypeFor[sync.Mutex](), reflect.TypeFor[sync.RWMutex]()
	var walk func(x reflect.Value)
	walk = func(x reflect.Value) {
		switch x.Kind() {
		case reflect.Pointer:
			if x.IsNil() || seen[x.UnsafePointer()] {
				return
			}
			seen[x.UnsafePointer()] = true
			walk(x.Elem())
		case reflect.Interface:
			if !x.IsNil() {
				walk(x.Elem())
			}
		case reflect.Array, reflect.Slice:
			for i := range x.Len() {
				walk(x.Index(i))
			}
		case reflect.Struct:
			switch {
			case x.Type() == mutex || x.Type() == rwmutex:
				l := reflect.NewAt(x.Type(), unsafe.Pointer(x.UnsafeAddr())).Interface().(sync.Locker)
				l.Lock()
				held = append(held, l)
				return
			case x.Type().PkgPath() == "sync/atomic" && x.CanAddr():
				// An atomic.Pointer or atomic.Value (the client's
				// authenticator is kept in one): what it holds.
				if load := x.Addr().MethodByName("Load"); load.IsValid() && load.Type().NumIn() == 0 && load.Type().NumOut() == 1 {
					walk(load.Call(nil)[0])
				}
				return
			case x.Type().PkgPath() != pkg:
				return
			}
			for i := range x.NumField() {
				f := x.Field(i)
				if f.CanAddr() {
					// Unexported fields: read through their address.
					f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
				}
				walk(f)
			}
		}
	}
	walk(reflect.ValueOf(v))
	return held
}

package authclient_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/selfhost-sdk/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests use the public API only, against httptest servers mounted
// under a path prefix (as behind a reverse proxy): a request outside it is
// a test failure, and any credential it carries is recorded.

const (
	streamKey    = "sk-0123456789abcdef0123456789abcdef"
	streamPrefix = "/base/"
	mib          = 1 << 20
)

// prefixServer is an httptest server that serves h under streamPrefix and
// counts the connections it accepted.
type prefixServer struct {
	*httptest.Server
	base    string // srv.URL + streamPrefix
	dials   atomic.Int64
	reqs    atomic.Int64
	outside atomic.Int64 // requests outside the prefix
	leaked  atomic.Int64 // requests outside the prefix or for another host name that carried a credential
}

func newPrefixServer(t *testing.T, h http.HandlerFunc) *prefixServer {
	t.Helper()
	ps := &prefixServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.reqs.Add(1)
		if r.Host != ps.Listener.Addr().String() && hasCredential(r) {
			ps.leaked.Add(1) // this server under another name is another origin
		}
		if !strings.HasPrefix(r.URL.Path, streamPrefix) || strings.Contains(r.URL.RawPath, "%2") {
			ps.outside.Add(1)
			if hasCredential(r) {
				ps.leaked.Add(1)
			}
			http.Error(w, "outside the prefix", http.StatusTeapot)
			return
		}
		h(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			ps.dials.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	ps.Server = srv
	ps.base = srv.URL + streamPrefix
	return ps
}

// hasCredential reports whether r carries any credential a client sends.
func hasCredential(r *http.Request) bool {
	return r.Header.Get("X-Api-Key") != "" || r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" ||
		strings.Contains(r.URL.RawQuery, streamKey)
}

// otherOrigin is a server on another origin that records every request.
func otherOrigin(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "stolen")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func newStreamClient(t *testing.T, base string, opts ...authclient.Option) *authclient.Client {
	t.Helper()
	opts = append([]authclient.Option{authclient.WithAPIKey(streamKey), authclient.WithRetryWait(0, 0)}, opts...)
	c, err := authclient.New(authclient.Komga, base, opts...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// pattern is a deterministic body of any size, generated without
// allocating, so that heap measurements see only the SDK.
type pattern struct{ n, off int64 }

var patternBlock = func() []byte {
	b := make([]byte, 32<<10)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}()

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := 0
	for k < len(b) && p.off < p.n {
		i := int(p.off % int64(len(patternBlock)))
		c := copy(b[k:], patternBlock[i:min(len(patternBlock), i+int(p.n-p.off))])
		k += c
		p.off += int64(c)
	}
	return k, nil
}

func patternCRC(n int64) uint32 {
	h := crc32.NewIEEE()
	_, _ = io.Copy(h, &pattern{n: n})
	return h.Sum32()
}

// allocated runs f and returns the bytes allocated meanwhile by the whole
// process (client and server), which bounds what the SDK allocated.
func allocated(f func()) uint64 {
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

const heapBound = 8 * mib

// --- request bodies ------------------------------------------------------

// TestRequestBodyKindsSentAsIs: every kind of streamed body (seeker, Len-
// only reader, plain reader, BodyFunc, an unnamed GetBody-like func) reaches
// the server byte for byte, with the default or the given Content-Type, and
// a length when one is known.
func TestRequestBodyKindsSentAsIs(t *testing.T) {
	t.Parallel()
	type got struct {
		ct, body string
		length   int64
	}
	var mu sync.Mutex
	var last got
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = got{r.Header.Get("Content-Type"), string(b), r.ContentLength}
		mu.Unlock()
	})
	c := newStreamClient(t, srv.base)
	const payload = "hello, streamed world"
	for _, tc := range []struct {
		name   string
		in     any
		opts   []authclient.CallOption
		ct     string
		length int64
	}{
		{"strings.Reader (seeker)", strings.NewReader(payload), nil, "application/octet-stream", int64(len(payload))},
		{"bytes.Buffer (Len, no seek)", bytes.NewBufferString(payload), nil, "application/octet-stream", int64(len(payload))},
		{"plain reader", iotest.OneByteReader(strings.NewReader(payload)), nil, "application/octet-stream", -1},
		{"BodyFunc", authclient.BodyFunc(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(payload)), nil }), nil, "application/octet-stream", -1},
		{"func like GetBody", func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(payload)), nil }, nil, "application/octet-stream", -1},
		{"ContentType", strings.NewReader(payload), []authclient.CallOption{authclient.ContentType("application/zip")}, "application/zip", int64(len(payload))},
		{"ContentType on a BodyFunc", authclient.BodyFunc(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(payload)), nil }),
			[]authclient.CallOption{authclient.ContentType("text/plain; charset=utf-8")}, "text/plain; charset=utf-8", -1},
	} {
		require.NoError(t, c.Do(t.Context(), http.MethodPost, "upload", tc.in, nil, tc.opts...), tc.name)
		mu.Lock()
		assert.Equal(t, got{tc.ct, payload, tc.length}, last, tc.name)
		mu.Unlock()
	}
	// A seeker is sent from where it is when the call starts.
	r := strings.NewReader("skip:" + payload)
	_, _ = r.Seek(5, io.SeekStart)
	require.NoError(t, c.Do(t.Context(), http.MethodPost, "upload", r, nil))
	mu.Lock()
	assert.Equal(t, got{"application/octet-stream", payload, int64(len(payload))}, last)
	mu.Unlock()
	assert.Zero(t, srv.outside.Load())
}

// flaky answers 503 (Retry-After: 0) to the first fails requests, and
// records the bodies of all of them.
type flaky struct {
	mu     sync.Mutex
	fails  int
	status int
	bodies []string
	cts    []string
}

func (f *flaky) handler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(b))
	f.cts = append(f.cts, r.Header.Get("Content-Type"))
	fail := len(f.bodies) <= f.fails
	f.mu.Unlock()
	if fail {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(f.status)
		return
	}
	_, _ = io.WriteString(w, "{}")
}

func (f *flaky) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

// TestReplayableBodiesAreReplayedOnRetry: the class of replayable bodies
// (a seeker, from its starting offset; a BodyFunc; a Form whose files are
// seekers) is sent whole on every attempt.
func TestReplayableBodiesAreReplayedOnRetry(t *testing.T) {
	t.Parallel()
	const payload = "replay me"
	for _, tc := range []struct {
		name string
		in   func() any
		want func(string) bool
	}{
		{"seeker at an offset", func() any {
			r := strings.NewReader("xx" + payload)
			_, _ = r.Seek(2, io.SeekStart)
			return r
		}, func(b string) bool { return b == payload }},
		{"BodyFunc", func() any {
			return authclient.BodyFunc(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(payload)), nil })
		}, func(b string) bool { return b == payload }},
		{"Form of seekers", func() any {
			return authclient.NewForm().Field("k", "v").File("file", "a.txt", "text/plain", strings.NewReader(payload))
		}, func(b string) bool { return strings.Contains(b, payload) && strings.Contains(b, `name="k"`) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &flaky{fails: 2, status: http.StatusServiceUnavailable}
			srv := newPrefixServer(t, f.handler)
			c := newStreamClient(t, srv.base)
			require.NoError(t, c.Do(t.Context(), http.MethodPut, "x", tc.in(), nil))
			bodies := f.seen()
			require.Len(t, bodies, 3)
			for i, b := range bodies {
				assert.True(t, tc.want(b), "attempt %d sent %q", i+1, b)
			}
			assert.Equal(t, bodies[0], bodies[2], "every attempt sends the same bytes")
		})
	}
}

// TestNonReplayableBodiesAreSentOnce: the class of bodies that cannot be
// sent twice (a plain reader, a Len-only buffer, a Form with a non-seeker
// file) is not retried once read: the server's answer is returned.
func TestNonReplayableBodiesAreSentOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   func() any
	}{
		{"plain reader", func() any { return iotest.HalfReader(strings.NewReader("once")) }},
		{"bytes.Buffer", func() any { return bytes.NewBufferString("once") }},
		{"Form with a plain reader", func() any {
			return authclient.NewForm().File("f", "a", "", iotest.HalfReader(strings.NewReader("once")))
		}},
		{"Form mixing a seeker and a plain reader", func() any {
			return authclient.NewForm().File("a", "a", "", strings.NewReader("x")).File("b", "b", "", io.MultiReader(strings.NewReader("once")))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &flaky{fails: 5, status: http.StatusServiceUnavailable}
			srv := newPrefixServer(t, f.handler)
			c := newStreamClient(t, srv.base)
			err := c.Do(t.Context(), http.MethodPut, "x", tc.in(), nil)
			var e *authclient.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
			assert.Len(t, f.seen(), 1, "a spent one-shot body is never retried")
		})
	}
}

// reauthKey is an authenticator that sends a key and renews it on a 401.
type reauthKey struct {
	mu      sync.Mutex
	key     string
	renewed int
}

func (a *reauthKey) Authenticate(r *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	r.Header.Set("X-Api-Key", a.key)
	return nil
}

func (a *reauthKey) Reauthenticate(context.Context, *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.renewed++
	a.key = "renewed-" + streamKey
	return nil
}

// TestUnauthorizedReplayOnlyWithReplayableBody: after a 401 a
// Reauthenticator renews and the call is replayed only if its body can be
// sent again; a spent one-shot body returns the *Error instead.
func TestUnauthorizedReplayOnlyWithReplayableBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		in         func() any
		replayable bool
	}{
		{"seeker", func() any { return strings.NewReader("body") }, true},
		{"BodyFunc", func() any {
			return authclient.BodyFunc(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("body")), nil })
		}, true},
		{"Form of seekers", func() any { return authclient.NewForm().File("f", "n", "", strings.NewReader("body")) }, true},
		{"plain reader", func() any { return iotest.HalfReader(strings.NewReader("body")) }, false},
		{"Form with a plain reader", func() any {
			return authclient.NewForm().File("f", "n", "", iotest.HalfReader(strings.NewReader("body")))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var bodies atomic.Int64
			srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if strings.Contains(string(b), "body") {
					bodies.Add(1)
				}
				if !strings.HasPrefix(r.Header.Get("X-Api-Key"), "renewed-") {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				_, _ = io.WriteString(w, "{}")
			})
			a := &reauthKey{key: streamKey}
			c, err := authclient.New(authclient.Komga, srv.base, authclient.WithAuthenticator(a))
			require.NoError(t, err)
			defer c.CloseIdleConnections()
			err = c.Do(t.Context(), http.MethodPost, "x", tc.in(), nil)
			if tc.replayable {
				require.NoError(t, err)
				assert.Equal(t, int64(2), bodies.Load(), "the replay sends the whole body again")
				assert.Equal(t, 1, a.renewed)
				return
			}
			assert.ErrorIs(t, err, authclient.ErrUnauthorized)
			var e *authclient.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, http.StatusUnauthorized, e.StatusCode)
			assert.Equal(t, int64(1), srv.reqs.Load(), "not replayed")
			assert.Zero(t, a.renewed, "no renewal for a call that cannot be replayed")
		})
	}
}

// failingReader returns some bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		k := min(r.n, len(p))
		for i := range k {
			p[i] = 'x'
		}
		r.n -= k
		return k, nil
	}
	return 0, r.err
}

type failingSeeker struct{ failingReader }

func (*failingSeeker) Seek(int64, int) (int64, error) { return 0, nil }

type erroringBody struct{ failingReader }

func (*erroringBody) Close() error { return nil }

// TestBodySourceErrorsFailTheCall: the class of body source failures (a
// reader's, a seeker's, a BodyFunc's open or read error, a Form file's)
// fails the call with a *TransportError that unwraps to the cause, masks
// any credential in its text, and is not retried.
func TestBodySourceErrorsFailTheCall(t *testing.T) {
	t.Parallel()
	cause := errors.New("disk failed while reading key " + streamKey)
	for _, tc := range []struct {
		name string
		in   func() any
	}{
		{"reader", func() any { return &failingReader{n: 100, err: cause} }},
		{"reader failing at once", func() any { return &failingReader{err: cause} }},
		{"seeker", func() any { return &failingSeeker{failingReader{n: 10, err: cause}} }},
		{"BodyFunc open", func() any { return authclient.BodyFunc(func() (io.ReadCloser, error) { return nil, cause }) }},
		{"BodyFunc read", func() any {
			return authclient.BodyFunc(func() (io.ReadCloser, error) { return &erroringBody{failingReader{n: 5, err: cause}}, nil })
		}},
		{"Form file", func() any {
			return authclient.NewForm().Field("a", "b").File("f", "n", "", &failingReader{n: 70 << 10, err: cause})
		}},
		{"Form seeker file", func() any {
			return authclient.NewForm().File("f", "n", "", &failingSeeker{failingReader{n: 3, err: cause}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
			})
			c := newStreamClient(t, srv.base)
			err := c.Do(t.Context(), http.MethodPut, "x", tc.in(), nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, cause)
			var te *authclient.TransportError
			assert.ErrorAs(t, err, &te)
			assert.NotContains(t, err.Error(), streamKey)
			assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), streamKey)
			assert.LessOrEqual(t, srv.reqs.Load(), int64(1), "not retried")
		})
	}
}

// TestBadBodyArgumentsAreConfigErrors: nil readers, nil BodyFuncs, nil
// forms, and ContentType misuse fail before anything is sent.
func TestBadBodyArgumentsAreConfigErrors(t *testing.T) {
	t.Parallel()
	srv := newPrefixServer(t, func(http.ResponseWriter, *http.Request) {})
	c := newStreamClient(t, srv.base)
	var nilBuf *bytes.Buffer
	var nilForm *authclient.Form
	for name, call := range map[string]func() error{
		"nil *bytes.Buffer": func() error { return c.Do(t.Context(), "PUT", "x", nilBuf, nil) },
		"nil BodyFunc":      func() error { return c.Do(t.Context(), "PUT", "x", authclient.BodyFunc(nil), nil) },
		"nil *Form":         func() error { return c.Do(t.Context(), "PUT", "x", nilForm, nil) },
		"ContentType CRLF": func() error {
			return c.Do(t.Context(), "PUT", "x", strings.NewReader("a"), nil, authclient.ContentType("text/plain\r\nX-Evil: 1"))
		},
		"ContentType LF": func() error {
			return c.Do(t.Context(), "PUT", "x", strings.NewReader("a"), nil, authclient.ContentType("a\nb"))
		},
		"ContentType empty": func() error {
			return c.Do(t.Context(), "PUT", "x", strings.NewReader("a"), nil, authclient.ContentType(""))
		},
		"ContentType without body": func() error { return c.Do(t.Context(), "GET", "x", nil, nil, authclient.ContentType("text/plain")) },
		"ContentType on a Form": func() error {
			return c.Do(t.Context(), "PUT", "x", authclient.NewForm().Field("a", "b"), nil, authclient.ContentType("text/plain"))
		},
		"nil Meta":             func() error { return c.Do(t.Context(), "GET", "x", nil, nil, authclient.ResponseMeta(nil)) },
		"nil AuthenticateWith": func() error { return c.Do(t.Context(), "GET", "x", nil, nil, authclient.AuthenticateWith(nil)) },
		"Stream nil BodyFunc": func() error {
			_, err := c.Stream(t.Context(), "PUT", "x", authclient.BodyFunc(nil))
			return err
		},
	} {
		var ce *authclient.ConfigError
		assert.ErrorAs(t, call(), &ce, name)
	}
	assert.Zero(t, srv.reqs.Load(), "nothing was sent")
}

// TestFormPartHeadersCannotBeInjected: the class of part-header injection
// (CR, LF, CRLF, NUL, other control characters, invalid UTF-8, in field
// names, file names and content types) is refused before anything is sent;
// quotes and backslashes are escaped and reach the server as written.
func TestFormPartHeadersCannotBeInjected(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var parts [][3]string
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		parts = parts[:0]
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			parts = append(parts, [3]string{p.FormName(), p.FileName(), string(b)})
		}
	})
	c := newStreamClient(t, srv.base)
	for _, bad := range []string{"a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b", "a\x7fb", "a\tb", "\xff\xfe"} {
		for name, f := range map[string]*authclient.Form{
			"field name":      authclient.NewForm().Field(bad, "v"),
			"file field name": authclient.NewForm().File(bad, "f", "", strings.NewReader("x")),
			"file name":       authclient.NewForm().File("f", bad, "", strings.NewReader("x")),
			"content type":    authclient.NewForm().File("f", "n", "text/plain"+bad, strings.NewReader("x")),
			"later part":      authclient.NewForm().Field("ok", "v").File("f", bad, "", strings.NewReader("x")),
		} {
			err := c.Do(t.Context(), http.MethodPost, "up", f, nil)
			var ce *authclient.ConfigError
			assert.ErrorAs(t, err, &ce, "%s %q", name, bad)
		}
	}
	err := c.Do(t.Context(), http.MethodPost, "up", authclient.NewForm().File("f", "n", "", nil), nil)
	var ce *authclient.ConfigError
	assert.ErrorAs(t, err, &ce, "nil file reader")
	assert.Zero(t, srv.reqs.Load(), "nothing was sent")

	// Quotes, backslashes, non-ASCII: escaped, and read back as written.
	f := authclient.NewForm().
		Field(`we"ird\name`, "line1\r\nline2").
		File(`fi"le`, `C:\dir\"quoted" ü.txt`, "text/plain; charset=utf-8", strings.NewReader("content"))
	require.NoError(t, c.Do(t.Context(), http.MethodPost, "up", f, nil))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, [][3]string{
		{`we"ird\name`, "", "line1\r\nline2"},
		{`fi"le`, `C:\dir\"quoted" ü.txt`, "content"},
	}, parts)
}

// --- 100 MiB, streamed both ways ----------------------------------------

// TestStreamed100MiBBodiesUseBoundedMemoryAndNoNewDials: a 100 MiB one-shot
// reader upload, a 100 MiB multipart upload, and a 100 MiB download (to
// io.Discard through Do, and read through Stream) each allocate far less
// than their size (nothing buffers the body) and reuse the one connection.
// Not parallel: the heap is measured for the whole process. Under the race
// detector, where moving 100 MiB six times takes longer than a whole
// `-count=20` run may, it moves 16 MiB each way, twice the heap bound;
// .ci/run also runs it without -race at full size.
func TestStreamed100MiBBodiesUseBoundedMemoryAndNoNewDials(t *testing.T) {
	size := int64(100 * mib)
	if raceEnabled {
		size = 16 * mib // twice heapBound: a buffered body still fails
	}
	want := patternCRC(size)
	var (
		mu      sync.Mutex
		gotCRC  uint32
		gotLen  int64
		gotForm string
	)
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		h := crc32.NewIEEE()
		var n int64
		var field string
		switch r.URL.Path {
		case streamPrefix + "download":
			w.Header().Set("Content-Type", "application/octet-stream")
			if r.URL.Query().Get("chunked") == "" {
				w.Header().Set("Content-Length", fmt.Sprint(size))
			}
			_, _ = io.Copy(w, &pattern{n: size})
			return
		case streamPrefix + "upload":
			n, _ = io.Copy(h, r.Body)
		case streamPrefix + "form":
			mr, err := r.MultipartReader()
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				if p.FileName() == "" {
					b, _ := io.ReadAll(io.LimitReader(p, 100))
					field = p.FormName() + "=" + string(b)
					continue
				}
				n, _ = io.Copy(h, p)
			}
		}
		mu.Lock()
		gotCRC, gotLen, gotForm = h.Sum32(), n, field
		mu.Unlock()
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	c := newStreamClient(t, srv.base)
	ctx := t.Context()
	require.NoError(t, c.Do(ctx, http.MethodGet, "warmup", nil, nil)) // the one dial
	check := func(name string, f func() error) {
		t.Helper()
		var err error
		a := allocated(func() { err = f() })
		require.NoError(t, err, name)
		t.Logf("%s: %d KiB allocated for a %d MiB body", name, a>>10, size/mib)
		assert.Less(t, a, uint64(heapBound), "%s: the body was buffered", name)
		assert.Equal(t, int64(1), srv.dials.Load(), "%s: a new connection was dialled", name)
	}

	check("upload of a one-shot io.Reader", func() error {
		return c.Do(ctx, http.MethodPost, "upload", io.MultiReader(&pattern{n: size}), nil)
	})
	mu.Lock()
	assert.Equal(t, int64(size), gotLen)
	assert.Equal(t, want, gotCRC)
	mu.Unlock()

	check("multipart upload", func() error {
		f := authclient.NewForm().Field("series", "42").File("file", "big.cbz", "application/zip", &pattern{n: size})
		return c.Do(ctx, http.MethodPost, "form", f, nil)
	})
	mu.Lock()
	assert.Equal(t, int64(size), gotLen)
	assert.Equal(t, want, gotCRC)
	assert.Equal(t, "series=42", gotForm)
	mu.Unlock()

	for _, q := range []string{"", "?chunked=1"} {
		check("download to io.Discard"+q, func() error {
			return c.Do(ctx, http.MethodGet, "download"+q, nil, io.Discard)
		})
		h := crc32.NewIEEE()
		check("download to a writer"+q, func() error {
			return c.Do(ctx, http.MethodGet, "download"+q, nil, h)
		})
		assert.Equal(t, want, h.Sum32())
		check("Stream read to the end"+q, func() error {
			resp, err := c.Stream(ctx, http.MethodGet, "download"+q, nil)
			if err != nil {
				return err
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if cerr := resp.Body.Close(); err == nil {
				err = cerr
			}
			if n != size {
				return fmt.Errorf("read %d bytes", n)
			}
			return err
		})
	}
}

// --- Stream --------------------------------------------------------------

// TestStreamDeliversServerSentEventsAsFlushed: each event is read while
// the server holds the next one back, so it arrived as it was flushed, not
// at the end; closing after the end keeps the connection.
func TestStreamDeliversServerSentEventsAsFlushed(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != streamPrefix+"api/events" {
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Request-Id", "abc")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for i := range 3 {
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
			fmt.Fprintf(w, "event: progress\ndata: {\"step\":%d}\n\n", i)
			w.(http.Flusher).Flush()
		}
	})
	c := newStreamClient(t, srv.base, authclient.WithTimeout(time.Minute))
	var m authclient.Meta
	resp, err := c.Stream(t.Context(), http.MethodGet, "api/events", nil, authclient.ResponseMeta(&m))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "abc", m.Header.Get("X-Request-Id"))
	sc := bufio.NewScanner(resp.Body)
	for i := range 3 {
		next <- struct{}{} // the server writes event i only now
		var ev []string
		for sc.Scan() && sc.Text() != "" {
			ev = append(ev, sc.Text())
		}
		assert.Equal(t, []string{"event: progress", fmt.Sprintf(`data: {"step":%d}`, i)}, ev)
	}
	assert.False(t, sc.Scan(), "the stream ended")
	require.NoError(t, resp.Body.Close())
	require.NoError(t, c.Do(t.Context(), http.MethodGet, "again", nil, nil))
	assert.Equal(t, int64(1), srv.dials.Load(), "the connection went back to the pool")
}

// TestStreamCloseReleasesTheServer: closing a stream before its end ends
// the request on the server (the connection is given up, not leaked).
func TestStreamCloseReleasesTheServer(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{})
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(gone)
	})
	for _, timeout := range []time.Duration{0, time.Hour} {
		c := newStreamClient(t, srv.base, authclient.WithTimeout(timeout)) // 0: no per-attempt timeout
		resp, err := c.Stream(t.Context(), http.MethodGet, "live", nil)
		require.NoError(t, err)
		b := make([]byte, 5)
		_, err = io.ReadFull(resp.Body, b)
		require.NoError(t, err)
		assert.Equal(t, "first", string(b))
		require.NoError(t, resp.Body.Close())
		<-gone // would hang if closing did not end the request
		gone = make(chan struct{})
	}
}

// TestStreamedErrorsAreBoundedAndMasked: a non-2xx answer on every new path
// (Stream, Do into an io.Writer, Do with a streamed body) is an *Error
// whose body was read only up to the bound, however large (100 MiB here),
// and whose text masks a credential the server echoed, in any of its error
// shapes. Nothing of an error body reaches the caller's writer.
func TestStreamedErrorsAreBoundedAndMasked(t *testing.T) {
	t.Parallel()
	var read atomic.Int64
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		if err == nil {
			resp.Body = &countingBody{ReadCloser: resp.Body, n: &read}
		}
		return resp, err
	})}
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		key := r.Header.Get("X-Api-Key")
		switch r.URL.Path {
		case streamPrefix + "huge":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.Copy(w, &pattern{n: 100 * mib})
		case streamPrefix + "json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"message":"bad key %s"}`, key)
		case streamPrefix + "text":
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "Unauthorized: %s", key)
		case streamPrefix + "html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<html><body><h1>Forbidden</h1><p>token=%s</p></body></html>", key)
		}
	})
	c := newStreamClient(t, srv.base, authclient.WithHTTPClient(hc))
	calls := map[string]func(path string) error{
		"Stream": func(p string) error {
			resp, err := c.Stream(t.Context(), http.MethodGet, p, nil)
			if resp != nil {
				resp.Body.Close()
				return errors.New("a response for a failure")
			}
			return err
		},
		"Do into a writer": func(p string) error {
			var buf bytes.Buffer
			err := c.Do(t.Context(), http.MethodGet, p, nil, &buf)
			if buf.Len() > 0 {
				return errors.New("the error body reached the writer")
			}
			return err
		},
		"Do with a streamed body": func(p string) error {
			return c.Do(t.Context(), http.MethodPost, p, io.MultiReader(strings.NewReader("x")), nil)
		},
		"Stream with a Form": func(p string) error {
			_, err := c.Stream(t.Context(), http.MethodPost, p, authclient.NewForm().Field("a", "b"))
			return err
		},
	}
	for name, call := range calls {
		read.Store(0)
		err := call("huge")
		var e *authclient.Error
		require.ErrorAs(t, err, &e, name)
		assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
		assert.LessOrEqual(t, len(e.Body), 64<<10, name)
		assert.LessOrEqual(t, read.Load(), int64(256<<10), "%s: the error body was read past the bound", name)
		for _, p := range []string{"json", "text", "html"} {
			err := call(p)
			require.ErrorAs(t, err, &e, "%s %s", name, p)
			assert.Contains(t, string(e.Body), streamKey, "the raw body is kept, as documented")
			for _, s := range []string{err.Error(), fmt.Sprintf("%v|%+v|%#v|%s", err, err, err, e.Message), e.String()} {
				assert.NotContains(t, s, streamKey, "%s %s", name, p)
			}
		}
	}
}

// TestStreamedCallsNeverCarryCredentialsElsewhere: on every new path, a
// redirect to another origin (another port, another spelling of the host,
// https downgrade aside) or out of the base path is not followed: nothing
// reaches the other server, no credential leaves the base path, and the
// answer is ErrRedirect. With NoRedirect the 3xx itself is the answer.
func TestStreamedCallsNeverCarryCredentialsElsewhere(t *testing.T) {
	t.Parallel()
	evil, evilHits := otherOrigin(t)
	_, evilPort, _ := net.SplitHostPort(strings.TrimPrefix(evil.URL, "http://"))
	var target atomic.Value
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, target.Load().(string), http.StatusFound)
	})
	_, srvPort, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	c := newStreamClient(t, srv.base)
	other := newStreamClient(t, srv.base, authclient.WithAuthenticator(authclient.BearerToken("other-"+streamKey)))
	targets := []string{
		evil.URL + "/base/x",                     // another port
		"http://localhost:" + evilPort + "/base", // another host
		"http://localhost:" + srvPort + "/base/", // the same server under another name
		srv.URL + "/elsewhere/x",                 // same origin, out of the base path
		srv.URL + "/base/%2e%2e/elsewhere",       // out of the base path, encoded
		srv.URL + "/base/..%2felsewhere",
	}
	calls := map[string]func() error{
		"Stream": func() error {
			resp, err := c.Stream(t.Context(), http.MethodGet, "go", nil)
			if resp != nil {
				resp.Body.Close()
			}
			return err
		},
		"Do into a writer": func() error { return c.Do(t.Context(), http.MethodGet, "go", nil, io.Discard) },
		"Do with a reader body": func() error {
			return c.Do(t.Context(), http.MethodGet, "go", strings.NewReader("body"), nil)
		},
		"Stream with a seekable body": func() error {
			_, err := c.Stream(t.Context(), http.MethodPut, "go", strings.NewReader("body"))
			return err
		},
		"AuthenticateWith": func() error {
			return c.Do(t.Context(), http.MethodGet, "go", nil, io.Discard, authclient.AuthenticateWith(authclient.BearerToken("per-call-"+streamKey)))
		},
		"Stream, other authenticator": func() error {
			_, err := other.Stream(t.Context(), http.MethodGet, "go", nil)
			return err
		},
	}
	for _, tg := range targets {
		target.Store(tg)
		for name, call := range calls {
			err := call()
			assert.ErrorIs(t, err, authclient.ErrRedirect, "%s to %s", name, tg)
			if err != nil {
				assert.NotContains(t, err.Error(), streamKey)
			}
		}
	}
	assert.Zero(t, evilHits.Load(), "another origin was contacted")
	assert.Zero(t, srv.leaked.Load(), "a credential left the base path")

	// NoRedirect: the 3xx is the answer, read with ResponseMeta or Stream.
	target.Store(evil.URL + "/login?next=1")
	var m authclient.Meta
	require.NoError(t, c.Do(t.Context(), http.MethodGet, "go", nil, nil, authclient.NoRedirect(), authclient.ResponseMeta(&m)))
	assert.Equal(t, http.StatusFound, m.StatusCode)
	assert.Equal(t, evil.URL+"/login?next=1", m.Header.Get("Location"))
	resp, err := c.Stream(t.Context(), http.MethodGet, "go", nil, authclient.NoRedirect())
	require.NoError(t, err)
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
	assert.Zero(t, evilHits.Load())
}

// TestResponseMetaOnEveryAnswer: ResponseMeta is filled on a success, on
// every kind of *Error, and on a NoRedirect 3xx (Set-Cookie readable), and
// left alone when no answer came; printing it never shows header values.
func TestResponseMetaOnEveryAnswer(t *testing.T) {
	t.Parallel()
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", r.URL.Path)
		switch r.URL.Path {
		case streamPrefix + "ok":
			_, _ = io.WriteString(w, `{"a":1}`)
		case streamPrefix + "missing":
			http.NotFound(w, r)
		case streamPrefix + "login":
			http.SetCookie(w, &http.Cookie{Name: "SESSION", Value: "cookie-" + streamKey})
			http.Redirect(w, r, "/base/home", http.StatusFound)
		case streamPrefix + "busy":
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	c := newStreamClient(t, srv.base, authclient.WithMaxRetries(1))
	var out struct{ A int }
	var m authclient.Meta
	require.NoError(t, c.Do(t.Context(), "GET", "ok", nil, &out, authclient.ResponseMeta(&m)))
	assert.Equal(t, 200, m.StatusCode)
	assert.Equal(t, "/base/ok", m.Header.Get("X-Request-Id"))

	for path, status := range map[string]int{"missing": 404, "busy": 503} {
		m = authclient.Meta{}
		err := c.Do(t.Context(), "GET", path, nil, io.Discard, authclient.ResponseMeta(&m))
		var e *authclient.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, status, m.StatusCode, path)
		assert.Equal(t, "/base/"+path, m.Header.Get("X-Request-Id"))
	}

	m = authclient.Meta{}
	require.NoError(t, c.Do(t.Context(), "POST", "login", nil, nil, authclient.NoRedirect(), authclient.ResponseMeta(&m)))
	assert.Equal(t, http.StatusFound, m.StatusCode)
	assert.Equal(t, "/base/home", m.Header.Get("Location"))
	cookies, err := http.ParseSetCookie(m.Header.Get("Set-Cookie"))
	require.NoError(t, err)
	assert.Equal(t, "cookie-"+streamKey, cookies.Value)
	for _, s := range []string{fmt.Sprint(m), fmt.Sprintf("%v %+v %#v %s", m, m, m, m), fmt.Sprint(&m)} {
		assert.NotContains(t, s, streamKey, "Meta's printed form")
		assert.Contains(t, s, "302")
	}

	dead := newStreamClient(t, "http://127.0.0.1:1/base/", authclient.WithMaxRetries(0))
	m = authclient.Meta{StatusCode: -1}
	err = dead.Do(t.Context(), "GET", "ok", nil, nil, authclient.ResponseMeta(&m))
	var te *authclient.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, -1, m.StatusCode, "no answer, nothing filled")
}

// TestPerCallAuthOptions: Unauthenticated sends no credential at all;
// AuthenticateWith sends only the given one (never the client's too), and
// its secret is masked in errors like the client's.
func TestPerCallAuthOptions(t *testing.T) {
	t.Parallel()
	var last atomic.Value
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		last.Store(r.Header.Get("X-Api-Key") + "|" + r.Header.Get("Authorization") + "|" + r.Header.Get("Cookie"))
		if r.URL.Path == streamPrefix+"echo" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "you sent %s", r.Header.Get("Authorization"))
		}
	})
	c := newStreamClient(t, srv.base)
	require.NoError(t, c.Do(t.Context(), "GET", "x", nil, nil, authclient.Unauthenticated()))
	assert.Equal(t, "||", last.Load())
	resp, err := c.Stream(t.Context(), "GET", "x", nil, authclient.Unauthenticated())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "||", last.Load())

	perCall := "per-call-token-" + streamKey[3:]
	require.NoError(t, c.Do(t.Context(), "GET", "x", nil, nil, authclient.AuthenticateWith(authclient.BearerToken(perCall))))
	assert.Equal(t, "|Bearer "+perCall+"|", last.Load(), "only the per-call credential")
	require.NoError(t, c.Do(t.Context(), "GET", "x", nil, nil))
	assert.Equal(t, streamKey+"||", last.Load(), "the client's own again on the next call")

	err = c.Do(t.Context(), "GET", "echo", nil, nil, authclient.AuthenticateWith(authclient.BearerToken(perCall)))
	var e *authclient.Error
	require.ErrorAs(t, err, &e)
	assert.NotContains(t, err.Error(), perCall)
	assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), perCall)

	// A per-call credential that cannot go in a header is refused before
	// anything is sent, like one given to New, without quoting it.
	before := srv.reqs.Load()
	for _, a := range []authclient.Authenticator{
		authclient.BearerToken("tok\r\nX-Evil: 1" + perCall),
		authclient.APIKeyIn(authclient.InHeader("X-Api-Key"), perCall+"\n"),
		authclient.BasicAuth("a:b", perCall),
		authclient.SessionCookie(authclient.Komga, perCall+";x=y"),
	} {
		err := c.Do(t.Context(), "GET", "x", nil, nil, authclient.AuthenticateWith(a))
		var ce *authclient.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.NotContains(t, err.Error(), perCall)
	}
	assert.Equal(t, before, srv.reqs.Load(), "nothing was sent")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	k, err := b.ReadCloser.Read(p)
	b.n.Add(int64(k))
	return k, err
}

// TestDownloadWriterFailure: a failing writer fails the call with a
// *WriteError that unwraps to the writer's error; a body that breaks off
// mid-download is a *TransportError.
func TestDownloadWriterFailure(t *testing.T) {
	t.Parallel()
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == streamPrefix+"cut" {
			w.Header().Set("Content-Length", "1000")
			_, _ = io.WriteString(w, "only a part")
			return
		}
		_, _ = io.Copy(w, &pattern{n: mib})
	})
	c := newStreamClient(t, srv.base)
	full := errors.New("disk full")
	err := c.Do(t.Context(), "GET", "file", nil, failingWriter{full})
	var we *authclient.WriteError
	require.ErrorAs(t, err, &we)
	assert.ErrorIs(t, err, full)
	assert.Contains(t, err.Error(), "writing the response body")

	err = c.Do(t.Context(), "GET", "cut", nil, io.Discard)
	var te *authclient.TransportError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// flakySeeker is a strings.Reader whose Seek fails from call failFrom on
// (counting from 1).
type flakySeeker struct {
	*strings.Reader
	calls, failFrom int
	err             error
}

func (s *flakySeeker) Seek(off int64, whence int) (int64, error) {
	s.calls++
	if s.calls >= s.failFrom {
		return 0, s.err
	}
	return s.Reader.Seek(off, whence)
}

// TestBodyReplayFailures: the ways a replay can fail are errors, never a
// short or empty body: a seeker that cannot seek back (when the call starts:
// a *ConfigError; before a retry: the call fails with the seek error, not
// retried further), and a one-shot body a 307 redirect asks for again
// (ErrBodyNotReplayable), where a seeker is followed with its whole body.
func TestBodyReplayFailures(t *testing.T) {
	t.Parallel()
	seekErr := errors.New("seek failed")
	f := &flaky{fails: 1, status: http.StatusServiceUnavailable}
	srv := newPrefixServer(t, f.handler)
	c := newStreamClient(t, srv.base)

	// Seek(0, SeekCurrent), Seek(0, SeekEnd) work; seeking back fails.
	err := c.Do(t.Context(), http.MethodPut, "x", &flakySeeker{Reader: strings.NewReader("abc"), failFrom: 3, err: seekErr}, nil)
	var ce *authclient.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, seekErr)
	assert.Empty(t, f.seen(), "nothing sent")

	// The retry's seek fails.
	err = c.Do(t.Context(), http.MethodPut, "x", &flakySeeker{Reader: strings.NewReader("abc"), failFrom: 4, err: seekErr}, nil)
	assert.ErrorIs(t, err, seekErr)
	var te *authclient.TransportError
	assert.ErrorAs(t, err, &te)
	assert.Equal(t, []string{"abc"}, f.seen(), "one attempt, the whole body")

	var bodies []string
	var mu sync.Mutex
	redir := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if r.URL.Path == streamPrefix+"old" {
			http.Redirect(w, r, streamPrefix+"new", http.StatusTemporaryRedirect)
		}
	})
	rc := newStreamClient(t, redir.base)
	err = rc.Do(t.Context(), http.MethodGet, "old", iotest.HalfReader(strings.NewReader("query")), nil)
	assert.ErrorIs(t, err, authclient.ErrBodyNotReplayable)
	require.NoError(t, rc.Do(t.Context(), http.MethodGet, "old", strings.NewReader("query"), nil))
	mu.Lock()
	assert.Equal(t, []string{"query", "query", "query"}, bodies)
	mu.Unlock()
}

// TestStreamResponseRequestHasNoCredential: the *http.Response Stream hands
// over describes its request without the credential, wherever the client
// put it (a header, the query), so printing or logging the response, or
// resp.Request, reveals nothing.
func TestStreamResponseRequestHasNoCredential(t *testing.T) {
	t.Parallel()
	srv := newPrefixServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	for name, opt := range map[string]authclient.Option{
		"header": authclient.WithAPIKey(streamKey),
		"query":  authclient.WithAuthenticator(authclient.APIKeyIn(authclient.InQuery("api_key"), streamKey)),
		"basic":  authclient.WithAuthenticator(authclient.BasicAuth("user", streamKey)),
	} {
		t.Run(name, func(t *testing.T) {
			c := newStreamClient(t, srv.base, opt)
			resp, err := c.Stream(t.Context(), http.MethodGet, "live?x=1", nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.NotNil(t, resp.Request)
			assert.Equal(t, http.MethodGet, resp.Request.Method)
			assert.Empty(t, resp.Request.Header)
			require.NotNil(t, resp.Request.URL)
			assert.Equal(t, streamPrefix+"live", resp.Request.URL.Path)
			for _, s := range []string{fmt.Sprintf("%+v", resp.Request), fmt.Sprintf("%#v", resp.Request), resp.Request.URL.String()} {
				assert.NotContains(t, s, streamKey)
			}
		})
	}
}

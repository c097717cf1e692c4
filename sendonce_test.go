package authclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// onceServer records what each request carried and answers: a 307 from
// /moved to /new (the body is to be sent again), a 400 on /bad, else 201
// with a JSON object.
func onceServer(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	line := func(r *http.Request, body []byte) string {
		return fmt.Sprintf("%s %s ct=%q key=%q len=%d body=%s",
			r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("X-API-Key"), r.ContentLength, body)
	}
	return linesServer(t, line, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
		case "/bad":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"status":400,"error":"Bad Request","message":"name: must not be blank"}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"c1"}`)
		}
	})
}

// linesServer is an httptest server that answers with answer, after
// reading each request's body and noting the line that describes the
// request and its body; take returns the lines noted since it was last
// called.
func linesServer(t *testing.T, line func(r *http.Request, body []byte) string, answer http.HandlerFunc) (srv *httptest.Server, take func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, line(r, body))
		mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		s := seen
		seen = nil
		return s
	}
}

// TestOneAttemptCallsLikeRetriedOnes: a call that makes one attempt (a
// POST, or any call WithMaxRetries(0)) is sent without the retry layer;
// the server sees the same requests, the caller gets the same result or
// error and the log the same lines as for a call through the layer (a
// PUT), redirects that resend the body included.
func TestOneAttemptCallsLikeRetriedOnes(t *testing.T) {
	t.Parallel()
	srv, seen := onceServer(t)
	var logs strings.Builder
	var mu sync.Mutex
	c := newTestClient(t, Komga, srv.URL, WithAPIKey("ONCE-KEY-1"), WithLogger(newTestLogger(&logs, &mu)))
	noRetry := newTestClient(t, Komga, srv.URL, WithAPIKey("ONCE-KEY-1"), WithMaxRetries(0), WithLogger(newTestLogger(&logs, &mu)))
	takeLogs := func() string {
		mu.Lock()
		defer mu.Unlock()
		s := logs.String()
		logs.Reset()
		return strings.NewReplacer("POST", "M", "PUT", "M", "GET", "M").Replace(stripLogTimes(s))
	}
	type result struct {
		seen []string
		out  map[string]string
		err  string
		logs string
	}
	call := func(c *Client, method, path string, in any) result {
		var out map[string]string
		err := c.Do(t.Context(), method, path, in, &out, Header("X-Call", "one"))
		return result{seen: seen(), out: out, err: strings.NewReplacer("POST", "M", "PUT", "M", "GET", "M").Replace(fmt.Sprint(err)), logs: takeLogs()}
	}
	for _, tc := range []struct {
		path string
		in   any
	}{
		{"collections?x=1", []byte(`{"name":"a"}`)},
		{"collections", map[string]string{"name": "b"}},
		{"collections", nil},
		{"moved", []byte(`{"name":"again"}`)},
		{"bad", []byte(`{"name":""}`)},
	} {
		layer := call(c, http.MethodPut, tc.path, tc.in)
		once := call(c, http.MethodPost, tc.path, tc.in)
		assert.Equal(t, layer, once, "%s: POST (one attempt) and PUT (retry layer)", tc.path)
		if tc.in == nil {
			get := call(noRetry, http.MethodGet, tc.path, nil)
			assert.Equal(t, layer, get, "%s: GET WithMaxRetries(0)", tc.path)
		}
	}
}

// stripLogTimes drops slog's time=… attribute from each line.
func stripLogTimes(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "time=") {
			if _, rest, ok := strings.Cut(l, " "); ok {
				lines[i] = rest
			}
		}
	}
	return strings.Join(lines, "\n")
}

// TestOneAttemptCanceledWhileAnswered: the caller's context ends after the
// server got the request and before the client read the answer; the call
// fails with the context's error, as through the retry layer.
func TestOneAttemptCanceledWhileAnswered(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel() // before the answer is written: the client sees it done
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Komga, srv.URL, WithAPIKey("ONCE-KEY-2"))
	err := c.Do(ctx, http.MethodPost, "collections", []byte(`{}`), nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
	var te *TransportError
	assert.True(t, errors.As(err, &te), "got %T", err)
}

// TestOneAttemptCostsLess: a POST of a []byte body makes at least 2
// allocations fewer than a PUT of it, which goes through the retry layer
// (its request and two body closures, less the GetBody closure
// http.NewRequest makes; a POST through the layer would also carry the
// no-retry marker).
func TestOneAttemptCostsLess(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	c := newTestClient(t, Komga, "http://komga.test", WithAPIKey("ONCE-KEY-3"),
		WithHTTPClient(&http.Client{Transport: answerTransport{}}))
	body := []byte(`{"name":"a"}`)
	ctx := context.Background()
	per := func(method string) float64 {
		return testing.AllocsPerRun(200, func() {
			if err := c.Do(ctx, method, "collections", body, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
	put, post := per(http.MethodPut), per(http.MethodPost)
	t.Logf("PUT (retry layer) %.0f allocs, POST (one attempt) %.0f", put, post)
	assert.LessOrEqual(t, post, put-2)
}

// answerTransport answers every request with an empty 201, in memory.
type answerTransport struct{}

func (answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusCreated, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// TestUnfollowedCallsLikeClientDo: a one-attempt call none of whose
// redirects can be followed (a POST, PATCH or DELETE, or a call that takes
// redirects as answers) goes to the transport directly; for every kind of
// answer (each redirect status with a Location that parses, one that does
// not, none; an error; a transport error, the plain-HTTP answer to TLS, a
// transport that answers nothing) the server sees, the caller gets and
// the log says the same as through http.Client.Do.
func TestUnfollowedCallsLikeClientDo(t *testing.T) {
	t.Parallel()
	line := func(r *http.Request, body []byte) string {
		return fmt.Sprintf("%s %s %s ct=%q len=%d body=%s", r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.ContentLength, body)
	}
	srv, takeSeen := linesServer(t, line, func(w http.ResponseWriter, r *http.Request) {
		redirect := func(code int, loc string) {
			if loc != "" {
				w.Header()["Location"] = []string{loc} // as it is: http.Redirect would clean it
			}
			w.WriteHeader(code)
		}
		switch r.URL.Path {
		case "/found":
			redirect(http.StatusFound, "/new")
		case "/moved":
			redirect(http.StatusMovedPermanently, "new")
		case "/seeother":
			redirect(http.StatusSeeOther, "/new?x=1")
		case "/noloc":
			redirect(http.StatusSeeOther, "")
		case "/temp":
			redirect(http.StatusTemporaryRedirect, "/new")
		case "/perm":
			redirect(http.StatusPermanentRedirect, "/new")
		case "/multiple":
			redirect(http.StatusMultipleChoices, "/new")
		case "/badloc":
			redirect(http.StatusFound, "/%zz")
		case "/badloc307":
			redirect(http.StatusTemporaryRedirect, "http://[::1")
		case "/away":
			redirect(http.StatusFound, "http://other.example/x")
		case "/login":
			redirect(http.StatusFound, "/login")
		case "/bad":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"status":400,"message":"name: must not be blank"}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"c1"}`)
		}
	})
	var logs strings.Builder
	var logMu sync.Mutex
	takeLogs := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		s := logs.String()
		logs.Reset()
		return stripLogTimes(s)
	}
	// broken answers for some paths without asking the server.
	broken := func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			switch r.URL.Path {
			case "/tls":
				return nil, tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake", RecordHeader: [5]byte{'H', 'T', 'T', 'P', '/'}}
			case "/tlsother":
				return nil, tls.RecordHeaderError{Msg: "unsupported SSLv2 handshake received", RecordHeader: [5]byte{0x80, 1, 2, 3, 4}}
			case "/down":
				return nil, errors.New("connection went away")
			case "/nothing":
				return nil, nil
			case "/both":
				return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, errors.New("and an error")
			}
			return next.RoundTrip(r)
		})
	}
	opts := []Option{WithAPIKey("DIRECT-KEY-1"), WithMiddleware(broken), WithLogger(newTestLogger(&logs, &logMu))}
	direct := newTestClient(t, Komga, srv.URL, opts...)
	viaDo := newTestClient(t, Komga, srv.URL, opts...)
	viaDo.viaClientDo = true
	directNoRetry := newTestClient(t, Komga, srv.URL, append(opts, WithMaxRetries(0))...)
	viaDoNoRetry := newTestClient(t, Komga, srv.URL, append(opts, WithMaxRetries(0))...)
	viaDoNoRetry.viaClientDo = true

	type result struct {
		Seen     []string
		Out      map[string]string
		Err      string
		Kinds    []bool
		Status   int
		Location string
		Logs     string
	}
	run := func(c *Client, method, path string, in any, opts ...CallOption) result {
		var out map[string]string
		var meta Meta
		err := c.Do(t.Context(), method, path, in, &out, append(opts, ResponseMeta(&meta))...)
		var kinds []bool
		for _, k := range []error{ErrRedirect, ErrUnauthorized, ErrUnexpectedServer, http.ErrSchemeMismatch} {
			kinds = append(kinds, errors.Is(err, k))
		}
		var te *TransportError
		kinds = append(kinds, errors.As(err, &te))
		return result{Seen: takeSeen(), Out: out, Err: fmt.Sprint(err), Kinds: kinds, Status: meta.StatusCode,
			Location: meta.Header.Get("Location"), Logs: takeLogs()}
	}
	paths := []string{"ok?x=1", "bad", "found", "moved", "seeother", "noloc", "temp", "perm", "multiple", "badloc", "badloc307",
		"away", "login", "tls", "tlsother", "down", "nothing", "both"}
	for _, path := range paths {
		for _, tc := range []struct {
			name          string
			direct, viaDo *Client
			method        string
			in            any
			opts          []CallOption
		}{
			{"POST []byte", direct, viaDo, http.MethodPost, []byte(`{"name":"a"}`), nil},
			{"POST none", direct, viaDo, http.MethodPost, nil, nil},
			{"PATCH JSON", direct, viaDo, http.MethodPatch, map[string]string{"name": "b"}, nil},
			{"DELETE WithMaxRetries(0)", directNoRetry, viaDoNoRetry, http.MethodDelete, nil, nil},
			{"GET NoRedirect WithMaxRetries(0)", directNoRetry, viaDoNoRetry, http.MethodGet, nil, []CallOption{NoRedirect()}},
			{"GET WithMaxRetries(0)", directNoRetry, viaDoNoRetry, http.MethodGet, nil, nil},
		} {
			want := run(tc.viaDo, tc.method, path, tc.in, tc.opts...)
			got := run(tc.direct, tc.method, path, tc.in, tc.opts...)
			assert.Equal(t, want, got, "%s %s: directly and through http.Client.Do", tc.name, path)
		}
	}
}

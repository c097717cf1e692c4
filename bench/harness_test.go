package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/selfhost-sdk/authclient"
)

// Modes: where the answers come from.
const (
	inmem    = "inmem"    // an in-memory RoundTripper: client CPU and allocations only
	loopback = "loopback" // an httptest server on 127.0.0.1: real sockets, dials counted
)

// inmemBase is the base URL in inmem mode; nothing is ever dialled.
const inmemBase = "http://komga.invalid:25600/"

// tunedTransport is the transport every contestant gets in loopback mode,
// a fresh one per sub-benchmark: HTTP/1.1 keep-alive with a pool large
// enough for the parallel benchmark, so that every dial is a client's doing.
func tunedTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// seen is what the server saw of one request (for TestContestantsAgree).
type seen struct {
	method, path, query    string
	apiKey, cookie, accept string
	authorization          string
	contentType            string
	bodyLen                int64
	body                   []byte // the request body, kept while inspecting
}

// fixture is one server (real or in-memory) answering with canned bytes,
// and the transport the contestants use to reach it.
type fixture struct {
	mode    string
	baseURL string
	tr      http.RoundTripper
	srv     *httptest.Server // loopback only

	respond func(n int64) *canned // n counts the requests, from 0
	reqs    atomic.Int64
	dials   atomic.Int64 // connections accepted (http.StateNew)

	mu      sync.Mutex
	inspect bool
	log     []seen

	closeIdle func() // a client's own pool, closed with the fixture (sdk-owned)
	closeOnce sync.Once
}

// newFixture starts a fixture; it is closed by f.close or at the end of the
// test or benchmark.
func newFixture(tb testing.TB, mode string, respond func(n int64) *canned) *fixture {
	tb.Helper()
	f := &fixture{mode: mode, respond: respond}
	switch mode {
	case inmem:
		f.baseURL = inmemBase
		f.tr = stubTransport{f}
	case loopback:
		srv := httptest.NewUnstartedServer(f)
		srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				f.dials.Add(1)
				if err := fixBuffers(c); err != nil {
					c.Close() // the client's call fails, and says so
				}
			}
		}
		srv.Start()
		f.srv = srv
		f.baseURL = srv.URL + "/"
		f.tr = fixedBufferTransport()
	default:
		tb.Fatalf("unknown mode %q", mode)
	}
	tb.Cleanup(f.close)
	return f
}

// fixedBufferTransport is tunedTransport whose connections get fixed
// socket buffers (fixBuffers); the loopback fixtures' servers fix theirs.
func fixedBufferTransport() *http.Transport {
	tr := tunedTransport()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := fixBuffers(c); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	return tr
}

// fixBuffers gives a loopback connection socket buffers of a fixed size,
// on both ends. Left to the kernel, each connection's buffers grow with
// what it has carried, so two connections that do the same work settle at
// different sizes and cost different CPU: a 1 MiB POST cost one raw
// contestant 2.1× what it cost another on its own connection. With the
// sizes fixed, a second raw is within a few hundredths of the first.
func fixBuffers(c net.Conn) error {
	const size = 256 << 10
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	if err := tc.SetReadBuffer(size); err != nil {
		return err
	}
	return tc.SetWriteBuffer(size)
}

// close closes the client side's idle connections, then the server.
func (f *fixture) close() {
	f.closeOnce.Do(func() {
		if ci, ok := f.tr.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
		}
		if f.closeIdle != nil {
			f.closeIdle()
		}
		if f.srv != nil {
			f.srv.Close()
		}
	})
}

func (f *fixture) startInspecting() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inspect = true
}

func (f *fixture) seenLog() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.log...)
}

// consume reads the request body to the end (keeping a copy while
// inspecting) and records the request.
func (f *fixture) consume(req *http.Request, body io.Reader) {
	f.mu.Lock()
	inspect := f.inspect
	f.mu.Unlock()
	var n int64
	var data []byte
	switch {
	case body == nil:
	case inspect:
		data, _ = io.ReadAll(body)
		n = int64(len(data))
	default:
		n, _ = io.Copy(io.Discard, body)
	}
	if inspect {
		f.record(req, n, data)
	}
}

func (f *fixture) record(req *http.Request, bodyLen int64, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, seen{
		method: req.Method, path: req.URL.Path, query: req.URL.RawQuery,
		apiKey: req.Header.Get("X-Api-Key"), cookie: req.Header.Get("Cookie"), accept: req.Header.Get("Accept"),
		authorization: req.Header.Get("Authorization"),
		contentType:   req.Header.Get("Content-Type"), bodyLen: bodyLen, body: body,
	})
}

// ServeHTTP is the loopback handler: it reads the request body, then writes
// the canned answer.
func (f *fixture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.consume(r, r.Body)
	c := f.respond(f.reqs.Add(1) - 1)
	h := w.Header()
	for k, v := range c.header {
		h[k] = v
	}
	w.WriteHeader(c.status)
	if !c.chunked {
		_, _ = w.Write(c.body)
		return
	}
	fl := w.(http.Flusher)
	for b := c.body; len(b) > 0; {
		k := min(len(b), 8<<10)
		_, _ = w.Write(b[:k])
		fl.Flush() // forces Transfer-Encoding: chunked
		b = b[k:]
	}
	if c.holdEnd > 0 {
		// The terminating chunk goes out when the handler returns: after
		// holdEnd, or never if the client hangs up first.
		t := time.NewTimer(c.holdEnd)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
}

// stubTransport is the inmem RoundTripper: it consumes and closes the
// request body as a real transport does, and returns the canned answer with
// a fresh body reader.
type stubTransport struct{ f *fixture }

func (s stubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		s.f.consume(req, req.Body)
		_ = req.Body.Close()
	} else {
		s.f.consume(req, nil)
	}
	c := s.f.respond(s.f.reqs.Add(1) - 1)
	return &http.Response{
		Status:        strconv.Itoa(c.status) + " " + http.StatusText(c.status),
		StatusCode:    c.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        c.header,
		Body:          io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)),
		Request:       req,
	}, nil
}

// client is what a scenario needs from a contestant.
type client interface {
	Get(ctx context.Context, path string, out any) error
	GetQuery(ctx context.Context, path string, q SeriesQuery, out any) error
	PostJSON(ctx context.Context, path string, in, out any) error
	PostBytes(ctx context.Context, path string, in []byte, out any) error
	IsUnauthorized(err error) bool
	// ErrorStatus is the status of the contestant's own typed error, 0
	// for any other error.
	ErrorStatus(err error) int
}

// contestant builds one client for a fixture.
type contestant struct {
	name         string
	retries      bool // false: cannot run a scenario whose every call needs a retry
	loopbackOnly bool // needs a real server (a control only)
	new          func(tb testing.TB, f *fixture, sc *scenario) client
}

// maxRetries is the retry budget of every contestant that retries (the
// SDK's default).
const maxRetries = authclient.DefaultMaxRetries

var contestants = []contestant{
	{name: "raw", retries: true, new: func(_ testing.TB, f *fixture, _ *scenario) client {
		return &rawClient{hc: &http.Client{Transport: f.tr}, base: f.baseURL}
	}},
	{name: "sdk", retries: true, new: func(tb testing.TB, f *fixture, sc *scenario) client {
		return newSDK(tb, f, sc, authclient.WithAPIKey(apiKey))
	}},
	{name: "sdk-noretry", new: func(tb testing.TB, f *fixture, sc *scenario) client {
		return newSDK(tb, f, sc, authclient.WithAPIKey(apiKey), authclient.WithMaxRetries(0))
	}},
	// sdk-notimer is sdk with WithTimeout(0): no timer on the attempt's
	// context. That is the path of every attempt on the transport the SDK
	// builds itself, which bounds attempts with its own timeouts (see
	// sdkOwned), so in memory it shows the SDK's price on its own
	// transport; sdk minus sdk-notimer is the per-attempt timer a
	// transport the caller brings needs.
	{name: "sdk-notimer", retries: true, new: func(tb testing.TB, f *fixture, sc *scenario) client {
		return newSDK(tb, f, sc, authclient.WithAPIKey(apiKey), authclient.WithTimeout(0))
	}},
	{name: "sdk-session", retries: true, new: func(tb testing.TB, f *fixture, sc *scenario) client {
		return newSDK(tb, f, sc, authclient.WithAuthenticator(authclient.SessionCookie(authclient.Komga, sessionValue)))
	}},
	{name: "retryablehttp", retries: true, new: func(_ testing.TB, f *fixture, _ *scenario) client {
		return &rhClient{rc: &retryablehttp.Client{
			HTTPClient:   &http.Client{Transport: f.tr},
			RetryMax:     maxRetries,
			RetryWaitMin: 0,
			RetryWaitMax: 0,
			CheckRetry:   retryablehttp.DefaultRetryPolicy,
			Backoff:      retryablehttp.DefaultBackoff,
			ErrorHandler: retryablehttp.PassthroughErrorHandler,
			Logger:       nil,
		}, base: f.baseURL}
	}},
}

func contestantNamed(tb testing.TB, name string) contestant {
	for _, c := range contestants {
		if c.name == name {
			return c
		}
	}
	tb.Fatalf("no contestant %q", name)
	return contestant{}
}

// --- the SDK -------------------------------------------------------------

// sdkOwned is the SDK on the transport it builds itself (no WithHTTPClient),
// which bounds each attempt with its own timeouts instead of a timer on the
// attempt's context: a loopback control of the scenarios whose price that
// decides (the sdk contestant brings the fixture's transport, like raw).
var sdkOwned = contestant{name: "sdk-owned", retries: true, loopbackOnly: true,
	new: func(tb testing.TB, f *fixture, sc *scenario) client {
		tb.Helper()
		opts := []authclient.Option{authclient.WithAPIKey(apiKey)}
		if sc != nil && sc.retry {
			opts = append(opts, authclient.WithRetryWait(0, 0))
		}
		c, err := authclient.New(authclient.Komga, f.baseURL, opts...)
		if err != nil {
			tb.Fatalf("authclient.New: %v", err)
		}
		f.closeIdle = c.CloseIdleConnections
		return sdkClient{c}
	}}

type sdkClient struct{ c *authclient.Client }

func newSDK(tb testing.TB, f *fixture, sc *scenario, opts ...authclient.Option) client {
	tb.Helper()
	opts = append(opts, authclient.WithHTTPClient(&http.Client{Transport: f.tr}))
	if sc != nil && sc.retry {
		opts = append(opts, authclient.WithRetryWait(0, 0))
	}
	c, err := authclient.New(authclient.Komga, f.baseURL, opts...)
	if err != nil {
		tb.Fatalf("authclient.New: %v", err)
	}
	return sdkClient{c}
}

func (s sdkClient) Get(ctx context.Context, path string, out any) error {
	return s.c.Do(ctx, http.MethodGet, path, nil, out)
}

func (s sdkClient) GetQuery(ctx context.Context, path string, q SeriesQuery, out any) error {
	return s.c.Do(ctx, http.MethodGet, path, nil, out, authclient.Query(q))
}

func (s sdkClient) PostJSON(ctx context.Context, path string, in, out any) error {
	return s.c.Do(ctx, http.MethodPost, path, in, out)
}

func (s sdkClient) PostBytes(ctx context.Context, path string, in []byte, out any) error {
	return s.c.Do(ctx, http.MethodPost, path, in, out)
}

func (s sdkClient) IsUnauthorized(err error) bool { return errors.Is(err, authclient.ErrUnauthorized) }

func (s sdkClient) ErrorStatus(err error) int {
	var e *authclient.Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// --- raw net/http, written as well as possible ---------------------------

type rawClient struct {
	hc      *http.Client
	base    string
	noDrain bool // the classic mistake, for the chunked control in the gates only
	// noKeyHeader: the credential comes from the transport (oauth2).
	noKeyHeader bool
}

func (c *rawClient) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, c.base+path, nil, out)
}

func (c *rawClient) GetQuery(ctx context.Context, path string, q SeriesQuery, out any) error {
	return c.do(ctx, http.MethodGet, c.base+path+"?"+handQuery(q), nil, out)
}

// handQuery encodes q by hand, as a careful caller without go-querystring
// would.
func handQuery(q SeriesQuery) string {
	v := make(url.Values, 4)
	if q.LibraryID != "" {
		v["library_id"] = []string{q.LibraryID}
	}
	if q.Search != "" {
		v["search"] = []string{q.Search}
	}
	v["page"] = []string{strconv.Itoa(q.Page)}
	v["size"] = []string{strconv.Itoa(q.Size)}
	return v.Encode()
}

func (c *rawClient) PostJSON(ctx context.Context, path string, in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, c.base+path, data, out)
}

func (c *rawClient) PostBytes(ctx context.Context, path string, in []byte, out any) error {
	return c.do(ctx, http.MethodPost, c.base+path, in, out)
}

func (c *rawClient) IsUnauthorized(err error) bool { return isAPIError(err, http.StatusUnauthorized) }

func (c *rawClient) ErrorStatus(err error) int { return apiErrorStatus(err) }

func (c *rawClient) do(ctx context.Context, method, u string, body []byte, out any) error {
	for attempt := 0; ; attempt++ {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, r)
		if err != nil {
			return err
		}
		if !c.noKeyHeader {
			req.Header.Set("X-Api-Key", apiKey)
		}
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return err
		}
		if method == http.MethodGet && attempt < maxRetries && retryableStatus(resp.StatusCode) {
			wait := retryAfter(resp.Header.Get("Retry-After"))
			drainClose(resp.Body)
			if err := sleepCtx(ctx, wait); err != nil {
				return err
			}
			continue
		}
		return finish(method, u, resp, out, c.noDrain)
	}
}

// --- go-retryablehttp's Client.Do, directly ------------------------------

type rhClient struct {
	rc   *retryablehttp.Client
	base string
}

func (c *rhClient) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, c.base+path, nil, out)
}

func (c *rhClient) GetQuery(ctx context.Context, path string, q SeriesQuery, out any) error {
	return c.do(ctx, http.MethodGet, c.base+path+"?"+handQuery(q), nil, out)
}

func (c *rhClient) PostJSON(ctx context.Context, path string, in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, c.base+path, data, out)
}

func (c *rhClient) PostBytes(ctx context.Context, path string, in []byte, out any) error {
	return c.do(ctx, http.MethodPost, c.base+path, in, out)
}

func (c *rhClient) IsUnauthorized(err error) bool { return isAPIError(err, http.StatusUnauthorized) }

func (c *rhClient) ErrorStatus(err error) int { return apiErrorStatus(err) }

func (c *rhClient) do(ctx context.Context, method, u string, body []byte, out any) error {
	var raw any // an untyped nil, not a nil []byte, for a request without a body
	if body != nil {
		raw = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u, raw)
	if err != nil {
		return err
	}
	req.Header.Set("X-Api-Key", apiKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.rc.Do(req)
	if err != nil {
		return err
	}
	return finish(method, u, resp, out, false)
}

// --- shared by raw and retryablehttp -------------------------------------

// apiError is the typed error the hand-written clients build.
type apiError struct {
	Method, URL string
	StatusCode  int
	Message     string
	Body        []byte
}

func (e *apiError) Error() string {
	return e.Method + " " + e.URL + ": " + strconv.Itoa(e.StatusCode) + " " + e.Message
}

func isAPIError(err error, status int) bool { return apiErrorStatus(err) == status }

// apiErrorStatus is the status of an *apiError in err's chain, 0 if none.
func apiErrorStatus(err error) int {
	var e *apiError
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// finish checks the status, decodes a success into out and turns a failure
// into an *apiError; the body is always drained (up to 64 KiB) and closed so
// the connection can be reused.
func finish(method, u string, resp *http.Response, out any, noDrain bool) error {
	if noDrain {
		defer resp.Body.Close()
	} else {
		defer drainClose(resp.Body)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		e := &apiError{Method: method, URL: u, StatusCode: resp.StatusCode, Body: data}
		var eb struct {
			Message string `json:"message"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil {
			e.Message = eb.Message
			if e.Message == "" {
				e.Message = eb.Error
			}
		}
		return e
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter reads a delta-seconds Retry-After (enough for the fixture).
func retryAfter(v string) time.Duration {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// checkGoroutines fails tb if more goroutines run than before the fixture
// was started, after giving exiting ones a bounded time to finish.
func checkGoroutines(tb testing.TB, before int) {
	tb.Helper()
	n := runtime.NumGoroutine()
	for i := 0; i < 500 && n > before; i++ {
		time.Sleep(time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > before {
		tb.Errorf("goroutines grew from %d to %d after closing idle connections and the server: leaked response bodies or connections?", before, n)
	}
}

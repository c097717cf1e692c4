package authclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient/authtest"
)

const rtKey = "rt-secret-key-0123456789"

// recordingServer is an httptest server that records every request's
// path and credential headers.
type recordingServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD path | X-API-Key | Authorization"
}

func newRecordingServer(t *testing.T, h http.HandlerFunc) *recordingServer {
	t.Helper()
	rs := &recordingServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.seen = append(rs.seen, r.Method+" "+r.URL.EscapedPath()+" | "+r.Header.Get("X-API-Key")+" | "+r.Header.Get("Authorization"))
		rs.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *recordingServer) requests() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.seen...)
}

// TestHTTPClientGeneratedClientStyle: a request built by another library
// (http.NewRequest on the base URL, as a generated OpenAPI client does)
// carries the client's credential; the caller's request is not modified,
// and the response's Request is the caller's, without the credential.
func TestHTTPClientGeneratedClientStyle(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	t.Cleanup(k.Close)
	k.AddUser("admin@example.org", "pw", "ADMIN")
	key := k.AddAPIKey("admin@example.org", "gen")
	c := newTestClient(t, Komga, k.URL, WithAPIKey(key))

	hc := c.HTTPClient()
	assert.Zero(t, hc.Timeout, "a Timeout would cut long-lived bodies and websockets")
	req, err := http.NewRequest("GET", c.BaseURL()+"api/v2/users/me", nil)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode, string(body))
	assert.Contains(t, string(body), "admin@example.org")
	assert.Empty(t, req.Header.Get("X-API-Key"), "the caller's request is cloned, never modified")
	assert.Same(t, req, resp.Request)
	assert.Equal(t, key, k.LastHeader("GET", "/api/v2/users/me").Get("X-API-Key"))
	assert.Equal(t, DefaultUserAgent, k.LastHeader("GET", "/api/v2/users/me").Get("User-Agent"))
}

// TestTransportRefusesRequestsOffTheBase: the class "a request the
// credential must not go with" — another origin (host, port, scheme, a Host
// field naming another host), an opaque URL, a path outside the base path
// in any encoding a proxy may decode — is refused before any credential is
// added: an error, a *TransportError without the key, nothing sent to
// either server. Through Transport().RoundTrip and HTTPClient().Do.
func TestTransportRefusesRequestsOffTheBase(t *testing.T) {
	t.Parallel()
	srv := newRecordingServer(t, nil)
	other := newRecordingServer(t, nil)
	c := newTestClient(t, Komga, srv.URL+"/komga/", WithAPIKey(rtKey))
	host := strings.TrimPrefix(srv.URL, "http://")

	cases := []struct {
		name, url string
		host      string // the request's Host field, if set
		opaque    string
		path      bool // refused as a path: wraps ErrInvalidPath
	}{
		{name: "other origin", url: other.URL + "/komga/api/v2/users/me"},
		{name: "other port", url: "http://" + strings.Split(host, ":")[0] + ":1/komga/x"},
		{name: "https on the same host and port", url: "https://" + host + "/komga/x"},
		{name: "localhost for 127.0.0.1", url: "http://localhost:" + strings.Split(host, ":")[1] + "/komga/x"},
		{name: "Host field names another host", url: srv.URL + "/komga/x", host: "other-app.example"},
		{name: "opaque URL", url: srv.URL + "/komga/x", opaque: "//" + host + "/other-app/x"},
		{name: "other app", url: srv.URL + "/other-app/x", path: true},
		{name: "base without its slash", url: srv.URL + "/komga", path: true},
		{name: "root", url: srv.URL + "/", path: true},
		{name: "dot dot", url: srv.URL + "/komga/../other-app/x", path: true},
		{name: "encoded dot dot", url: srv.URL + "/komga/%2e%2e/other-app/x", path: true},
		{name: "upper-case encoded dot dot", url: srv.URL + "/komga/%2E%2E/other-app/x", path: true},
		{name: "double-encoded dot dot", url: srv.URL + "/komga/%252e%252e/other-app/x", path: true},
		{name: "dot dot with encoded slash", url: srv.URL + "/komga/..%2fother-app/x", path: true},
		{name: "dot dot with encoded backslash", url: srv.URL + "/komga/..%5cother-app/x", path: true},
		{name: "dot dot with a path parameter", url: srv.URL + "/komga/..;/other-app/x", path: true},
		{name: "single dot", url: srv.URL + "/komga/./x", path: true},
		{name: "encoded control character", url: srv.URL + "/komga/a%0d%0ab", path: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, via := range []string{"Transport", "HTTPClient"} {
				req, err := http.NewRequest("GET", tc.url, nil)
				require.NoError(t, err)
				if tc.host != "" {
					req.Host = tc.host
				}
				if tc.opaque != "" {
					req.URL.Opaque = tc.opaque
				}
				var resp *http.Response
				if via == "Transport" {
					resp, err = c.Transport().RoundTrip(req)
				} else {
					resp, err = c.HTTPClient().Do(req)
				}
				if resp != nil {
					resp.Body.Close()
				}
				require.Error(t, err, via)
				var te *TransportError
				require.ErrorAs(t, err, &te, via)
				assert.Equal(t, tc.path, errors.Is(err, ErrInvalidPath), "%s: %v", via, err)
				assert.NotContains(t, err.Error(), rtKey)
				assert.NotContains(t, fmt.Sprintf("%#v", err), rtKey)
			}
		})
	}
	assert.Empty(t, srv.requests(), "nothing is sent to the configured server")
	assert.Empty(t, other.requests(), "nothing is sent to the other origin")
}

// TestTransportRefusedBodyIsClosed: a refused request's body is closed, as
// the RoundTripper contract asks.
func TestTransportRefusedBodyIsClosed(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, Komga, "http://127.0.0.1:1/komga/", WithAPIKey(rtKey))
	var closed atomic.Int64
	body := closeCounter{ReadCloser: io.NopCloser(strings.NewReader("x")), n: &closed}
	req, err := http.NewRequest("POST", "http://127.0.0.1:1/other/", body)
	require.NoError(t, err)
	_, err = c.Transport().RoundTrip(req)
	require.Error(t, err)
	assert.Equal(t, int64(1), closed.Load())
	_, err = c.Transport().RoundTrip(nil)
	require.Error(t, err)
}

// TestHTTPClientRedirectsNeverCarryTheCredentialAway: the class "a
// redirect out of the origin or the base path" is not followed (the 3xx is
// the answer) and the target sees nothing, however the Location spells it;
// one under the base path is followed and carries the credential. With a
// plain http.Client around Transport (net/http's default redirect policy)
// the request to another origin fails and is not sent either.
func TestHTTPClientRedirectsNeverCarryTheCredentialAway(t *testing.T) {
	t.Parallel()
	other := newRecordingServer(t, nil)
	var srv *recordingServer
	srv = newRecordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch loc := r.URL.Query().Get("to"); {
		case loc != "":
			w.Header().Set("Location", strings.ReplaceAll(loc, "SELF", srv.URL))
			w.WriteHeader(http.StatusFound)
		default:
			w.Write([]byte("ok"))
		}
	})
	c := newTestClient(t, Komga, srv.URL+"/komga/", WithAPIKey(rtKey))

	away := []string{
		other.URL + "/komga/target",
		"//" + strings.TrimPrefix(other.URL, "http://") + "/komga/target",
		"https://" + strings.TrimPrefix(srv.URL, "http://") + "/komga/target",
		"SELF/other-app/target",
		"/other-app/target",
		"/komga/%2e%2e/other-app/target",
		"/komga/..%2fother-app/target",
		"/komga/%252e%252e/target",
		"/login",                         // the sign-in page
		"/komga/target?api_key=" + rtKey, // a URL holding the credential
	}
	for _, loc := range away {
		t.Run(loc, func(t *testing.T) {
			before := len(srv.requests())
			req, err := http.NewRequest("GET", srv.URL+"/komga/start?to="+urlQueryEscape(loc), nil)
			require.NoError(t, err)
			resp, err := c.HTTPClient().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusFound, resp.StatusCode, "not followed")
			assert.Len(t, srv.requests(), before+1)

			plain := &http.Client{Transport: c.Transport()}
			req, _ = http.NewRequest("GET", srv.URL+"/komga/start?to="+urlQueryEscape(loc), nil)
			if resp, err := plain.Do(req); err == nil {
				resp.Body.Close()
			} else {
				assert.NotContains(t, err.Error(), rtKey)
			}
		})
	}
	assert.Empty(t, other.requests(), "the other origin saw nothing")
	for _, r := range srv.requests() {
		assert.False(t, strings.Contains(r, "other-app") || strings.Contains(r, "/login") || strings.Contains(r, "%2e") || strings.Contains(r, "%25"),
			"a redirect out of the base was sent: %s", r)
	}

	// Positive control: a GET redirected under the base is followed, and
	// the credential is added again for the new request.
	req, _ := http.NewRequest("GET", srv.URL+"/komga/start?to="+urlQueryEscape("/komga/target"), nil)
	resp, err := c.HTTPClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	seen := srv.requests()
	assert.Equal(t, "GET /komga/target | "+rtKey+" | ", seen[len(seen)-1])

	// A POST is not redirected: it would become a GET of another page.
	req, _ = http.NewRequest("POST", srv.URL+"/komga/start?to="+urlQueryEscape("/komga/target"), strings.NewReader("x"))
	resp, err = c.HTTPClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
}

func urlQueryEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "?", "%3F", "=", "%3D", "#", "%23", "+", "%2B", ";", "%3B")
	return r.Replace(s)
}

// TestHTTPClientErrorsMaskTheCredential: errors of the transport (no
// answer, an unparseable Location that echoes the key) never show a
// credential, in the client's own error or in net/http's around it.
func TestHTTPClientErrorsMaskTheCredential(t *testing.T) {
	t.Parallel()
	srv := newRecordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Location"] = []string{"http://[::1/next?token=" + r.URL.Query().Get("api_key")}
		w.WriteHeader(http.StatusFound)
	})
	c := newTestClient(t, ComfyUI, srv.URL+"/app/", WithAuthenticator(APIKeyIn(InQuery("api_key"), rtKey)))
	resp, err := c.HTTPClient().Get(srv.URL + "/app/prompt")
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err, "net/http fails on the Location")
	assert.NotContains(t, err.Error(), rtKey)
	assert.Len(t, srv.requests(), 1)

	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c = newTestClient(t, ComfyUI, dead.URL+"/app/", WithAuthenticator(APIKeyIn(InQuery("api_key"), rtKey)))
	resp, err = c.HTTPClient().Get(dead.URL + "/app/prompt")
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.NotContains(t, err.Error(), rtKey)
	assert.NotContains(t, fmt.Sprintf("%+v", err), rtKey)
}

// TestTransportRenewsExpiredSession: with a password sign-in, a request
// through the transport after the server dropped every session (a 401) is
// answered after one sign-in again and a replay, GET and a POST whose body
// http.NewRequest made replayable alike; a body that cannot be replayed
// gets the 401 as it is, and no sign-in.
func TestTransportRenewsExpiredSession(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	t.Cleanup(k.Close)
	k.AddUser("admin@example.org", "pw", "ADMIN")
	c := newTestClient(t, Komga, k.URL, WithLogin("admin@example.org", "pw"))
	hc := c.HTTPClient()

	get := func() int {
		resp, err := hc.Get(c.BaseURL() + "api/v2/users/me")
		require.NoError(t, err)
		drainClose(resp.Body)
		return resp.StatusCode
	}
	require.Equal(t, 200, get())
	require.Equal(t, 1, k.Logins())
	k.ExpireSessions()
	require.Equal(t, 200, get(), "renewed and replayed")
	assert.Equal(t, 2, k.Logins())

	k.ExpireSessions()
	resp, err := hc.Post(c.BaseURL()+"api/v2/users/me/api-keys", "application/json", strings.NewReader(`{"comment":"replayed"}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(body))
	assert.Contains(t, string(body), "replayed", "the body was sent again in full")
	assert.Equal(t, 3, k.Logins())

	k.ExpireSessions()
	stream := io.NopCloser(strings.NewReader(`{"comment":"stream"}`)) // no GetBody
	req, _ := http.NewRequest("POST", c.BaseURL()+"api/v2/users/me/api-keys", stream)
	req.Header.Set("Content-Type", "application/json")
	resp, err = hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a RoundTripper returns the answer, not an error")
	assert.Equal(t, 3, k.Logins(), "no sign-in for a request that cannot be replayed")
}

// renewingAuth is a custom Authenticator and Reauthenticator: it sends
// "old" until renewed, then "new".
type renewingAuth struct {
	renewed atomic.Int64
}

func (a *renewingAuth) Authenticate(req *http.Request) error {
	tok := "old-token-abcdef"
	if a.renewed.Load() > 0 {
		tok = "new-token-abcdef"
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

func (a *renewingAuth) Reauthenticate(context.Context, *http.Request) error {
	a.renewed.Add(1)
	return nil
}

// TestTransportRenewsOnTheServersRejections: the class "an answer in
// ErrUnauthorized's category for the server" — Komga's 401, Khoj's 403 and
// its 303 to the sign-in page, at the root or under the base — renews once
// and replays; answers outside it (Komga's 403, a 500, a redirect to
// another page) are returned as they are without a renewal. A replay
// rejected again is returned too: one renewal per request.
func TestTransportRenewsOnTheServersRejections(t *testing.T) {
	t.Parallel()
	cases := []struct {
		server   Server
		status   int
		location string
		renews   bool
	}{
		{Komga, 401, "", true},
		{Audiobookshelf, 401, "", true},
		{Khoj, 403, "", true},
		{Khoj, 401, "", true},
		{Khoj, 303, "/login?next=/app/api/chat", true},
		{Khoj, 303, "/app/login", true},
		{Komga, 403, "", false},
		{Komga, 500, "", false},
		{Khoj, 303, "/app/elsewhere", false},
		{Khoj, 429, "", false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %d %s", tc.server, tc.status, tc.location), func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.Header.Get("Authorization") == "Bearer new-token-abcdef" {
					w.Write([]byte(`{}`))
					return
				}
				if tc.location != "" {
					w.Header().Set("Location", tc.location)
				}
				w.WriteHeader(tc.status)
			}))
			t.Cleanup(srv.Close)
			a := &renewingAuth{}
			c := newTestClient(t, tc.server, srv.URL+"/app/", WithAuthenticator(a))
			// Transport alone: HTTPClient would follow a redirect to
			// another page under the base.
			resp, err := c.Transport().RoundTrip(mustRequest(t, "GET", srv.URL+"/app/api/chat"))
			require.NoError(t, err)
			resp.Body.Close()
			if tc.renews {
				assert.Equal(t, 200, resp.StatusCode)
				assert.Equal(t, int64(1), a.renewed.Load())
				assert.Equal(t, int64(2), hits.Load())
			} else {
				assert.Equal(t, tc.status, resp.StatusCode)
				assert.Zero(t, a.renewed.Load())
				assert.Equal(t, int64(1), hits.Load())
			}
		})
	}

	t.Run("rejected again", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.WriteHeader(401)
		}))
		t.Cleanup(srv.Close)
		a := &renewingAuth{}
		c := newTestClient(t, Komga, srv.URL+"/app/", WithAuthenticator(a))
		resp, err := c.Transport().RoundTrip(mustRequest(t, "GET", srv.URL+"/app/x"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 401, resp.StatusCode)
		assert.Equal(t, int64(1), a.renewed.Load())
		assert.Equal(t, int64(2), hits.Load())
	})
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	require.NoError(t, err)
	return req
}

// wsServer serves a websocket echo at <prefix>ws that demands the key on
// the upgrade request, and records every request's Authorization header.
func wsServer(t *testing.T, prefix string) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" | "+r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case prefix + "moved":
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusTemporaryRedirect)
			return
		case prefix + "ws":
		default:
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+rtKey {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		for {
			typ, msg, err := conn.Read(r.Context())
			if err != nil {
				return
			}
			if err := conn.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// TestWebsocketThroughHTTPClient: a websocket handshake dialled with
// HTTPClient carries the key to the configured origin under its base path,
// and the connection works past the per-attempt timeout (its timer stops
// once the 101 headers arrive, and the 101 body keeps its Write); a dial to
// another origin, directly or through a redirect, fails and the other
// server sees no credential.
func TestWebsocketThroughHTTPClient(t *testing.T) {
	t.Parallel()
	srv, _ := wsServer(t, "/app/")
	other, otherSeen := wsServer(t, "/app/")
	c := newTestClient(t, ComfyUI, srv.URL+"/app/", WithAPIKey(rtKey), WithTimeout(time.Hour))
	timers := withManualTimers(c)

	ctx := t.Context()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/app/ws", &websocket.DialOptions{HTTPClient: c.HTTPClient()})
	require.NoError(t, err)
	defer conn.CloseNow()
	assert.Zero(t, timers.fire(), "the per-attempt timer stopped when the headers arrived")
	for _, msg := range []string{"one", "two"} {
		require.NoError(t, conn.Write(ctx, websocket.MessageText, []byte(msg)))
		_, got, err := conn.Read(ctx)
		require.NoError(t, err)
		assert.Equal(t, "echo: "+msg, string(got))
	}
	require.NoError(t, conn.Close(websocket.StatusNormalClosure, ""))

	for _, u := range []string{
		"ws" + strings.TrimPrefix(other.URL, "http") + "/app/ws",
		"ws" + strings.TrimPrefix(srv.URL, "http") + "/app/moved?to=" + other.URL + "/app/ws",
		"ws" + strings.TrimPrefix(srv.URL, "http") + "/other/ws",
	} {
		conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.HTTPClient()})
		require.Error(t, err, u)
		if conn != nil {
			conn.CloseNow()
		}
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		assert.NotContains(t, err.Error(), rtKey)
	}
	assert.Empty(t, otherSeen(), "the other origin saw nothing")
}

// TestUpgradeBodyKeepsWrite: the class "a response body that is also a
// writer" keeps Write through the per-attempt timeout's wrapper, on the
// client's transport as on HTTPClient (a 101 body is an
// io.ReadWriteCloser); an ordinary body is not made a writer.
func TestUpgradeBodyKeepsWrite(t *testing.T) {
	t.Parallel()
	srv, _ := wsServer(t, "/app/")
	c := newTestClient(t, ComfyUI, srv.URL+"/app/", WithAPIKey(rtKey))
	req := mustRequest(t, "GET", srv.URL+"/app/ws")
	for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="} {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	_, ok := resp.Body.(io.ReadWriteCloser)
	assert.True(t, ok, "%T", resp.Body)

	resp, err = c.HTTPClient().Get(srv.URL + "/app/missing")
	require.NoError(t, err)
	defer resp.Body.Close()
	_, ok = resp.Body.(io.Writer)
	assert.False(t, ok, "%T", resp.Body)
}

// TestWithMiddleware: the layers compose in the order given (the first is
// outermost), see every attempt of Do's retries and the requests of
// HTTPClient, and a nil one, or one that returns nil, is a ConfigError.
func TestWithMiddleware(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	var order []string
	layer := func(name string) func(http.RoundTripper) http.RoundTripper {
		return func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				mu.Lock()
				order = append(order, name+" "+req.Header.Get("X-API-Key"))
				mu.Unlock()
				return next.RoundTrip(req)
			})
		}
	}
	c := newTestClient(t, Komga, srv.URL, WithAPIKey(rtKey), WithMiddleware(layer("outer")), WithMiddleware(layer("inner")))
	require.NoError(t, c.Do(t.Context(), "GET", "x", nil, nil))
	want := []string{"outer " + rtKey, "inner " + rtKey, "outer " + rtKey, "inner " + rtKey}
	assert.Equal(t, want, order, "two attempts, each through both layers, credential on")

	order = nil
	resp, err := c.HTTPClient().Get(srv.URL + "/y")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, want[:2], order)

	_, err = New(Komga, srv.URL, WithMiddleware(nil))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "WithMiddleware", ce.Setting)
	_, err = New(Komga, srv.URL, WithMiddleware(func(http.RoundTripper) http.RoundTripper { return nil }))
	require.ErrorAs(t, err, &ce)
	var nilTransport *http.Transport
	_, err = New(Komga, srv.URL, WithMiddleware(func(http.RoundTripper) http.RoundTripper { return nilTransport }))
	require.ErrorAs(t, err, &ce)
}

// TestSetAuthenticatorConcurrent: requests running while another goroutine
// swaps the authenticator each carry one of the two keys, whole (the race
// detector checks the swap), through Do and HTTPClient.
func TestSetAuthenticatorConcurrent(t *testing.T) {
	t.Parallel()
	keys := []string{"first-key-0123456789", "second-key-0123456789"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := r.Header.Get("X-API-Key"); k != keys[0] && k != keys[1] {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Komga, srv.URL, WithAPIKey(keys[0]))
	// The swapper swaps once per request started, while the other
	// goroutines' requests are in flight, rather than spinning (which would
	// starve everything else on one CPU).
	tick := make(chan struct{}, 200)
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		i := 0
		for range tick {
			i++
			assert.NoError(t, c.SetAuthenticator(APIKey(Komga, keys[i%2])))
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				tick <- struct{}{}
				assert.NoError(t, c.Do(context.Background(), "GET", "x", nil, nil))
				resp, err := c.HTTPClient().Get(srv.URL + "/x")
				if assert.NoError(t, err) {
					assert.Equal(t, 200, resp.StatusCode)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	close(tick)
	<-swapped
}

// TestSetAuthenticatorRejectsInvalid: the class "an authenticator New
// would refuse" — nil, a typed nil, an empty key, a key with CR/LF or
// control characters, a bad header name, a credential the server cannot
// read beside the client's headers — is a ConfigError that does not quote
// the key, and the client keeps sending its old key.
func TestSetAuthenticatorRejectsInvalid(t *testing.T) {
	t.Parallel()
	srv := newRecordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	})
	c := newTestClient(t, Komga, srv.URL, WithAPIKey(rtKey))
	var nilFunc AuthenticatorFunc
	var nilKey *keyAuth
	bad := map[string]Authenticator{
		"nil":           nil,
		"typed nil":     nilKey,
		"nil func":      nilFunc,
		"empty key":     APIKey(Komga, ""),
		"CRLF":          APIKey(Komga, "abc\r\nX-Evil: 1"),
		"LF":            APIKeyIn(InHeader("X-API-Key"), "abcdef\nghij"),
		"control":       APIKey(Komga, "abc\x00defgh"),
		"header name":   APIKeyIn(InHeader("X-Key: secret-value-123"), "abcdefgh"),
		"query no name": APIKeyIn(InQuery(""), "abcdefgh"),
	}
	for name, a := range bad {
		err := c.SetAuthenticator(a)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, name)
		assert.NotContains(t, err.Error(), "secret-value-123", name)
		assert.NotContains(t, err.Error(), "X-Evil", name)
	}
	require.NoError(t, c.Do(t.Context(), "GET", "x", nil, nil))
	seen := srv.requests()
	assert.Equal(t, "GET /x | "+rtKey+" | ", seen[len(seen)-1], "the old key is still in use")

	cf := newTestClient(t, ComfyUI, srv.URL, WithHeader("X-API-Key", "proxy-key-0123"))
	err := cf.SetAuthenticator(APIKey(ComfyUI, "comfy-key-0123"))
	var ce *ConfigError
	assert.ErrorAs(t, err, &ce, "the server's own check of the credential runs too")
}

// TestSetAuthenticatorMasksTheNewSecret: once set, the new key is masked in
// what a careless proxy echoes back, in every form, like a key given to
// New; so is the old one.
func TestSetAuthenticatorMasksTheNewSecret(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga()
	t.Cleanup(k.Close)
	k.AddUser("admin@example.org", "pw", "ADMIN")
	oldKey := k.AddAPIKey("admin@example.org", "old")
	newKey := k.AddAPIKey("admin@example.org", "new")
	p := authtest.NewEchoProxy(k.Server)
	t.Cleanup(p.Close)
	var logs bytes.Buffer
	c := newTestClient(t, Komga, p.URL, WithAPIKey(oldKey), WithMaxRetries(0))
	require.NoError(t, c.SetAuthenticator(APIKey(Komga, newKey)))
	for _, cs := range echoCases() {
		p.EchoOn("/echo", 0, cs.place, cs.tr)
		err := c.Do(t.Context(), "POST", "echo", nil, nil)
		p.Forward()
		require.Error(t, err)
		echoed := p.Echoed()
		require.NotEmpty(t, echoed)
		require.Equal(t, newKey, echoed[0].Header.Get("X-API-Key"), "the new key is sent")
		assertMasked(t, fmt.Sprintf("%s %s", cs.place, cs.tr), err, logs.String(), []string{newKey, oldKey})
	}
}

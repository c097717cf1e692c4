package authclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const comfyKey = "the-key"

// setupComfy starts a fake ComfyUI mounted under /comfy (as behind a
// reverse proxy); key "" runs it without the API-key patch.
func setupComfy(t *testing.T, key string) *authtest.ComfyUI {
	t.Helper()
	s := authtest.NewComfyUI(key, authtest.WithPrefix("/comfy"))
	t.Cleanup(s.Close)
	return s
}

// comfyWorkflow is ComfyUI's default text-to-image workflow in API format;
// edit changes it before it is encoded.
func comfyWorkflow(edit func(map[string]map[string]any)) json.RawMessage {
	w := map[string]map[string]any{
		"3": {"class_type": "KSampler", "inputs": map[string]any{"seed": 1, "steps": 20, "cfg": 8, "sampler_name": "euler",
			"scheduler": "normal", "denoise": 1, "model": []any{"4", 0}, "positive": []any{"6", 0},
			"negative": []any{"7", 0}, "latent_image": []any{"5", 0}}},
		"4": {"class_type": "CheckpointLoaderSimple", "inputs": map[string]any{"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
		"5": {"class_type": "EmptyLatentImage", "inputs": map[string]any{"width": 512, "height": 512, "batch_size": 1}},
		"6": {"class_type": "CLIPTextEncode", "inputs": map[string]any{"text": "a cat", "clip": []any{"4", 1}}},
		"7": {"class_type": "CLIPTextEncode", "inputs": map[string]any{"text": "blurry", "clip": []any{"4", 1}}},
		"8": {"class_type": "VAEDecode", "inputs": map[string]any{"samples": []any{"3", 0}, "vae": []any{"4", 2}}},
		"9": {"class_type": "SaveImage", "inputs": map[string]any{"filename_prefix": "ComfyUI", "images": []any{"8", 0}}},
	}
	if edit != nil {
		edit(w)
	}
	b, err := json.Marshal(w)
	if err != nil {
		panic(err)
	}
	return b
}

var uuid4Pattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// comfyRecorder is a transport that remembers the URL and headers of every
// request it carries, as they left the client.
type comfyRecorder struct {
	mu   sync.Mutex
	urls []string
	hdrs []http.Header
}

func (r *comfyRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.String())
	r.hdrs = append(r.hdrs, req.Header.Clone())
	r.mu.Unlock()
	return testTransport.RoundTrip(req)
}

func (r *comfyRecorder) all() ([]string, []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.urls...), append([]http.Header(nil), r.hdrs...)
}

// comfyQueuePrompt queues the default workflow through Do and returns the
// id the server gave it. The operation itself is comfyui.Client.QueuePrompt;
// the tests here are of the dialect, which every call shares.
func comfyQueuePrompt(ctx context.Context, c *Client) (string, error) {
	var out struct {
		PromptID string `json:"prompt_id"`
	}
	err := c.Do(ctx, "POST", "prompt", map[string]any{"prompt": comfyWorkflow(nil)}, &out)
	return out.PromptID, err
}

func comfyError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	require.ErrorAs(t, err, &e)
	return e
}

func TestComfyKeyPlacementsSendExactlyOne(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	tests := []struct {
		name              string
		opt               Option
		bearer, xKey, inQ bool
	}{
		{"default: Authorization: Bearer", WithAPIKey(comfyKey), true, false, false},
		{"X-API-Key", WithAuthenticator(APIKeyIn(InHeader("X-API-Key"), comfyKey)), false, true, false},
		{"api_key query", WithAuthenticator(APIKeyIn(InQuery("api_key"), comfyKey)), false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &comfyRecorder{}
			c := newTestClient(t, ComfyUI, s.URL, tt.opt, WithHTTPClient(&http.Client{Transport: rec}))
			require.NoError(t, c.CheckAuth(t.Context()))
			require.NoError(t, c.Do(t.Context(), "GET", "queue", nil, nil))
			urls, hdrs := rec.all()
			require.NotEmpty(t, urls)
			for i := range urls {
				auth := hdrs[i].Get("Authorization")
				assert.Equal(t, tt.bearer, auth == "Bearer "+comfyKey, "Authorization on %s", urls[i])
				if !tt.bearer {
					assert.Empty(t, auth, urls[i])
				}
				assert.Equal(t, tt.xKey, hdrs[i].Get("X-API-Key") == comfyKey, "X-API-Key on %s", urls[i])
				if !tt.xKey {
					assert.Empty(t, hdrs[i].Values("X-API-Key"), urls[i])
				}
				assert.Equal(t, tt.inQ, strings.Contains(urls[i], "api_key="+comfyKey), urls[i])
				if !tt.inQ {
					assert.NotContains(t, urls[i], "api_key", urls[i])
				}
			}
		})
	}
	// What the fake received for the Bearer default, seen from its side.
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))
	require.NoError(t, c.CheckAuth(t.Context()))
	h := s.LastHeader("GET", "/prompt")
	assert.Equal(t, []string{"Bearer " + comfyKey}, h.Values("Authorization"))
	assert.Empty(t, h.Values("X-API-Key"))
}

func TestComfyKeyInQueryIsRedacted(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	const wrong = "wrong-query-secret"
	c := newTestClient(t, ComfyUI, s.URL, WithAuthenticator(APIKeyIn(InQuery("api_key"), wrong)))
	err := c.CheckAuth(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	e := comfyError(t, err)
	assert.Contains(t, e.URL, "api_key=REDACTED")
	for _, text := range []string{err.Error(), e.URL, e.Message, e.Hint, fmt.Sprintf("%#v", err)} {
		assert.NotContains(t, text, wrong)
	}

	// A non-auth failure with the right key in the URL.
	good := newTestClient(t, ComfyUI, s.URL, WithAuthenticator(APIKeyIn(InQuery("api_key"), comfyKey)))
	err = good.Do(t.Context(), "GET", "no-such-route", nil, nil)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "api_key=REDACTED")
	assert.NotContains(t, err.Error(), comfyKey)
}

func TestComfyUnauthorized(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	const serverMsg = "Invalid or missing API key. Provide API key via 'Authorization: Bearer <key>' or 'X-API-Key: <key>' header."
	tests := []struct {
		name       string
		opt        Option
		credential string
	}{
		{"wrong key", WithAPIKey("not-the-key"), CredentialAPIKey},
		{"wrong key in X-API-Key", WithAuthenticator(APIKeyIn(InHeader("X-API-Key"), "not-the-key")), CredentialAPIKey},
		{"missing key", nil, CredentialNone},
		{"Basic is not a key", WithLogin("user", "pw"), CredentialPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, ComfyUI, s.URL, tt.opt)
			for _, err := range []error{c.CheckAuth(t.Context()), c.Do(t.Context(), "GET", "queue", nil, nil),
				func() error { _, err := comfyQueuePrompt(t.Context(), c); return err }()} {
				require.ErrorIs(t, err, ErrUnauthorized)
				e := comfyError(t, err)
				assert.Equal(t, http.StatusUnauthorized, e.StatusCode)
				assert.Equal(t, serverMsg, e.Message)
				assert.Equal(t, "Unauthorized", e.Code)
				assert.Equal(t, tt.credential, e.Credential)
				assert.NotEmpty(t, e.Hint)
				assert.NotContains(t, err.Error(), "not-the-key")
			}
		})
	}
	c := newTestClient(t, ComfyUI, s.URL)
	err := c.CheckAuth(t.Context())
	assert.Contains(t, comfyError(t, err).Hint, "COMFYUI_API_KEY")
	assert.Empty(t, s.Prompts(), "nothing was queued")
}

func TestComfyPlainModeNeedsNoKey(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, "")
	c := newTestClient(t, ComfyUI, s.URL)
	require.NoError(t, c.CheckAuth(t.Context()))
	h, err := c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "healthy", h.Status)
	id, err := comfyQueuePrompt(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, []string{id}, s.Prompts())
	// A key is harmless on a server without the patch.
	require.NoError(t, newTestClient(t, ComfyUI, s.URL, WithAPIKey("anything")).CheckAuth(t.Context()))
}

func TestComfyBehindProxy(t *testing.T) {
	t.Parallel()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("proxy-user:proxy-pw"))
	t.Run("Basic, plain ComfyUI", func(t *testing.T) {
		t.Parallel()
		s := setupComfy(t, "")
		s.RequireBasicAuth("proxy-user", "proxy-pw")
		c := newTestClient(t, ComfyUI, s.URL, WithLogin("proxy-user", "proxy-pw"))
		h, err := c.Health(t.Context())
		require.NoError(t, err, "the proxy guards /health too, so Health sends the credentials")
		assert.Equal(t, "healthy", h.Status)
		require.NoError(t, c.CheckAuth(t.Context()))
		_, err = comfyQueuePrompt(t.Context(), c)
		require.NoError(t, err)
		assert.Equal(t, basic, s.LastHeader("POST", "/prompt").Get("Authorization"))

		err = newTestClient(t, ComfyUI, s.URL, WithLogin("proxy-user", "wrong")).CheckAuth(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized)
		e := comfyError(t, err)
		assert.Equal(t, CredentialPassword, e.Credential)
		assert.Contains(t, e.Hint, "proxy")
		assert.NotContains(t, err.Error(), "wrong")

		env := fakeEnv(map[string]string{"COMFYUI_URL": s.URL, "COMFYUI_USERNAME": "proxy-user", "COMFYUI_PASSWORD_FILE": "/run/secrets/pw"})
		fc, err := newFromEnv(ComfyUI, env, fakeFiles(map[string]string{"/run/secrets/pw": "proxy-pw\n"}), fast)
		require.NoError(t, err)
		require.NoError(t, fc.CheckAuth(t.Context()))
	})
	t.Run("custom header", func(t *testing.T) {
		t.Parallel()
		s := setupComfy(t, "")
		s.RequireHeader("CF-Access-Client-Id", "svc.access")
		err := newTestClient(t, ComfyUI, s.URL).CheckAuth(t.Context())
		require.ErrorIs(t, err, ErrForbidden, "the proxy's 403 without the header")
		c := newTestClient(t, ComfyUI, s.URL, WithHeader("CF-Access-Client-Id", "svc.access"))
		require.NoError(t, c.CheckAuth(t.Context()))
		_, err = c.Health(t.Context())
		require.NoError(t, err)
	})
	t.Run("Basic proxy and the patch: key in X-API-Key", func(t *testing.T) {
		t.Parallel()
		s := setupComfy(t, comfyKey)
		s.RequireBasicAuth("proxy-user", "proxy-pw")
		for name, opts := range map[string][]Option{
			"WithLogin + X-API-Key header": {WithLogin("proxy-user", "proxy-pw"), WithHeader("X-API-Key", comfyKey)},
			"Basic header + X-API-Key key": {WithHeader("Authorization", basic), WithAuthenticator(APIKeyIn(InHeader("X-API-Key"), comfyKey))},
		} {
			c := newTestClient(t, ComfyUI, s.URL, opts...)
			require.NoError(t, c.CheckAuth(t.Context()), name)
			h := s.LastHeader("GET", "/prompt")
			assert.Equal(t, basic, h.Get("Authorization"), name)
			assert.Equal(t, comfyKey, h.Get("X-API-Key"), name)
		}
		// Basic alone passes the proxy but not the patch.
		err := newTestClient(t, ComfyUI, s.URL, WithLogin("proxy-user", "proxy-pw")).CheckAuth(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized)
		assert.Contains(t, comfyError(t, err).Hint, "X-API-Key")
	})
}

func TestComfyValidateRejectsTwoKeys(t *testing.T) {
	t.Parallel()
	const url = "http://127.0.0.1:8188/"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))
	xKey := WithAuthenticator(APIKeyIn(InHeader("X-API-Key"), comfyKey))
	inQuery := WithAuthenticator(APIKeyIn(InQuery("api_key"), comfyKey))
	bad := map[string][]Option{
		"stale Bearer header masks X-API-Key key": {WithHeader("Authorization", "Bearer stale-secret"), xKey},
		"stale Bearer header masks api_key key":   {WithHeader("Authorization", "Bearer stale-secret"), inQuery},
		"Bearer key replaces proxy Basic header":  {WithHeader("Authorization", basic), WithAPIKey(comfyKey)},
		"X-API-Key header with a Bearer key":      {WithHeader("X-API-Key", "stale-secret"), WithAPIKey(comfyKey)},
		"X-API-Key header masks api_key key":      {WithHeader("X-API-Key", "stale-secret"), inQuery},
		"X-API-Key header and X-API-Key key":      {WithHeader("x-api-key", "stale-secret"), xKey},
		"Bearer and X-API-Key headers, no key":    {WithHeader("Authorization", "Bearer a-secret"), WithHeader("X-API-Key", "stale-secret")},
		"stale Bearer header masks X-Api-Key key": {WithHeader("Authorization", "Bearer stale-secret"), WithAuthenticator(APIKeyIn(InHeader("X-Api-Key"), comfyKey))},
	}
	for name, opts := range bad {
		_, err := New(ComfyUI, url, opts...)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, name)
		assert.Equal(t, "WithHeader", ce.Setting, name)
		assert.NotContains(t, err.Error(), "stale-secret", name)
		assert.NotContains(t, err.Error(), comfyKey, name)
	}
	good := map[string][]Option{
		"Basic header + X-API-Key key": {WithHeader("Authorization", basic), xKey},
		"Bearer header alone":          {WithHeader("Authorization", "Bearer k")},
		"X-API-Key header + WithLogin": {WithHeader("X-API-Key", "k"), WithLogin("u", "p")},
		"custom proxy header + key":    {WithHeader("CF-Access-Client-Secret", "s"), WithAPIKey(comfyKey)},
		"key in a proxy's own header":  {WithHeader("Authorization", "Bearer k"), WithAuthenticator(APIKeyIn(InHeader("X-Proxy-Token"), "t"))},
	}
	for name, opts := range good {
		_, err := New(ComfyUI, url, opts...)
		require.NoError(t, err, name)
	}
	// Only ComfyUI has the rule.
	_, err := New(Komga, url, WithHeader("Authorization", "Bearer x"), WithAPIKey(comfyKey))
	require.NoError(t, err)

	// The trap it guards against, on the wire: a stale Bearer masks a good
	// X-API-Key (the fake, sent both by hand, shows it).
	s := setupComfy(t, comfyKey)
	req, err := http.NewRequestWithContext(t.Context(), "GET", s.URL+"prompt", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer stale")
	req.Header.Set("X-API-Key", comfyKey)
	resp, err := s.HTTP.Client().Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestComfyHealth(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))
	_, err := comfyQueuePrompt(t.Context(), c)
	require.NoError(t, err)

	h, err := c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "healthy", h.Status)
	assert.Equal(t, "0.3.64", h.Version)
	require.NotNil(t, h.ComfyUI)
	ts := h.ComfyUI.Timestamp
	h.ComfyUI.Timestamp = time.Time{}
	assert.Equal(t, &ComfyUIHealth{QueuePending: 1, Device: "cuda:0", VRAMTotal: 25386352640, VRAMFree: 24000000000, VRAMUsed: 1386352640}, h.ComfyUI)
	assert.WithinDuration(t, time.Now(), ts, time.Minute)

	s.SetHealthShape("guide")
	h, err = c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &Health{Status: "ok", ComfyUI: &ComfyUIHealth{QueuePending: 1, Device: "cuda:0", DeviceType: "cuda",
		VRAMTotal: 25386352640, VRAMFree: 24000000000, VRAMUsed: 1386352640}}, h, "used computed from total and free")

	s.SetCPUMode(true)
	h, err = c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &ComfyUIHealth{QueuePending: 1, Device: "cpu", DeviceType: "cpu"}, h.ComfyUI)
	s.SetHealthShape("code")
	h, err = c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "cpu", h.ComfyUI.Device)
	assert.Zero(t, h.ComfyUI.VRAMTotal)
	assert.Zero(t, h.ComfyUI.VRAMUsed)

	// /health answers 200 whatever key is sent; CheckAuth is the key check.
	wrong := newTestClient(t, ComfyUI, s.URL, WithAPIKey("wrong"))
	_, err = wrong.Health(t.Context())
	require.NoError(t, err)
	require.ErrorIs(t, wrong.CheckAuth(t.Context()), ErrUnauthorized)
	require.NoError(t, c.CheckAuth(t.Context()))
	assert.Zero(t, s.Requests("GET", "/api/health"), "never /api/health, which needs the key")
}

func TestComfyHealthUnhealthy(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	s.SetUnhealthy("CUDA error: out of memory")
	c := newTestClient(t, ComfyUI, s.URL, WithMaxRetries(0))
	_, err := c.Health(t.Context())
	require.ErrorIs(t, err, ErrUnavailable)
	e := comfyError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	assert.Equal(t, "CUDA error: out of memory", e.Message)
	assert.Equal(t, 1, s.Requests("GET", "/health"))

	// With retries (the default) the GET is retried, then fails the same way.
	_, err = newTestClient(t, ComfyUI, s.URL).Health(t.Context())
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, 1+1+DefaultMaxRetries, s.Requests("GET", "/health"))

	s.SetUnhealthy("")
	h, err := c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "healthy", h.Status)
}

func TestComfyHealthAndProbeTolerantDecoding(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"health":       `{"status": "healthy", "device": 42, "queue": "busy", "vram": {"total": 10.0, "free": "x"}, "timestamp": "soon", "version": null}`,
		"system_stats": `{"system": {"comfyui_version": "0.3.10", "ram_total": 1e3}, "devices": [{"name": "mps", "type": "mps", "index": null}, 7]}`,
	}
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, b)
	})
	c := newTestClient(t, ComfyUI, srv.URL)
	h, err := c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &Health{Status: "healthy", ComfyUI: &ComfyUIHealth{VRAMTotal: 10}}, h)
	info, err := c.Probe(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &ServerInfo{Server: ComfyUI}, info, "from /health, which has no version here")
}

func TestComfyProbe(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	info, err := newTestClient(t, ComfyUI, s.URL).Probe(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &ServerInfo{Server: ComfyUI, Version: "0.3.64"}, info)

	// Mainline ComfyUI has no /health: Probe falls back to /system_stats.
	mainline := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/system_stats" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"system": {"os": "linux", "comfyui_version": "0.3.60"}, "devices": []}`)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "404: Not Found")
	})
	mc := newTestClient(t, ComfyUI, mainline.URL)
	info, err = mc.Probe(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &ServerInfo{Server: ComfyUI, Version: "0.3.60"}, info)
	_, err = mc.Health(t.Context())
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, comfyError(t, err).Hint, "mainline")

	// Something else entirely.
	other := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	_, err = newTestClient(t, ComfyUI, other.URL).Probe(t.Context())
	require.ErrorIs(t, err, ErrUnexpectedServer)
	notHealth := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"hello": "world"}`)
	})
	_, err = newTestClient(t, ComfyUI, notHealth.URL).Health(t.Context())
	require.ErrorIs(t, err, ErrUnexpectedServer)
}

// comfyUnsupportedOps calls every generic operation ComfyUI lacks.
var comfyUnsupportedOps = map[string]func(ctx context.Context, c *Client) error{
	"ListAPIKeys": func(ctx context.Context, c *Client) error { _, err := c.ListAPIKeys(ctx); return err },
	"Logout":      func(ctx context.Context, c *Client) error { return c.Logout(ctx) },
	"CreateAPIKey": func(ctx context.Context, c *Client) error {
		_, err := c.CreateAPIKey(ctx, CreateAPIKeyRequest{Name: "x"})
		return err
	},
	"DeleteAPIKey": func(ctx context.Context, c *Client) error { return c.DeleteAPIKey(ctx, "1") },
	"RotateAPIKey": func(ctx context.Context, c *Client) error {
		_, err := c.RotateAPIKey(ctx, "1", CreateAPIKeyRequest{})
		return err
	},
	"Login":              func(ctx context.Context, c *Client) error { _, err := c.Login(ctx, "u", "p"); return err },
	"ListOAuthProviders": func(ctx context.Context, c *Client) error { _, err := c.ListOAuthProviders(ctx); return err },
	"CurrentUser":        func(ctx context.Context, c *Client) error { _, err := c.CurrentUser(ctx); return err },
	"UseSession":         func(_ context.Context, c *Client) error { return c.UseSession(&Session{Token: "a-session-token"}) },
	"ParseSession":       func(_ context.Context, c *Client) error { _, err := c.ParseSession([]byte(`{}`)); return err },
	"ParseUser":          func(_ context.Context, c *Client) error { _, err := c.ParseUser([]byte(`{}`)); return err },
}

func TestComfyUnsupported(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))
	ops := make([]string, 0, len(comfyUnsupportedOps))
	for op := range comfyUnsupportedOps {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	// Every cell of the support matrix is tried in TestSupportMatrix; this
	// checks what ComfyUI's reasons say.
	for _, op := range ops {
		err := comfyUnsupportedOps[op](t.Context(), c)
		require.ErrorIs(t, err, errors.ErrUnsupported, op)
		var ue *UnsupportedError
		require.ErrorAs(t, err, &ue, op)
		assert.Equal(t, op, string(ue.Op))
		assert.Equal(t, ComfyUI, ue.Server)
		for _, want := range []string{"one static API key", "--api-key", "--api-key-file", "no accounts, sessions or OAuth"} {
			assert.Contains(t, err.Error(), want, op)
		}
	}
	assert.Zero(t, s.TotalRequests(), "no request for an unsupported operation")
	_, err := New(ComfyUI, s.URL, WithSession(&Session{Token: "t"}))
	var ce *ConfigError
	assert.ErrorAs(t, err, &ce)
}

func TestComfyNewFromEnv(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	files := fakeFiles(map[string]string{"/run/secrets/comfy": comfyKey + "\n", "/run/secrets/stale": "old-key\n"})
	tests := []struct {
		name string
		vars map[string]string
		ok   bool
	}{
		{"key file, trailing newline stripped", map[string]string{"COMFYUI_URL": s.URL, "COMFYUI_API_KEY_FILE": "/run/secrets/comfy"}, true},
		{"key", map[string]string{"COMFYUI_URL": s.URL, "COMFYUI_API_KEY": comfyKey}, true},
		{"wrong key file", map[string]string{"COMFYUI_URL": s.URL, "COMFYUI_API_KEY_FILE": "/run/secrets/stale"}, false},
		{"no key", map[string]string{"COMFYUI_URL": s.URL}, false},
	}
	for _, tt := range tests {
		c, err := newFromEnv(ComfyUI, fakeEnv(tt.vars), files, fast)
		require.NoError(t, err, tt.name)
		assert.Equal(t, s.URL, c.BaseURL(), tt.name)
		err = c.CheckAuth(t.Context())
		if tt.ok {
			require.NoError(t, err, tt.name)
			assert.Equal(t, "Bearer "+comfyKey, s.LastHeader("GET", "/prompt").Get("Authorization"), tt.name)
		} else {
			require.ErrorIs(t, err, ErrUnauthorized, tt.name)
		}
	}
	_, err := newFromEnv(ComfyUI, fakeEnv(map[string]string{"COMFYUI_API_KEY": comfyKey}), files)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "COMFYUI_URL", ce.Setting)
	assert.Contains(t, ce.Problem, "8188")
	_, err = newFromEnv(ComfyUI, fakeEnv(map[string]string{"COMFYUI_URL": s.URL, "COMFYUI_API_KEY": comfyKey,
		"COMFYUI_API_KEY_FILE": "/run/secrets/comfy"}), files)
	require.ErrorAs(t, err, &ce)
	assert.NotContains(t, err.Error(), comfyKey)
}

// A key added to one call (a Header option, an api_key in the path) is
// beyond comfyValidate, which runs at New: comfyCheckRequest refuses it
// before anything is sent.
func TestComfyPerCallSecondKeyIsRefused(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	xKey := WithAuthenticator(APIKeyIn(InHeader("X-API-Key"), comfyKey))
	inQuery := WithAuthenticator(APIKeyIn(InQuery("api_key"), comfyKey))
	tests := []struct {
		name  string
		opts  []Option
		path  string
		call  []CallOption
		first string // the key ComfyUI read
		good  bool   // the client's own key, alone, is good
	}{
		{"stale Bearer option masks the X-API-Key key", []Option{xKey}, "prompt",
			[]CallOption{Header("Authorization", "Bearer stale-secret")}, "Authorization: Bearer", true},
		{"stale Bearer option masks the api_key key", []Option{inQuery}, "prompt",
			[]CallOption{Header("Authorization", "Bearer stale-secret")}, "Authorization: Bearer", true},
		{"stale X-API-Key option masks the api_key key", []Option{inQuery}, "prompt",
			[]CallOption{Header("X-API-Key", "stale-secret")}, "X-API-Key", true},
		{"stale Bearer option masks a WithHeader X-API-Key", []Option{WithHeader("X-API-Key", comfyKey)}, "prompt",
			[]CallOption{Header("Authorization", "Bearer stale-secret")}, "Authorization: Bearer", true},
		{"stale X-API-Key option masks an api_key in the path", nil, "prompt?api_key=" + comfyKey,
			[]CallOption{Header("x-api-key", "stale-secret")}, "X-API-Key", false},
		{"stale Bearer key masks a good X-API-Key option", []Option{WithAPIKey("stale-secret")}, "prompt",
			[]CallOption{Header("X-API-Key", comfyKey)}, "Authorization: Bearer", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := setupComfy(t, comfyKey) // its own: the request count is checked
			c := newTestClient(t, ComfyUI, s.URL, tt.opts...)
			if tt.good {
				require.NoError(t, c.Do(t.Context(), "GET", "prompt", nil, nil), "the client's own key is good")
			}
			before := s.TotalRequests()
			err := c.Do(t.Context(), "GET", tt.path, nil, nil, tt.call...)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "Header", ce.Setting)
			assert.Contains(t, err.Error(), "2 API keys")
			assert.Contains(t, err.Error(), "only the first it finds ("+tt.first+")")
			assert.Contains(t, err.Error(), "send exactly one")
			assert.Equal(t, before, s.TotalRequests(), "refused before anything is sent")
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err)} {
				assert.NotContains(t, text, comfyKey)
				assert.NotContains(t, text, "stale-secret")
			}
		})
	}

	// Where the per-call header has the name the client's key is placed
	// in, the key replaces it: one key on the wire, no masking.
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))
	require.NoError(t, c.Do(t.Context(), "GET", "prompt", nil, nil, Header("Authorization", "Bearer stale-secret")))
	assert.Equal(t, []string{"Bearer " + comfyKey}, s.LastHeader("GET", "/prompt").Values("Authorization"))
}

// comfyDiagnose's branch for a key the authenticator did not place: set
// with WithHeader (or in the path), with no key authenticator or beside a
// proxy's credential.
func TestComfyDiagnoseKeyFromWithHeader(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	tests := []struct {
		name   string
		opts   []Option
		path   string
		source string
	}{
		{"WithHeader X-API-Key", []Option{WithHeader("X-API-Key", "wrong-secret")}, "prompt", "X-API-Key"},
		{"WithHeader Authorization: Bearer", []Option{WithHeader("Authorization", "Bearer wrong-secret")}, "prompt", "Authorization: Bearer"},
		{"api_key in the path", nil, "prompt?api_key=wrong-secret", "query parameter api_key"},
		{"WithHeader Bearer beside a key for a proxy", []Option{WithHeader("Authorization", "Bearer wrong-secret"),
			WithAuthenticator(APIKeyIn(InHeader("X-Proxy-Token"), "proxy-secret"))}, "prompt", "Authorization: Bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, ComfyUI, s.URL, tt.opts...)
			err := c.Do(t.Context(), "GET", tt.path, nil, nil)
			require.ErrorIs(t, err, ErrUnauthorized)
			e := comfyError(t, err)
			assert.Equal(t, http.StatusUnauthorized, e.StatusCode)
			assert.Equal(t, "Unauthorized", e.Code)
			assert.Equal(t, CredentialAPIKey, e.Credential, "a key was sent, though not by an API-key authenticator")
			assert.Contains(t, e.Hint, "the API key sent in "+tt.source)
			assert.Contains(t, e.Hint, "--api-key")
			assert.NotContains(t, e.Hint, "no API key was sent")
			assert.NotContains(t, err.Error(), "wrong-secret")
		})
	}

	// Behind a Basic proxy that lets the request through, the 401 is the
	// patch's: the hint names the key as well as the password.
	s2 := setupComfy(t, comfyKey)
	s2.RequireBasicAuth("proxy-user", "proxy-pw")
	c := newTestClient(t, ComfyUI, s2.URL, WithLogin("proxy-user", "proxy-pw"), WithHeader("X-API-Key", "wrong-secret"))
	err := c.CheckAuth(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	e := comfyError(t, err)
	assert.Equal(t, CredentialPassword, e.Credential)
	assert.Contains(t, e.Hint, "rejected the API key sent in X-API-Key")
	assert.Contains(t, e.Hint, "proxy")
}

// A credential placed where ComfyUI never looks reaches ComfyUI as no key
// at all, so the hint says so and where ComfyUI does look, instead of
// "the API key was rejected". The class: keys in any other header (a
// proxy's), in Authorization without "Bearer ", in another query
// parameter, and custom Authenticators that send a key in another header
// or under another scheme.
func TestComfyCredentialWhereComfyUINeverLooksSaysNoKeyReceived(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	custom := AuthenticatorFunc(func(req *http.Request) error { req.Header.Set("X-Token", comfyKey); return nil })
	for name, tt := range map[string]struct {
		auth Authenticator
		cred string
		in   string // the placement the hint names, if any
	}{
		"proxy header":             {APIKeyIn(InHeader("X-Proxy-Token"), comfyKey), CredentialAPIKey, "header X-Proxy-Token"},
		"another auth header":      {APIKeyIn(InHeader("X-Auth-Token"), comfyKey), CredentialAPIKey, "header X-Auth-Token"},
		"Authorization, no Bearer": {APIKeyIn(InHeader("Authorization"), comfyKey), CredentialAPIKey, "header Authorization"},
		"query token":              {APIKeyIn(InQuery("token"), comfyKey), CredentialAPIKey, "query parameter"},
		"query apikey":             {APIKeyIn(InQuery("apikey"), comfyKey), CredentialAPIKey, "query parameter"},
		"custom, other scheme": {AuthenticatorFunc(func(req *http.Request) error {
			req.Header.Set("Authorization", "Token "+comfyKey)
			return nil
		}), CredentialCustom, ""},
		"custom authenticator": {custom, CredentialCustom, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, ComfyUI, s.URL, WithAuthenticator(tt.auth))
			err := c.CheckAuth(t.Context())
			require.ErrorIs(t, err, ErrUnauthorized)
			e := comfyError(t, err)
			assert.Equal(t, tt.cred, e.Credential)
			assert.Contains(t, e.Hint, "ComfyUI received no API key")
			assert.Contains(t, e.Hint, "reads only Authorization: Bearer, X-API-Key and the api_key query parameter")
			assert.Contains(t, e.Hint, tt.in)
			assert.NotContains(t, e.Hint, "rejected")
			assert.NotContains(t, err.Error(), comfyKey)
		})
	}
}

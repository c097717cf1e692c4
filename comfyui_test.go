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
	return http.DefaultTransport.RoundTrip(req)
}

func (r *comfyRecorder) all() ([]string, []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.urls...), append([]http.Header(nil), r.hdrs...)
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
			_, err := c.QueueStatus(t.Context())
			require.NoError(t, err)
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
			for _, err := range []error{c.CheckAuth(t.Context()), func() error { _, err := c.QueueStatus(t.Context()); return err }(),
				func() error {
					_, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil)})
					return err
				}()} {
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
	q, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil)})
	require.NoError(t, err)
	assert.Equal(t, []string{q.PromptID}, s.Prompts())
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
		_, err = c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil)})
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
	_, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil)})
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
	st, err := c.SystemStats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(1000), st.RAMTotal)
	assert.Equal(t, []Device{{Name: "mps", Type: "mps"}}, st.Devices, "the non-object device is skipped")
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

func TestComfyQueuePrompt(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))

	q, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil), ClientID: "my-client"})
	require.NoError(t, err)
	assert.Regexp(t, uuid4Pattern, q.PromptID)
	assert.Equal(t, []string{q.PromptID}, s.Prompts(), "the id the client sent is the one the server queued")
	assert.Equal(t, 0, q.Number)
	assert.Empty(t, q.NodeErrors)
	assert.Equal(t, "application/json", s.LastHeader("POST", "/prompt").Get("Content-Type"))

	// A map works as well as raw JSON; each call gets a new id.
	var m map[string]any
	require.NoError(t, json.Unmarshal(comfyWorkflow(nil), &m))
	q2, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: m, ExtraData: map[string]any{"extra_pnginfo": map[string]any{"a": 1}}})
	require.NoError(t, err)
	assert.NotEqual(t, q.PromptID, q2.PromptID)
	assert.Equal(t, 1, q2.Number)

	// A caller's id, and an explicit number (Python echoes it as a float).
	const mine = "0b5d7c2e-3f1a-4c6b-9d8e-7a6b5c4d3e2f"
	n := 40
	q3, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil), PromptID: mine, Number: &n})
	require.NoError(t, err)
	assert.Equal(t, &QueuedPrompt{PromptID: mine, Number: 40, NodeErrors: map[string]json.RawMessage{}}, q3)
	q4, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: []byte(comfyWorkflow(nil)), Front: true})
	require.NoError(t, err)
	assert.Equal(t, -2, q4.Number, "front negates the count")

	// Bad requests are refused before anything is sent.
	before := s.Requests("POST", "/prompt")
	for name, r := range map[string]QueuePromptRequest{
		"upper-case id":     {Prompt: comfyWorkflow(nil), PromptID: strings.ToUpper(mine)},
		"id without dashes": {Prompt: comfyWorkflow(nil), PromptID: strings.ReplaceAll(mine, "-", "")},
		"id not a uuid":     {Prompt: comfyWorkflow(nil), PromptID: "my-prompt"},
		"id with braces":    {Prompt: comfyWorkflow(nil), PromptID: "{" + mine + "}"},
		"no prompt":         {},
		"prompt a list":     {Prompt: []any{1, 2}},
		"prompt bad JSON":   {Prompt: json.RawMessage(`{"3": `)},
		"prompt a string":   {Prompt: `{"3": {}}`},
		"front and number":  {Prompt: comfyWorkflow(nil), Front: true, Number: &n},
		"unencodable":       {Prompt: map[string]any{"x": func() {}}},
	} {
		q, err := c.QueuePrompt(t.Context(), r)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, name)
		assert.Nil(t, q, name)
	}
	assert.Equal(t, before, s.Requests("POST", "/prompt"))
	assert.Len(t, s.Prompts(), 4)
}

func TestComfyQueuePromptValidation(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))
	tests := []struct {
		name        string
		prompt      json.RawMessage
		code, msg   string
		hint        string
		nodes       []PromptNodeError
		detailsPart string
	}{
		{name: "no outputs", prompt: comfyWorkflow(func(w map[string]map[string]any) { delete(w, "9") }),
			code: "prompt_no_outputs", msg: "Prompt has no outputs"},
		{name: "unknown node class", prompt: comfyWorkflow(func(w map[string]map[string]any) { w["5"]["class_type"] = "NoSuchNode" }),
			code: "invalid_prompt", msg: "Cannot execute because node NoSuchNode does not exist.", hint: "Node ID '#5'", detailsPart: "#5"},
		{name: "missing inputs", prompt: comfyWorkflow(func(w map[string]map[string]any) {
			delete(w["3"]["inputs"].(map[string]any), "model")
			delete(w["6"]["inputs"].(map[string]any), "text")
		}),
			code: "prompt_outputs_failed_validation", msg: "Prompt outputs failed validation",
			hint: "node 3 (KSampler): Required input is missing: model; node 6 (CLIPTextEncode): Required input is missing: text",
			nodes: []PromptNodeError{
				{NodeID: "3", ClassType: "KSampler", Type: "required_input_missing", Message: "Required input is missing", Details: "model", Input: "model"},
				{NodeID: "6", ClassType: "CLIPTextEncode", Type: "required_input_missing", Message: "Required input is missing", Details: "text", Input: "text"},
			}},
	}
	for _, tt := range tests {
		q, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: tt.prompt})
		require.Error(t, err, tt.name)
		assert.Nil(t, q, "%s: refused, so certainly not queued", tt.name)
		e := comfyError(t, err)
		assert.Equal(t, http.StatusBadRequest, e.StatusCode, tt.name)
		assert.Equal(t, tt.code, e.Code, tt.name)
		assert.Equal(t, tt.msg, e.Message, tt.name)
		assert.Equal(t, tt.hint, e.Hint, tt.name)
		pv, ok := PromptErrorDetails(err)
		require.True(t, ok, tt.name)
		assert.Equal(t, tt.code, pv.Type, tt.name)
		assert.Equal(t, tt.msg, pv.Message, tt.name)
		assert.Equal(t, tt.nodes, pv.Nodes, tt.name)
		assert.Contains(t, pv.Details, tt.detailsPart, tt.name)
	}
	assert.Empty(t, s.Prompts())

	_, ok := PromptErrorDetails(c.CheckAuth(t.Context()))
	assert.False(t, ok, "nil error")
	_, ok = PromptErrorDetails(newTestClient(t, ComfyUI, s.URL).CheckAuth(t.Context()))
	assert.False(t, ok, "a 401 is not a prompt error")
	_, ok = PromptErrorDetails(errors.New("x"))
	assert.False(t, ok)
}

func TestComfyPromptValidationHintIsBounded(t *testing.T) {
	t.Parallel()
	nodeErrors := map[string]any{}
	for i := 1; i <= 12; i++ {
		nodeErrors[fmt.Sprint(i)] = map[string]any{"class_type": strings.Repeat("K", 200), "errors": []any{
			map[string]any{"type": "t", "message": "bad\ninput " + strings.Repeat("x", 500), "details": "d"},
			map[string]any{"type": "t2", "message": "second"},
		}}
	}
	nodeErrors["junk"] = "not an object"
	body, err := json.Marshal(map[string]any{
		"error":       map[string]any{"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
		"node_errors": nodeErrors,
	})
	require.NoError(t, err)
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(body)
	})
	_, err = newTestClient(t, ComfyUI, srv.URL).QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil)})
	e := comfyError(t, err)
	assert.LessOrEqual(t, len(e.Hint), maxMessage+len("…"))
	assert.True(t, strings.HasPrefix(e.Hint, "node 1 (KKK"), e.Hint)
	assert.NotContains(t, e.Hint, "\n")
	pv, ok := PromptErrorDetails(err)
	require.True(t, ok)
	assert.Len(t, pv.Nodes, 24, "every error of every well-formed node, the junk one skipped")
	assert.Equal(t, "2", pv.Nodes[2].NodeID, "numeric order: 1, 1, 2, …, 10")
	assert.Equal(t, "10", pv.Nodes[18].NodeID)

	short := &PromptValidation{Nodes: []PromptNodeError{{NodeID: "1", Message: "m"}, {NodeID: "2", Message: "m"},
		{NodeID: "3", Message: "m"}, {NodeID: "4", Message: "m"}, {NodeID: "5", Message: "m"}}}
	assert.Equal(t, "node 1: m; node 2: m; node 3: m; and 2 more node(s)", short.summary())
}

func TestComfyQueuePromptIsNeverRetried(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))

	s.Faults.FailNext(1, http.StatusServiceUnavailable, 0)
	q, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil)})
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, 1, s.Requests("POST", "/prompt"))
	require.NotNil(t, q, "the outcome of a 5xx is unknown: the id comes back to look for")
	assert.Regexp(t, uuid4Pattern, q.PromptID)

	s.Faults.ResetNext(1)
	q, err = c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil)})
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 2, s.Requests("POST", "/prompt"))
	require.NotNil(t, q)
	assert.Regexp(t, uuid4Pattern, q.PromptID)
	assert.Empty(t, s.Prompts())

	// The id that came back finds the prompt (here: not queued at all).
	st, err := c.QueueStatus(t.Context())
	require.NoError(t, err)
	assert.Empty(t, st.Pending)
	_, err = c.PromptHistory(t.Context(), q.PromptID)
	require.ErrorIs(t, err, ErrNotFound)

	// GETs, by contrast, are retried.
	s.Faults.FailNextOn("/queue", 1, http.StatusServiceUnavailable, 0)
	_, err = c.QueueStatus(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 3, s.Requests("GET", "/queue"))
}

func TestComfyQueueStatus(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))
	st, err := c.QueueStatus(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &QueueStatus{Running: []QueueItem{}, Pending: []QueueItem{}}, st)

	var ids []string
	for i := 0; i < 3; i++ {
		q, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil), ClientID: fmt.Sprint("client-", i)})
		require.NoError(t, err)
		ids = append(ids, q.PromptID)
	}
	require.True(t, s.StartPrompt(ids[0]))
	st, err = c.QueueStatus(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &QueueStatus{
		Running:   []QueueItem{{Number: 0, PromptID: ids[0], ClientID: "client-0"}},
		Pending:   []QueueItem{{Number: 1, PromptID: ids[1], ClientID: "client-1"}, {Number: 2, PromptID: ids[2], ClientID: "client-2"}},
		Remaining: 3,
	}, st)

	s.CompletePrompt(ids[0])
	st, err = c.QueueStatus(t.Context())
	require.NoError(t, err)
	assert.Empty(t, st.Running)
	assert.Len(t, st.Pending, 2)
	assert.Equal(t, 2, st.Remaining)

	_, err = newTestClient(t, ComfyUI, s.URL).QueueStatus(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
}

func TestComfyQueueItemsTolerant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want []QueueItem
	}{
		{`[[3, "a", {}, {"client_id": "c"}, ["9"]]]`, []QueueItem{{3, "a", "c"}}},
		{`[[3.0, "a", {}, {}, [], {"sensitive": 1}, "extra"]]`, []QueueItem{{3, "a", ""}}},
		{`[[-7.9, "a"]]`, []QueueItem{{-7, "a", ""}}},
		{`[[1, "a", {}, "not an object"]]`, []QueueItem{{1, "a", ""}}},
		{`[[1, "a", {}, {"client_id": 5}]]`, []QueueItem{{1, "a", ""}}},
		{`[[1], [1, 2], ["x", "a"], [1, ""], {}, null, 5, [null, "a"], [1, "ok"]]`, []QueueItem{{1, "ok", ""}}},
		{`[[1e300, "big"]]`, []QueueItem{}}, // a number no queue holds: malformed
		{`{}`, []QueueItem{}},
		{`null`, []QueueItem{}},
		{``, []QueueItem{}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, comfyQueueItems(json.RawMessage(tt.raw)), tt.raw)
	}
}

func FuzzComfyQueueItems(f *testing.F) {
	f.Add(`[[0, "6f1c", {"3": {}}, {"client_id": "x", "create_time": 1}, ["9"]]]`)
	f.Add(`[[1.5, "a"], [2, "b", null, null, null, null]]`)
	f.Add(`[[], [1], "x", [1e999, "a"], [true, "b"]]`)
	f.Add(`{"queue_running": []}`)
	f.Add(`[[1, "a", {}, {"client_id": ["nested"]}]]`)
	f.Fuzz(func(t *testing.T, raw string) {
		items := comfyQueueItems(json.RawMessage(raw))
		require.NotNil(t, items)
		var list []json.RawMessage
		if json.Unmarshal([]byte(raw), &list) != nil {
			require.Empty(t, items)
		}
		require.LessOrEqual(t, len(items), len(list))
		for _, it := range items {
			require.NotEmpty(t, it.PromptID)
		}
	})
}

func TestComfyPromptHistory(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))
	q, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(func(w map[string]map[string]any) {
		w["10"] = map[string]any{"class_type": "PreviewImage", "inputs": map[string]any{"images": []any{"8", 0}}}
		w["9"]["inputs"].(map[string]any)["filename_prefix"] = "cats/cat"
	})})
	require.NoError(t, err)

	_, err = c.PromptHistory(t.Context(), q.PromptID)
	require.ErrorIs(t, err, ErrNotFound, "still queued")
	e := comfyError(t, err)
	assert.Equal(t, ComfyUI, e.Server)
	assert.Contains(t, e.URL, "/comfy/history/"+q.PromptID)

	s.CompletePrompt(q.PromptID)
	h, err := c.PromptHistory(t.Context(), q.PromptID)
	require.NoError(t, err)
	assert.Equal(t, q.PromptID, h.PromptID)
	assert.Equal(t, "success", h.Status)
	assert.True(t, h.Completed)
	assert.Equal(t, []OutputFile{{Filename: "cat_00001_.png", Subfolder: "cats", Type: "output"}}, h.Outputs["9"])
	require.Len(t, h.Outputs["10"], 1)
	assert.Equal(t, "temp", h.Outputs["10"][0].Type)
	assert.Len(t, h.Outputs, 2)

	// An interrupted prompt.
	q2, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil)})
	require.NoError(t, err)
	require.True(t, s.StartPrompt(q2.PromptID))
	require.NoError(t, c.Interrupt(t.Context(), q2.PromptID))
	h, err = c.PromptHistory(t.Context(), q2.PromptID)
	require.NoError(t, err)
	assert.Equal(t, &PromptHistory{PromptID: q2.PromptID, Status: "error", Outputs: map[string][]OutputFile{}}, h)

	for _, bad := range []string{"../x", "..", "", "a/b"} {
		_, err = c.PromptHistory(t.Context(), bad)
		require.ErrorIs(t, err, ErrInvalidPath, bad)
	}
	_, err = c.PromptHistory(t.Context(), "00000000-0000-4000-8000-000000000000")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = newTestClient(t, ComfyUI, s.URL).PromptHistory(t.Context(), q.PromptID)
	require.ErrorIs(t, err, ErrUnauthorized)
}

func TestComfySystemStats(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))
	st, err := c.SystemStats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "linux", st.OS)
	assert.Equal(t, "0.3.64", st.ComfyUIVersion)
	assert.Equal(t, "2.8.0+cu128", st.PyTorchVersion)
	assert.True(t, strings.HasPrefix(st.PythonVersion, "3.12.3"), st.PythonVersion)
	assert.Equal(t, int64(67331584000), st.RAMTotal)
	assert.Equal(t, int64(60129542144), st.RAMFree)
	assert.Equal(t, []Device{{Name: "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync", Type: "cuda", Index: 0,
		VRAMTotal: 25386352640, VRAMFree: 24000000000}}, st.Devices)

	s.SetCPUMode(true)
	st, err = c.SystemStats(t.Context())
	require.NoError(t, err)
	require.Len(t, st.Devices, 1)
	assert.Equal(t, "cpu", st.Devices[0].Type)

	_, err = newTestClient(t, ComfyUI, s.URL, WithAPIKey("wrong")).SystemStats(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
}

func TestComfyInterrupt(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))

	require.NoError(t, c.Interrupt(t.Context(), ""))
	assert.Equal(t, 1, s.Interrupts())
	assert.Empty(t, s.LastHeader("POST", "/interrupt").Get("Content-Type"), "a global interrupt has no body")

	q, err := c.QueuePrompt(t.Context(), QueuePromptRequest{Prompt: comfyWorkflow(nil)})
	require.NoError(t, err)
	require.NoError(t, c.Interrupt(t.Context(), q.PromptID), "not running: nothing happens")
	assert.Equal(t, 2, s.Interrupts())
	assert.Equal(t, "application/json", s.LastHeader("POST", "/interrupt").Get("Content-Type"))
	st, err := c.QueueStatus(t.Context())
	require.NoError(t, err)
	assert.Len(t, st.Pending, 1, "an interrupt leaves the queue alone")

	s.Faults.FailNext(1, http.StatusServiceUnavailable, 0)
	require.ErrorIs(t, c.Interrupt(t.Context(), ""), ErrUnavailable)
	assert.Equal(t, 3, s.Requests("POST", "/interrupt"), "never retried")
	assert.Equal(t, 2, s.Interrupts())

	require.ErrorIs(t, newTestClient(t, ComfyUI, s.URL).Interrupt(t.Context(), ""), ErrUnauthorized)
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
	"SetAPIKeyActive":        func(ctx context.Context, c *Client) error { _, err := c.SetAPIKeyActive(ctx, "1", true); return err },
	"Login":                  func(ctx context.Context, c *Client) error { _, err := c.Login(ctx, "u", "p"); return err },
	"ListOAuthProviders":     func(ctx context.Context, c *Client) error { _, err := c.ListOAuthProviders(ctx); return err },
	"CurrentUser":            func(ctx context.Context, c *Client) error { _, err := c.CurrentUser(ctx); return err },
	"ListLibraries":          func(ctx context.Context, c *Client) error { _, err := c.ListLibraries(ctx); return err },
	"Authorize":              func(ctx context.Context, c *Client) error { _, err := c.Authorize(ctx); return err },
	"ConvertSessionToCookie": func(ctx context.Context, c *Client) error { _, err := c.ConvertSessionToCookie(ctx); return err },
	"StartOpenIDLogin":       func(ctx context.Context, c *Client) error { _, err := c.StartOpenIDLogin(ctx, "x://y"); return err },
	"FinishOpenIDLogin": func(ctx context.Context, c *Client) error {
		_, err := c.FinishOpenIDLogin(ctx, &OpenIDLogin{}, "x://y")
		return err
	},
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
	declared := make([]string, 0, len(comfySpec.unsupported))
	for op := range comfySpec.unsupported {
		declared = append(declared, op)
	}
	sort.Strings(declared)
	assert.Equal(t, declared, ops, "every declared operation is tested, and every tested one declared")
	for _, op := range ops {
		err := comfyUnsupportedOps[op](t.Context(), c)
		require.ErrorIs(t, err, errors.ErrUnsupported, op)
		var ue *UnsupportedError
		require.ErrorAs(t, err, &ue, op)
		assert.Equal(t, op, ue.Op)
		assert.Equal(t, ComfyUI, ue.Server)
		for _, want := range []string{"one static API key", "--api-key", "--api-key-file", "no accounts, sessions or OAuth"} {
			assert.Contains(t, err.Error(), want, op)
		}
	}
	assert.Zero(t, s.TotalRequests(), "no request for an unsupported operation")
	_, err := New(ComfyUI, s.URL, WithSession(&Session{Token: "t"}))
	var ce *ConfigError
	assert.ErrorAs(t, err, &ce)

	// The ComfyUI methods on another server.
	k, err := New(Komga, "http://127.0.0.1:1/")
	require.NoError(t, err)
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"QueuePrompt":   func() error { _, err := k.QueuePrompt(ctx, QueuePromptRequest{Prompt: comfyWorkflow(nil)}); return err },
		"QueueStatus":   func() error { _, err := k.QueueStatus(ctx); return err },
		"PromptHistory": func() error { _, err := k.PromptHistory(ctx, "x"); return err },
		"SystemStats":   func() error { _, err := k.SystemStats(ctx); return err },
		"Interrupt":     func() error { return k.Interrupt(ctx, "") },
	} {
		err := call()
		require.ErrorIs(t, err, errors.ErrUnsupported, name)
		assert.Contains(t, err.Error(), "komga: "+name+" is not supported: it is a ComfyUI operation")
	}
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

func TestComfyUUID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		id := comfyUUID4()
		require.Regexp(t, uuid4Pattern, id)
		require.True(t, isCanonicalUUID(id))
		require.False(t, seen[id])
		seen[id] = true
	}
	for s, want := range map[string]bool{
		"0b5d7c2e-3f1a-4c6b-9d8e-7a6b5c4d3e2f":   true,
		"00000000-0000-0000-0000-000000000000":   true,
		"0B5D7C2E-3F1A-4C6B-9D8E-7A6B5C4D3E2F":   false,
		"0b5d7c2e3f1a4c6b9d8e7a6b5c4d3e2f":       false,
		"0b5d7c2e-3f1a-4c6b-9d8e-7a6b5c4d3e2":    false,
		"0b5d7c2e-3f1a-4c6b-9d8e-7a6b5c4d3e2g":   false,
		"0b5d7c2e_3f1a-4c6b-9d8e-7a6b5c4d3e2f":   false,
		"{0b5d7c2e-3f1a-4c6b-9d8e-7a6b5c4d3e2f}": false,
		"":                                       false,
	} {
		assert.Equal(t, want, isCanonicalUUID(s), s)
	}
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

// QueueStatus reads GET /queue, then GET /prompt: a failure of the second
// is returned as it is, with no half-filled status.
func TestComfyQueueStatusPromptFails(t *testing.T) {
	t.Parallel()
	s := setupComfy(t, comfyKey)
	c := newTestClient(t, ComfyUI, s.URL, WithAPIKey(comfyKey))

	s.Faults.FailNextOn("/prompt", 1, http.StatusInternalServerError, -1)
	st, err := c.QueueStatus(t.Context())
	require.Error(t, err)
	assert.Nil(t, st)
	e := comfyError(t, err)
	assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
	assert.Equal(t, http.MethodGet, e.Method)
	assert.True(t, strings.HasSuffix(e.URL, "/comfy/prompt"), e.URL)
	assert.Equal(t, "Internal Server Error", e.Message)
	for _, kind := range []error{ErrUnauthorized, ErrUnavailable, ErrNotFound, ErrUnexpectedServer} {
		assert.NotErrorIs(t, err, kind)
	}
	assert.Equal(t, 1, s.Requests("GET", "/queue"), "the queue was read first")
	assert.Equal(t, 1, s.Requests("GET", "/prompt"), "a 500 is not retried")

	// 503 on every attempt: retried, then ErrUnavailable.
	s.Faults.FailNextOn("/prompt", 3, http.StatusServiceUnavailable, -1)
	_, err = c.QueueStatus(t.Context())
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, http.StatusServiceUnavailable, comfyError(t, err).StatusCode)
	assert.Equal(t, 1+3, s.Requests("GET", "/prompt"))

	// A proxy's 401 on /prompt alone is diagnosed like any other.
	s.Faults.FailNextOn("/prompt", 1, http.StatusUnauthorized, -1)
	_, err = c.QueueStatus(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	e = comfyError(t, err)
	assert.Equal(t, CredentialAPIKey, e.Credential)
	assert.Contains(t, e.Hint, "Authorization: Bearer")

	st, err = c.QueueStatus(t.Context())
	require.NoError(t, err, "the faults are used up")
	assert.Equal(t, 0, st.Remaining)
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

package comfyui_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/comfyui"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const comfyKey = "the-key"

// fast makes retries quick (a backoff, not a timeout: nothing races it).
var fast = authclient.WithRetryWait(0, 0)

// setup starts a fake ComfyUI mounted under /comfyui (as behind a reverse
// proxy); key "" runs it without the API-key patch.
func setup(t *testing.T, key string) *authtest.ComfyUI {
	t.Helper()
	s := authtest.NewComfyUI(key, authtest.WithPrefix("/comfyui"))
	t.Cleanup(s.Close)
	return s
}

// newClient is a ComfyUI client for baseURL with quick retries.
func newClient(t *testing.T, baseURL string, opts ...authclient.Option) *comfyui.Client {
	t.Helper()
	c, err := comfyui.New(baseURL, append([]authclient.Option{fast}, opts...)...)
	require.NoError(t, err)
	return c
}

// workflow is ComfyUI's default text-to-image workflow in API format;
// edit changes it before it is encoded.
func workflow(edit func(map[string]map[string]any)) json.RawMessage {
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

func asError(t *testing.T, err error) *authclient.Error {
	t.Helper()
	var e *authclient.Error
	require.ErrorAs(t, err, &e)
	return e
}

// The constructors check the server: the class is every way to get a
// *comfyui.Client (New, NewFromEnv, Wrap) and every bad input to them (nil,
// another server, a bad URL, a missing variable), each a
// *authclient.ConfigError.
func TestConstructorsCheckTheServer(t *testing.T) {
	s := setup(t, comfyKey)
	var ce *authclient.ConfigError

	core, err := authclient.New(authclient.ComfyUI, s.URL, authclient.WithAPIKey(comfyKey))
	require.NoError(t, err)
	c, err := comfyui.Wrap(core)
	require.NoError(t, err)
	assert.Same(t, core, c.Core(), "Wrap shares the core")
	_, err = c.Queue(t.Context())
	require.NoError(t, err)

	_, err = comfyui.Wrap(nil)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "comfyui.Wrap", ce.Setting)
	for _, other := range []authclient.Server{authclient.Komga, authclient.Audiobookshelf, authclient.Khoj} {
		oc, err := authclient.New(other, s.URL, authclient.WithAPIKey(comfyKey))
		require.NoError(t, err)
		w, err := comfyui.Wrap(oc)
		require.ErrorAs(t, err, &ce, other)
		assert.Nil(t, w)
		assert.Contains(t, err.Error(), string(other), other)
		assert.NotContains(t, err.Error(), comfyKey, other)
	}

	for _, bad := range []string{"", "ftp://h/", "http://h/\n", "://"} {
		c, err := comfyui.New(bad, authclient.WithAPIKey(comfyKey))
		require.ErrorAs(t, err, &ce, bad)
		assert.Nil(t, c)
	}
	c, err = comfyui.New(s.URL, authclient.WithAPIKey(comfyKey))
	require.NoError(t, err)
	assert.Equal(t, authclient.ComfyUI, c.Core().Server())
	require.NoError(t, c.Core().CheckAuth(t.Context()))

	// NewFromEnv reads COMFYUI_* (t.Setenv: this test is not parallel).
	t.Setenv("COMFYUI_URL", s.URL)
	t.Setenv("COMFYUI_API_KEY", comfyKey)
	c, err = comfyui.NewFromEnv(fast)
	require.NoError(t, err)
	require.NoError(t, c.Core().CheckAuth(t.Context()))
	assert.Equal(t, "Bearer "+comfyKey, s.LastHeader("GET", "/prompt").Get("Authorization"))
	t.Setenv("COMFYUI_URL", "")
	c, err = comfyui.NewFromEnv()
	require.ErrorAs(t, err, &ce)
	assert.Nil(t, c)
	assert.Equal(t, "COMFYUI_URL", ce.Setting)
	assert.NotContains(t, err.Error(), comfyKey)
}

func TestQueuePrompt(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))

	q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil), ClientID: "my-client"})
	require.NoError(t, err)
	assert.Regexp(t, uuid4Pattern, q.PromptID)
	assert.Equal(t, []string{q.PromptID}, s.Prompts(), "the id the client sent is the one the server queued")
	assert.Equal(t, 0, q.Number)
	assert.Empty(t, q.NodeErrors)
	assert.Equal(t, "application/json", s.LastHeader("POST", "/prompt").Get("Content-Type"))

	// A map works as well as raw JSON; each call gets a new id.
	var m map[string]any
	require.NoError(t, json.Unmarshal(workflow(nil), &m))
	q2, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: m, ExtraData: map[string]any{"extra_pnginfo": map[string]any{"a": 1}}})
	require.NoError(t, err)
	assert.NotEqual(t, q.PromptID, q2.PromptID)
	assert.Equal(t, 1, q2.Number)

	// A caller's id, and an explicit number (Python echoes it as a float).
	const mine = "0b5d7c2e-3f1a-4c6b-9d8e-7a6b5c4d3e2f"
	n := 40
	q3, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil), PromptID: mine, Number: &n})
	require.NoError(t, err)
	assert.Equal(t, &comfyui.QueuedPrompt{PromptID: mine, Number: 40, NodeErrors: map[string]json.RawMessage{}}, q3)
	q4, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: []byte(workflow(nil)), Front: true})
	require.NoError(t, err)
	assert.Equal(t, -2, q4.Number, "front negates the count")

	// Bad requests are refused before anything is sent.
	before := s.Requests("POST", "/prompt")
	for name, r := range map[string]comfyui.PromptRequest{
		"upper-case id":     {Prompt: workflow(nil), PromptID: strings.ToUpper(mine)},
		"id without dashes": {Prompt: workflow(nil), PromptID: strings.ReplaceAll(mine, "-", "")},
		"id not a uuid":     {Prompt: workflow(nil), PromptID: "my-prompt"},
		"id with braces":    {Prompt: workflow(nil), PromptID: "{" + mine + "}"},
		"id one short":      {Prompt: workflow(nil), PromptID: mine[:35]},
		"id not hex":        {Prompt: workflow(nil), PromptID: mine[:35] + "g"},
		"id underscore":     {Prompt: workflow(nil), PromptID: strings.Replace(mine, "-", "_", 1)},
		"no prompt":         {},
		"prompt a list":     {Prompt: []any{1, 2}},
		"prompt bad JSON":   {Prompt: json.RawMessage(`{"3": `)},
		"prompt a string":   {Prompt: `{"3": {}}`},
		"prompt empty raw":  {Prompt: json.RawMessage(``)},
		"front and number":  {Prompt: workflow(nil), Front: true, Number: &n},
		"unencodable":       {Prompt: map[string]any{"x": func() {}}},
	} {
		q, err := c.QueuePrompt(t.Context(), r)
		var ce *authclient.ConfigError
		require.ErrorAs(t, err, &ce, name)
		assert.True(t, strings.HasPrefix(ce.Setting, "comfyui.PromptRequest"), name)
		assert.Nil(t, q, name)
	}
	assert.Equal(t, before, s.Requests("POST", "/prompt"))
	assert.Len(t, s.Prompts(), 4)

	_, err = newClient(t, s.URL).QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil)})
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
}

func TestQueuePromptValidation(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	tests := []struct {
		name        string
		prompt      json.RawMessage
		code, msg   string
		hint        string
		nodes       []comfyui.NodeError
		detailsPart string
	}{
		{name: "no outputs", prompt: workflow(func(w map[string]map[string]any) { delete(w, "9") }),
			code: "prompt_no_outputs", msg: "Prompt has no outputs"},
		{name: "unknown node class", prompt: workflow(func(w map[string]map[string]any) { w["5"]["class_type"] = "NoSuchNode" }),
			code: "invalid_prompt", msg: "Cannot execute because node NoSuchNode does not exist.", hint: "Node ID '#5'", detailsPart: "#5"},
		{name: "missing inputs", prompt: workflow(func(w map[string]map[string]any) {
			delete(w["3"]["inputs"].(map[string]any), "model")
			delete(w["6"]["inputs"].(map[string]any), "text")
		}),
			code: "prompt_outputs_failed_validation", msg: "Prompt outputs failed validation",
			hint: "node 3 (KSampler): Required input is missing: model; node 6 (CLIPTextEncode): Required input is missing: text",
			nodes: []comfyui.NodeError{
				{NodeID: "3", ClassType: "KSampler", Type: "required_input_missing", Message: "Required input is missing", Details: "model", Input: "model"},
				{NodeID: "6", ClassType: "CLIPTextEncode", Type: "required_input_missing", Message: "Required input is missing", Details: "text", Input: "text"},
			}},
	}
	for _, tt := range tests {
		q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: tt.prompt})
		require.Error(t, err, tt.name)
		assert.Nil(t, q, "%s: refused, so certainly not queued", tt.name)
		e := asError(t, err)
		assert.Equal(t, http.StatusBadRequest, e.StatusCode, tt.name)
		assert.Equal(t, tt.code, e.Code, tt.name)
		assert.Equal(t, tt.msg, e.Message, tt.name)
		assert.Equal(t, tt.hint, e.Hint, tt.name)
		v, ok := comfyui.ValidationDetails(err)
		require.True(t, ok, tt.name)
		assert.Equal(t, tt.code, v.Type, tt.name)
		assert.Equal(t, tt.msg, v.Message, tt.name)
		assert.Equal(t, tt.nodes, v.Nodes, tt.name)
		assert.Contains(t, v.Details, tt.detailsPart, tt.name)

		// The same POST through the core's Do: the details are in the body.
		err = c.Core().Do(t.Context(), "POST", "prompt", map[string]any{"prompt": tt.prompt}, nil)
		v, ok = comfyui.ValidationDetails(err)
		require.True(t, ok, tt.name)
		assert.Equal(t, tt.code, v.Type, tt.name)
	}
	assert.Empty(t, s.Prompts())
}

// ValidationDetails reports false for every error that is not a prompt
// ComfyUI refused: nil, a 401, a plain error, a transport failure, and a
// prompt-shaped 400 from another server.
func TestValidationDetailsOnlyForRefusedPrompts(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	body := `{"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs"}, "node_errors": {}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	komga, err := authclient.New(authclient.Komga, srv.URL, fast)
	require.NoError(t, err)
	dead, err := comfyui.New("http://127.0.0.1:1/", authclient.WithMaxRetries(0))
	require.NoError(t, err)
	_, transportErr := dead.Queue(t.Context())
	require.Error(t, transportErr)

	for name, err := range map[string]error{
		"nil":               nil,
		"401":               newClient(t, s.URL).Core().CheckAuth(t.Context()),
		"plain error":       errors.New("x"),
		"transport failure": transportErr,
		"another server":    komga.Do(t.Context(), "POST", "prompt", nil, nil),
		"wrapped plain":     fmt.Errorf("wrapped: %w", errors.New("x")),
	} {
		v, ok := comfyui.ValidationDetails(err)
		assert.False(t, ok, name)
		assert.Nil(t, v, name)
	}
	// The same body from ComfyUI is a refused prompt.
	c := newClient(t, srv.URL)
	_, err = c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil)})
	_, ok := comfyui.ValidationDetails(err)
	assert.True(t, ok)
}

func TestValidationHintIsBounded(t *testing.T) {
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	_, err = newClient(t, srv.URL).QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil)})
	e := asError(t, err)
	assert.LessOrEqual(t, len(e.Hint), 300+len("…"))
	assert.True(t, strings.HasPrefix(e.Hint, "node 1 (KKK"), e.Hint)
	assert.NotContains(t, e.Hint, "\n")
	v, ok := comfyui.ValidationDetails(err)
	require.True(t, ok)
	assert.Len(t, v.Nodes, 24, "every error of every well-formed node, the junk one skipped")
	assert.Equal(t, "2", v.Nodes[2].NodeID, "numeric order: 1, 1, 2, …, 10")
	assert.Equal(t, "10", v.Nodes[18].NodeID)
}

// The hint is server text: the class is every credential the request
// carried (the client's key, a Comfy.org key or token in extra_data) in
// every form an echo may take in node_errors (as it is, in the class
// type, in the details, JSON-escaped, split over a line break that the
// hint folds), and none may appear in the error's text or hint.
func TestValidationHintMasksCredentials(t *testing.T) {
	t.Parallel()
	const clientKey = "client-key-5f3a9c1e"
	const orgKey = "comfy-org-key-77aa12bb"
	const orgToken = "comfy-org-token-0c0ffee0"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ExtraData map[string]string `json:"extra_data"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		echo := map[string]any{
			"1": map[string]any{"class_type": in.ExtraData["api_key_comfy_org"], "errors": []any{
				map[string]any{"type": "t", "message": "bad key " + auth, "details": in.ExtraData["auth_token_comfy_org"]}}},
			"2": map[string]any{"class_type": "K", "errors": []any{
				map[string]any{"type": "t", "message": "bad\u0020token " + in.ExtraData["auth_token_comfy_org"], "details": auth}}},
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error":       map[string]any{"type": "prompt_outputs_failed_validation", "message": "failed for " + auth, "details": orgKey},
			"node_errors": echo,
		})
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, authclient.WithAPIKey(clientKey))
	_, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil),
		ExtraData: map[string]any{"api_key_comfy_org": orgKey, "auth_token_comfy_org": orgToken}})
	e := asError(t, err)
	require.NotEmpty(t, e.Hint)
	assert.Contains(t, e.Hint, "node 1")
	for _, text := range []string{err.Error(), e.Hint, e.Message, fmt.Sprintf("%v", err), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
		for _, secret := range []string{clientKey, orgKey, orgToken} {
			assert.NotContains(t, text, secret)
		}
	}
	// The details stay the server's own, unfiltered (documented).
	v, ok := comfyui.ValidationDetails(err)
	require.True(t, ok)
	assert.Equal(t, orgKey, v.Details)
}

// QueuePrompt is never retried, and the class of failures that leave the
// outcome unknown (a 5xx, no answer, an unreadable 2xx) return the id to
// look for; a refusal (4xx) returns none.
func TestQueuePromptIsNeverRetried(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))

	for _, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusBadGateway} {
		before := s.Requests("POST", "/prompt")
		s.Faults.FailNext(1, status, 0)
		q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil)})
		require.Error(t, err, status)
		assert.Equal(t, status, asError(t, err).StatusCode)
		assert.Equal(t, before+1, s.Requests("POST", "/prompt"), status)
		require.NotNil(t, q, "the outcome of a 5xx is unknown: the id comes back to look for")
		assert.Regexp(t, uuid4Pattern, q.PromptID)
	}

	before := s.Requests("POST", "/prompt")
	s.Faults.ResetNext(1)
	q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil)})
	var te *authclient.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, before+1, s.Requests("POST", "/prompt"))
	require.NotNil(t, q)
	assert.Regexp(t, uuid4Pattern, q.PromptID)
	assert.Empty(t, s.Prompts())

	// The id that came back finds the prompt (here: not queued at all).
	st, err := c.Queue(t.Context())
	require.NoError(t, err)
	assert.Empty(t, st.Pending)
	_, err = c.History(t.Context(), q.PromptID)
	require.ErrorIs(t, err, comfyui.ErrNoHistory)

	// A refusal: certainly not queued, no id.
	s.Faults.FailNext(1, http.StatusTooManyRequests, 0)
	q, err = c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil)})
	require.ErrorIs(t, err, authclient.ErrRateLimited)
	assert.Nil(t, q)

	// GETs, by contrast, are retried.
	gets := s.Requests("GET", "/queue")
	s.Faults.FailNextOn("/queue", 1, http.StatusServiceUnavailable, 0)
	_, err = c.Queue(t.Context())
	require.NoError(t, err)
	assert.Equal(t, gets+2, s.Requests("GET", "/queue"))
}

// An unreadable 2xx (not JSON, an HTML page) leaves the outcome unknown
// too: the id comes back.
func TestQueuePromptUnreadableAnswerReturnsTheID(t *testing.T) {
	t.Parallel()
	for name, h := range map[string]http.HandlerFunc{
		"broken JSON": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"prompt_id": `))
		},
		"empty body": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
		},
		"HTML page": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(`<html><body>login</body></html>`))
		},
	} {
		srv := httptest.NewServer(h)
		q, err := newClient(t, srv.URL).QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil)})
		srv.Close()
		require.Error(t, err, name)
		assert.Less(t, asError(t, err).StatusCode, 300, name)
		require.NotNil(t, q, name)
		assert.Regexp(t, uuid4Pattern, q.PromptID, name)
	}
}

func TestQueue(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	st, err := c.Queue(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &comfyui.Queue{Running: []comfyui.QueueItem{}, Pending: []comfyui.QueueItem{}}, st)

	var ids []string
	for i := 0; i < 3; i++ {
		q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil), ClientID: fmt.Sprint("client-", i)})
		require.NoError(t, err)
		ids = append(ids, q.PromptID)
	}
	require.True(t, s.StartPrompt(ids[0]))
	st, err = c.Queue(t.Context())
	require.NoError(t, err)
	assert.Equal(t, &comfyui.Queue{
		Running:   []comfyui.QueueItem{{Number: 0, PromptID: ids[0], ClientID: "client-0"}},
		Pending:   []comfyui.QueueItem{{Number: 1, PromptID: ids[1], ClientID: "client-1"}, {Number: 2, PromptID: ids[2], ClientID: "client-2"}},
		Remaining: 3,
	}, st)

	s.CompletePrompt(ids[0])
	st, err = c.Queue(t.Context())
	require.NoError(t, err)
	assert.Empty(t, st.Running)
	assert.Len(t, st.Pending, 2)
	assert.Equal(t, 2, st.Remaining)

	_, err = newClient(t, s.URL).Queue(t.Context())
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
}

// Queue reads /queue, then /prompt: a failure of the second is the core's
// error, classified once.
func TestQueuePromptCountFails(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))

	s.Faults.FailNextOn("/prompt", 1, http.StatusInternalServerError, -1)
	st, err := c.Queue(t.Context())
	require.Error(t, err)
	assert.Nil(t, st)
	e := asError(t, err)
	assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
	assert.Equal(t, http.MethodGet, e.Method)
	assert.True(t, strings.HasSuffix(e.URL, "/comfyui/prompt"), e.URL)
	assert.Equal(t, "Internal Server Error", e.Message)
	for _, kind := range []error{authclient.ErrUnauthorized, authclient.ErrUnavailable, authclient.ErrNotFound, authclient.ErrUnexpectedServer} {
		assert.NotErrorIs(t, err, kind)
	}
	assert.Equal(t, 1, s.Requests("GET", "/queue"), "the queue was read first")
	assert.Equal(t, 1, s.Requests("GET", "/prompt"), "a 500 is not retried")

	// 503 on every attempt: retried, then ErrUnavailable.
	s.Faults.FailNextOn("/prompt", 3, http.StatusServiceUnavailable, -1)
	_, err = c.Queue(t.Context())
	require.ErrorIs(t, err, authclient.ErrUnavailable)
	assert.Equal(t, http.StatusServiceUnavailable, asError(t, err).StatusCode)
	assert.Equal(t, 1+3, s.Requests("GET", "/prompt"))

	// A proxy's 401 on /prompt alone is diagnosed like any other.
	s.Faults.FailNextOn("/prompt", 1, http.StatusUnauthorized, -1)
	_, err = c.Queue(t.Context())
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
	e = asError(t, err)
	assert.Equal(t, authclient.CredentialAPIKey, e.Credential)
	assert.Contains(t, e.Hint, "Authorization: Bearer")

	// A /queue that fails first: nothing more is asked.
	prompts := s.Requests("GET", "/prompt")
	s.Faults.FailNextOn("/queue", 1, http.StatusForbidden, -1)
	_, err = c.Queue(t.Context())
	require.ErrorIs(t, err, authclient.ErrForbidden)
	assert.Equal(t, prompts, s.Requests("GET", "/prompt"))

	st, err = c.Queue(t.Context())
	require.NoError(t, err, "the faults are used up")
	assert.Equal(t, 0, st.Remaining)
}

func TestHistory(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(func(w map[string]map[string]any) {
		w["10"] = map[string]any{"class_type": "PreviewImage", "inputs": map[string]any{"images": []any{"8", 0}}}
		w["9"]["inputs"].(map[string]any)["filename_prefix"] = "cats/cat"
	})})
	require.NoError(t, err)

	_, err = c.History(t.Context(), q.PromptID)
	require.ErrorIs(t, err, comfyui.ErrNoHistory, "still queued")
	require.ErrorIs(t, err, authclient.ErrNotFound)
	assert.True(t, strings.HasPrefix(err.Error(), "comfyui: "), err.Error())

	s.CompletePrompt(q.PromptID)
	h, err := c.History(t.Context(), q.PromptID)
	require.NoError(t, err)
	assert.Equal(t, q.PromptID, h.PromptID)
	assert.Equal(t, "success", h.Status)
	assert.True(t, h.Completed)
	assert.Equal(t, []comfyui.OutputFile{{Filename: "cat_00001_.png", Subfolder: "cats", Type: "output"}}, h.Outputs["9"])
	require.Len(t, h.Outputs["10"], 1)
	assert.Equal(t, "temp", h.Outputs["10"][0].Type)
	assert.Len(t, h.Outputs, 2)

	// An interrupted prompt.
	q2, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil)})
	require.NoError(t, err)
	require.True(t, s.StartPrompt(q2.PromptID))
	require.NoError(t, c.Interrupt(t.Context(), q2.PromptID))
	h, err = c.History(t.Context(), q2.PromptID)
	require.NoError(t, err)
	assert.Equal(t, &comfyui.History{PromptID: q2.PromptID, Status: "error", Outputs: map[string][]comfyui.OutputFile{}}, h)

	// Ids that could leave /history/: the class is every separator, dot
	// segment and control character, in every encoding; none is sent.
	before := s.TotalRequests()
	for _, bad := range []string{"../x", "..", ".", "", "a/b", `a\b`, `..\x`, "%2e%2e", "%2E%2e", ".%2e", "%252e%252e",
		"a\nb", "a\x00b", "a\rb", "a\u0085b", "..;"} {
		_, err = c.History(t.Context(), bad)
		require.ErrorIs(t, err, authclient.ErrInvalidPath, "%q", bad)
	}
	assert.Equal(t, before, s.TotalRequests(), "refused before anything is sent")

	_, err = c.History(t.Context(), "00000000-0000-4000-8000-000000000000")
	require.ErrorIs(t, err, comfyui.ErrNoHistory)
	_, err = newClient(t, s.URL).History(t.Context(), q.PromptID)
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
	require.NotErrorIs(t, err, comfyui.ErrNoHistory)
}

// A history answer that is not a JSON object is the core's
// ErrUnexpectedServer, not "no history".
func TestHistoryNotAnObject(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`[]`, `"x"`, `{"a": `, ``} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(body))
		}))
		_, err := newClient(t, srv.URL).History(t.Context(), "p1")
		srv.Close()
		require.ErrorIs(t, err, authclient.ErrUnexpectedServer, body)
		require.NotErrorIs(t, err, comfyui.ErrNoHistory, body)
	}
}

func TestSystemStats(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	st, err := c.SystemStats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "linux", st.OS)
	assert.Equal(t, "0.3.64", st.ComfyUIVersion)
	assert.Equal(t, "2.8.0+cu128", st.PyTorchVersion)
	assert.True(t, strings.HasPrefix(st.PythonVersion, "3.12.3"), st.PythonVersion)
	assert.Equal(t, int64(67331584000), st.RAMTotal)
	assert.Equal(t, int64(60129542144), st.RAMFree)
	assert.Equal(t, []comfyui.Device{{Name: "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync", Type: "cuda", Index: 0,
		VRAMTotal: 25386352640, VRAMFree: 24000000000}}, st.Devices)

	s.SetCPUMode(true)
	st, err = c.SystemStats(t.Context())
	require.NoError(t, err)
	require.Len(t, st.Devices, 1)
	assert.Equal(t, "cpu", st.Devices[0].Type)

	_, err = newClient(t, s.URL, authclient.WithAPIKey("wrong")).SystemStats(t.Context())
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
}

// SystemStats reads any shape tolerantly: wrong field types read as zero,
// devices that are not objects are skipped, a syntax error is the core's
// ErrUnexpectedServer.
func TestSystemStatsTolerant(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body string
		want *comfyui.SystemStats
		err  error
	}{
		"wrong types": {`{"system": {"os": 5, "ram_total": "12", "ram_free": 3.9, "comfyui_version": "1"}, "devices": [1, "x", null, {"name": "cpu", "index": "z", "vram_total": 1e300}]}`,
			&comfyui.SystemStats{ComfyUIVersion: "1", RAMTotal: 12, RAMFree: 3, Devices: []comfyui.Device{{Name: "cpu"}}}, nil},
		"empty object":       {`{}`, &comfyui.SystemStats{Devices: []comfyui.Device{}}, nil},
		"devices not a list": {`{"devices": {"a": 1}}`, &comfyui.SystemStats{Devices: []comfyui.Device{}}, nil},
		"syntax error":       {`{"system": `, nil, authclient.ErrUnexpectedServer},
	}
	for name, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(tt.body))
		}))
		st, err := newClient(t, srv.URL).SystemStats(t.Context())
		srv.Close()
		if tt.err != nil {
			require.ErrorIs(t, err, tt.err, name)
			continue
		}
		require.NoError(t, err, name)
		assert.Equal(t, tt.want, st, name)
	}
}

func TestInterrupt(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))

	require.NoError(t, c.Interrupt(t.Context(), ""))
	assert.Equal(t, 1, s.Interrupts())
	assert.Empty(t, s.LastHeader("POST", "/interrupt").Get("Content-Type"), "a global interrupt has no body")

	q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil)})
	require.NoError(t, err)
	require.NoError(t, c.Interrupt(t.Context(), q.PromptID), "not running: nothing happens")
	assert.Equal(t, 2, s.Interrupts())
	assert.Equal(t, "application/json", s.LastHeader("POST", "/interrupt").Get("Content-Type"))
	st, err := c.Queue(t.Context())
	require.NoError(t, err)
	assert.Len(t, st.Pending, 1, "an interrupt leaves the queue alone")

	s.Faults.FailNext(1, http.StatusServiceUnavailable, 0)
	require.ErrorIs(t, c.Interrupt(t.Context(), ""), authclient.ErrUnavailable)
	assert.Equal(t, 3, s.Requests("POST", "/interrupt"), "never retried")
	assert.Equal(t, 2, s.Interrupts())

	require.ErrorIs(t, newClient(t, s.URL).Interrupt(t.Context(), ""), authclient.ErrUnauthorized)
}

// Every operation sends the client's credentials only under the base path
// and reports a bad key as the core's ErrUnauthorized, with no credential
// in the error: the class is every operation of the package.
func TestOperationsShareTheCoreErrors(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	const wrong = "wrong-key-0123456789"
	c := newClient(t, s.URL, authclient.WithAPIKey(wrong))
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"QueuePrompt": func() error {
			_, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: workflow(nil)})
			return err
		},
		"Queue":       func() error { _, err := c.Queue(ctx); return err },
		"History":     func() error { _, err := c.History(ctx, "p1"); return err },
		"SystemStats": func() error { _, err := c.SystemStats(ctx); return err },
		"Interrupt":   func() error { return c.Interrupt(ctx, "p1") },
	} {
		err := call()
		require.ErrorIs(t, err, authclient.ErrUnauthorized, name)
		e := asError(t, err)
		assert.Equal(t, authclient.ComfyUI, e.Server, name)
		assert.Contains(t, e.URL, "/comfyui/", name)
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", e), e.Hint} {
			assert.NotContains(t, text, wrong, name)
		}
	}
}

// A Client not made by a constructor (a nil *Client, a zero Client) gives
// a ConfigError from every operation, never a panic.
func TestZeroClientIsAConfigError(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for name, c := range map[string]*comfyui.Client{"nil": nil, "zero": {}} {
		assert.Nil(t, c.Core(), name)
		for op, call := range map[string]func() error{
			"QueuePrompt": func() error {
				_, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: workflow(nil)})
				return err
			},
			"Queue":       func() error { _, err := c.Queue(ctx); return err },
			"History":     func() error { _, err := c.History(ctx, "p1"); return err },
			"SystemStats": func() error { _, err := c.SystemStats(ctx); return err },
			"Interrupt":   func() error { return c.Interrupt(ctx, "") },
		} {
			var ce *authclient.ConfigError
			require.ErrorAs(t, call(), &ce, "%s %s", name, op)
			assert.Equal(t, "comfyui.Client", ce.Setting)
		}
	}
}

// TestQueuePromptNeverSentIsNotMaybeQueued covers the class "an *Error with
// no answer behind it" (StatusCode 0) in QueuePrompt, which returns the
// prompt id with the errors that may come after ComfyUI queued the prompt
// (a 2xx it could not read, a 5xx): an error from before the request was
// sent (here an authenticator's, the core's own logged-out error) returns
// no id, like a refusal.
func TestQueuePromptNeverSentIsNotMaybeQueued(t *testing.T) {
	t.Parallel()
	comfy := setup(t, comfyKey)
	k := authtest.NewKomga()
	t.Cleanup(k.Close)
	k.AddUser("me@example.org", "pw")
	kc, err := authclient.New(authclient.Komga, k.URL, authclient.WithLogin("me@example.org", "pw"))
	require.NoError(t, err)
	require.NoError(t, kc.Logout(t.Context()))
	_, local := kc.CurrentUser(t.Context())
	require.ErrorIs(t, local, authclient.ErrUnauthorized)
	require.Zero(t, asError(t, local).StatusCode, "the core decided it without an answer")

	c := newClient(t, comfy.URL, authclient.WithAuthenticator(authclient.AuthenticatorFunc(func(*http.Request) error { return local })))
	q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil)})
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
	assert.Nil(t, q, "never sent, so not queued")
	assert.Zero(t, comfy.Requests("POST", "/prompt"), "nothing was sent")
}

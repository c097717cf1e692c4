package authtest

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	comfyTestKey = "s3cret-key"

	comfyTestUnauthorized = `{"error": "Unauthorized", "message": "Invalid or missing API key. Provide API key via ` +
		`'Authorization: Bearer <key>' or 'X-API-Key: <key>' header."}`

	// comfyTestWorkflow is the default text-to-image workflow in API format.
	comfyTestWorkflow = `{
		"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
		"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
		"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
		"7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
		"3": {"class_type": "KSampler", "inputs": {"model": ["4", 0], "seed": 1, "steps": 20, "cfg": 8,
			"sampler_name": "euler", "scheduler": "normal", "positive": ["6", 0], "negative": ["7", 0],
			"latent_image": ["5", 0], "denoise": 1}},
		"8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
		"9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "cat", "images": ["8", 0]}}}`
)

var comfyTestStart = time.Date(2026, 1, 1, 0, 0, 0, 123_000_000, time.UTC)

func comfyTestServer(t *testing.T, key string, opts ...Option) *ComfyUI {
	t.Helper()
	srv := NewComfyUI(key, append([]Option{WithClock(NewClock(comfyTestStart))}, opts...)...)
	t.Cleanup(srv.Close)
	return srv
}

// comfyCall sends a request to path (relative to the fake's base URL, with
// a leading "/") with header name/value pairs, and returns the response and
// its body.
func comfyCall(t *testing.T, srv *ComfyUI, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(srv.URL, "/")+path, rd)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := srv.HTTP.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// comfyKeyed is comfyCall with the right Bearer key.
func comfyKeyed(t *testing.T, srv *ComfyUI, method, path, body string) (*http.Response, string) {
	t.Helper()
	return comfyCall(t, srv, method, path, body, "Authorization", "Bearer "+comfyTestKey)
}

func comfyJSON(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	return m
}

// comfyQueuePrompt posts a prompt and returns its id.
func comfyQueuePrompt(t *testing.T, srv *ComfyUI, body string) string {
	t.Helper()
	resp, out := comfyKeyed(t, srv, "POST", "/prompt", body)
	require.Equal(t, http.StatusOK, resp.StatusCode, out)
	return comfyJSON(t, out)["prompt_id"].(string)
}

func TestComfyUIExemptPaths(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/health", 200},
		{"GET", "/ws", 400}, // exempt, so aiohttp's handshake error, not 401
		{"GET", "/", 200},
		{"GET", "/auth_login.html", 200},
		{"GET", "/auth_inject.js", 200},
		{"GET", "/index.html", 200},
		{"GET", "/api/health", 401},
		{"GET", "/api/ws", 401},
		{"GET", "/api/", 401},
		{"GET", "/api/userdata/x.json", 404},
		{"GET", "/api/userdata/workflows%2Fx.json", 404},
		{"POST", "/api/userdata/x.json", 405}, // any method passes
		{"GET", "/x.map", 404},
		{"GET", "/x.eot", 404},
		{"GET", "/x.woff2", 404},
		{"GET", "/X.JSON", 401}, // case-sensitive
		{"GET", "/a.mp3", 401},
		{"GET", "/a.wav", 401},
		{"GET", "/a.mp4", 401},
		{"GET", "/a.webm", 401},
		{"GET", "/extensions/core/x", 404},
		{"GET", "/templates/t", 404},
		{"GET", "/docs/d", 404},
		{"GET", "/extensions", 401},
		{"GET", "/health/", 401},
		{"GET", "/unknown", 401},
		{"OPTIONS", "/prompt", 401},
		{"OPTIONS", "/health", 200},
		{"GET", "/internal/logs", 401},
	}
	for _, tt := range tests {
		resp, body := comfyCall(t, srv, tt.method, tt.path, "")
		assert.Equal(t, tt.want, resp.StatusCode, "%s %s: %s", tt.method, tt.path, body)
	}

	// An exempt path does not look at the key, so a wrong one is fine.
	resp, _ := comfyCall(t, srv, "GET", "/health", "", "Authorization", "Bearer wrong")
	assert.Equal(t, 200, resp.StatusCode)
}

func TestComfyUIKeyPrecedence(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)
	tests := []struct {
		name   string
		query  string
		header []string
		want   int
	}{
		{"bearer", "", []string{"Authorization", "Bearer " + comfyTestKey}, 200},
		{"x-api-key", "", []string{"X-API-Key", comfyTestKey}, 200},
		{"x-api-key any case", "", []string{"x-api-key", comfyTestKey}, 200},
		{"query", "?api_key=" + comfyTestKey, nil, 200},
		{"none", "", nil, 401},
		{"wrong bearer", "", []string{"Authorization", "Bearer nope"}, 401},
		{"wrong bearer masks right x-api-key", "", []string{"Authorization", "Bearer nope", "X-API-Key", comfyTestKey}, 401},
		{"wrong bearer masks right query", "?api_key=" + comfyTestKey, []string{"Authorization", "Bearer nope"}, 401},
		{"wrong x-api-key masks right query", "?api_key=" + comfyTestKey, []string{"X-API-Key", "nope"}, 401},
		{"lowercase bearer falls through", "", []string{"Authorization", "bearer nope", "X-API-Key", comfyTestKey}, 200},
		{"lowercase bearer alone", "", []string{"Authorization", "bearer " + comfyTestKey}, 401},
		{"basic falls through to query", "?api_key=" + comfyTestKey, []string{"Authorization", "Basic dTpw"}, 200},
		{"empty bearer", "", []string{"Authorization", "Bearer "}, 401},
		// Go (client and server) trims header values, so "Bearer " arrives as
		// "Bearer", which is no Bearer value: X-API-Key is used.
		{"empty bearer before x-api-key", "", []string{"Authorization", "Bearer ", "X-API-Key", comfyTestKey}, 200},
		{"bearer no space", "", []string{"Authorization", "Bearer", "X-API-Key", comfyTestKey}, 200},
		{"two spaces", "", []string{"Authorization", "Bearer  " + comfyTestKey}, 401},
		{"trailing space", "", []string{"Authorization", "Bearer " + comfyTestKey + " "}, 200}, // Go trims header values on the wire
		{"empty x-api-key is skipped", "?api_key=" + comfyTestKey, []string{"X-API-Key", ""}, 200},
		{"empty query", "?api_key=", nil, 401},
	}
	for _, tt := range tests {
		resp, body := comfyCall(t, srv, "GET", "/prompt"+tt.query, "", tt.header...)
		assert.Equal(t, tt.want, resp.StatusCode, "%s: %s", tt.name, body)
	}
}

func TestComfyUIUnauthorizedResponse(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)
	for _, header := range [][]string{nil, {"X-API-Key", "wrong"}} {
		resp, body := comfyCall(t, srv, "POST", "/api/prompt", `{"prompt": {}}`, header...)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, comfyTestUnauthorized, body)
		assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Empty(t, resp.Header.Get("WWW-Authenticate"))
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	assert.Empty(t, srv.Prompts(), "a rejected request never reaches the handler")
}

func TestComfyUIPlainMode(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, "")
	for _, path := range []string{"/prompt", "/api/prompt", "/queue", "/system_stats", "/api/health"} {
		resp, body := comfyCall(t, srv, "GET", path, "", "Authorization", "Bearer anything")
		assert.Equal(t, 200, resp.StatusCode, "%s: %s", path, body)
	}
	resp, body := comfyCall(t, srv, "GET", "/", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.NotContains(t, body, "auth_inject.js")
	resp, _ = comfyCall(t, srv, "OPTIONS", "/prompt", "")
	assert.Equal(t, 200, resp.StatusCode)
}

func TestComfyUIProxy(t *testing.T) {
	t.Parallel()
	t.Run("basic", func(t *testing.T) {
		t.Parallel()
		srv := comfyTestServer(t, "")
		srv.RequireBasicAuth("admin", "pw")
		for _, path := range []string{"/health", "/prompt", "/ws", "/", "/x.js"} {
			resp, body := comfyCall(t, srv, "GET", path, "")
			assert.Equal(t, 401, resp.StatusCode, path)
			assert.Equal(t, `Basic realm="ComfyUI"`, resp.Header.Get("WWW-Authenticate"))
			assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
			assert.NotEmpty(t, body)
		}
		resp, _ := comfyCall(t, srv, "GET", "/prompt", "", "Authorization", "Basic YWRtaW46d3Jvbmc=") // admin:wrong
		assert.Equal(t, 401, resp.StatusCode)
		resp, body := comfyCall(t, srv, "GET", "/prompt", "", "Authorization", "Basic YWRtaW46cHc=") // admin:pw
		assert.Equal(t, 200, resp.StatusCode, body)
		srv.RequireBasicAuth("", "")
		resp, _ = comfyCall(t, srv, "GET", "/prompt", "")
		assert.Equal(t, 200, resp.StatusCode)
	})
	t.Run("basic in front of the patch", func(t *testing.T) {
		t.Parallel()
		srv := comfyTestServer(t, comfyTestKey)
		srv.RequireBasicAuth("admin", "pw")
		// Basic takes the Authorization header, so the key goes in X-API-Key.
		resp, body := comfyCall(t, srv, "GET", "/prompt", "", "Authorization", "Basic YWRtaW46cHc=")
		assert.Equal(t, 401, resp.StatusCode)
		assert.Equal(t, comfyTestUnauthorized, body)
		resp, _ = comfyCall(t, srv, "GET", "/prompt", "", "Authorization", "Basic YWRtaW46cHc=", "X-API-Key", comfyTestKey)
		assert.Equal(t, 200, resp.StatusCode)
	})
	t.Run("header", func(t *testing.T) {
		t.Parallel()
		srv := comfyTestServer(t, "")
		srv.RequireHeader("CF-Access-Client-Id", "id.access")
		for _, header := range [][]string{nil, {"CF-Access-Client-Id", "other"}} {
			resp, body := comfyCall(t, srv, "GET", "/health", "", header...)
			assert.Equal(t, 403, resp.StatusCode)
			assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
			assert.NotEmpty(t, body)
		}
		resp, _ := comfyCall(t, srv, "GET", "/health", "", "Cf-Access-Client-Id", "id.access")
		assert.Equal(t, 200, resp.StatusCode)
	})
}

func TestComfyUIRoot(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)
	resp, body := comfyCall(t, srv, "GET", "/", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	assert.Contains(t, body, "<script src=\"/auth_inject.js\"></script>\n</head>")

	for _, header := range [][]string{{"Authorization", "Bearer wrong"}, {"X-API-Key", "wrong"}} {
		_, body = comfyCall(t, srv, "GET", "/", "", header...)
		assert.Contains(t, body, "auth_inject.js")
	}
	resp, body = comfyKeyed(t, srv, "GET", "/", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/html", resp.Header.Get("Content-Type"))
	assert.NotContains(t, body, "auth_inject.js")
	assert.Contains(t, body, "</head>")

	resp, body = comfyCall(t, srv, "GET", "/auth_inject.js", "")
	assert.Equal(t, "application/javascript", resp.Header.Get("Content-Type"))
	assert.Contains(t, body, "auth_login.html")
	resp, _ = comfyCall(t, srv, "GET", "/auth_login.html", "")
	assert.Equal(t, "text/html", resp.Header.Get("Content-Type"))
}

func TestComfyUIPromptLifecycle(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)

	resp, body := comfyKeyed(t, srv, "POST", "/prompt", `{"prompt": `+comfyTestWorkflow+`, "client_id": "c1",
		"extra_data": {"extra_pnginfo": {"workflow": {}}, "api_key_comfy_org": "secret", "auth_token_comfy_org": "t"}}`)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, comfyServerHeader, resp.Header.Get("Server"))
	assert.Regexp(t, `^\{"prompt_id": "[0-9a-f-]{36}", "number": 0, "node_errors": \{\}\}$`, body)
	first := comfyJSON(t, body)["prompt_id"].(string)

	second := "0b9a7c1e-8f2d-4c3b-9a1e-2d3c4b5a6f70"
	resp, body = comfyKeyed(t, srv, "POST", "/api/prompt", `{"prompt": `+comfyTestWorkflow+`, "prompt_id": "`+second+`"}`)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, `{"prompt_id": "`+second+`", "number": 1, "node_errors": {}}`, body)
	third := comfyQueuePrompt(t, srv, `{"prompt": `+comfyTestWorkflow+`, "front": true}`)
	assert.Equal(t, []string{first, second, third}, srv.Prompts())

	_, body = comfyKeyed(t, srv, "GET", "/prompt", "")
	assert.Equal(t, `{"exec_info": {"queue_remaining": 3}}`, body)

	// queue_pending is Python's heap list: [-2, 1, 0] after pushing 0, 1, -2.
	_, body = comfyKeyed(t, srv, "GET", "/queue", "")
	var queue struct {
		Running [][]json.RawMessage `json:"queue_running"`
		Pending [][]json.RawMessage `json:"queue_pending"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &queue))
	assert.Empty(t, queue.Running)
	require.Len(t, queue.Pending, 3)
	assert.Equal(t, `-2`, string(queue.Pending[0][0]))
	assert.Equal(t, `"`+third+`"`, string(queue.Pending[0][1]))
	assert.Equal(t, `1`, string(queue.Pending[1][0]))
	item := queue.Pending[2]
	require.Len(t, item, 5)
	assert.Equal(t, `0`, string(item[0]))
	assert.Equal(t, `"`+first+`"`, string(item[1]))
	assert.Contains(t, string(item[2]), `"class_type": "SaveImage"`)
	assert.JSONEq(t, `{"extra_pnginfo": {"workflow": {}}, "client_id": "c1", "create_time": 1767225600123}`, string(item[3]))
	assert.Equal(t, `["9"]`, string(item[4]))
	assert.NotContains(t, body, "secret")

	// Running, then done.
	assert.True(t, srv.StartPrompt(first))
	assert.False(t, srv.StartPrompt(second), "one prompt runs at a time")
	_, body = comfyKeyed(t, srv, "GET", "/health", "")
	assert.Equal(t, map[string]any{"pending": 2.0, "running": 1.0}, comfyJSON(t, body)["queue"])
	srv.Clock.Advance(2 * time.Second)
	srv.CompletePrompt(first)
	srv.CompletePrompt("no-such-prompt")

	resp, body = comfyKeyed(t, srv, "GET", "/history/"+first, "")
	require.Equal(t, 200, resp.StatusCode)
	entry := comfyJSON(t, body)[first].(map[string]any)
	assert.Equal(t, map[string]any{"9": map[string]any{"images": []any{
		map[string]any{"filename": "cat_00001_.png", "subfolder": "", "type": "output"}}}}, entry["outputs"])
	status := entry["status"].(map[string]any)
	assert.Equal(t, "success", status["status_str"])
	assert.Equal(t, true, status["completed"])
	assert.Equal(t, []any{"execution_start", map[string]any{"prompt_id": first, "timestamp": 1767225602123.0}},
		status["messages"].([]any)[0])
	assert.Len(t, entry["prompt"], 5)
	assert.Contains(t, entry["meta"], "9")

	_, body = comfyKeyed(t, srv, "GET", "/api/history/no-such-prompt", "")
	assert.Equal(t, "{}", body)
	srv.CompletePrompt(second)
	srv.CompletePrompt(third)
	_, body = comfyKeyed(t, srv, "GET", "/prompt", "")
	assert.Equal(t, `{"exec_info": {"queue_remaining": 0}}`, body)

	// History paging, with ComfyUI's arithmetic.
	historyIDs := func(query string) []string {
		_, body := comfyKeyed(t, srv, "GET", "/history"+query, "")
		var ids []string
		dec := json.NewDecoder(strings.NewReader(body))
		_, _ = dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			ids = append(ids, k.(string))
			var skip json.RawMessage
			require.NoError(t, dec.Decode(&skip))
		}
		return ids
	}
	assert.Equal(t, []string{first, second, third}, historyIDs(""))
	assert.Equal(t, []string{second, third}, historyIDs("?max_items=2"))
	assert.Equal(t, []string{second}, historyIDs("?max_items=1&offset=1"))
	assert.Equal(t, []string{second, third}, historyIDs("?offset=1"))
	assert.Equal(t, []string{first}, historyIDs("?max_items=0&offset=0"))
	resp, body = comfyKeyed(t, srv, "GET", "/history?max_items=two", "")
	assert.Equal(t, 500, resp.StatusCode)
	assert.Equal(t, "500 Internal Server Error\n\nServer got itself in trouble", body)

	resp, body = comfyKeyed(t, srv, "POST", "/history", `{"delete": ["`+second+`"]}`)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, body)
	assert.Empty(t, resp.Header.Get("Content-Type"))
	assert.Equal(t, []string{first, third}, historyIDs(""))
	comfyKeyed(t, srv, "POST", "/history", `{"clear": true}`)
	assert.Empty(t, historyIDs(""))
}

func TestComfyUIQueueEdits(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)
	a := comfyQueuePrompt(t, srv, `{"prompt": `+comfyTestWorkflow+`}`)
	b := comfyQueuePrompt(t, srv, `{"prompt": `+comfyTestWorkflow+`}`)
	comfyQueuePrompt(t, srv, `{"prompt": `+comfyTestWorkflow+`}`)

	resp, body := comfyKeyed(t, srv, "POST", "/queue", `{"delete": ["`+a+`", "unknown"]}`)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, body)
	_, body = comfyKeyed(t, srv, "GET", "/prompt", "")
	assert.Equal(t, `{"exec_info": {"queue_remaining": 2}}`, body)

	// clear empties pending but leaves the running prompt alone.
	require.True(t, srv.StartPrompt(b))
	comfyKeyed(t, srv, "POST", "/api/queue", `{"clear": true}`)
	_, body = comfyKeyed(t, srv, "GET", "/queue", "")
	assert.Equal(t, 1, strings.Count(body, `"class_type": "SaveImage"`))
	assert.Contains(t, body, `"queue_pending": []`)

	for _, bad := range []string{"", "not json", `{"delete": 5}`, "7"} {
		resp, _ = comfyKeyed(t, srv, "POST", "/queue", bad)
		assert.Equal(t, 500, resp.StatusCode, bad)
	}
	resp, _ = comfyKeyed(t, srv, "POST", "/history", `{"delete": [["unhashable"]]}`)
	assert.Equal(t, 500, resp.StatusCode)
}

func TestComfyUIPromptErrors(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)
	noOutputs := `{"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", ` +
		`"extra_info": {}}, "node_errors": {}}`
	tests := []struct {
		name, body string
		status     int
		want       string // exact body, or "" to skip
		errType    string
	}{
		{"not json", `{"prompt": `, 500, "500 Internal Server Error\n\nServer got itself in trouble", ""},
		{"empty body", ``, 500, "", ""},
		{"json scalar", `42`, 500, "", ""},
		{"no prompt", `{"client_id": "x"}`, 400, `{"error": {"type": "no_prompt", "message": "No prompt provided", ` +
			`"details": "No prompt provided", "extra_info": {}}, "node_errors": {}}`, "no_prompt"},
		{"json list", `[]`, 400, "", "no_prompt"},
		{"empty prompt", `{"prompt": {}}`, 400, noOutputs, "prompt_no_outputs"},
		{"prompt not an object", `{"prompt": 5}`, 500, "", ""},
		{"no output node", `{"prompt": {"1": {"class_type": "EmptyLatentImage", ` +
			`"inputs": {"width": 8, "height": 8, "batch_size": 1}}}}`, 400, noOutputs, "prompt_no_outputs"},
		{"unknown class", `{"prompt": {"1": {"class_type": "NoSuchNode", "inputs": {}}}}`, 400,
			`{"error": {"type": "invalid_prompt", "message": "Cannot execute because node NoSuchNode does not exist.", ` +
				`"details": "Node ID '#1'", "extra_info": {}}, "node_errors": {}}`, "invalid_prompt"},
		{"empty class", `{"prompt": {"1": {"class_type": "", "inputs": {}}}}`, 400, "", "invalid_prompt"},
		{"missing class", `{"prompt": {"1": {"inputs": {}}}}`, 400,
			`{"error": {"type": "invalid_prompt", "message": "Cannot execute because a node is missing the class_type ` +
				`property.", "details": "Node ID '#1'", "extra_info": {}}, "node_errors": {}}`, "invalid_prompt"},
		{"bad prompt_id", `{"prompt": {}, "prompt_id": "abc"}`, 400,
			`{"error": {"type": "invalid_prompt_id", "message": "prompt_id must be a valid UUID", "details": ` +
				`"prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to let the server ` +
				`generate one", "extra_info": {}}, "node_errors": {}}`, "invalid_prompt_id"},
		{"uppercase prompt_id", `{"prompt": {}, "prompt_id": "0B9A7C1E-8F2D-4C3B-9A1E-2D3C4B5A6F70"}`, 400, "", "invalid_prompt_id"},
		{"numeric prompt_id", `{"prompt": {}, "prompt_id": 7}`, 400, "", "invalid_prompt_id"},
		{"bad number", `{"prompt": {}, "number": "soon"}`, 500, "", ""},
		{"extra_data not an object", `{"prompt": ` + comfyTestWorkflow + `, "extra_data": []}`, 500, "", ""},
	}
	for _, tt := range tests {
		resp, body := comfyKeyed(t, srv, "POST", "/prompt", tt.body)
		require.Equal(t, tt.status, resp.StatusCode, "%s: %s", tt.name, body)
		if tt.want != "" {
			assert.Equal(t, tt.want, body, tt.name)
		}
		if tt.errType != "" {
			assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"), tt.name)
			assert.Equal(t, tt.errType, comfyJSON(t, body)["error"].(map[string]any)["type"], tt.name)
		} else {
			assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"), tt.name)
		}
	}
	assert.Empty(t, srv.Prompts())

	// A missing input of a node upstream of the output fails the output.
	broken := strings.Replace(comfyTestWorkflow, `"samples": ["3", 0], `, ``, 1)
	resp, body := comfyKeyed(t, srv, "POST", "/prompt", `{"prompt": `+broken+`}`)
	require.Equal(t, 400, resp.StatusCode, body)
	assert.JSONEq(t, `{"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
		"details": "", "extra_info": {}}, "node_errors": {"8": {"errors": [{"type": "required_input_missing",
		"message": "Required input is missing", "details": "samples", "extra_info": {"input_name": "samples"}}],
		"dependent_outputs": ["9"], "class_type": "VAEDecode"}}}`, body)
	resp, body = comfyKeyed(t, srv, "POST", "/prompt", `{"prompt": {"1": {"class_type": "PreviewImage", "inputs": {}}}}`)
	require.Equal(t, 400, resp.StatusCode, body)
	assert.Equal(t, "Required input is missing: images", comfyJSON(t, body)["error"].(map[string]any)["details"])

	// With one good output the prompt runs, and the bad one is reported.
	mixed := strings.Replace(comfyTestWorkflow, `}}}`, `}}, "10": {"class_type": "PreviewImage", "inputs": {}}}`, 1)
	resp, body = comfyKeyed(t, srv, "POST", "/prompt", `{"prompt": `+mixed+`}`)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, comfyJSON(t, body)["node_errors"], "10")

	// partial_execution_targets picks the outputs; the number given is a float.
	resp, body = comfyKeyed(t, srv, "POST", "/prompt", `{"prompt": `+mixed+`, "partial_execution_targets": ["10"]}`)
	assert.Equal(t, 400, resp.StatusCode, body)
	resp, body = comfyKeyed(t, srv, "POST", "/prompt", `{"prompt": `+comfyTestWorkflow+`, "number": 7}`)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, `"number": 7.0,`)
}

func TestComfyUIInterrupt(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)
	a := comfyQueuePrompt(t, srv, `{"prompt": `+comfyTestWorkflow+`}`)
	b := comfyQueuePrompt(t, srv, `{"prompt": `+comfyTestWorkflow+`}`)

	for _, body := range []string{"", "not json", `{"prompt_id": "` + b + `"}`} {
		resp, out := comfyKeyed(t, srv, "POST", "/interrupt", body)
		assert.Equal(t, 200, resp.StatusCode, body)
		assert.Empty(t, out)
	}
	resp, _ := comfyKeyed(t, srv, "POST", "/interrupt", `[1]`)
	assert.Equal(t, 500, resp.StatusCode)
	assert.Equal(t, 4, srv.Interrupts())
	_, body := comfyKeyed(t, srv, "GET", "/history", "")
	assert.Equal(t, "{}", body, "nothing was running")

	// A targeted interrupt of another prompt leaves the running one alone.
	require.True(t, srv.StartPrompt(a))
	comfyKeyed(t, srv, "POST", "/api/interrupt", `{"prompt_id": "`+b+`"}`)
	_, body = comfyKeyed(t, srv, "GET", "/history", "")
	assert.Equal(t, "{}", body)
	comfyKeyed(t, srv, "POST", "/interrupt", `{"prompt_id": "`+a+`"}`)
	assert.Equal(t, 6, srv.Interrupts())

	_, body = comfyKeyed(t, srv, "GET", "/history/"+a, "")
	status := comfyJSON(t, body)[a].(map[string]any)["status"].(map[string]any)
	assert.Equal(t, "error", status["status_str"])
	assert.Equal(t, false, status["completed"])
	messages := status["messages"].([]any)
	assert.Equal(t, "execution_interrupted", messages[len(messages)-1].([]any)[0])
	_, body = comfyKeyed(t, srv, "GET", "/prompt", "")
	assert.Equal(t, `{"exec_info": {"queue_remaining": 1}}`, body)
}

func TestComfyUIHealth(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)

	resp, body := comfyCall(t, srv, "GET", "/health", "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, `{"status": "healthy", "version": "0.3.64", "timestamp": 1767225600.123, `+
		`"queue": {"pending": 0, "running": 0}, "device": "cuda:0", `+
		`"vram": {"total": 25386352640, "free": 24000000000, "used": 1386352640}}`, body)

	srv.SetCPUMode(true)
	_, body = comfyCall(t, srv, "GET", "/health", "")
	assert.Equal(t, `{"status": "healthy", "version": "0.3.64", "timestamp": 1767225600.123, `+
		`"queue": {"pending": 0, "running": 0}, "device": "cpu"}`, body)

	srv.SetHealthShape("guide")
	_, body = comfyCall(t, srv, "GET", "/health", "")
	assert.Equal(t, `{"status": "ok", "queue": {"pending": 0, "running": 0}, "device": {"name": "cpu", "type": "cpu"}}`, body)
	srv.SetCPUMode(false)
	_, body = comfyCall(t, srv, "GET", "/health", "")
	assert.Equal(t, `{"status": "ok", "queue": {"pending": 0, "running": 0}, `+
		`"device": {"name": "cuda:0", "type": "cuda"}, "vram": {"total": 25386352640, "free": 24000000000}}`, body)

	srv.Clock.Advance(time.Second)
	srv.SetUnhealthy("CUDA error: device lost")
	resp, body = comfyCall(t, srv, "GET", "/health", "")
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, `{"status": "unhealthy", "error": "CUDA error: device lost", "timestamp": 1767225601.123}`, body)
	srv.SetUnhealthy("")
	srv.SetHealthShape("code")
	resp, body = comfyCall(t, srv, "HEAD", "/health", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, body)
}

func TestComfyUIInfoRoutes(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)

	resp, body := comfyKeyed(t, srv, "GET", "/system_stats", "")
	require.Equal(t, 200, resp.StatusCode)
	stats := comfyJSON(t, body)
	system := stats["system"].(map[string]any)
	assert.Equal(t, "0.3.64", system["comfyui_version"])
	for _, k := range []string{"os", "ram_total", "ram_free", "required_frontend_version", "installed_templates_version",
		"required_templates_version", "python_version", "pytorch_version", "embedded_python", "argv"} {
		assert.Contains(t, system, k)
	}
	assert.NotContains(t, body, comfyTestKey)
	device := stats["devices"].([]any)[0].(map[string]any)
	assert.Equal(t, "cuda", device["type"])
	for _, k := range []string{"name", "index", "vram_total", "vram_free", "torch_vram_total", "torch_vram_free"} {
		assert.Contains(t, device, k)
	}
	srv.SetCPUMode(true)
	_, body = comfyKeyed(t, srv, "GET", "/api/system_stats", "")
	device = comfyJSON(t, body)["devices"].([]any)[0].(map[string]any)
	assert.Equal(t, "cpu", device["type"])
	assert.Nil(t, device["index"])

	_, body = comfyKeyed(t, srv, "GET", "/features", "")
	assert.Equal(t, `{"supports_preview_metadata": true, "max_upload_size": 104857600, `+
		`"extension": {"manager": {"supports_v4": true}}}`, body)

	resp, body = comfyKeyed(t, srv, "POST", "/free", `{"unload_models": true, "free_memory": true}`)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, body)
	resp, _ = comfyKeyed(t, srv, "POST", "/free", "")
	assert.Equal(t, 500, resp.StatusCode)
}

func TestComfyUIUnknownRoutes(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/interrupt", 404, ""}, // the static route answers GET
		{"GET", "/prompt/", 404, ""},
		{"GET", "/history/", 404, ""},
		{"GET", "/api/api/prompt", 404, ""},
		{"POST", "/nope", 405, "GET,HEAD"},
		{"DELETE", "/prompt", 405, "GET,HEAD,POST"},
		{"PUT", "/api/interrupt", 405, "GET,HEAD,POST"},
		{"POST", "/health", 405, "GET,HEAD"},
	}
	for _, tt := range tests {
		resp, body := comfyKeyed(t, srv, tt.method, tt.path, "")
		assert.Equal(t, tt.status, resp.StatusCode, "%s %s", tt.method, tt.path)
		assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Equal(t, tt.allow, resp.Header.Get("Allow"), "%s %s", tt.method, tt.path)
		if tt.status == 404 {
			assert.Equal(t, "404: Not Found", body)
		} else {
			assert.Equal(t, "405: Method Not Allowed", body)
		}
	}

	// Mainline's origin check: a loopback Host with another Origin is 403.
	resp, body := comfyKeyed(t, srv, "GET", "/prompt", "")
	require.Equal(t, 200, resp.StatusCode, body)
	resp, body = comfyCall(t, srv, "GET", "/prompt", "", "Authorization", "Bearer "+comfyTestKey, "Origin", "https://evil.example")
	assert.Equal(t, 403, resp.StatusCode)
	assert.Empty(t, body)
	resp, _ = comfyCall(t, srv, "GET", "/prompt", "", "Authorization", "Bearer "+comfyTestKey,
		"Origin", strings.TrimSuffix(srv.URL, "/"))
	assert.Equal(t, 200, resp.StatusCode)
}

func TestComfyUIPrefix(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey, WithPrefix("/comfy/"))
	assert.True(t, strings.HasSuffix(srv.URL, "/comfy/"))

	resp, _ := comfyCall(t, srv, "GET", "/health", "")
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = comfyCall(t, srv, "GET", "/api/health", "")
	assert.Equal(t, 401, resp.StatusCode)
	comfyQueuePrompt(t, srv, `{"prompt": `+comfyTestWorkflow+`}`)
	assert.Equal(t, 1, srv.Requests("POST", "/prompt"))

	// A client that forgets the base path hits the proxy's 500.
	resp, err := srv.HTTP.Client().Get(srv.HTTP.URL + "/health")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 500, resp.StatusCode)
}

func TestComfyUIConcurrent(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := comfyQueuePrompt(t, srv, `{"prompt": `+comfyTestWorkflow+`}`)
			comfyKeyed(t, srv, "GET", "/queue", "")
			srv.CompletePrompt(id)
			comfyKeyed(t, srv, "GET", "/history", "")
		}()
	}
	wg.Wait()
	assert.Len(t, srv.Prompts(), 8)
	_, body := comfyKeyed(t, srv, "GET", "/prompt", "")
	assert.Equal(t, `{"exec_info": {"queue_remaining": 0}}`, body)
}

// comfyWSDial opens a WebSocket to path with the raw handshake plus extra
// header lines.
func comfyWSDial(t *testing.T, srv *ComfyUI, path string, extra ...string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.HTTP.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + srv.HTTP.Listener.Addr().String() + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" + strings.Join(extra, "") + "\r\n"
	_, err = conn.Write([]byte(req))
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	return conn, br, resp
}

// comfyWSReadText reads one unmasked server frame.
func comfyWSReadText(t *testing.T, br *bufio.Reader) (byte, string) {
	t.Helper()
	var h [2]byte
	_, err := io.ReadFull(br, h[:])
	require.NoError(t, err)
	n := int(h[1] & 0x7f)
	if n == 126 {
		var b [2]byte
		_, err = io.ReadFull(br, b[:])
		require.NoError(t, err)
		n = int(binary.BigEndian.Uint16(b[:]))
	}
	payload := make([]byte, n)
	_, err = io.ReadFull(br, payload)
	require.NoError(t, err)
	return h[0] & 0x0f, string(payload)
}

// comfyWSWriteMasked writes one short masked client frame.
func comfyWSWriteMasked(t *testing.T, conn net.Conn, op byte, payload string) {
	t.Helper()
	mask := [4]byte{1, 2, 3, 4}
	frame := []byte{0x80 | op, 0x80 | byte(len(payload)), mask[0], mask[1], mask[2], mask[3]}
	for i := 0; i < len(payload); i++ {
		frame = append(frame, payload[i]^mask[i%4])
	}
	_, err := conn.Write(frame)
	require.NoError(t, err)
}

func TestComfyUIWebSocket(t *testing.T) {
	t.Parallel()
	srv := comfyTestServer(t, comfyTestKey)
	comfyQueuePrompt(t, srv, `{"prompt": `+comfyTestWorkflow+`}`)

	// /ws is exempt: no key needed.
	conn, br, resp := comfyWSDial(t, srv, "/ws?clientId=abc")
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp.Header.Get("Sec-WebSocket-Accept"))
	op, msg := comfyWSReadText(t, br)
	assert.Equal(t, byte(1), op)
	assert.Equal(t, `{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}, "sid": "abc"}}`, msg)

	comfyWSWriteMasked(t, conn, 0x9, "hi")
	op, msg = comfyWSReadText(t, br)
	assert.Equal(t, byte(0xA), op)
	assert.Equal(t, "hi", msg)
	comfyWSWriteMasked(t, conn, 0x1, `{"type": "feature_flags", "data": {}}`)
	_, msg = comfyWSReadText(t, br)
	assert.Equal(t, `{"type": "feature_flags", "data": {"supports_preview_metadata": true, "max_upload_size": 104857600, `+
		`"extension": {"manager": {"supports_v4": true}}}}`, msg)
	comfyWSWriteMasked(t, conn, 0x8, "\x03\xe8")
	op, _ = comfyWSReadText(t, br)
	assert.Equal(t, byte(0x8), op)

	// A new session id when none is given.
	_, br, _ = comfyWSDial(t, srv, "/ws")
	_, msg = comfyWSReadText(t, br)
	assert.Regexp(t, `"sid": "[0-9a-f]{32}"`, msg)

	// /api/ws needs the key.
	_, _, resp = comfyWSDial(t, srv, "/api/ws")
	assert.Equal(t, 401, resp.StatusCode)
	_, _, resp = comfyWSDial(t, srv, "/api/ws", "Authorization: Bearer "+comfyTestKey+"\r\n")
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)

	// Plain HTTP requests get aiohttp's handshake errors.
	resp, body := comfyCall(t, srv, "GET", "/ws", "")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "No WebSocket UPGRADE hdr: None\n Can \"Upgrade\" only to \"WebSocket\".", body)
	resp, body = comfyCall(t, srv, "GET", "/ws", "", "Upgrade", "websocket", "Connection", "Upgrade",
		"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "short")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "Handshake error: 'short'", body)
}

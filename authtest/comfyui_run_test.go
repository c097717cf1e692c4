package authtest_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient/authtest"
)

const runWorkflow = `{
	"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
	"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
	"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
	"7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
	"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
		"denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
	"8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
	"9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "out", "images": ["8", 0]}}}`

// dialWS opens /ws?clientId=id on the fake (prefix /p) and reads the
// greeting.
func dialWS(t *testing.T, srv *authtest.ComfyUI, id string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?clientId="+id, nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.CloseNow() })
	_, msg, err := conn.Read(t.Context())
	require.NoError(t, err)
	require.Contains(t, string(msg), `"sid": "`+id+`"`)
	return conn
}

// queue posts the workflow with the key.
func queue(t *testing.T, srv *authtest.ComfyUI, body string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/prompt", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := testClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var d struct {
		PromptID string `json:"prompt_id"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&d))
	return d.PromptID
}

// readUntilDone reads events until executing {node: null}, returning
// "type" or "type:node" for each, and "binary:<len>" for binary frames.
func readUntilDone(t *testing.T, conn *websocket.Conn) (seq []string, last map[string]json.RawMessage) {
	t.Helper()
	for {
		typ, msg, err := conn.Read(t.Context())
		require.NoError(t, err)
		if typ == websocket.MessageBinary {
			require.GreaterOrEqual(t, len(msg), 8)
			assert.Equal(t, uint32(1), binary.BigEndian.Uint32(msg), "PREVIEW_IMAGE")
			assert.Equal(t, uint32(1), binary.BigEndian.Uint32(msg[4:]), "JPEG")
			seq = append(seq, "preview")
			continue
		}
		var ev struct {
			Type string                     `json:"type"`
			Data map[string]json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(msg, &ev))
		s := ev.Type
		if n, ok := ev.Data["node"]; ok && ev.Type != "progress" {
			s += ":" + strings.Trim(string(n), `"`)
		}
		seq = append(seq, s)
		if ev.Type == "execution_error" || ev.Type == "execution_interrupted" {
			last = ev.Data
		}
		if ev.Type == "executing" && string(ev.Data["node"]) == "null" {
			return seq, last
		}
	}
}

// TestComfyUIRunsPrompts: with the executor on, a prompt queued with a
// client_id runs in dependency order, each step held until the test
// releases it, and its client gets ComfyUI's sequence (progress and
// previews included); another client gets only the status broadcasts.
// The output is written, so /view serves it, and history says success.
func TestComfyUIRunsPrompts(t *testing.T) {
	t.Parallel()
	srv := authtest.NewComfyUI("k", authtest.WithPrefix("/p"))
	defer srv.Close()
	srv.URL = strings.TrimSuffix(srv.URL, "/")
	step := make(chan struct{})
	srv.RunPrompts(authtest.ComfyJob{Steps: 2, Step: step, Previews: true, Image: []byte("IMAGE")})
	me, other := dialWS(t, srv, "me"), dialWS(t, srv, "other")
	id := queue(t, srv, `{"client_id": "me", "prompt": `+runWorkflow+`}`)
	go func() {
		for range 2 {
			step <- struct{}{}
		}
	}()
	seq, _ := readUntilDone(t, me)
	assert.Equal(t, []string{"status", "execution_start", "execution_cached",
		"executing:4", "executing:6", "executing:7", "executing:5", "executing:3",
		"progress", "preview", "progress", "preview",
		"executing:8", "executing:9", "executed:9", "execution_success", "executing:null"}, seq)
	_, msg, err := me.Read(t.Context())
	require.NoError(t, err)
	assert.Contains(t, string(msg), `"queue_remaining": 0`)
	for range 2 {
		_, msg, err := other.Read(t.Context())
		require.NoError(t, err)
		assert.Contains(t, string(msg), `"type": "status"`, "other clients get only the broadcasts")
	}
	got, ok := srv.File("output", "", "out_00001_.png")
	require.True(t, ok)
	assert.Equal(t, "IMAGE", string(got))
	req, _ := http.NewRequest("GET", srv.URL+"/history/"+id, nil)
	req.Header.Set("X-API-Key", "k")
	resp, err := testClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	assert.Contains(t, buf.String(), `"status_str": "success"`)
}

// TestComfyUIRunFailureAndInterrupt: a failure on the chosen node ends the
// prompt with execution_error (node, type, message, traceback), and an
// interrupt while a step is held ends the next with
// execution_interrupted; both land in history as errors, and the queue
// moves on.
func TestComfyUIRunFailureAndInterrupt(t *testing.T) {
	t.Parallel()
	srv := authtest.NewComfyUI("k", authtest.WithPrefix("/p"))
	defer srv.Close()
	srv.URL = strings.TrimSuffix(srv.URL, "/")
	step := make(chan struct{})
	srv.RunPrompts(authtest.ComfyJob{Steps: 1, Step: step, FailNode: "8", FailType: "torch.OutOfMemoryError", FailMessage: "out of memory"})
	me := dialWS(t, srv, "me")
	queue(t, srv, `{"client_id": "me", "prompt": `+runWorkflow+`}`)
	step <- struct{}{}
	seq, last := readUntilDone(t, me)
	assert.Contains(t, seq, "execution_error")
	assert.NotContains(t, seq, "executed:9")
	assert.JSONEq(t, `"8"`, string(last["node_id"]))
	assert.JSONEq(t, `"VAEDecode"`, string(last["node_type"]))
	assert.JSONEq(t, `"torch.OutOfMemoryError"`, string(last["exception_type"]))
	assert.JSONEq(t, `"out of memory"`, string(last["exception_message"]))
	assert.Contains(t, string(last["traceback"]), "Traceback")
	_, _, err := me.Read(t.Context()) // the status after the prompt
	require.NoError(t, err)

	queue(t, srv, `{"client_id": "me", "prompt": `+runWorkflow+`}`)
	for {
		_, msg, err := me.Read(t.Context())
		require.NoError(t, err)
		if strings.Contains(string(msg), `"executing", "data": {"node": "3"`) {
			break // the KSampler waits on its step
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/interrupt", nil)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := testClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	seq, last = readUntilDone(t, me)
	assert.Equal(t, []string{"execution_interrupted", "executing:null"}, seq)
	assert.JSONEq(t, `"3"`, string(last["node_id"]))
}

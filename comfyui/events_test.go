package comfyui_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/comfyui"
)

// wsScript serves /comfyui/ws: it records the upgrade's Authorization and
// clientId, sends the frames, then closes with status (or, with hold,
// waits for the client to go).
func wsScript(t *testing.T, frames [][]byte, binaryAt map[int]bool, hold bool) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+"?"+r.URL.RawQuery+" | "+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Path == "/comfyui/moved" {
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
			return
		}
		if r.URL.Path != "/comfyui/ws" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+comfyKey {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		for i, f := range frames {
			typ := websocket.MessageText
			if binaryAt[i] {
				typ = websocket.MessageBinary
			}
			if conn.Write(r.Context(), typ, f) != nil {
				return
			}
		}
		if hold {
			_, _, _ = conn.Read(r.Context())
			return
		}
		_ = conn.Close(websocket.StatusGoingAway, "server restarts")
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func frame(typ uint32, parts ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, typ)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u32(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

// TestEventsTyped: every event type ComfyUI sends decodes to its typed
// fields; binary previews (plain, with metadata) and texts are exposed as
// such, never as JSON; unknown types pass through; malformed messages
// (bad JSON, no type, short or inconsistent binary frames) yield
// ErrBadEvent and the stream goes on; a closed socket ends it with a
// *SocketError matching ErrSocketClosed. The upgrade carries the key and
// the client id.
func TestEventsTyped(t *testing.T) {
	t.Parallel()
	meta := []byte(`{"node_id": "3", "prompt_id": "p1", "image_type": "image/png"}`)
	frames := [][]byte{
		[]byte(`{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 2}}, "sid": "me"}}`),
		[]byte(`{"type": "execution_start", "data": {"prompt_id": "p1", "timestamp": 1}}`),
		[]byte(`{"type": "execution_cached", "data": {"nodes": ["4", "5"], "prompt_id": "p1", "timestamp": 1}}`),
		[]byte(`{"type": "executing", "data": {"node": "3", "display_node": "3", "prompt_id": "p1"}}`),
		[]byte(`{"type": "progress", "data": {"value": 2, "max": 20, "prompt_id": "p1", "node": "3"}}`),
		frame(1, u32(1), []byte{0xff, 0xd8, 0xff, 0xd9}),
		frame(4, u32(len(meta)), meta, []byte("PNGDATA")),
		frame(3, u32(1), []byte("3"), []byte("step 2/20")),
		[]byte(`{"type": "executed", "data": {"node": "9", "display_node": "9", "output": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}, "prompt_id": "p1"}}`),
		[]byte(`{"type": "execution_error", "data": {"prompt_id": "p1", "node_id": "8", "node_type": "VAEDecode", "exception_type": "RuntimeError", "exception_message": "boom ` + comfyKey + `", "traceback": ["line 1", "key ` + comfyKey + `"]}}`),
		[]byte(`{"type": "execution_interrupted", "data": {"prompt_id": "p1", "node_id": "3", "node_type": "KSampler", "executed": []}}`),
		[]byte(`{"type": "crystools.monitor", "data": {"cpu": 12.5}}`),
		[]byte(`not json`),
		[]byte(`{"data": {}}`),
		frame(1),
		[]byte{0, 0},
		frame(3, u32(99), []byte("x")),
		frame(4, u32(2), []byte("{")),
		[]byte(`{"type": "executing", "data": {"node": null, "prompt_id": "p1"}}`),
	}
	bin := map[int]bool{5: true, 6: true, 7: true, 14: true, 15: true, 16: true, 17: true}
	srv, seen := wsScript(t, frames, bin, false)
	c := newClient(t, srv.URL+"/comfyui/", authclient.WithAPIKey(comfyKey))
	var evs []comfyui.Event
	var errs []error
	for ev, err := range c.Events(t.Context(), "me") {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		evs = append(evs, ev)
	}
	require.Len(t, evs, 13)
	assert.Equal(t, 2, evs[0].QueueRemaining)
	assert.Equal(t, "me", evs[0].SessionID)
	assert.Equal(t, comfyui.EventExecutionStart, evs[1].Type)
	assert.Equal(t, []string{"4", "5"}, evs[2].Nodes)
	assert.Equal(t, "3", evs[3].Node)
	assert.False(t, evs[3].Done)
	assert.Equal(t, [3]any{"3", 2, 20}, [3]any{evs[4].Node, evs[4].Value, evs[4].Max})
	assert.Equal(t, comfyui.EventPreview, evs[5].Type)
	assert.Equal(t, "image/jpeg", evs[5].Preview.ContentType)
	assert.Equal(t, []byte{0xff, 0xd8, 0xff, 0xd9}, evs[5].Preview.Image)
	assert.Nil(t, evs[5].Data)
	assert.Equal(t, "image/png", evs[6].Preview.ContentType)
	assert.Equal(t, "PNGDATA", string(evs[6].Preview.Image))
	assert.Equal(t, "p1", evs[6].PromptID)
	assert.Equal(t, comfyui.EventText, evs[7].Type)
	assert.Equal(t, "step 2/20", evs[7].Text)
	assert.Equal(t, []comfyui.OutputFile{{Filename: "a.png", Type: "output"}}, evs[8].Files)
	require.NotNil(t, evs[9].Error)
	assert.Equal(t, "8", evs[9].Error.NodeID)
	assert.NotContains(t, evs[9].Error.Message, comfyKey)
	assert.NotContains(t, strings.Join(evs[9].Error.Traceback, ""), comfyKey)
	assert.NotContains(t, evs[9].Error.Error(), comfyKey)
	assert.Equal(t, "3", evs[10].Node)
	assert.Equal(t, "crystools.monitor", evs[11].Type, "unknown types pass through")
	assert.JSONEq(t, `{"cpu": 12.5}`, string(evs[11].Data))
	assert.True(t, evs[12].Done)
	require.Len(t, errs, 7)
	for _, err := range errs[:6] {
		assert.ErrorIs(t, err, comfyui.ErrBadEvent)
	}
	assert.ErrorIs(t, errs[6], comfyui.ErrSocketClosed)
	var se *comfyui.SocketError
	require.ErrorAs(t, errs[6], &se)
	assert.Equal(t, "read", se.Op)
	assert.Equal(t, []string{"/comfyui/ws?clientId=me | Bearer " + comfyKey}, seen())
}

// TestEventsEnds: the stream ends with ctx.Err() when the context ends,
// stops when the caller stops, and a refused upgrade is a *SocketError
// that matches ErrUnauthorized and shows no key; a dial to another origin
// (a base URL that redirects) carries no credential there.
func TestEventsEnds(t *testing.T) {
	t.Parallel()
	srv, _ := wsScript(t, [][]byte{[]byte(`{"type": "status", "data": {}}`), []byte(`{"type": "status", "data": {}}`)}, nil, true)
	c := newClient(t, srv.URL+"/comfyui/", authclient.WithAPIKey(comfyKey))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	for ev, err := range c.Events(ctx, "") {
		if err != nil {
			assert.ErrorIs(t, err, context.Canceled)
			break
		}
		assert.Equal(t, comfyui.EventStatus, ev.Type)
		if n++; n == 2 {
			cancel()
		}
	}
	assert.Equal(t, 2, n)
	n = 0
	for range c.Events(t.Context(), "x") {
		n++
		break
	}
	assert.Equal(t, 1, n, "stopping the range stops the stream")

	for name, opt := range placements("wrong-key-0123456789") {
		wrong := newClient(t, srv.URL+"/comfyui/", opt)
		for _, err := range wrong.Events(t.Context(), "") {
			require.ErrorIs(t, err, authclient.ErrUnauthorized, name)
			var se *comfyui.SocketError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, http.StatusUnauthorized, se.StatusCode)
			assert.NotContains(t, err.Error(), "wrong-key-0123456789")
		}
	}
	var ce *authclient.ConfigError
	for _, err := range c.Events(t.Context(), "bad\r\nid") {
		assert.ErrorAs(t, err, &ce)
	}

	other, otherSeen := wsScript(t, nil, nil, false)
	// A base URL whose /ws redirects to another origin.
	redir := httptest.NewServer(http.RedirectHandler(other.URL+"/comfyui/ws", http.StatusFound))
	t.Cleanup(redir.Close)
	rc := newClient(t, redir.URL+"/comfyui/", authclient.WithAPIKey(comfyKey))
	for _, err := range rc.Events(t.Context(), "") {
		require.Error(t, err)
		assert.NotContains(t, err.Error(), comfyKey)
	}
	for _, s := range otherSeen() {
		assert.NotContains(t, s, comfyKey)
	}
}

// TestEventsMaxSize: a message over the bound ends the stream with a
// *SocketError instead of being read.
func TestEventsMaxSize(t *testing.T) {
	t.Parallel()
	big := []byte(`{"type": "executed", "data": {"output": "` + strings.Repeat("x", 4096) + `"}}`)
	srv, _ := wsScript(t, [][]byte{big}, nil, true)
	c := newClient(t, srv.URL+"/comfyui/", authclient.WithAPIKey(comfyKey))
	for ev, err := range c.Events(t.Context(), "", comfyui.MaxEventSize(1024)) {
		require.Error(t, err, "%+v", ev)
		var se *comfyui.SocketError
		assert.ErrorAs(t, err, &se)
	}
}

// TestEventsPing: an open socket is pinged (ComfyUI sends no pings, and a
// proxy drops a socket it thinks idle).
func TestEventsPing(t *testing.T) {
	t.Parallel()
	pinged := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OnPingReceived: func(context.Context, []byte) bool {
			select {
			case pinged <- struct{}{}:
			default:
			}
			return true
		}})
		if err != nil {
			return
		}
		defer conn.CloseNow()
		if conn.Write(r.Context(), websocket.MessageText, []byte(`{"type": "status", "data": {}}`)) != nil {
			return
		}
		_, _, _ = conn.Read(r.Context()) // answers pings until the client goes
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL+"/comfyui/", authclient.WithAPIKey(comfyKey))
	for ev, err := range c.Events(t.Context(), "", comfyui.PingInterval(time.Second)) {
		require.NoError(t, err)
		assert.Equal(t, comfyui.EventStatus, ev.Type)
		select {
		case <-pinged:
		case <-t.Context().Done():
			t.Fatal("no ping")
		}
		break
	}
}

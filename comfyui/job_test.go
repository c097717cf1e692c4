package comfyui_test

import (
	"bytes"
	"context"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/comfyui"
)

// noWait polls and reconnects without waiting (a backoff of zero, not a
// timeout: nothing races it).
var noWait = comfyui.PollInterval(0, 0)

// recorder collects the events Wait reports.
type recorder struct {
	mu     sync.Mutex
	events []comfyui.Event
}

func (r *recorder) add(ev comfyui.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		out = append(out, ev.Type)
	}
	return out
}

// release sends n steps to the fake's executor.
func release(step chan<- struct{}, n int) {
	go func() {
		for range n {
			step <- struct{}{}
		}
	}()
}

// TestRunWholeJob: the whole job, for each key placement, under a path
// prefix — upload an input, queue with a client id, follow the events on
// /ws (progress per step, a binary preview, the executed output), wait,
// download the output — and no event or error shows the key.
func TestRunWholeJob(t *testing.T) {
	t.Parallel()
	for name, opt := range placements(comfyKey) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := setup(t, comfyKey)
			step := make(chan struct{})
			s.RunPrompts(authtest.ComfyJob{Steps: 3, Step: step, Previews: true, Image: []byte("the output image")})
			c := newClient(t, s.URL, opt)
			ctx := t.Context()
			in, err := c.UploadImage(ctx, "input.png", strings.NewReader("input"), comfyui.UploadOptions{})
			require.NoError(t, err)
			wf := workflow(func(w map[string]map[string]any) {
				w["10"] = map[string]any{"class_type": "LoadImage", "inputs": map[string]any{"image": in.Name}}
			})
			q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: wf, ClientID: "job-client"})
			require.NoError(t, err)
			var rec recorder
			var once sync.Once
			res, err := c.Wait(ctx, q.PromptID, comfyui.WithClientID("job-client"), noWait, comfyui.OnEvent(func(ev comfyui.Event) {
				rec.add(ev)
				once.Do(func() { release(step, 3) }) // the socket is open: let the sampler run
			}))
			require.NoError(t, err)
			assert.Equal(t, comfyui.ViaWebSocket, res.Via)
			assert.Equal(t, "success", res.Status)
			require.Len(t, res.Outputs["9"], 1)
			types := rec.types()
			assert.Equal(t, []string{"progress", "preview", "progress", "preview", "progress", "preview"}, filter(types, "progress", "preview"))
			assert.Contains(t, types, comfyui.EventExecuted)
			assert.Contains(t, types, comfyui.EventExecutionSuccess)
			rec.mu.Lock()
			for _, ev := range rec.events {
				assert.NotContains(t, string(ev.Data), comfyKey)
				switch ev.Type {
				case comfyui.EventProgress:
					assert.Equal(t, "3", ev.Node)
					assert.Equal(t, 3, ev.Max)
				case comfyui.EventPreview:
					assert.Equal(t, "image/jpeg", ev.Preview.ContentType)
					assert.True(t, bytes.HasPrefix(ev.Preview.Image, []byte{0xff, 0xd8}))
				case comfyui.EventExecuted:
					assert.Equal(t, res.Outputs["9"], ev.Files)
				}
			}
			rec.mu.Unlock()
			var out bytes.Buffer
			fi, err := c.Download(ctx, res.Outputs["9"][0], &out)
			require.NoError(t, err)
			assert.Equal(t, "the output image", out.String())
			assert.Equal(t, int64(out.Len()), fi.Size)
		})
	}
}

func filter(list []string, keep ...string) []string {
	var out []string
	for _, s := range list {
		for _, k := range keep {
			if s == k {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestWaitExecutionError: a failure on a node is an *ExecutionError with
// the node, exception type and message, whether Wait follows the socket
// or polls; a message that echoes the key shows it masked.
func TestWaitExecutionError(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"websocket", "polling"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := setup(t, comfyKey)
			step := make(chan struct{})
			s.RunPrompts(authtest.ComfyJob{Steps: 1, Step: step, FailNode: "8", FailType: "torch.OutOfMemoryError",
				FailMessage: "out of memory (request had Bearer " + comfyKey + ")"})
			c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
			q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil), ClientID: "cid"})
			require.NoError(t, err)
			opts := []comfyui.WaitOption{noWait, comfyui.WithClientID("cid")}
			if mode == "polling" {
				opts = append(opts, comfyui.PollOnly())
				release(step, 1)
			} else {
				var once sync.Once
				opts = append(opts, comfyui.OnEvent(func(comfyui.Event) { once.Do(func() { release(step, 1) }) }))
			}
			res, err := c.Wait(t.Context(), q.PromptID, opts...)
			assert.Nil(t, res)
			require.ErrorIs(t, err, comfyui.ErrExecution)
			var ee *comfyui.ExecutionError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, q.PromptID, ee.PromptID)
			assert.Equal(t, "8", ee.NodeID)
			assert.Equal(t, "VAEDecode", ee.NodeType)
			assert.Equal(t, "torch.OutOfMemoryError", ee.ExceptionType)
			assert.Contains(t, ee.Message, "out of memory")
			assert.NotEmpty(t, ee.Traceback)
			for _, s := range append([]string{err.Error(), ee.Message}, ee.Traceback...) {
				assert.NotContains(t, s, comfyKey)
			}
			assert.Contains(t, err.Error(), "node 8 (VAEDecode): torch.OutOfMemoryError: out of memory")
		})
	}
}

// TestCancelRunningPrompt: Cancel interrupts the running prompt, which Wait
// reports as an *InterruptedError naming the node; a queued prompt it
// cancels leaves the queue and never runs.
func TestCancelRunningPrompt(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	step := make(chan struct{})
	s.RunPrompts(authtest.ComfyJob{Steps: 5, Step: step})
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	ctx := t.Context()
	q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: workflow(nil), ClientID: "cid"})
	require.NoError(t, err)
	q2, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: workflow(nil), ClientID: "cid"})
	require.NoError(t, err)
	require.NoError(t, c.Cancel(ctx, q2.PromptID), "queued: deleted")
	var once sync.Once
	var canceller sync.WaitGroup // the test ends only after its Cancel has returned
	defer canceller.Wait()
	_, err = c.Wait(ctx, q.PromptID, comfyui.WithClientID("cid"), noWait, comfyui.OnEvent(func(ev comfyui.Event) {
		once.Do(func() {
			canceller.Add(1)
			go func() {
				defer canceller.Done()
				for { // until the executor holds the prompt (on its first step)
					st, err := c.Queue(ctx)
					if !assert.NoError(t, err) || len(st.Running) == 1 {
						break
					}
				}
				assert.NoError(t, c.Cancel(ctx, q.PromptID))
			}()
		})
	}))
	canceller.Wait()
	require.ErrorIs(t, err, comfyui.ErrInterrupted)
	var ie *comfyui.InterruptedError
	require.ErrorAs(t, err, &ie)
	assert.NotEmpty(t, ie.NodeID)
	assert.NotEmpty(t, ie.NodeType)
	_, err = c.History(ctx, q2.PromptID)
	assert.ErrorIs(t, err, comfyui.ErrNoHistory, "the cancelled queued prompt never ran")
	var ce *authclient.ConfigError
	assert.ErrorAs(t, c.Cancel(ctx, ""), &ce)
}

// TestWaitSurvivesDroppedSocket: the socket dropped mid-job (after the
// first step, or for good while the prompt finishes) still ends in the
// right outcome: Wait reconnects, catches up from the history, and says
// it reconnected.
func TestWaitSurvivesDroppedSocket(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		s := setup(t, comfyKey)
		step := make(chan struct{})
		job := authtest.ComfyJob{Steps: 3, Step: step}
		if fail {
			job.FailNode = "9"
		}
		s.RunPrompts(job)
		c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
		q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil), ClientID: "cid"})
		require.NoError(t, err)
		var first, dropped sync.Once
		res, err := c.Wait(t.Context(), q.PromptID, comfyui.WithClientID("cid"), noWait, comfyui.OnEvent(func(ev comfyui.Event) {
			first.Do(func() { release(step, 1) })
			if ev.Type == comfyui.EventProgress {
				dropped.Do(func() {
					s.DropWebSockets()
					release(step, 2)
				})
			}
		}))
		if fail {
			require.ErrorIs(t, err, comfyui.ErrExecution)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, comfyui.ViaWebSocket, res.Via)
		assert.GreaterOrEqual(t, res.Reconnects, 1)
		assert.Len(t, res.Outputs["9"], 1)
	}
}

// TestWaitPolls: without a client id, with PollOnly, and when a proxy
// refuses the /ws upgrade, Wait polls the history and says so.
func TestWaitPolls(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	s.RunPrompts(authtest.ComfyJob{})
	target, _ := url.Parse(s.URL)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/ws") {
			http.Error(w, "websockets are not allowed here", http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	direct := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	behind := newClient(t, proxy.URL+target.Path, authclient.WithAPIKey(comfyKey))
	cases := map[string]struct {
		c        *comfyui.Client
		clientID string
		opts     []comfyui.WaitOption
	}{
		"no client id": {direct, "", nil},
		"PollOnly":     {direct, "cid", []comfyui.WaitOption{comfyui.PollOnly()}},
		"ws blocked":   {behind, "cid", nil},
	}
	for name, tc := range cases {
		q, err := tc.c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil), ClientID: tc.clientID})
		require.NoError(t, err)
		opts := append([]comfyui.WaitOption{noWait, comfyui.WithClientID(tc.clientID)}, tc.opts...)
		res, err := tc.c.Wait(t.Context(), q.PromptID, opts...)
		require.NoError(t, err, name)
		assert.Equal(t, comfyui.ViaPolling, res.Via, name)
		assert.Len(t, res.Outputs["9"], 1, name)
	}
}

// TestWaitErrors: Wait honours its context (a prompt that never runs), and
// a wrong key or a bad id fails at once with the core's typed errors.
func TestWaitErrors(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey) // no executor: the prompt stays queued
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil), ClientID: "cid"})
	require.NoError(t, err)
	// On the socket: cancelled once the socket is open.
	ctx, cancel := context.WithCancel(t.Context())
	_, err = c.Wait(ctx, q.PromptID, comfyui.WithClientID("cid"), noWait, comfyui.OnEvent(func(comfyui.Event) { cancel() }))
	require.ErrorIs(t, err, context.Canceled)
	// Polling: cancelled while it polls.
	ctx, cancel = context.WithCancel(t.Context())
	go cancel()
	_, err = c.Wait(ctx, q.PromptID, comfyui.PollOnly(), noWait)
	require.ErrorIs(t, err, context.Canceled)
	// Polling with a backoff: cancelled while it waits.
	ctx, cancel = context.WithCancel(t.Context())
	go cancel()
	_, err = c.Wait(ctx, q.PromptID, comfyui.PollOnly(), comfyui.PollInterval(time.Hour, time.Hour))
	require.ErrorIs(t, err, context.Canceled)
	wrong := newClient(t, s.URL, authclient.WithAPIKey("wrong-key-123456"))
	_, err = wrong.Wait(t.Context(), q.PromptID, comfyui.WithClientID("cid"))
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
	assert.NotContains(t, err.Error(), "wrong-key-123456")
	_, err = c.Wait(t.Context(), "a/b")
	require.ErrorIs(t, err, authclient.ErrInvalidPath)
	_, err = c.Wait(t.Context(), "")
	require.ErrorIs(t, err, authclient.ErrInvalidPath)
}

// TestQueueAndHistoryCleanup: DeleteQueued and ClearQueue leave the
// running prompt alone; DeleteHistory and ClearHistory remove entries;
// each is a typed unauthorized error with a wrong key.
func TestQueueAndHistoryCleanup(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	ctx := t.Context()
	ids := make([]string, 4)
	for i := range ids {
		q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: workflow(nil)})
		require.NoError(t, err)
		ids[i] = q.PromptID
	}
	require.True(t, s.StartPrompt(ids[0]))
	require.NoError(t, c.DeleteQueued(ctx, ids[0], ids[1], "unknown"))
	st, err := c.Queue(ctx)
	require.NoError(t, err)
	assert.Len(t, st.Running, 1, "the running prompt is not touched")
	assert.Len(t, st.Pending, 2)
	require.NoError(t, c.ClearQueue(ctx))
	st, err = c.Queue(ctx)
	require.NoError(t, err)
	assert.Empty(t, st.Pending)
	require.NoError(t, c.DeleteQueued(ctx))

	s.CompletePrompt(ids[0])
	q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: workflow(nil)})
	require.NoError(t, err)
	s.CompletePrompt(q.PromptID)
	require.NoError(t, c.DeleteHistory(ctx, ids[0]))
	_, err = c.History(ctx, ids[0])
	assert.ErrorIs(t, err, comfyui.ErrNoHistory)
	_, err = c.History(ctx, q.PromptID)
	assert.NoError(t, err)
	require.NoError(t, c.ClearHistory(ctx))
	_, err = c.History(ctx, q.PromptID)
	assert.ErrorIs(t, err, comfyui.ErrNoHistory)
	require.NoError(t, c.DeleteHistory(ctx))

	wrong := newClient(t, s.URL, authclient.WithAPIKey("wrong-key-123456"))
	for name, err := range map[string]error{
		"DeleteQueued":  wrong.DeleteQueued(ctx, "x"),
		"ClearQueue":    wrong.ClearQueue(ctx),
		"DeleteHistory": wrong.DeleteHistory(ctx, "x"),
		"ClearHistory":  wrong.ClearHistory(ctx),
		"Cancel":        wrong.Cancel(ctx, "x"),
	} {
		assert.ErrorIs(t, err, authclient.ErrUnauthorized, name)
	}
	var zero comfyui.Client
	var ce *authclient.ConfigError
	assert.ErrorAs(t, zero.ClearQueue(ctx), &ce)
	_, err = zero.Wait(ctx, "x")
	assert.ErrorAs(t, err, &ce)
	for _, err := range zero.Events(ctx, "") {
		assert.ErrorAs(t, err, &ce)
	}
}

// TestJobLogsHoldNoKey: a whole job (upload, queue, wait on the socket,
// download, a failing one) logs its calls, and no log line holds the key.
func TestJobLogsHoldNoKey(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	s.RunPrompts(authtest.ComfyJob{FailNode: "8", FailMessage: "echo " + comfyKey})
	var logs syncBuffer
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey),
		authclient.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ctx := t.Context()
	_, err := c.UploadImage(ctx, "a.png", strings.NewReader("x"), comfyui.UploadOptions{})
	require.NoError(t, err)
	q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: workflow(nil), ClientID: "cid"})
	require.NoError(t, err)
	_, err = c.Wait(ctx, q.PromptID, comfyui.WithClientID("cid"), noWait)
	require.ErrorIs(t, err, comfyui.ErrExecution)
	assert.NotContains(t, err.Error(), comfyKey)
	_, err = c.Download(ctx, comfyui.OutputFile{Filename: "missing.png"}, &bytes.Buffer{})
	require.Error(t, err)
	assert.NotEmpty(t, logs.String())
	assert.NotContains(t, logs.String(), comfyKey)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEventsUntil: Events with Until ends, without an error, after the
// prompt's end marker; a socket that connects while the prompt runs first
// gets ComfyUI's hint of the running node (no prompt id).
func TestEventsUntil(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	step := make(chan struct{})
	s.RunPrompts(authtest.ComfyJob{Steps: 2, Step: step})
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	// A first socket follows the prompt up to the sampler, which then
	// waits for its steps.
	next, stop := iter.Pull2(c.Events(t.Context(), "cid"))
	defer stop()
	ev, err, _ := next() // the greeting: the socket is open
	require.NoError(t, err)
	require.Equal(t, comfyui.EventStatus, ev.Type)
	q, err := c.QueuePrompt(t.Context(), comfyui.PromptRequest{Prompt: workflow(nil), ClientID: "cid"})
	require.NoError(t, err)
	for {
		ev, err, ok := next()
		require.True(t, ok)
		require.NoError(t, err)
		if ev.Type == comfyui.EventExecuting && ev.Node == "3" {
			break
		}
	}
	// A second socket of the same client id takes over.
	var types []string
	n := 0
	for ev, err := range c.Events(t.Context(), "cid", comfyui.Until(q.PromptID)) {
		require.NoError(t, err)
		if n++; n == 2 {
			assert.Equal(t, comfyui.EventExecuting, ev.Type, "the running node's hint")
			assert.Equal(t, "3", ev.Node)
			assert.Empty(t, ev.PromptID)
			assert.False(t, ev.Done)
			release(step, 2)
		}
		types = append(types, ev.Type)
	}
	assert.Equal(t, comfyui.EventStatus, types[0])
	assert.Equal(t, []string{comfyui.EventExecutionSuccess, comfyui.EventExecuting}, types[len(types)-2:])
}

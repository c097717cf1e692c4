package comfyui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/selfhost-sdk/authclient"
)

// How [Client.Wait] followed a prompt: the Via of a [Result].
const (
	ViaWebSocket = "websocket"
	ViaPolling   = "polling"
)

// Result is a finished prompt, from [Client.Wait].
type Result struct {
	// History is the prompt's history entry: its outputs by node.
	*History
	// Via says how Wait followed the prompt: [ViaWebSocket] or
	// [ViaPolling] (no client id, /ws refused, or [PollOnly]).
	Via string
	// Reconnects counts the WebSocket connections Wait had to reopen.
	Reconnects int
}

// WaitOption adjusts [Client.Wait].
type WaitOption func(*waitConfig)

type waitConfig struct {
	clientID  string
	onEvent   func(Event)
	pollOnly  bool
	min, max  time.Duration
	eventOpts []EventOption
	after     func(time.Duration) <-chan time.Time
}

// WithClientID follows the prompt on the /ws of clientID, the client id it
// was queued with (PromptRequest.ClientID). Without it Wait polls: ComfyUI
// sends a prompt queued without a client id almost no events.
func WithClientID(id string) WaitOption { return func(c *waitConfig) { c.clientID = id } }

// OnEvent calls f with each of the prompt's events (and the events that
// name no prompt: status broadcasts, previews, texts) as they arrive, in order, from Wait's goroutine. Polling
// sees no events.
func OnEvent(f func(Event)) WaitOption { return func(c *waitConfig) { c.onEvent = f } }

// PollOnly makes Wait poll /history even with a client id: for servers or
// proxies where /ws is blocked.
func PollOnly() WaitOption { return func(c *waitConfig) { c.pollOnly = true } }

// PollInterval sets the wait between polls of /history, and between
// WebSocket reconnects: min at first, doubling up to max (defaults 250 ms
// and 5 s). 0 and 0 poll without waiting.
func PollInterval(min, max time.Duration) WaitOption {
	return func(c *waitConfig) {
		c.min, c.max = min, max
		if c.max < c.min {
			c.max = c.min
		}
	}
}

// WithEventOptions applies opts to Wait's WebSocket.
func WithEventOptions(opts ...EventOption) WaitOption {
	return func(c *waitConfig) { c.eventOpts = append(c.eventOpts, opts...) }
}

// Wait waits for the ComfyUI prompt promptID to finish and returns its outputs
// (from GET /history/{id}).
//
// With [WithClientID] it follows the prompt's events on /ws (reporting
// them to [OnEvent]); when the socket drops it reconnects with backoff and
// checks the history first, so no completion is missed; when the server or
// a proxy refuses the upgrade (any non-101 answer) it falls back to
// polling. Without a client id, or with [PollOnly], it polls
// /history/{id} with backoff ([PollInterval]). Result.Via says which it
// used ([ViaPolling] too for a prompt already finished when Wait began).
//
// A prompt that failed is an [*ExecutionError] (errors.Is
// [ErrExecution]) naming the node, the exception type and message; an
// interrupted one an [*InterruptedError] ([ErrInterrupted]). Errors of
// the calls are the core's ([authclient.ErrUnauthorized], …). Wait
// returns ctx.Err() when ctx is done; a prompt that is never queued keeps
// it waiting until then.
func (c *Client) Wait(ctx context.Context, promptID string, opts ...WaitOption) (*Result, error) {
	cfg := waitConfig{min: 250 * time.Millisecond, max: 5 * time.Second, after: time.After}
	for _, o := range opts {
		o(&cfg)
	}
	if c == nil || c.core == nil {
		return nil, &authclient.ConfigError{Setting: "comfyui.Client", Problem: "not made with comfyui.New, NewFromEnv or Wrap"}
	}
	if _, err := c.History(ctx, promptID); err != nil && !errors.Is(err, ErrNoHistory) {
		return nil, err // a bad id, a wrong key: no use waiting
	} else if err == nil {
		return c.finish(ctx, promptID, ViaPolling, 0)
	}
	if cfg.clientID == "" || cfg.pollOnly {
		return c.poll(ctx, promptID, &cfg)
	}
	return c.follow(ctx, promptID, &cfg)
}

// poll polls the history until the prompt is in it.
func (c *Client) poll(ctx context.Context, promptID string, cfg *waitConfig) (*Result, error) {
	wait := cfg.min
	for {
		if err := cfg.sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = cfg.next(wait)
		_, err := c.History(ctx, promptID)
		if err == nil {
			return c.finish(ctx, promptID, ViaPolling, 0)
		}
		if !errors.Is(err, ErrNoHistory) {
			return nil, err
		}
	}
}

// follow reads the prompt's events, reconnecting when the socket drops.
func (c *Client) follow(ctx context.Context, promptID string, cfg *waitConfig) (*Result, error) {
	reconnects := 0
	wait := cfg.min
	for {
		connected := false
		var sockErr error
		for ev, err := range c.Events(ctx, cfg.clientID, cfg.eventOpts...) {
			if err != nil {
				if errors.Is(err, ErrBadEvent) {
					continue
				}
				sockErr = err
				break
			}
			if !connected {
				connected = true
				// Catch up: the prompt may have ended while no socket listened.
				if _, err := c.History(ctx, promptID); err == nil {
					return c.finish(ctx, promptID, ViaWebSocket, reconnects)
				} else if !errors.Is(err, ErrNoHistory) {
					return nil, err
				}
				wait = cfg.min
			}
			if cfg.onEvent != nil && (ev.PromptID == promptID || ev.PromptID == "") {
				cfg.onEvent(ev)
			}
			if ev.PromptID == promptID && ev.Type == EventExecuting && ev.Done {
				return c.finish(ctx, promptID, ViaWebSocket, reconnects)
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var se *SocketError
		if errors.As(sockErr, &se) && se.Op == "dial" && se.StatusCode != 0 && !connected && reconnects == 0 {
			return c.poll(ctx, promptID, cfg) // /ws is blocked here
		}
		var ce *authclient.ConfigError
		if errors.As(sockErr, &ce) {
			return nil, sockErr
		}
		// The socket dropped (or the dial failed): back off, then check
		// the history before reconnecting.
		if err := cfg.sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = cfg.next(wait)
		reconnects++
		if _, err := c.History(ctx, promptID); err == nil {
			return c.finish(ctx, promptID, ViaWebSocket, reconnects)
		} else if !errors.Is(err, ErrNoHistory) {
			return nil, err
		}
	}
}

// finish reads the history entry and turns an error status into a typed
// error.
func (c *Client) finish(ctx context.Context, promptID, via string, reconnects int) (*Result, error) {
	var all map[string]json.RawMessage
	if err := c.do(ctx, http.MethodGet, "history/"+url.PathEscape(promptID), nil, &all); err != nil {
		return nil, err
	}
	raw, ok := all[promptID]
	if !ok {
		return nil, ErrNoHistory // deleted in between
	}
	h := historyOf(promptID, raw)
	if h.Status == "error" || !h.Completed {
		if err := c.statusError(promptID, raw); err != nil {
			return nil, err
		}
	}
	return &Result{History: h, Via: via, Reconnects: reconnects}, nil
}

// statusError finds the execution_error or execution_interrupted message
// of a history entry.
func (c *Client) statusError(promptID string, raw json.RawMessage) error {
	var d struct {
		Status struct {
			Messages []json.RawMessage `json:"messages"`
		} `json:"status"`
	}
	_ = json.Unmarshal(raw, &lenient{&d})
	for _, m := range d.Status.Messages {
		var pair []json.RawMessage
		var name string
		if json.Unmarshal(m, &pair) != nil || len(pair) != 2 || json.Unmarshal(pair[0], &name) != nil {
			continue
		}
		switch name {
		case EventExecutionError, EventExecutionInterrupted:
			ev, err := decodeEvent(false, []byte(`{"type":"`+name+`","data":`+string(pair[1])+`}`))
			if err != nil {
				continue
			}
			if ev.Error != nil {
				ev.Error.mask(c.core)
				if ev.Error.PromptID == "" {
					ev.Error.PromptID = promptID
				}
				return ev.Error
			}
			var i struct {
				NodeType string `json:"node_type"`
			}
			_ = json.Unmarshal(pair[1], &lenient{&i})
			return &InterruptedError{PromptID: promptID, NodeID: ev.Node, NodeType: c.core.Mask(i.NodeType)}
		}
	}
	return &ExecutionError{PromptID: promptID, Message: "the history says the prompt did not complete, without an error message"}
}

// sleep waits d, or until ctx is done.
func (cfg *waitConfig) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-cfg.after(d):
		return nil
	}
}

// next doubles d up to the maximum.
func (cfg *waitConfig) next(d time.Duration) time.Duration {
	if d *= 2; d > cfg.max {
		d = cfg.max
	}
	return d
}

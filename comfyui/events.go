package comfyui

import (
	"bytes"
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/coder/websocket"

	"github.com/selfhost-sdk/authclient"
)

// DefaultMaxEventSize bounds one /ws message (a preview image, an executed
// event's output) unless [MaxEventSize] says otherwise.
const DefaultMaxEventSize = 16 << 20

// EventOption adjusts [Client.Events] and the WebSocket of [Client.Wait].
type EventOption func(*eventConfig)

type eventConfig struct {
	maxSize int64
	until   string
	ping    time.Duration
}

// DefaultPingInterval is how often the client pings an open /ws unless
// [PingInterval] says otherwise: ComfyUI sends no pings, and a reverse
// proxy closes a socket it thinks idle (nginx after 60 s by default).
const DefaultPingInterval = 25 * time.Second

// PingInterval sets how often the client pings the open /ws (default
// [DefaultPingInterval]); d ≤ 0 sends no pings.
func PingInterval(d time.Duration) EventOption {
	return func(c *eventConfig) { c.ping = d }
}

// Until ends the stream, without an error, after the executing event that
// marks the end of prompt promptID (whatever its outcome: the event before
// it says which).
func Until(promptID string) EventOption {
	return func(c *eventConfig) { c.until = promptID }
}

// MaxEventSize bounds one /ws message to n bytes (default
// [DefaultMaxEventSize]); a larger one ends the stream with a
// [*SocketError]. n ≤ 0 keeps the default.
func MaxEventSize(n int64) EventOption {
	return func(c *eventConfig) {
		if n > 0 {
			c.maxSize = n
		}
	}
}

// Events follows ComfyUI's /ws?clientId=<clientID> WebSocket: the typed
// events of the prompts queued with that client id (PromptRequest.ClientID),
// and the status broadcasts. An empty clientID lets the server pick one
// (the first status event's SessionID).
//
// The socket is dialled through the core's authenticated transport
// ([authclient.Client.HTTPClient]): the key goes on the upgrade request as
// configured (the patch exempts /ws, but a reverse proxy in front may not),
// only to the configured origin and under the base path; a redirect
// elsewhere is refused.
//
// The sequence yields each event in order. A message that is not a ComfyUI
// event yields an error matching [ErrBadEvent] and the stream goes on;
// unknown event types are events like the others. It ends, after yielding
// an error, when ctx is done (ctx.Err()), when the dial fails (a
// [*SocketError], matching [authclient.ErrUnauthorized] when the upgrade
// got 401), or when the socket closes or breaks (a [*SocketError] matching
// [ErrSocketClosed]); or, without one, when the caller stops ranging or
// the prompt named by [Until] has ended. The events
// themselves are never retried or replayed: [Client.Wait] reconnects and
// catches up from the history.
func (c *Client) Events(ctx context.Context, clientID string, opts ...EventOption) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		conn, err := c.dial(ctx, clientID)
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer conn.CloseNow()
		cfg := eventConfig{maxSize: DefaultMaxEventSize, ping: DefaultPingInterval}
		for _, o := range opts {
			o(&cfg)
		}
		conn.SetReadLimit(cfg.maxSize)
		if cfg.ping > 0 {
			pctx, stop := context.WithCancel(ctx)
			defer stop()
			go keepAlive(pctx, conn, cfg.ping)
		}
		var buf bytes.Buffer // reused: events copy what they keep
		for {
			typ, r, err := conn.Reader(ctx)
			if err == nil {
				buf.Reset()
				_, err = buf.ReadFrom(r)
			}
			if err != nil {
				yield(Event{}, c.readError(ctx, err))
				return
			}
			ev, err := decodeEvent(typ == websocket.MessageBinary, buf.Bytes())
			if ev.Preview != nil {
				ev.Preview.Image = bytes.Clone(ev.Preview.Image)
				ev.Preview.Metadata = bytes.Clone(ev.Preview.Metadata)
			}
			if ev.Error != nil {
				ev.Error.mask(c.core)
			}
			if !yield(ev, err) || cfg.until != "" && ev.Done && ev.PromptID == cfg.until {
				_ = conn.Close(websocket.StatusNormalClosure, "")
				return
			}
		}
	}
}

// dial opens /ws?clientId=… through the core's transport.
func (c *Client) dial(ctx context.Context, clientID string) (*websocket.Conn, error) {
	if c == nil || c.core == nil {
		return nil, &authclient.ConfigError{Setting: "comfyui.Client", Problem: "not made with comfyui.New, NewFromEnv or Wrap"}
	}
	if strings.ContainsFunc(clientID, unicode.IsControl) || len(clientID) > 256 {
		return nil, &authclient.ConfigError{Setting: "comfyui.Events", Problem: "the client id must be at most 256 bytes without control characters"}
	}
	u, err := url.Parse(c.core.BaseURL())
	if err != nil {
		return nil, &authclient.ConfigError{Setting: "comfyui.Events", Problem: "the base URL does not parse", Err: err}
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u = u.JoinPath("ws")
	if clientID != "" {
		u.RawQuery = url.Values{"clientId": {clientID}}.Encode()
	}
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: c.core.HTTPClient()})
	if err == nil {
		return conn, nil
	}
	se := &SocketError{Op: "dial", Err: c.masked(err)}
	if resp != nil {
		if resp.Body != nil {
			_ = resp.Body.Close()
		}
		se.StatusCode = resp.StatusCode
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			se.sentinel = authclient.ErrUnauthorized
		case http.StatusForbidden:
			se.sentinel = authclient.ErrForbidden
		case http.StatusNotFound:
			se.sentinel = authclient.ErrNotFound
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, se
}

// readError is the error that ends a stream.
func (c *Client) readError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &SocketError{Op: "read", Err: c.masked(err), sentinel: ErrSocketClosed}
}

// masked is err with the client's credentials masked in its text.
func (c *Client) masked(err error) error {
	if err == nil {
		return nil
	}
	return &maskedError{text: c.core.Mask(err.Error()), err: err}
}

// mask masks the client's credentials in the server's texts.
func (e *ExecutionError) mask(core *authclient.Client) {
	if core == nil {
		return
	}
	e.Message, e.ExceptionType, e.NodeType = core.Mask(e.Message), core.Mask(e.ExceptionType), core.Mask(e.NodeType)
	for i, l := range e.Traceback {
		e.Traceback[i] = core.Mask(l)
	}
}

// keepAlive pings conn every d until ctx ends or a ping fails (the reader
// then sees the broken socket).
func keepAlive(ctx context.Context, conn *websocket.Conn, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if conn.Ping(ctx) != nil {
				return
			}
		}
	}
}

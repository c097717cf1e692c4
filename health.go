package authclient

import (
	"context"
	"net/http"
	"time"
)

// Health is what [Client.Health] learned about whether the server is up.
type Health struct {
	// Status is the server's own status word: "UP" (Komga), "OK"
	// (Audiobookshelf), "healthy" or "ok" (ComfyUI).
	Status string
	// Version is the server's version, when the answer includes it.
	Version string
	// ComfyUI holds ComfyUI's queue and device details; nil for the others.
	ComfyUI *ComfyUIHealth
}

// Health checks that the server is up: Komga's /actuator/health and
// Audiobookshelf's /ping and /healthcheck, which need no credentials and
// get none (Komga would answer a stale key with 401 even there), and
// ComfyUI's /health, which gets the client's credentials so that a
// reverse proxy guarding it lets it through (the API-key patch itself
// ignores them there). A server that answers but reports itself unhealthy gives an
// [*Error] matching [ErrUnavailable]. Health says nothing about whether the
// client's credentials are valid (ComfyUI's /health answers 200 whatever key
// is sent): use [Client.CurrentUser] or, for ComfyUI, [Client.CheckAuth].
func (c *Client) Health(ctx context.Context) (*Health, error) {
	if err := c.spec.require(OpHealth); err != nil {
		return nil, err
	}
	return c.spec.health(ctx, c)
}

// statusHealth reads a {"status": "..."} health answer from path.
func statusHealth(ctx context.Context, c *Client, path string) (*Health, error) {
	var body struct {
		Status string `json:"status"`
	}
	cl := newCall(http.MethodGet, path)
	cl.noAuth = true
	cl.out = &body
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	return &Health{Status: body.Status}, nil
}

// ComfyUIHealth is the detail of ComfyUI's /health answer. ComfyUI builds
// differ in shape (the device as a string or an object, VRAM present or
// not); fields the answer lacks are zero.
type ComfyUIHealth struct {
	// QueuePending and QueueRunning count the queued and running prompts.
	QueuePending, QueueRunning int
	// Device is the torch device ("cuda:0", "cpu", "mps") or, when the
	// server reports an object, its name.
	Device string
	// DeviceType is the device type, when the server reports an object.
	DeviceType string
	// VRAMTotal, VRAMFree and VRAMUsed are in bytes; zero when not
	// reported (--cpu mode).
	VRAMTotal, VRAMFree, VRAMUsed int64
	// Timestamp is the server's clock at the answer, when reported.
	Timestamp time.Time
}

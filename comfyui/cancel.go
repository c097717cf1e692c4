package comfyui

import (
	"context"
	"net/http"

	"github.com/selfhost-sdk/authclient"
)

// Cancel stops a ComfyUI prompt wherever it is: it deletes it from the pending
// queue (POST /queue {"delete": [id]}) and interrupts it if it is the one
// running (POST /interrupt {"prompt_id": id}). Another prompt is never
// stopped, and an id ComfyUI does not know is a no-op. A prompt
// interrupted this way ends in the history with status "error" (and
// [Client.Wait] returns an [*InterruptedError]); a pending one deleted
// this way never reaches the history, so do not Wait for it.
func (c *Client) Cancel(ctx context.Context, promptID string) error {
	if promptID == "" {
		return &authclient.ConfigError{Setting: "comfyui.Cancel", Problem: "the prompt id is empty (use Interrupt(ctx, \"\") to stop whatever runs)"}
	}
	if err := c.DeleteQueued(ctx, promptID); err != nil {
		return err
	}
	return c.Interrupt(ctx, promptID)
}

// DeleteQueued removes prompts from ComfyUI's pending queue (POST /queue
// {"delete": [...]}). The running prompt is not touched (see
// [Client.Cancel]); unknown ids are a no-op. Retried like a GET: deleting
// twice is harmless.
func (c *Client) DeleteQueued(ctx context.Context, promptIDs ...string) error {
	if len(promptIDs) == 0 {
		return nil
	}
	return c.do(ctx, http.MethodPost, "queue", map[string][]string{"delete": promptIDs}, nil, authclient.Idempotent())
}

// ClearQueue removes every prompt pending on ComfyUI (POST /queue {"clear": true});
// the running one keeps running.
func (c *Client) ClearQueue(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "queue", map[string]bool{"clear": true}, nil, authclient.Idempotent())
}

// DeleteHistory removes entries from ComfyUI's history (POST /history {"delete":
// [...]}); unknown ids are a no-op.
func (c *Client) DeleteHistory(ctx context.Context, promptIDs ...string) error {
	if len(promptIDs) == 0 {
		return nil
	}
	return c.do(ctx, http.MethodPost, "history", map[string][]string{"delete": promptIDs}, nil, authclient.Idempotent())
}

// ClearHistory removes ComfyUI's whole history (POST /history {"clear": true}).
func (c *Client) ClearHistory(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "history", map[string]bool{"clear": true}, nil, authclient.Idempotent())
}

package comfyui

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
)

// Queue is ComfyUI's queue, from [Client.Queue].
type Queue struct {
	// Running is the prompt being executed (ComfyUI runs one at a time).
	Running []QueueItem
	// Pending are the prompts waiting, in the order they will run.
	Pending []QueueItem
	// Remaining is ComfyUI's count of prompts left, running included
	// (exec_info.queue_remaining).
	Remaining int
}

// QueueItem is one prompt in ComfyUI's queue.
type QueueItem struct {
	// Number is the prompt's position number (lower runs first).
	Number int
	// PromptID identifies the prompt.
	PromptID string
	// ClientID is the client id the prompt was queued with, if any.
	ClientID string
}

// Queue returns ComfyUI's queue (GET /queue) and its remaining count (GET
// /prompt). Items are read tolerantly: ComfyUI lists each as an array
// [number, prompt_id, prompt, extra_data, outputs_to_execute, …], and
// malformed items are skipped. Both requests are retried like any GET.
func (c *Client) Queue(ctx context.Context) (*Queue, error) {
	var q struct {
		Running json.RawMessage `json:"queue_running"`
		Pending json.RawMessage `json:"queue_pending"`
	}
	if err := c.do(ctx, http.MethodGet, "queue", nil, &lenient{&q}); err != nil {
		return nil, err
	}
	var p struct {
		ExecInfo struct {
			QueueRemaining number `json:"queue_remaining"`
		} `json:"exec_info"`
	}
	if err := c.do(ctx, http.MethodGet, "prompt", nil, &lenient{&p}); err != nil {
		return nil, err
	}
	st := &Queue{
		Running:   queueItems(q.Running),
		Pending:   queueItems(q.Pending),
		Remaining: int(p.ExecInfo.QueueRemaining),
	}
	sort.SliceStable(st.Pending, func(i, j int) bool {
		a, b := st.Pending[i], st.Pending[j]
		if a.Number != b.Number {
			return a.Number < b.Number
		}
		return a.PromptID < b.PromptID
	})
	return st, nil
}

// queueItems decodes a list of queue items, skipping any that is not an
// array starting with a number and a non-empty prompt id string.
func queueItems(raw json.RawMessage) []QueueItem {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return []QueueItem{}
	}
	out := make([]QueueItem, 0, len(list))
	for _, item := range list {
		var fields []json.RawMessage
		if json.Unmarshal(item, &fields) != nil || len(fields) < 2 {
			continue
		}
		n, ok := intOf(fields[0])
		var id string
		if !ok || json.Unmarshal(fields[1], &id) != nil || id == "" {
			continue
		}
		qi := QueueItem{Number: int(n), PromptID: id}
		if len(fields) > 3 {
			var extra struct {
				ClientID string `json:"client_id"`
			}
			if json.Unmarshal(fields[3], &lenient{&extra}) == nil {
				qi.ClientID = extra.ClientID
			}
		}
		out = append(out, qi)
	}
	return out
}

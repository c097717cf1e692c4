package comfyui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/selfhost-sdk/authclient"
)

// PromptRequest is a prompt to queue with [Client.QueuePrompt].
type PromptRequest struct {
	// Prompt is the workflow in ComfyUI's API format (as "Export (API)"
	// saves it): a JSON object mapping node ids to {"class_type": …,
	// "inputs": {…}}, where a link is ["<node id>", <output index>]. It may
	// be a json.RawMessage or []byte holding that JSON, or any value that
	// marshals to a JSON object (a map[string]any, a struct). Required.
	Prompt any
	// PromptID is the id to queue the prompt under: a canonical lowercase
	// UUID. Empty means the client generates a random (version 4) one.
	PromptID string
	// ClientID is the WebSocket session (the /ws?clientId=…) that should
	// receive the prompt's progress events; optional.
	ClientID string
	// ExtraData is sent as extra_data (for example extra_pnginfo, or
	// api_key_comfy_org for Comfy.org partner nodes, which the client then
	// masks in its errors and logs); optional.
	ExtraData map[string]any
	// Front queues the prompt ahead of the others (ComfyUI's "front").
	Front bool
	// Number sets the prompt's position number explicitly (ComfyUI's
	// "number"; lower runs first). nil lets the server count. Do not
	// combine with Front.
	Number *int
	// PartialExecutionTargets limits execution to these output node ids
	// (ComfyUI's partial_execution_targets); nil runs every output.
	PartialExecutionTargets []string
}

// QueuedPrompt is ComfyUI's answer to a queued prompt.
type QueuedPrompt struct {
	// PromptID identifies the prompt in the queue and the history.
	PromptID string
	// Number is its position number in the queue (fractional numbers,
	// possible when a client set one, are truncated).
	Number int
	// NodeErrors holds, by node id, ComfyUI's validation errors for output
	// nodes it dropped while queueing the rest; usually empty.
	NodeErrors map[string]json.RawMessage
}

type promptBody struct {
	Prompt    json.RawMessage `json:"prompt"`
	PromptID  string          `json:"prompt_id"`
	ClientID  string          `json:"client_id,omitempty"`
	ExtraData map[string]any  `json:"extra_data,omitempty"`
	Front     bool            `json:"front,omitempty"`
	Number    *int            `json:"number,omitempty"`
	Targets   []string        `json:"partial_execution_targets,omitempty"`
}

// extraSecrets are the extra_data fields that hold credentials (of
// Comfy.org's partner-node API), masked like the client's own.
var extraSecrets = []string{"api_key_comfy_org", "auth_token_comfy_org"}

// QueuePrompt queues a prompt on ComfyUI (POST /prompt) and returns its id and queue
// number. The client always sends a prompt_id (r.PromptID, or a fresh UUID
// it generates), so the id is known before the server answers.
//
// The call is never retried: a second POST would queue the prompt twice.
// When it fails in a way that leaves it unknown whether the prompt was
// queued (no answer at all, a 5xx answer, an unreadable answer), the
// returned *QueuedPrompt is non-nil alongside the error and carries the
// PromptID that was sent: look for it with [Client.Queue] or
// [Client.History] before queueing again.
//
// A prompt ComfyUI refuses gives an [*authclient.Error] (status 400) whose
// Code is ComfyUI's error type ("prompt_outputs_failed_validation",
// "prompt_no_outputs", "invalid_prompt", …), whose Message is its message
// and whose Hint summarises the failing nodes; [ValidationDetails] returns
// the details. A bad r (no Prompt, a Prompt that is not a JSON object, a
// PromptID that is not a canonical lowercase UUID, Front with Number) is a
// [*authclient.ConfigError] and nothing is sent.
func (c *Client) QueuePrompt(ctx context.Context, r PromptRequest) (*QueuedPrompt, error) {
	prompt, err := promptJSON(r.Prompt)
	if err != nil {
		return nil, err
	}
	if r.Front && r.Number != nil {
		return nil, &authclient.ConfigError{Setting: "comfyui.PromptRequest", Problem: "set Front or Number, not both (ComfyUI ignores Front when Number is set)"}
	}
	id := r.PromptID
	if id == "" {
		id = newUUID4()
	} else if !isCanonicalUUID(id) {
		return nil, &authclient.ConfigError{Setting: "comfyui.PromptRequest.PromptID",
			Problem: "must be a canonical lowercase UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), or empty to let the client make one"}
	}
	var secrets []string
	for _, k := range extraSecrets {
		if s, ok := r.ExtraData[k].(string); ok {
			secrets = append(secrets, s)
		}
	}
	in := promptBody{Prompt: prompt, PromptID: id, ClientID: r.ClientID, ExtraData: r.ExtraData,
		Front: r.Front, Number: r.Number, Targets: r.PartialExecutionTargets}
	var d struct {
		PromptID   string                     `json:"prompt_id"`
		Number     number                     `json:"number"`
		NodeErrors map[string]json.RawMessage `json:"node_errors"`
	}
	err = c.do(ctx, http.MethodPost, "prompt", in, &lenient{&d},
		authclient.NoRetry(), // a second POST would queue it twice
		authclient.Secret(secrets...),
		authclient.ErrorHint(validationHint))
	if err != nil {
		var e *authclient.Error
		var te *authclient.TransportError
		if errors.As(err, &te) || errors.As(err, &e) && (e.StatusCode >= 500 || e.StatusCode >= 200 && e.StatusCode < 300) {
			return &QueuedPrompt{PromptID: id}, err // it may have been queued
		}
		return nil, err // refused (4xx), or never sent
	}
	q := &QueuedPrompt{PromptID: id, Number: int(d.Number), NodeErrors: d.NodeErrors}
	if d.PromptID != "" {
		q.PromptID = d.PromptID // an older server may pick its own
	}
	return q, nil
}

// promptJSON returns the prompt as JSON and checks it is an object.
func promptJSON(p any) (json.RawMessage, error) {
	const setting = "comfyui.PromptRequest.Prompt"
	var raw []byte
	switch v := p.(type) {
	case nil:
		return nil, &authclient.ConfigError{Setting: setting, Problem: "is empty (want the workflow in API format)"}
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, &authclient.ConfigError{Setting: setting, Problem: "cannot be encoded as JSON", Err: err}
		}
		raw = b
	}
	trimmed := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(trimmed, "{") || !json.Valid([]byte(trimmed)) {
		return nil, &authclient.ConfigError{Setting: setting,
			Problem: "must be a JSON object mapping node ids to {\"class_type\", \"inputs\"} (the workflow in API format)"}
	}
	return json.RawMessage(trimmed), nil
}

// newUUID4 returns a random version 4 UUID in canonical lowercase form.
func newUUID4() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	hex.Encode(s[9:13], b[4:6])
	hex.Encode(s[14:18], b[6:8])
	hex.Encode(s[19:23], b[8:10])
	hex.Encode(s[24:36], b[10:16])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}

// isCanonicalUUID reports whether s is a UUID in canonical lowercase
// hyphenated form, as newer ComfyUI servers require of prompt_id.
func isCanonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
				return false
			}
		}
	}
	return true
}

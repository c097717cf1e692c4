package comfyui

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/selfhost-sdk/authclient"
)

// Event types: the Type of an [Event]. JSON events carry ComfyUI's own
// type names; binary frames are [EventPreview] and [EventText]. Any other
// type a server or custom node sends is passed through with its Data.
const (
	EventStatus               = "status"                // Queue remaining
	EventExecutionStart       = "execution_start"       // a prompt starts
	EventExecutionCached      = "execution_cached"      // Nodes served from cache
	EventExecuting            = "executing"             // Node starts; Done when the prompt is over
	EventProgress             = "progress"              // Value of Max for Node
	EventExecuted             = "executed"              // Node's Output
	EventExecutionSuccess     = "execution_success"     // the prompt succeeded
	EventExecutionError       = "execution_error"       // Error says where and why
	EventExecutionInterrupted = "execution_interrupted" // the prompt was interrupted at Node
	EventPreview              = "preview"               // a binary preview image: Preview
	EventText                 = "text"                  // a binary progress text: Node, Text
)

// Event is one message of ComfyUI's /ws, from [Client.Events]. Which
// fields are set depends on Type; Data always holds the JSON event's
// "data" as sent (nil for binary frames).
type Event struct {
	// Type is the event type (see [EventStatus] …).
	Type string
	// PromptID is the prompt the event is about ("" for status).
	PromptID string
	// Node is the node id of executing, progress, executed,
	// execution_error, execution_interrupted and text events.
	Node string
	// Done marks the executing event with node null that ends a prompt,
	// whatever its outcome.
	Done bool
	// QueueRemaining is a status event's count of prompts left, running
	// included.
	QueueRemaining int
	// SessionID is the client id the server assigned, in the status
	// greeting.
	SessionID string
	// Value and Max are a progress event's step and step count.
	Value, Max int
	// Nodes are the ids of an execution_cached event.
	Nodes []string
	// Output is an executed event's UI output ({"images": […]}, …); null
	// for a cached node.
	Output json.RawMessage
	// Files are the files listed in an executed event's Output.
	Files []OutputFile
	// Error describes an execution_error event.
	Error *ExecutionError
	// Preview is the image of a preview frame.
	Preview *Preview
	// Text is a text frame's text.
	Text string
	// Data is the JSON event's data object, as sent (server text, not
	// masked: print it with care).
	Data json.RawMessage
}

// Preview is a preview image from a binary /ws frame.
type Preview struct {
	// ContentType is "image/jpeg" or "image/png".
	ContentType string
	// Image is the encoded image.
	Image []byte
	// Metadata is the JSON of a preview with metadata (frame type 4:
	// node_id, prompt_id, display_node_id, …); nil for a plain preview.
	Metadata json.RawMessage
}

// ErrBadEvent is matched by the error for a /ws message that is not a
// ComfyUI event (not JSON, no type, a short binary frame). The stream goes
// on after it.
var ErrBadEvent = errors.New("comfyui: malformed websocket event")

// maxEventText bounds the server text an error quotes.
const maxEventText = 200

// decodeEvent decodes one /ws message: binary says it came in a binary
// frame. It never panics and keeps no reference to msg for JSON events
// beyond Data (a copy).
func decodeEvent(binaryFrame bool, msg []byte) (Event, error) {
	if binaryFrame {
		return decodeBinary(msg)
	}
	var env struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(msg, &env); err != nil {
		return Event{}, fmt.Errorf("%w: not a JSON object with a string type (%d bytes)", ErrBadEvent, len(msg))
	}
	if env.Type == "" {
		return Event{}, fmt.Errorf("%w: no type", ErrBadEvent)
	}
	ev := Event{Type: authclient.OneLine(env.Type, maxEventText), Data: env.Data}
	var d struct {
		PromptID string            `json:"prompt_id"`
		Node     json.RawMessage   `json:"node"`
		NodeID   string            `json:"node_id"`
		NodeType string            `json:"node_type"`
		Value    number            `json:"value"`
		Max      number            `json:"max"`
		Nodes    []json.RawMessage `json:"nodes"`
		Output   json.RawMessage   `json:"output"`
		SID      string            `json:"sid"`
		Status   struct {
			ExecInfo struct {
				QueueRemaining number `json:"queue_remaining"`
			} `json:"exec_info"`
		} `json:"status"`
		ExceptionType    string   `json:"exception_type"`
		ExceptionMessage string   `json:"exception_message"`
		Traceback        []string `json:"traceback"`
		Executed         []string `json:"executed"`
	}
	if isObject(env.Data) {
		_ = json.Unmarshal(env.Data, &lenient{&d})
	}
	ev.PromptID = d.PromptID
	switch ev.Type {
	case EventStatus:
		ev.QueueRemaining, ev.SessionID = int(d.Status.ExecInfo.QueueRemaining), d.SID
	case EventExecuting:
		ev.Node = nodeID(d.Node)
		var keys map[string]json.RawMessage
		if isObject(env.Data) && json.Unmarshal(env.Data, &keys) == nil {
			v, ok := keys["node"]
			ev.Done = ok && (v == nil || string(v) == "null")
		}
	case EventProgress:
		ev.Node, ev.Value, ev.Max = nodeID(d.Node), int(d.Value), int(d.Max)
	case EventExecutionCached:
		for _, n := range d.Nodes {
			if id := nodeID(n); id != "" {
				ev.Nodes = append(ev.Nodes, id)
			}
		}
	case EventExecuted:
		ev.Node, ev.Output = nodeID(d.Node), d.Output
		ev.Files = outputFiles(d.Output)
	case EventExecutionError:
		ev.Node = d.NodeID
		ev.Error = &ExecutionError{PromptID: d.PromptID, NodeID: d.NodeID, NodeType: d.NodeType,
			ExceptionType: d.ExceptionType, Message: d.ExceptionMessage, Traceback: d.Traceback}
	case EventExecutionInterrupted:
		ev.Node = d.NodeID
	}
	return ev, nil
}

// nodeID reads a node id: a string, or a number some custom nodes send.
func nodeID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if n, ok := intOf(raw); ok {
		return fmt.Sprint(n)
	}
	return ""
}

// decodeBinary decodes a binary frame: a 4-byte big-endian type, then 1
// (format, image), 3 (node id length, node id, text) or 4 (metadata
// length, metadata JSON, image).
func decodeBinary(msg []byte) (Event, error) {
	if len(msg) < 4 {
		return Event{}, fmt.Errorf("%w: binary frame of %d bytes", ErrBadEvent, len(msg))
	}
	typ, rest := binary.BigEndian.Uint32(msg), msg[4:]
	switch typ {
	case 1:
		if len(rest) < 4 {
			return Event{}, fmt.Errorf("%w: preview frame without an image format", ErrBadEvent)
		}
		ct := "image/jpeg"
		if binary.BigEndian.Uint32(rest) == 2 {
			ct = "image/png"
		}
		return Event{Type: EventPreview, Preview: &Preview{ContentType: ct, Image: rest[4:]}}, nil
	case 3:
		if len(rest) < 4 || uint64(binary.BigEndian.Uint32(rest)) > uint64(len(rest)-4) {
			return Event{}, fmt.Errorf("%w: text frame with a bad node id length", ErrBadEvent)
		}
		n := binary.BigEndian.Uint32(rest)
		node := strings.ToValidUTF8(string(rest[4:4+n]), "\uFFFD")
		return Event{Type: EventText, Node: node, Text: strings.ToValidUTF8(string(rest[4+n:]), "\uFFFD")}, nil
	case 4:
		if len(rest) < 4 || uint64(binary.BigEndian.Uint32(rest)) > uint64(len(rest)-4) {
			return Event{}, fmt.Errorf("%w: preview frame with a bad metadata length", ErrBadEvent)
		}
		n := binary.BigEndian.Uint32(rest)
		meta := json.RawMessage(rest[4 : 4+n])
		var m struct {
			NodeID    string `json:"node_id"`
			PromptID  string `json:"prompt_id"`
			ImageType string `json:"image_type"`
		}
		if json.Unmarshal(meta, &lenient{&m}) != nil {
			return Event{}, fmt.Errorf("%w: preview metadata is not JSON", ErrBadEvent)
		}
		ct := "image/jpeg"
		if m.ImageType == "image/png" {
			ct = "image/png"
		}
		return Event{Type: EventPreview, PromptID: m.PromptID, Node: m.NodeID,
			Preview: &Preview{ContentType: ct, Image: rest[4+n:], Metadata: meta}}, nil
	default:
		return Event{Type: fmt.Sprintf("binary:%d", typ)}, nil
	}
}

// outputFiles lists the {filename, subfolder, type} objects of a node's
// UI output.
func outputFiles(raw json.RawMessage) []OutputFile {
	var out map[string]json.RawMessage
	if !isObject(raw) || json.Unmarshal(raw, &out) != nil {
		return nil
	}
	return filesOf(out)
}
